//! The `ctg-analyze` tool end to end, on simulator output.

use std::io::Write;
use std::process::Command;

use hardware::sim::{JsonSample, Scenario, SimOptions};

use crate::common::sim;

fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctg-analyze"))
}

fn write_jsonl(dir: &std::path::Path, scenario: Scenario, minutes: u64) -> std::path::PathBuf {
    let s = sim(scenario, minutes, 31, &SimOptions::default());
    let path = dir.join(format!("{scenario}.jsonl"));
    let mut f = std::fs::File::create(&path).unwrap();
    for fr in &s.frames {
        writeln!(f, "{}", JsonSample::new(fr.t_ms(), &fr.sample).to_line()).unwrap();
    }
    path
}

#[test]
fn json_output_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), Scenario::LateDecelerations, 30);
    let out = tool().arg(&path).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sample_rate_hz"], 4);
    assert_eq!(v["baseline_bpm"].as_array().unwrap().len(), 30 * 240);
    let decs = v["decelerations"].as_array().unwrap();
    assert!(!decs.is_empty());
    for d in decs {
        assert!(d["start_s"].as_f64().unwrap() < d["end_s"].as_f64().unwrap());
        assert!(
            ["early", "late", "variable", "prolonged", "unclassified"]
                .contains(&d["kind"].as_str().unwrap())
        );
        assert!(d["nadir_bpm"].as_f64().is_some());
    }
    for key in ["accelerations", "contractions", "false_signal"] {
        assert!(v[key].is_array(), "{key}");
    }
    let c = &v["contractions"][0];
    assert!(c["start_s"].as_f64().unwrap() <= c["peak_s"].as_f64().unwrap());
    assert!(c["peak_s"].as_f64().unwrap() <= c["end_s"].as_f64().unwrap());
    let w = &v["windows"][0];
    for key in ["start_s", "end_s", "figo", "nichd", "jsog_level", "valid_fraction"] {
        assert!(!w[key].is_null(), "window key {key}: {w}");
    }
}

#[test]
fn plot_writes_a_png_strip() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), Scenario::VariableDecelerations, 12);
    let png = dir.path().join("strip.png");
    let out = tool().arg("plot").arg(&path).arg("--png").arg(&png).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // 12 minutes at 60 px/min plus margins.
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    assert!((720..900).contains(&width), "{width}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"t_ms\":0,\"fhr1\":\"fast\"}\n").unwrap();
    let out = tool().arg(&bad).arg("--json").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:1"), "{err}");

    let out = tool().arg(dir.path().join("missing.fhr")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.fhr"));

    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "window_minutes = 10\n").unwrap();
    let good = write_jsonl(dir.path(), Scenario::NormalLabour, 2);
    let out = tool().arg(&good).arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("window_minutes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn train_refuses_out_of_range_options() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--recording-balance", "2"), ("--split-mhr", "1.5")] {
        let out = tool()
            .args(["train", "false-signal", "--signals"])
            .arg(dir.path())
            .arg("--labels")
            .arg(dir.path().join("labels.json"))
            .arg("--out")
            .arg(dir.path().join("model.json"))
            .args([flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

#[test]
fn eval_reports_missing_references() {
    let dir = tempfile::tempdir().unwrap();
    let out = tool()
        .args(["eval", "morphology", "--signals"])
        .arg(dir.path())
        .arg("--reference")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no recording"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a FHRMA `.fhr` (u32 timestamp, then u16 FHR1×4, u16 FHR2×4, u8 TOCO×2, u8 per sample).
fn write_fhr(path: &std::path::Path, fhr: &[f32]) {
    let mut bytes = vec![0u8; 4];
    for &v in fhr {
        bytes.extend_from_slice(&((v * 4.0) as u16).to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&[20, 0]);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Writes an analysis in the WMFB reference format.
fn write_reference(dir: &std::path::Path, name: &str, baseline: f32, n: usize, events: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), events).unwrap();
    let lines: String = (0..n).map(|_| format!("{baseline}\n")).collect();
    std::fs::write(dir.join(format!("{name}_baseline.csv")), lines).unwrap();
}

#[test]
fn eval_morphology_scores_another_method_against_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let signals = dir.path().join("signals");
    std::fs::create_dir_all(&signals).unwrap();
    // 20 min around 140 bpm with a 40-bpm deceleration from minute 5 to 6.
    let n = 20 * 240;
    let fhr: Vec<f32> = (0..n)
        .map(|i| if (1200..1440).contains(&i) { 100.0 } else { 140.0 + (i % 8) as f32 - 4.0 })
        .collect();
    write_fhr(&signals.join("rec01.fhr"), &fhr);
    let reference = dir.path().join("reference");
    write_reference(&reference, "rec01", 140.0, n, "# test\nDEC 5.0 6.0\n");
    let same = dir.path().join("same");
    write_reference(&same, "rec01", 140.0, n, "DEC 5.05 6.1\n");
    let off = dir.path().join("off");
    write_reference(&off, "rec01", 160.0, n, "ACC 10 11\n");

    let eval = |method: &std::path::Path| {
        let out = tool()
            .args(["eval", "morphology", "--json", "--signals"])
            .arg(&signals)
            .arg("--reference")
            .arg(&reference)
            .arg("--method")
            .arg(method)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["summary"].clone()
    };
    let s = eval(&same);
    assert_eq!(s["files"], 1);
    assert_eq!(s["median_madi_pct"].as_f64().unwrap(), 0.0);
    assert_eq!(s["median_dec_f1"].as_f64().unwrap(), 1.0);
    let s = eval(&off);
    assert!(s["median_madi_pct"].as_f64().unwrap() > 10.0, "{s}");
    assert!((s["median_over_15_bpm_pct"].as_f64().unwrap() - 100.0).abs() < 1e-9, "{s}");
    assert_eq!(s["median_dec_f1"].as_f64().unwrap(), 0.0);
    assert_eq!(s["median_acc_ppv"].as_f64().unwrap(), 0.0);
}
