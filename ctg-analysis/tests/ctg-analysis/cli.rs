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
        assert!(["early", "late", "variable", "prolonged", "unclassified"].contains(&d["kind"].as_str().unwrap()));
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("window_minutes"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn eval_reports_missing_references() {
    let dir = tempfile::tempdir().unwrap();
    let out = tool().args(["eval", "morphology", "--signals"]).arg(dir.path()).arg("--reference").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recording"), "{}", String::from_utf8_lossy(&out.stderr));
}
