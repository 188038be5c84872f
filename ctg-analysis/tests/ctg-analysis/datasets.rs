//! Figures on the real recordings (skipped with a note when the datasets are absent). These
//! guard against regressions; the reported figures and their commands are in README.md.

use std::process::Command;

use ctg_analysis::{Config, FetalChannel, Figo, Sample, analyze};
use hardware::datasets::{datasets_dir_or_note, list_files, read_recording};

fn analyze_file(path: &std::path::Path) -> (Vec<Sample>, ctg_analysis::Analysis) {
    let rec = read_recording(path).unwrap();
    let s: Vec<Sample> = (0..rec.len())
        .map(|i| Sample {
            fhr: FetalChannel::Merged.pick(rec.fhr1[i], rec.fhr2.get(i).copied().flatten()),
            mhr: rec.mhr.get(i).copied().flatten(),
            toco: rec.toco[i],
            movement: false,
        })
        .collect();
    let a = analyze(&s, &Config::default()).unwrap();
    (s, a)
}

fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctg-analyze"))
}

#[test]
fn morphology_agrees_with_the_wmfb_reference_on_the_training_set() {
    let Some(dir) = datasets_dir_or_note("morphology agreement") else { return };
    let out = tool()
        .args(["eval", "morphology", "--json", "--signals"])
        .arg(dir.join("fhrma/train"))
        .arg("--reference")
        .arg(dir.join("fhrma/wmfb-reference-train"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["files"], 66);
    let madi = s["median_madi_pct"].as_f64().unwrap();
    let acc = s["median_acc_f1"].as_f64().unwrap();
    let dec = s["median_dec_f1"].as_f64().unwrap();
    assert!(madi <= 5.0, "median MADI {madi} %");
    assert!(acc >= 0.85, "median acceleration F1 {acc}");
    assert!(dec >= 0.85, "median deceleration F1 {dec}");
}

#[test]
fn false_signal_detection_holds_on_the_validation_labels() {
    let Some(dir) = datasets_dir_or_note("false-signal validation") else { return };
    let out = tool()
        .args(["eval", "false-signal", "--json", "--signals"])
        .arg(dir.join("fhrma-false-signal/val"))
        .arg("--labels")
        .arg(dir.join("fhrma-false-signal/expertAnnotations.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["total"];
    let tp = t["true_positive"].as_f64().unwrap();
    let sens = tp / (tp + t["false_negative"].as_f64().unwrap());
    let ppv = tp / (tp + t["false_positive"].as_f64().unwrap());
    assert_eq!(v["recordings"], 142);
    // Regression guard below the measured figures (README); the targets are 93 % / 95 %. The
    // shipped model was trained on train + validation, so these recordings are in its sample
    // (97 % / 98 %); 90 % also holds for a model trained on train alone (93 % / 92 % held out).
    assert!(sens >= 0.90 && ppv >= 0.90, "sensitivity {sens:.4}, PPV {ppv:.4}");
}

#[test]
fn ctu_uhb_recordings_are_analysed_with_their_signal_loss() {
    let Some(dir) = datasets_dir_or_note("CTU-UHB analysis") else { return };
    let files = list_files(&dir.join("ctu-uhb"), "hea").unwrap();
    for path in files.iter().step_by(40) {
        let (s, a) = analyze_file(path);
        assert_eq!(a.baseline_bpm.len(), s.len());
        let present = s.iter().filter(|x| x.fhr.is_some()).count() as f64 / s.len() as f64;
        let windows_valid: f64 = a
            .windows
            .iter()
            .map(|w| f64::from(w.valid_fraction) * (w.end_s - w.start_s))
            .sum::<f64>()
            / (s.len() as f64 / 4.0);
        // Usable samples never exceed present ones (cleaning and false signal only remove).
        assert!(windows_valid <= present + 1e-6, "{}: {windows_valid} > {present}", path.display());
        for w in &a.windows {
            assert_eq!(
                w.figo == Figo::CannotAssess,
                w.valid_fraction < 0.5,
                "{}: {w:?}",
                path.display()
            );
        }
    }
}
