//! `mobile-app --screenshots DIR`: every main screen with demonstration data, in both languages,
//! rendered by the software renderer without a display. The same files are the golden images the
//! tests compare against (docs/mobile-app/).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use slint::ComponentHandle;

use crate::app::{App, AppError, AppOptions};
use crate::ble::fake::FakeCuff;
use crate::ble::{CuffLink, LinkFactory};
use crate::clock::FixedClock;
use crate::config::AppConfig;
use crate::i18n::Language;
use crate::store::Store;
use crate::{BpEntryAdapter, CheckupsAdapter, CuffAdapter, EpdsAdapter, Page, demo, headless};

/// The screens, in README order.
pub const SCREENS: [&str; 11] = [
    "home",
    "bp-entry",
    "bp-result",
    "trends",
    "checkups",
    "checkup-form",
    "cuff-import",
    "epds",
    "epds-result",
    "epds-safety",
    "settings",
];

#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("{0}")]
    App(#[from] AppError),
    #[error("demonstration data: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("rendering: {0}")]
    Render(#[from] slint::PlatformError),
    #[error("{0}")]
    Png(#[from] headless::PngError),
    #[error("cannot create {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("the {0} screen did not reach its state in time")]
    Timeout(&'static str),
}

/// A demonstration app at the demonstration moment, with the demonstration cuff nearby.
pub fn demo_app(language: Language) -> Result<App, ScreenshotError> {
    let config = AppConfig::default();
    let mut store = Store::open_in_memory()?;
    demo::populate(&mut store, language, &config)?;
    let links: LinkFactory = Arc::new(|| {
        Ok(Box::new(FakeCuff::new(demo::CUFF_ID, demo::CUFF_NAME, demo::cuff_burst()))
            as Box<dyn CuffLink>)
    });
    let app = App::from_store(
        store,
        AppOptions {
            data_dir: None,
            config,
            clock: Arc::new(FixedClock::new(demo::now())),
            links,
            dialer: Rc::new(|_| {}),
            language: Some(language),
        },
    )?;
    Ok(app)
}

/// Puts a fresh demonstration app into the state a screen shows.
fn prepare(screen: &'static str, language: Language) -> Result<App, ScreenshotError> {
    let app = demo_app(language)?;
    let ui = app.window();
    match screen {
        "home" => {}
        "bp-entry" | "bp-result" => {
            app.show_page(Page::BpEntry);
            let entry = ui.global::<BpEntryAdapter>();
            if screen == "bp-entry" {
                entry.set_systolic("128".into());
                entry.set_diastolic("82".into());
                entry.set_pulse("76".into());
            } else {
                entry.set_systolic("162".into());
                entry.set_diastolic("104".into());
                entry.set_pulse("88".into());
                entry.set_headache(true);
                entry.set_visual_disturbance(true);
                entry.invoke_save();
            }
        }
        "trends" => app.show_page(Page::Trends),
        "checkups" => app.show_page(Page::Checkups),
        "checkup-form" => {
            app.show_page(Page::Checkups);
            let latest = app
                .with_store(|s| s.checkups())?
                .last()
                .map(|c| c.id.to_string())
                .unwrap_or_default();
            ui.global::<CheckupsAdapter>().invoke_edit(latest.into());
        }
        "cuff-import" => {
            app.show_page(Page::Cuff);
            let cuff = ui.global::<CuffAdapter>();
            cuff.invoke_start_scan();
            let weak = ui.as_weak();
            let state =
                move || weak.upgrade().map_or(-1, |ui| ui.global::<CuffAdapter>().get_state());
            let s = state.clone();
            if !headless::run_until(move || s() == 2, Duration::from_secs(10))? {
                return Err(ScreenshotError::Timeout(screen));
            }
            cuff.invoke_choose(0);
            if !headless::run_until(move || state() == 5, Duration::from_secs(10))? {
                return Err(ScreenshotError::Timeout(screen));
            }
        }
        "epds" | "epds-result" | "epds-safety" => {
            app.show_page(Page::Epds);
            let epds = ui.global::<EpdsAdapter>();
            epds.invoke_start();
            // The option chosen for each item, as displayed.
            let answers = match screen {
                "epds" => &[1, 0][..],
                "epds-result" => &[1, 2, 1, 1, 1, 2, 1, 2, 2, 3][..],
                _ => &[1, 1, 2, 1, 2, 1, 2, 2, 3, 2][..],
            };
            for (item, option) in answers.iter().enumerate() {
                epds.invoke_choose(item as i32, *option);
            }
        }
        "settings" => app.show_page(Page::Settings),
        _ => {}
    }
    Ok(app)
}

/// Renders one screen.
pub fn render(
    screen: &'static str,
    language: Language,
    scale: f32,
) -> Result<slint::SharedPixelBuffer<slint::Rgba8Pixel>, ScreenshotError> {
    let app = prepare(screen, language)?;
    let window = app.window().window();
    headless::size_window(window, scale);
    app.window().show()?;
    let image = window.take_snapshot()?;
    app.window().hide()?;
    Ok(image)
}

/// The file a screen is written to.
pub fn file_name(screen: &str, language: Language) -> String {
    format!("{}-{screen}.png", language.code())
}

/// Renders every screen in both languages into `dir`. Needs the headless platform (or any
/// platform whose windows can take snapshots) to be installed.
pub fn render_all(dir: &Path, scale: f32) -> Result<Vec<PathBuf>, ScreenshotError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| ScreenshotError::Dir { path: dir.display().to_string(), source })?;
    let mut written = Vec::new();
    for language in Language::ALL {
        for screen in SCREENS {
            let image = render(screen, language, scale)?;
            let path = dir.join(file_name(screen, language));
            headless::save_png(&image, &path)?;
            written.push(path);
        }
    }
    Ok(written)
}
