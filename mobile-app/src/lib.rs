//! The expectant mother's PHR app, as a library: the Slint UI (`ui/`, one adapter global per page),
//! controllers that push data into it ([`app`]), her notes and dictation ([`notes`]), her local storage ([`store`]), the clinical rules
//! ([`clinical`]), trends, export, and the Bluetooth cuff import ([`ble`]).
//!
//! Entry points are thin: `src/main.rs` on the desktop (also `--screenshots`), and
//! `android_main` in [`android`] on phones.

/// The Slint UI, generated at build time from `ui/app.slint`.
#[allow(missing_debug_implementations, clippy::all, clippy::todo, clippy::unimplemented)]
mod ui {
    slint::include_modules!();
}
pub use ui::*;

pub mod android;
pub mod app;
pub mod ble;
pub mod clinical;
pub mod clock;
pub mod config;
pub mod demo;
pub mod export;
pub mod headless;
pub mod i18n;
pub mod model;
pub mod notes;
pub mod screenshots;
pub mod store;
pub mod sync;
pub mod trends;

pub use app::{App, AppError, AppOptions};

/// The desktop data directory: `$XDG_DATA_HOME/mobile-app`, else `~/.local/share/mobile-app`.
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME").map(std::path::PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
    })?;
    Some(base.join("mobile-app"))
}
