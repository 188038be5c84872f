//! The `ai-notes soap` command: inputs, formats and errors.

use serde_json::Value;

use crate::common::{ai_notes, fixture, stderr, stdout};

#[test]
fn soap_reads_stdin_and_writes_each_format() {
    let text =
        "Blood pressure one forty two over ninety two. She has a headache. Plan: recheck tomorrow.";
    let out = ai_notes(&["soap", "--lang", "en"], Some(text));
    assert!(out.status.success(), "{}", stderr(&out));
    let note: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(note["vitals"][0]["systolic"], 142);
    assert_eq!(note["red_flags"][0]["code"], "hypertension_with_severe_features");

    let out = ai_notes(&["soap", "-", "--lang", "en", "--format", "md"], Some(text));
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(md.starts_with("# SOAP note"), "{md}");
    assert!(md.contains("**EMERGENCY**"), "{md}");

    let out = ai_notes(
        &[
            "soap",
            "--lang",
            "en",
            "--format",
            "fhir",
            "--date",
            "2025-01-02T03:04:05Z",
            "--subject",
            "Patient/7",
        ],
        Some(text),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let b: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(b["entry"][0]["resource"]["status"], "preliminary");
    assert_eq!(b["entry"][0]["resource"]["subject"]["reference"], "Patient/7");
    assert_eq!(b["timestamp"], "2025-01-02T03:04:05+00:00");
}

#[test]
fn soap_accepts_the_json_of_transcribe() {
    let json = r#"{"report": {}, "transcript": {"language": "ja", "segments": [
        {"start_s": 0.0, "end_s": 4.0, "text": "血圧は百二十八の八十二です。"},
        {"start_s": 4.0, "end_s": 7.5, "text": "次回は二週間後です。"}]}}"#;
    let out = ai_notes(&["soap", "--lang", "ja"], Some(json));
    assert!(out.status.success(), "{}", stderr(&out));
    let note: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(note["transcript"], "血圧は百二十八の八十二です。次回は二週間後です。");
    assert_eq!(
        note["vitals"][0]["source"]["time"],
        serde_json::json!({"start_s": 0.0, "end_s": 4.0})
    );
}

#[test]
fn soap_file_argument() {
    let path = fixture("visit_ja.txt");
    let out = ai_notes(&["soap", path.to_str().unwrap(), "--lang", "ja", "--format", "md"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("## O（客観的情報）"));
}

#[test]
fn clear_one_line_errors_and_failure_status() {
    for (args, stdin, needle) in [
        (vec!["soap", "--lang", "fr"], Some("x"), "unknown language"),
        (vec!["soap", "--lang", "en"], Some("   \n"), "the transcript is empty"),
        (
            vec!["soap", "/nonexistent/t.txt", "--lang", "en"],
            None,
            "reading transcript /nonexistent/t.txt",
        ),
        (
            vec!["soap", "--lang", "en", "--format", "fhir", "--date", "yesterday"],
            Some("BP 120/80"),
            "RFC 3339",
        ),
    ] {
        let out = ai_notes(&args, stdin);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout(&out).is_empty());
    }
}
