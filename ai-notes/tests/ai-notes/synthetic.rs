//! The midwife dictations of the shared speech corpus (Japanese and English): `ai-notes soap`
//! must extract every vital they contain, with the right values and sections.

use serde_json::Value;

use crate::common::{ai_notes, datasets, stderr, stdout};

fn soap_json(path: &std::path::Path, lang: &str) -> Value {
    let out = ai_notes(&["soap", path.to_str().unwrap(), "--lang", lang, "--format", "json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// (kind, JSON fields) of every vital, in transcript order.
fn vitals(note: &Value) -> Vec<Value> {
    note["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut m = v.as_object().unwrap().clone();
            assert_eq!(m.remove("section"), Some(Value::from("O")), "{v}");
            m.remove("source");
            Value::Object(m)
        })
        .collect()
}

fn expected_vitals() -> Vec<Value> {
    serde_json::from_str(
        r#"[
            {"kind": "gestational_age", "weeks": 32, "days": 3},
            {"kind": "blood_pressure", "systolic": 128, "diastolic": 82},
            {"kind": "weight", "kg": 61.5},
            {"kind": "fetal_heart_rate", "bpm": 140}
        ]"#,
    )
    .unwrap()
}

fn sections(note: &Value) -> Vec<(String, String)> {
    note["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["origin"] == "transcript")
        .map(|s| {
            (s["section"].as_str().unwrap().to_string(), s["text"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn japanese_dictation_vitals_values_and_sections() {
    let Some(dir) = datasets("japanese synthetic dictation") else { return };
    let path = dir.join("speech/synthetic/ja_midwife.txt");
    let transcript = std::fs::read_to_string(&path).unwrap();
    let note = soap_json(&path, "ja");
    assert_eq!(vitals(&note), expected_vitals(), "{note:#}");
    assert!(note["rejected"].as_array().unwrap().is_empty(), "{note:#}");
    // Every vital quotes the transcript exactly, kanji numerals included.
    let quotes: Vec<&str> = note["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["source"]["quote"].as_str().unwrap())
        .collect();
    for q in &quotes {
        assert!(transcript.contains(q), "{q}");
    }
    assert!(quotes[1].contains("百二十八の八十二"), "{quotes:?}");
    assert!(quotes[2].contains("六十一.五"), "{quotes:?}");
    let s = sections(&note);
    let section_of = |needle: &str| {
        s.iter().find(|(_, t)| t.contains(needle)).map(|(sec, _)| sec.as_str()).unwrap()
    };
    assert_eq!(section_of("妊娠三十二週三日"), "O");
    assert_eq!(section_of("血圧"), "O");
    assert_eq!(section_of("お腹の張り"), "S");
    assert_eq!(section_of("胎児心拍"), "O");
    assert_eq!(section_of("次回"), "P");
    // The contractions are a present symptom with their frequency.
    let symptoms = note["symptoms"].as_array().unwrap();
    assert_eq!(symptoms.len(), 1, "{symptoms:?}");
    assert_eq!(symptoms[0]["kind"], "contractions");
    assert_eq!(symptoms[0]["present"], true);
    assert_eq!(symptoms[0]["frequency"], serde_json::json!({"count": 5.0, "per": "day"}));
    assert_eq!(note["status"], "preliminary");
}

#[test]
fn english_dictation_vitals_values_and_sections() {
    let Some(dir) = datasets("english synthetic dictation") else { return };
    let path = dir.join("speech/synthetic/en_midwife.txt");
    let note = soap_json(&path, "en");
    assert_eq!(vitals(&note), expected_vitals(), "{note:#}");
    assert!(note["rejected"].as_array().unwrap().is_empty(), "{note:#}");
    let quotes: Vec<&str> = note["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["source"]["quote"].as_str().unwrap())
        .collect();
    assert!(quotes[1].contains("one twenty eight over eighty two"), "{quotes:?}");
    let s = sections(&note);
    let section_of = |needle: &str| {
        s.iter().find(|(_, t)| t.contains(needle)).map(|(sec, _)| sec.as_str()).unwrap()
    };
    assert_eq!(section_of("Thirty two weeks"), "O");
    assert_eq!(section_of("Blood pressure"), "O");
    assert_eq!(section_of("Weight"), "O");
    assert_eq!(section_of("contractions"), "S");
    assert_eq!(section_of("Fetal heart rate"), "O");
    assert_eq!(section_of("Plan: return"), "P");
    let symptoms = note["symptoms"].as_array().unwrap();
    assert_eq!(symptoms.len(), 1, "{symptoms:?}");
    assert_eq!(symptoms[0]["kind"], "contractions");
    assert_eq!(symptoms[0]["frequency"], serde_json::json!({"count": 5.0, "per": "day"}));
}

#[test]
fn both_dictations_flag_preterm_contractions_and_nothing_else() {
    let Some(dir) = datasets("synthetic dictation red flags") else { return };
    for (file, lang) in [("ja_midwife.txt", "ja"), ("en_midwife.txt", "en")] {
        let note = soap_json(&dir.join("speech/synthetic").join(file), lang);
        let codes: Vec<&str> = note["red_flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, vec!["preterm_contractions"], "{file}");
    }
}
