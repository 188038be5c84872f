//! FHIR and Markdown outputs.

use ai_notes::fhir::{Attestation, FhirContext, Reference, bundle};
use ai_notes::soap::{Lang, Measurement, SymptomKind, Urgency, structure, structure_transcript};
use ai_notes::transcript::{Segment, Transcript};
use ai_notes::{Transcriber, markdown};
use serde_json::Value;

use crate::common::fixture;

fn date() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2025-06-01T10:30:00+09:00").unwrap()
}

fn resources<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

#[test]
fn english_visit_fixture_is_structured() {
    let text = std::fs::read_to_string(fixture("visit_en.txt")).unwrap();
    let note = structure(&text, Lang::En);
    let m: Vec<Measurement> = note.vitals.iter().map(|v| v.measurement).collect();
    assert_eq!(
        m,
        vec![
            Measurement::GestationalAge { weeks: 28, days: Some(5) },
            Measurement::BloodPressure { systolic: 118, diastolic: 74 },
            Measurement::Pulse { bpm: 76 },
            Measurement::Weight { kg: 58.4 },
            Measurement::FundalHeight { cm: 29.0 },
            Measurement::UrineProtein { dipstick: ai_notes::soap::Dipstick::Negative },
            Measurement::UrineGlucose { dipstick: ai_notes::soap::Dipstick::Negative },
            Measurement::Oedema { oedema: ai_notes::soap::Oedema::Absent },
            Measurement::FetalHeartRate { bpm: 138 },
        ]
    );
    let s: Vec<(SymptomKind, bool)> = note.symptoms.iter().map(|s| (s.kind, s.present)).collect();
    assert_eq!(
        s,
        vec![
            (SymptomKind::Contractions, true),
            (SymptomKind::Bleeding, false),
            (SymptomKind::LeakingFluid, false),
            (SymptomKind::Headache, false)
        ]
    );
    let codes: Vec<&str> = note.red_flags.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["preterm_contractions"]);
    assert_eq!(note.red_flags[0].urgency, Urgency::Advisory);
}

#[test]
fn fhir_bundle_of_a_draft() {
    let text = std::fs::read_to_string(fixture("visit_en.txt")).unwrap();
    let note = structure(&text, Lang::En);
    let mut ctx = FhirContext::at(date());
    ctx.subject = Some(Reference { reference: "Patient/p1".into(), display: None });
    let b = bundle(&note, &ctx);
    assert_eq!(b, bundle(&note, &ctx), "output is deterministic");
    assert_eq!(b["resourceType"], "Bundle");
    let full_urls: Vec<&str> =
        b["entry"].as_array().unwrap().iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();

    let c = resources(&b, "Composition")[0];
    assert_eq!(c["status"], "preliminary");
    assert_eq!(c["type"]["coding"][0]["code"], "11506-3");
    assert_eq!(c["meta"]["security"][0]["code"], "AIAST");
    assert_eq!(c["subject"]["reference"], "Patient/p1");
    assert_eq!(c["date"], "2025-06-01T10:30:00+09:00");
    let codes: Vec<&str> = c["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["61150-9", "61149-1", "51848-0", "18776-5"]);
    for s in c["section"].as_array().unwrap() {
        let div = s["text"]["div"].as_str().unwrap();
        assert!(div.starts_with("<div xmlns=\"http://www.w3.org/1999/xhtml\">"), "{div}");
    }
    let entries = c["section"][1]["entry"].as_array().unwrap();
    assert_eq!(entries.len(), note.vitals.len());
    for e in entries {
        assert!(
            full_urls.contains(&e["reference"].as_str().unwrap()),
            "{e} resolves inside the bundle"
        );
    }
    assert!(full_urls.contains(&c["author"][0]["reference"].as_str().unwrap()));

    let obs = resources(&b, "Observation");
    assert_eq!(obs.len(), note.vitals.len());
    assert!(
        obs.iter()
            .all(|o| o["status"] == "preliminary" && o["subject"]["reference"] == "Patient/p1")
    );
    let bp = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "85354-9").unwrap();
    assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
    assert_eq!(bp["component"][0]["valueQuantity"]["value"], 118.0);
    assert_eq!(bp["component"][1]["code"]["coding"][0]["code"], "8462-4");
    assert_eq!(bp["component"][1]["valueQuantity"]["unit"], "mm[Hg]");
    let fhr = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "55283-6").unwrap();
    assert_eq!(fhr["valueQuantity"]["value"], 138.0);
    let ga = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "11884-4").unwrap();
    assert_eq!(ga["valueQuantity"]["unit"], "wk");
    assert!(
        (ga["valueQuantity"]["value"].as_f64().unwrap() * 7.0 - (28.0 * 7.0 + 5.0)).abs() < 0.1
    );

    let prov = resources(&b, "Provenance");
    assert_eq!(prov.len(), 1);
    assert_eq!(prov[0]["activity"]["coding"][0]["code"], "CREATE");
    assert_eq!(prov[0]["recorded"], "2025-06-01T10:30:00+09:00");
    assert_eq!(
        prov[0]["target"][0]["reference"],
        format!("urn:uuid:{}", c["id"].as_str().unwrap())
    );
    assert!(full_urls.contains(&prov[0]["agent"][0]["who"]["reference"].as_str().unwrap()));
    assert_eq!(resources(&b, "Device").len(), 1);
}

