//! The corpus evaluations run and beat their trivial baselines (figures are in the README; the
//! assertions here only check that the methods learn something).

use crate::common::{ai_notes, datasets, stderr, stdout};

#[test]
fn eval_soap_on_aci_bench_beats_copying_the_transcript() {
    let Some(d) = datasets("ACI-Bench evaluation") else { return };
    let corpus = d.join("soap/aci-bench");
    let out = ai_notes(&["eval", "soap", "--corpus", corpus.to_str().unwrap(), "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let generated = v["generated"]["rouge1"].as_f64().unwrap();
    let copy = v["transcript_copy"]["rouge1"].as_f64().unwrap();
    eprintln!("ACI-Bench valid ROUGE-1: generated {generated:.2}, transcript copy {copy:.2}");
    assert_eq!(v["generated"]["n"], 20);
    assert!(generated > copy + 5.0, "{generated} vs {copy}");
    assert!(
        v["generated"]["rouge2"].as_f64().unwrap()
            > v["transcript_copy"]["rouge2"].as_f64().unwrap()
    );
}

#[test]
fn eval_sections_on_mts_dialog_beats_the_majority_class() {
    let Some(d) = datasets("MTS-Dialog evaluation") else { return };
    let corpus = d.join("soap/mts-dialog");
    let out = ai_notes(&["eval", "sections", "--corpus", corpus.to_str().unwrap(), "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    eprintln!("MTS-Dialog valid: {v}");
    assert_eq!(v["pairs"], 100);
    assert!(
        v["header_accuracy"].as_f64().unwrap()
            > v["majority_header_accuracy"].as_f64().unwrap() + 0.2
    );
    assert!(v["soap_accuracy"].as_f64().unwrap() > v["majority_soap_accuracy"].as_f64().unwrap());
}

#[test]
fn eval_reports_a_wrong_corpus_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = ai_notes(&["eval", "soap", "--corpus", dir.path().to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no training"), "{}", stderr(&out));
}
