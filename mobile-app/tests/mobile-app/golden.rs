//! Golden images: `mobile-app --screenshots` (the real binary, no display) must render every main
//! screen as committed in docs/mobile-app. Rendering is deterministic (software renderer, embedded
//! font, fixed demonstration clock), so the tolerance only absorbs anti-aliasing differences
//! between CPUs; a moved or changed element fails.
//!
//! After an intended UI change: `MOBILE_APP_UPDATE_GOLDENS=1 cargo test -p mobile-app golden`
//! rewrites the images; look at them before committing.

use std::path::{Path, PathBuf};
use std::process::Command;

use mobile_app::i18n::Language;
use mobile_app::screenshots::{SCREENS, file_name};

/// A channel differing by more than this counts the pixel as different.
const CHANNEL_TOLERANCE: u8 = 40;
/// At most this fraction of pixels may differ.
const MAX_DIFFERENT: f64 = 0.002;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mobile-app")
}

fn decode(path: &Path) -> tiny_skia::Pixmap {
    tiny_skia::Pixmap::load_png(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fraction of differing pixels, and an image marking them in red.
fn compare(expected: &tiny_skia::Pixmap, actual: &tiny_skia::Pixmap) -> (f64, tiny_skia::Pixmap) {
    let mut diff = expected.clone();
    let mut different = 0usize;
    for (i, (e, a)) in expected.pixels().iter().zip(actual.pixels()).enumerate() {
        let channels = [
            (e.red(), a.red()),
            (e.green(), a.green()),
            (e.blue(), a.blue()),
            (e.alpha(), a.alpha()),
        ];
        if channels.iter().any(|(x, y)| x.abs_diff(*y) > CHANNEL_TOLERANCE) {
            different += 1;
            diff.pixels_mut()[i] =
                tiny_skia::PremultipliedColorU8::from_rgba(255, 0, 0, 255).unwrap();
        }
    }
    (different as f64 / expected.pixels().len().max(1) as f64, diff)
}

#[test]
fn screenshots_match_the_committed_golden_images() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mobile-app"))
        .arg("--screenshots")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mobile-app --screenshots failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let update = std::env::var_os("MOBILE_APP_UPDATE_GOLDENS").is_some();
    let failures_dir =
        std::env::temp_dir().join(format!("mobile-app-golden-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut compared = 0;
    for language in Language::ALL {
        for screen in SCREENS {
            let name = file_name(screen, language);
            let actual_path = out.path().join(&name);
            let golden_path = golden_dir().join(&name);
            if update {
                std::fs::copy(&actual_path, &golden_path).unwrap();
                continue;
            }
            assert!(
                golden_path.exists(),
                "{} is missing: run with MOBILE_APP_UPDATE_GOLDENS=1",
                golden_path.display()
            );
            let expected = decode(&golden_path);
            let actual = decode(&actual_path);
            compared += 1;
            if (expected.width(), expected.height()) != (actual.width(), actual.height()) {
                failures.push(format!(
                    "{name}: size {}x{} instead of {}x{}",
                    actual.width(),
                    actual.height(),
                    expected.width(),
                    expected.height()
                ));
                continue;
            }
            let (fraction, diff) = compare(&expected, &actual);
            if fraction > MAX_DIFFERENT {
                std::fs::create_dir_all(&failures_dir).unwrap();
                std::fs::copy(&actual_path, failures_dir.join(&name)).unwrap();
                diff.save_png(failures_dir.join(format!("diff-{name}"))).unwrap();
                failures.push(format!("{name}: {:.2} % of pixels differ", fraction * 100.0));
            }
        }
    }
    if update {
        eprintln!("NOTE: golden images rewritten in {}", golden_dir().display());
        return;
    }
    assert_eq!(compared, SCREENS.len() * 2);
    assert!(
        failures.is_empty(),
        "{}\nactual images and diffs: {}",
        failures.join("\n"),
        failures_dir.display()
    );
}

#[test]
fn the_comparison_catches_a_changed_screen() {
    // Guard against a comparison that can never fail: a golden image against a copy with one
    // card recoloured must be reported.
    let golden = golden_dir().join(file_name("home", Language::Japanese));
    let expected = decode(&golden);
    let mut changed = expected.clone();
    let width = changed.width() as usize;
    for y in 200..320 {
        for x in 16..374 {
            changed.pixels_mut()[y * width + x] =
                tiny_skia::PremultipliedColorU8::from_rgba(0, 90, 160, 255).unwrap();
        }
    }
    let (fraction, _) = compare(&expected, &changed);
    assert!(fraction > MAX_DIFFERENT, "{fraction}");
    let (same, _) = compare(&expected, &expected);
    assert_eq!(same, 0.0);
}