#[test]
fn attestation_makes_the_note_final_with_a_second_provenance() {
    let note = structure("BP 118/74.", Lang::En);
    let mut ctx = FhirContext::at(date());
    ctx.attestation = Some(Attestation {
        practitioner: Reference {
            reference: "Practitioner/m1".into(),
            display: Some("Midwife Sato".into()),
        },
        time: chrono::DateTime::parse_from_rfc3339("2025-06-01T12:00:00+09:00").unwrap(),
    });
    let b = bundle(&note, &ctx);
    let c = resources(&b, "Composition")[0];
    assert_eq!(c["status"], "final");
    assert!(c.get("meta").is_none());
    assert_eq!(c["attester"][0]["party"]["reference"], "Practitioner/m1");
    let prov = resources(&b, "Provenance");
    assert_eq!(prov.len(), 2);
    assert_eq!(prov[1]["agent"][0]["type"]["coding"][0]["code"], "attester");
    assert_eq!(prov[1]["recorded"], "2025-06-01T12:00:00+09:00");
}

#[test]
fn markdown_of_the_japanese_visit() {
    let text = std::fs::read_to_string(fixture("visit_ja.txt")).unwrap();
    let note = structure(&text, Lang::Ja);
    let md = markdown::render(&note);
    assert!(md.contains("**下書き**"), "{md}");
    let flags: Vec<&str> = note.red_flags.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        flags,
        vec!["hypertension_with_severe_features", "hypertension_with_proteinuria"],
        "{md}"
    );
    assert!(md.contains("- **緊急** 血圧 162/112 mmHg に頭痛・視覚異常を伴う"), "{md}");
    assert!(md.contains("| 血圧 | 162/112 mmHg |"), "{md}");
    assert!(md.contains("| 尿蛋白 | (2+) |"), "{md}");
    assert!(md.contains("| 浮腫 | (+) |"), "{md}");
    let plan = md.split("## P（計画）").nth(1).unwrap();
    assert!(plan.contains("降圧薬を開始します"), "{md}");
    assert!(plan.contains("ご家族に連絡してください"), "{md}");
    let assessment = md.split("## A（評価）").nth(1).unwrap().split("## P").next().unwrap();
    assert!(assessment.contains("妊娠高血圧腎症の疑い"), "{md}");
    // Every statement line cites its span.
    for line in md.lines().filter(|l| l.starts_with("- ") && !l.contains("記載なし")) {
        assert!(line.contains("[chars "), "{line}");
    }
    assert!(note.symptoms.iter().any(|s| s.kind == SymptomKind::EpigastricPain && !s.present));
}

#[test]
fn timed_transcripts_link_statements_to_audio_time() {
    let t = Transcript {
        language: Some("ja".into()),
        segments: vec![
            Segment { start_s: 0.0, end_s: 2.5, text: "妊娠三十二週三日です。".into() },
            Segment {
                start_s: 2.5, end_s: 6.0, text: "血圧は百二十八の八十二です。".into()
            },
        ],
    };
    let note = structure_transcript(&t, Lang::Ja);
    let bp = note
        .vitals
        .iter()
        .find(|v| matches!(v.measurement, Measurement::BloodPressure { .. }))
        .unwrap();
    let time = bp.source.time.unwrap();
    assert_eq!((time.start_s, time.end_s), (2.5, 6.0));
    assert!(markdown::render(&note).contains("[00:02.5–00:06.0]"));
}

#[test]
fn fake_transcriber_feeds_the_structurer() {
    // The fake stands in for trained weights: chunk texts come back on the recording's time line.
    let mut fake = ai_notes::FakeTranscriber::new(vec!["血圧は百二十八の八十二です。".into()]);
    let pcm = vec![0.0f32; 16_000 * 3];
    let t = fake.transcribe_chunk(&pcm, ai_notes::SpeechLanguage::Ja).unwrap();
    let note = structure_transcript(&t, Lang::Ja);
    assert_eq!(
        note.vitals[0].measurement,
        Measurement::BloodPressure { systolic: 128, diastolic: 82 }
    );
    assert_eq!(note.vitals[0].source.time.unwrap().end_s, 3.0);
}
