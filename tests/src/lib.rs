//! System-level test helpers: a real headless Chromium driven through chromedriver.
//!
//! Chromium and chromedriver are Debian packages installed by `cargo xtask setup`. Each browser
//! gets a fresh profile directory and a chromedriver on a free port; nothing is left running
//! when the [`Browser`] is closed or dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Flags for headless Chromium on build machines (no GPU, no network beyond loopback).
/// The fake media flags give pages a microphone that plays a tone, without a permission prompt
/// (the clinicians' dictation test records from it).
pub const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];

/// A headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| test_support::find_program(n))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    ///
    /// Panics with a clear message when Chromium or chromedriver is missing: browser tests must
    /// not pass without a browser.
    pub async fn start(width: u32, height: u32) -> Browser {
        let driver_bin = test_support::find_program("chromedriver")
            .expect("chromedriver is not installed: run `cargo xtask setup` (Debian package chromium-driver)");
        let chromium = chromium()
            .expect("chromium is not installed: run `cargo xtask setup` (Debian package chromium)");
        let profile = tempfile::tempdir().expect("temporary profile directory");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = test_support::free_port();
            let mut driver = Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let up = test_support::wait_until(Duration::from_secs(15), || {
                matches!(driver.try_wait(), Ok(None))
                    && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                        .is_ok()
            });
            if !up {
                let _ = driver.kill();
                let _ = driver.wait();
                last_err = format!("chromedriver did not listen on port {port}");
                continue;
            }
            let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
            args.push(format!("--user-data-dir={}", profile.path().display()));
            args.push(format!("--window-size={width},{height}"));
            args.push("--force-device-scale-factor=1".into());
            args.push("--lang=ja".into());
            let mut caps = serde_json::Map::new();
            caps.insert("browserName".into(), json!("chrome"));
            caps.insert(
                "goog:chromeOptions".into(),
                json!({ "binary": chromium.display().to_string(), "args": args }),
            );
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Browser { client, driver, _profile: profile },
                Err(e) => {
                    last_err = e.to_string();
                    let _ = driver.kill();
                    let _ = driver.wait();
                }
            }
        }
        panic!("cannot start headless Chromium through chromedriver: {last_err}");
    }

    /// Runs a script in the page and returns its result.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Every bed tile's `data-*` attributes (the page's test hooks), in grid order.
    pub async fn tiles(&self) -> Vec<serde_json::Map<String, Value>> {
        let v = self.eval("return [...document.querySelectorAll('.tile')].map(t => Object.assign({}, t.dataset));").await;
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|x| x.as_object().cloned())
            .collect()
    }

    /// Polls `cond` on the tiles every 100 ms until it holds or `secs` pass; returns the tiles.
    pub async fn wait_tiles(
        &self,
        secs: u64,
        what: &str,
        mut cond: impl FnMut(&[serde_json::Map<String, Value>]) -> bool,
    ) -> Vec<serde_json::Map<String, Value>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let tiles = self.tiles().await;
            if cond(&tiles) {
                return tiles;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {secs} s waiting for: {what}\ntiles: {tiles:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls a script until it returns `true`.
    pub async fn wait_script(&self, secs: u64, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.eval(script).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {secs} s waiting for: {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
