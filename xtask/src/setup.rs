//! Installs the Debian packages the project needs. Nothing is assumed to be on the machine
//! beyond the Rust toolchain; packages already installed are left alone.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Debian 12 packages, each with the reason it is needed.
pub const PACKAGES: &[(&str, &str)] = &[
    ("mosquitto", "the real MQTT broker of the integration tests"),
    ("socat", "links pseudo-terminals for the serial-device tests"),
    ("chromium", "the headless browser of the web UI tests"),
    ("chromium-driver", "WebDriver for the headless browser"),
    ("fonts-noto-cjk", "Japanese glyphs for the headless browser's pages and screenshots"),
    ("cmake", "builds whisper.cpp for ai-notes"),
    ("build-essential", "C/C++ compilers for bundled SQLite, libdbus and whisper.cpp"),
    ("patchelf", "relocates the PostgreSQL 17 + TimescaleDB binaries of `cargo xtask db`"),
    ("libasound2-dev", "ALSA headers for the mobile app's microphone (cpal, dictated notes)"),
    ("pkg-config", "locates ALSA for the mobile app's microphone build"),
];

pub fn run() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    let sudo = if is_root() { vec![] } else { vec!["sudo"] };
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd: Vec<&str> = sudo.clone();
        cmd.extend_from_slice(&["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        cmd.extend_from_slice(args);
        let status = Command::new(cmd[0])
            .args(&cmd[1..])
            .status()
            .with_context(|| format!("running {}", cmd.join(" ")))?;
        if !status.success() {
            bail!("`{}` failed ({status})", cmd.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)?;
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
