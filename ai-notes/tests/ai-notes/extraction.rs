//! Normalisation and extraction edge cases through the public API.

use ai_notes::soap::{
    Dipstick, Lang, Measurement, MeasurementKind, Oedema, Section, SymptomKind, Urgency, structure,
};
use ai_notes::text::normalize;

fn measurements(text: &str) -> Vec<Measurement> {
    structure(text, Lang::En).vitals.into_iter().map(|v| v.measurement).collect()
}

fn rejected(text: &str) -> Vec<(MeasurementKind, String)> {
    structure(text, Lang::En).rejected.into_iter().map(|r| (r.kind, r.reason)).collect()
}

fn symptoms(text: &str) -> Vec<(SymptomKind, bool)> {
    structure(text, Lang::En).symptoms.into_iter().map(|s| (s.kind, s.present)).collect()
}

fn bp(systolic: u16, diastolic: u16) -> Measurement {
    Measurement::BloodPressure { systolic, diastolic }
}

#[test]
fn normalisation_of_widths_kanji_and_number_words() {
    assert_eq!(normalize("血圧１２８／８２、脈拍七十八").as_str(), "血圧128/82、脈拍78");
    assert_eq!(normalize("百二十八の八十二").as_str(), "128の82");
    assert_eq!(normalize("千二百グラム、二〇二五年").as_str(), "1200グラム、2025年");
    assert_eq!(normalize("One Twenty-Eight over Eighty-Two").as_str(), "128 over 82");
    assert_eq!(normalize("ninety nine point five").as_str(), "99.5");
}

#[test]
fn systolic_first_and_reversed_pairs() {
    assert_eq!(measurements("BP 128/82."), vec![bp(128, 82)]);
    assert_eq!(measurements("Blood pressure one twenty eight over eighty two."), vec![bp(128, 82)]);
    assert_eq!(measurements("血圧は百二十八の八十二です。"), vec![bp(128, 82)]);
    // 82/128 is not silently swapped: it is rejected with a reason the clinician can act on.
    assert!(measurements("BP 82/128.").is_empty());
    let r = rejected("BP 82/128.");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, MeasurementKind::BloodPressure);
    assert!(r[0].1.contains("systolic must come first"), "{}", r[0].1);
    // Labelled values may come in any order.
    assert_eq!(measurements("血圧は下が82、上が128でした。"), vec![bp(128, 82)]);
    assert_eq!(measurements("diastolic 82, systolic 128."), vec![bp(128, 82)]);
    assert_eq!(measurements("128/82 mmHg"), vec![bp(128, 82)]);
    // Not pressures: dates and fractions.
    assert!(measurements("Seen on 12/3 and 1/2 of the tablets taken.").is_empty());
}

#[test]
fn values_out_of_range_are_rejected_with_a_reason() {
    for (text, kind, needle) in [
        ("BP 300/82.", MeasurementKind::BloodPressure, "systolic pressure 300"),
        ("Fetal heart rate 260.", MeasurementKind::FetalHeartRate, "fetal heart rate 260"),
        ("Pulse 12.", MeasurementKind::Pulse, "pulse 12"),
        ("Weight 615 kg.", MeasurementKind::Weight, "weight 615"),
        ("妊娠32週9日です。", MeasurementKind::GestationalAge, "9 days"),
        ("50 weeks pregnant.", MeasurementKind::GestationalAge, "gestational age 50"),
        ("BP 120/115.", MeasurementKind::BloodPressure, "pulse pressure"),
        ("体温は四十五度です。", MeasurementKind::BodyTemperature, "body temperature 45"),
    ] {
        let note = structure(text, Lang::En);
        assert!(note.vitals.is_empty(), "{text}: {:?}", note.vitals);
        assert_eq!(note.rejected.len(), 1, "{text}");
        assert_eq!(note.rejected[0].kind, kind, "{text}");
        assert!(note.rejected[0].reason.contains(needle), "{text}: {}", note.rejected[0].reason);
        assert!(text.contains(&note.rejected[0].source.quote), "{text}");
    }
}

#[test]
fn gestational_age_forms_and_intervals() {
    let ga = |weeks, days| Measurement::GestationalAge { weeks, days };
    assert_eq!(measurements("32 weeks 3 days"), vec![ga(32, Some(3))]);
    assert_eq!(measurements("She is 32 weeks and 3 days pregnant."), vec![ga(32, Some(3))]);
    assert_eq!(measurements("Thirty two weeks pregnant."), vec![ga(32, None)]);
    assert_eq!(measurements("GA 32+3."), vec![ga(32, Some(3))]);
    assert_eq!(measurements("妊娠三十二週三日。"), vec![ga(32, Some(3))]);
    assert_eq!(measurements("現在妊娠28週です。"), vec![ga(28, None)]);
    // Intervals are not gestational ages.
    assert!(measurements("Return in two weeks.").is_empty());
    assert!(measurements("次回は二週間後に受診してください。").is_empty());
    assert!(measurements("Headache for 2 weeks and 3 days.").is_empty());
}

