//! Start-up and trend-chart rendering with the software renderer, printed as figures (no timed
//! assertions). Targets from the issue: cold start to first frame ≤ 300 ms; the trend chart with
//! two years of twice-daily readings ≤ 8 ms per frame.
//!
//! `cargo bench -p mobile-app` (release build; the first one compiles Slint optimised).

use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mobile_app::clock::FixedClock;
use mobile_app::config::AppConfig;
use mobile_app::headless::{self, PHONE_HEIGHT, PHONE_WIDTH};
use mobile_app::i18n::Language;
use mobile_app::model::Profile;
use mobile_app::store::{DB_FILE, Store};
use mobile_app::{App, AppOptions, Page, TrendsAdapter, demo};
use slint::ComponentHandle;

fn stats(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    println!(
        "{label:<58} median {:>8.2} ms   p95 {:>8.2} ms   min {:>8.2} ms   (n={})",
        ms(median),
        ms(p95),
        ms(samples[0]),
        samples.len()
    );
}

/// A data directory holding two years of twice-daily readings and a profile.
fn two_year_store(dir: &std::path::Path) -> usize {
    let mut store = Store::open(&dir.join(DB_FILE)).unwrap();
    let n = demo::two_years(&mut store, demo::now(), &AppConfig::default()).unwrap();
    store
        .save_profile(
            &Profile { due_date: "2026-08-01".parse().ok(), ..Default::default() },
            demo::now(),
        )
        .unwrap();
    n
}

fn cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let n = two_year_store(dir.path());
    println!("cold start: new process → app built over {n} stored readings → first frame rendered");
    let mut wall = Vec::new();
    let mut inside = Vec::new();
    for i in 0..12 {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_mobile-app"))
            .args(["--first-frame", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let ms: f64 = text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected output {text:?}"));
        // The first run warms the page cache like a phone that has run the app before.
        if i > 0 {
            wall.push(elapsed);
            inside.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    stats("  process spawn to exit after first frame (wall)", wall);
    stats("  main() entry to first frame (in process)", inside);
}

fn app_with_two_years() -> App {
    let config = AppConfig::default();
    let mut store = Store::open_in_memory().unwrap();
    demo::two_years(&mut store, demo::now(), &config).unwrap();
    App::from_store(
        store,
        AppOptions {
            data_dir: None,
            config,
            clock: Arc::new(FixedClock::new(demo::now())),
            links: mobile_app::ble::platform_link_factory(),
            dialer: Rc::new(|_| {}),
            language: Some(Language::Japanese),
        },
    )
    .unwrap()
}

fn frames(label: &str, n: usize) {
    let mut buffer = vec![slint::Rgb8Pixel::default(); (PHONE_WIDTH * PHONE_HEIGHT) as usize];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        assert!(headless::render_full_frame(&mut buffer, PHONE_WIDTH as usize));
        samples.push(start.elapsed());
    }
    stats(label, samples);
}

fn trend_chart() {
    let app = app_with_two_years();
    let window = app.window();
    headless::size_window(window.window(), 1.0);
    window.show().unwrap();
    let trends = window.global::<TrendsAdapter>();
    println!(
        "trend chart, {}x{} software renderer, full repaint per frame:",
        PHONE_WIDTH, PHONE_HEIGHT
    );

    app.show_page(Page::Trends);
    for (range, name) in [(3, "2 years"), (2, "1 year"), (1, "3 months"), (0, "2 weeks")] {
        let start = Instant::now();
        trends.invoke_select_range(range);
        let rebuilt = start.elapsed();
        frames(&format!("  trends page, {name}, frame"), 200);
        println!(
            "  trends page, {name}: chart rebuilt from storage in {:.2} ms",
            rebuilt.as_secs_f64() * 1000.0
        );
    }
    // The same page with no readings: what the chart itself adds to a frame.
    app.with_store(|s| s.delete_everything()).unwrap();
    app.refresh();
    frames("  trends page, no readings (baseline), frame", 200);
    app.show_page(Page::Home);
    frames("  home page, frame", 200);
}

fn main() {
    // `cargo bench` passes --bench; nothing to filter here.
    headless::install().unwrap();
    cold_start();
    trend_chart();
}