#[test]
fn the_other_checkup_values() {
    assert_eq!(measurements("Fundal height 30 cm."), vec![Measurement::FundalHeight { cm: 30.0 }]);
    assert_eq!(
        measurements("子宮底長は三十センチ、腹囲は八十九センチ。"),
        vec![
            Measurement::FundalHeight { cm: 30.0 },
            Measurement::AbdominalCircumference { cm: 89.0 }
        ]
    );
    assert_eq!(
        measurements("尿蛋白(-)、尿糖(±)。"),
        vec![
            Measurement::UrineProtein { dipstick: Dipstick::Negative },
            Measurement::UrineGlucose { dipstick: Dipstick::Trace }
        ]
    );
    assert_eq!(
        measurements("尿蛋白・尿糖ともに陰性。"),
        vec![
            Measurement::UrineProtein { dipstick: Dipstick::Negative },
            Measurement::UrineGlucose { dipstick: Dipstick::Negative }
        ]
    );
    assert_eq!(
        measurements("Urine dip negative for protein and glucose."),
        vec![
            Measurement::UrineProtein { dipstick: Dipstick::Negative },
            Measurement::UrineGlucose { dipstick: Dipstick::Negative }
        ]
    );
    assert_eq!(
        measurements("Urine protein 2+."),
        vec![Measurement::UrineProtein { dipstick: Dipstick::Positive(2) }]
    );
    // 糖尿病 (diabetes) is not a urine glucose reading.
    assert!(measurements("糖尿病はありません。").is_empty());
    assert_eq!(measurements("No edema."), vec![Measurement::Oedema { oedema: Oedema::Absent }]);
    assert_eq!(measurements("浮腫(2+)"), vec![Measurement::Oedema { oedema: Oedema::Graded(2) }]);
    assert_eq!(
        measurements("下肢のむくみがあります。"),
        vec![Measurement::Oedema { oedema: Oedema::Present }]
    );
    assert_eq!(
        measurements("脈拍は78、体温は三十六度八分。"),
        vec![Measurement::Pulse { bpm: 78 }, Measurement::BodyTemperature { celsius: 36.8 }]
    );
    assert_eq!(
        measurements("FHR 150 bpm, maternal pulse 88."),
        vec![Measurement::FetalHeartRate { bpm: 150 }, Measurement::Pulse { bpm: 88 }]
    );
}

#[test]
fn negated_and_present_symptoms() {
    use SymptomKind as K;
    assert_eq!(
        symptoms("She denies headache, visual disturbance or epigastric pain."),
        vec![(K::Headache, false), (K::VisualDisturbance, false), (K::EpigastricPain, false)]
    );
    assert_eq!(
        symptoms("No bleeding or leaking fluid. She reports reduced fetal movements."),
        vec![(K::Bleeding, false), (K::LeakingFluid, false), (K::ReducedFetalMovement, true)]
    );
    assert_eq!(
        symptoms("頭痛、目のチカチカ、みぞおちの痛みはいずれもありません。"),
        vec![(K::Headache, false), (K::VisualDisturbance, false), (K::EpigastricPain, false)]
    );
    assert_eq!(
        symptoms("出血はありませんが、破水したかもしれません。"),
        vec![(K::Bleeding, false), (K::LeakingFluid, true)]
    );
    assert_eq!(symptoms("胎動が少ない気がします。"), vec![(K::ReducedFetalMovement, true)]);
    assert_eq!(symptoms("Headache: none."), vec![(K::Headache, false)]);
}

#[test]
fn red_flag_severe_pressure_with_headache() {
    let note = structure("BP 162/112. She has a headache since this morning.", Lang::En);
    let flag = &note.red_flags[0];
    assert_eq!(flag.code, "hypertension_with_severe_features");
    assert_eq!(flag.urgency, Urgency::Emergency);
    assert_eq!(flag.evidence.len(), 2);
    assert!(note.section(Section::A).any(|s| s.text.contains("severe range")));
    // The same pressure with the headache denied is still an emergency, for the pressure alone.
    let note = structure("BP 162/112. No headache.", Lang::En);
    assert_eq!(note.red_flags[0].code, "severe_hypertension");
    // Hypertensive range with a visual disturbance.
    let note = structure("血圧は百四十八の九十四。目がチカチカします。", Lang::Ja);
    assert_eq!(note.red_flags[0].code, "hypertension_with_severe_features");
    assert!(note.red_flags[0].message.contains("視覚異常"), "{}", note.red_flags[0].message);
    // Normal pressure, no flag.
    assert!(structure("BP 118/72. No headache.", Lang::En).red_flags.is_empty());
}

#[test]
fn red_flags_for_the_fetus_and_preterm_labour() {
    let flag = |text: &str| {
        let note = structure(text, Lang::En);
        note.red_flags.iter().map(|f| (f.code.clone(), f.urgency)).collect::<Vec<_>>()
    };
    assert_eq!(
        flag("Fetal heart rate 95."),
        vec![("fetal_bradycardia".to_string(), Urgency::Emergency)]
    );
    assert_eq!(
        flag("Fetal heart rate 172."),
        vec![("fetal_tachycardia".to_string(), Urgency::SameDay)]
    );
    assert_eq!(
        flag("30 weeks pregnant. Contractions every 5 minutes."),
        vec![("preterm_contractions".to_string(), Urgency::Emergency)]
    );
    assert_eq!(
        flag("30 weeks pregnant. Contractions twice a day."),
        vec![("preterm_contractions".to_string(), Urgency::Advisory)]
    );
    // At term, contractions are not a preterm flag.
    assert!(flag("39 weeks pregnant. Contractions every 5 minutes.").is_empty());
    assert_eq!(
        flag("Her waters broke this morning."),
        vec![("leaking_fluid".to_string(), Urgency::Emergency)]
    );
    assert_eq!(flag("Urine protein 2+."), vec![("proteinuria".to_string(), Urgency::SameDay)]);
    assert_eq!(flag("Temperature 38.6."), vec![("fever".to_string(), Urgency::SameDay)]);
}

#[test]
fn every_statement_links_to_its_transcript_span() {
    let text = "妊娠三十二週三日です。\n血圧は百二十八の八十二、体重は六十一.五キロです。頭痛はありません。";
    let note = structure(text, Lang::Ja);
    for s in &note.statements {
        assert_eq!(&text[s.source.start..s.source.end], s.source.quote);
        assert_eq!(
            text.chars()
                .skip(s.source.char_start)
                .take(s.source.char_end - s.source.char_start)
                .collect::<String>(),
            s.source.quote
        );
    }
    for v in &note.vitals {
        assert_eq!(&text[v.source.start..v.source.end], v.source.quote);
    }
    let weight =
        note.vitals.iter().find(|v| v.measurement.kind() == MeasurementKind::Weight).unwrap();
    assert_eq!(weight.source.quote, "体重は六十一.五キロ");
}

#[test]
fn empty_and_noise_input_give_an_empty_draft() {
    for text in ["", "   ", "。。。", "!!!"] {
        let note = structure(text, Lang::En);
        assert!(
            note.statements.is_empty() && note.vitals.is_empty() && note.red_flags.is_empty(),
            "{text:?}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Any mixture of numerals, keywords, full-width forms and punctuation structures without a
    /// panic, and every span quotes the input exactly.
    #[test]
    fn arbitrary_transcripts_never_panic(parts in proptest::collection::vec(proptest::sample::select(vec![
        "血圧", "は", "百", "二十八", "の", "八十", "二", "、", "。", "．", "１２８", "／", "82", "上が", "下が",
        "妊娠", "週", "日", "間", "後", "体重", "キロ", ".", "五", "点", "頭痛", "ありません", "ない", "少ない",
        "blood pressure", " one", " twenty", " eight", " over", " hundred", " point", " weeks", " days", " no",
        " headache", " pregnant", " fetal heart rate", " 160/110", " (2+)", "±", "ー", "🙂", "\u{3000}", "\n",
        " urine protein", "浮腫", "(-)", "万", "億", "〇", "千", "十",
    ]), 0..40)) {
        let text: String = parts.concat();
        for lang in [Lang::Ja, Lang::En] {
            let note = structure(&text, lang);
            for s in note.statements.iter().filter(|s| s.origin == ai_notes::soap::Origin::Transcript) {
                proptest::prop_assert_eq!(&text[s.source.start..s.source.end], s.source.quote.as_str());
            }
            for v in &note.vitals {
                proptest::prop_assert_eq!(&text[v.source.start..v.source.end], v.source.quote.as_str());
            }
            let _ = ai_notes::markdown::render(&note);
        }
    }
}
