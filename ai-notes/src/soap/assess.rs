//! Rules that turn extracted facts into Assessment statements and red flags. Thresholds come from
//! [`super::limits`]; each output cites the transcript spans it rests on.

use super::limits;
use super::model::{
    Dipstick, Lang, Measurement, Origin, Period, RedFlag, Section, SourceSpan, Statement, Symptom,
    SymptomKind, Urgency, Vital,
};

/// Symptoms that, with a hypertensive reading, suggest pre-eclampsia with severe features
/// (clinical.md §3: headache, visual disturbance, epigastric pain, breathlessness, seizures).
const SEVERE_FEATURE_SYMPTOMS: [SymptomKind; 5] = [
    SymptomKind::Headache,
    SymptomKind::VisualDisturbance,
    SymptomKind::EpigastricPain,
    SymptomKind::Breathlessness,
    SymptomKind::Seizure,
];

/// Derived Assessment statements and red flags for the accepted vitals and symptoms.
pub fn assess(
    vitals: &[Vital],
    symptoms: &[Symptom],
    lang: Lang,
) -> (Vec<Statement>, Vec<RedFlag>) {
    let mut statements = Vec::new();
    let mut flags = Vec::new();
    let t = |en: String, ja: String| if lang == Lang::Ja { ja } else { en };

    let present: Vec<&Symptom> = symptoms.iter().filter(|s| s.present).collect();
    let mut severe_symptoms: Vec<&Symptom> = Vec::new();
    for s in present.iter().copied().filter(|s| SEVERE_FEATURE_SYMPTOMS.contains(&s.kind)) {
        if !severe_symptoms.iter().any(|o| o.kind == s.kind) {
            severe_symptoms.push(s);
        }
    }
    let weeks = vitals.iter().find_map(|v| match v.measurement {
        Measurement::GestationalAge { weeks, .. } => Some(weeks),
        _ => None,
    });

    // Blood pressure: the highest reading decides.
    let bp = vitals
        .iter()
        .filter_map(|v| match v.measurement {
            Measurement::BloodPressure { systolic, diastolic } => Some((systolic, diastolic, v)),
            _ => None,
        })
        .max_by_key(|&(s, d, _)| (bp_tier(s, d), s, d));
    if let Some((s, d, v)) = bp {
        let (hs, hd) = limits::HYPERTENSION;
        let (ss, sd) = limits::SEVERE_HYPERTENSION;
        let severe = s >= ss || d >= sd;
        let hypertensive = s >= hs || d >= hd;
        let text = if severe {
            t(
                format!("Blood pressure {s}/{d} mmHg is in the severe range (≥ {ss}/{sd})."),
                format!("血圧 {s}/{d} mmHg は重症域（{ss}/{sd} 以上）です。"),
            )
        } else if hypertensive {
            t(
                format!("Blood pressure {s}/{d} mmHg is in the hypertensive range (≥ {hs}/{hd})."),
                format!("血圧 {s}/{d} mmHg は高血圧域（{hs}/{hd} 以上）です。"),
            )
        } else {
            t(
                format!(
                    "Blood pressure {s}/{d} mmHg is below the hypertension threshold ({hs}/{hd})."
                ),
                format!("血圧 {s}/{d} mmHg は高血圧の基準（{hs}/{hd}）未満です。"),
            )
        };
        statements.push(derived(text, &v.source));
        if hypertensive && !severe_symptoms.is_empty() {
            let names = join(severe_symptoms.iter().map(|s| s.kind.label(lang)), lang);
            let mut evidence = vec![v.source.clone()];
            evidence.extend(severe_symptoms.iter().map(|s| s.source.clone()));
            flags.push(RedFlag {
                code: "hypertension_with_severe_features".into(),
                urgency: Urgency::Emergency,
                message: t(
                    format!("Blood pressure {s}/{d} mmHg with {names}: suspect pre-eclampsia with severe features; contact the hospital now."),
                    format!("血圧 {s}/{d} mmHg に{names}を伴う：重症の妊娠高血圧腎症を疑い、直ちに病院へ連絡。"),
                ),
                evidence,
            });
        } else if severe {
            flags.push(RedFlag {
                code: "severe_hypertension".into(),
                urgency: Urgency::Emergency,
                message: t(
                    format!("Severe-range blood pressure {s}/{d} mmHg: confirm with a repeat reading and contact the hospital now."),
                    format!("重症域の血圧 {s}/{d} mmHg：再測定で確認し、直ちに病院へ連絡。"),
                ),
                evidence: vec![v.source.clone()],
            });
        } else if hypertensive {
            flags.push(RedFlag {
                code: "hypertension".into(),
                urgency: Urgency::SameDay,
                message: t(
                    format!("Hypertensive-range blood pressure {s}/{d} mmHg: repeat the reading and contact the clinic today."),
                    format!("高血圧域の血圧 {s}/{d} mmHg：再測定し、本日中に受診先へ連絡。"),
                ),
                evidence: vec![v.source.clone()],
            });
        }
    } else if !severe_symptoms.is_empty() {
        let names = join(severe_symptoms.iter().map(|s| s.kind.label(lang)), lang);
        flags.push(RedFlag {
            code: "severe_feature_symptoms_without_bp".into(),
            urgency: Urgency::SameDay,
            message: t(
                format!("{names} reported with no blood pressure in the transcript: measure blood pressure today."),
                format!("{names}の訴えがあり、血圧の記載なし：本日中に血圧を測定。"),
            ),
            evidence: severe_symptoms.iter().map(|s| s.source.clone()).collect(),
        });
    }

    for v in vitals {
        match v.measurement {
            Measurement::FetalHeartRate { bpm } => {
                let (lo, hi) = limits::FHR_NORMAL;
                if (lo..=hi).contains(&bpm) {
                    statements.push(derived(
                        t(
                            format!(
                                "Fetal heart rate {bpm}/min is within the normal range {lo}-{hi}."
                            ),
                            format!("胎児心拍数 {bpm}/分 は正常範囲（{lo}-{hi}）です。"),
                        ),
                        &v.source,
                    ));
                } else {
                    let (word_en, word_ja) = if bpm < lo {
                        ("bradycardia", "徐脈")
                    } else {
                        ("tachycardia", "頻脈")
                    };
                    let urgency = if bpm < limits::FHR_EMERGENCY_BELOW {
                        Urgency::Emergency
                    } else {
                        Urgency::SameDay
                    };
                    statements.push(derived(
                        t(
                            format!(
                                "Fetal heart rate {bpm}/min is outside the normal range \
                                 {lo}-{hi} (fetal {word_en})."
                            ),
                            format!("胎児心拍数 {bpm}/分 は正常範囲（{lo}-{hi}）外です（胎児{word_ja}）。"),
                        ),
                        &v.source,
                    ));
                    flags.push(RedFlag {
                        code: format!("fetal_{word_en}"),
                        urgency,
                        message: t(
                            format!("Fetal heart rate {bpm}/min outside {lo}-{hi}: assess fetal wellbeing (CTG)."),
                            format!("胎児心拍数 {bpm}/分 が {lo}-{hi} の範囲外：胎児の状態を評価（CTG）。"),
                        ),
                        evidence: vec![v.source.clone()],
                    });
                }
            }
            Measurement::UrineProtein { dipstick } => {
                let grade = match dipstick {
                    Dipstick::Positive(n) => Some(n),
                    Dipstick::PositiveUngraded => Some(1),
                    Dipstick::Negative | Dipstick::Trace => None,
                };
                if let Some(n) = grade.filter(|&n| n >= limits::PROTEINURIA_GRADE) {
                    let with_bp = bp.is_some_and(|(s, d, _)| {
                        s >= limits::HYPERTENSION.0 || d >= limits::HYPERTENSION.1
                    });
                    flags.push(RedFlag {
                        code: if with_bp {
                            "hypertension_with_proteinuria".into()
                        } else {
                            "proteinuria".into()
                        },
                        urgency: if with_bp {
                            Urgency::Emergency
                        } else if n >= limits::PROTEINURIA_URGENT_GRADE {
                            Urgency::SameDay
                        } else {
                            Urgency::Advisory
                        },
                        message: t(
                            format!(
                                "Urine protein {}{}.",
                                dipstick.notation(),
                                if with_bp {
                                    " with hypertension: suspect pre-eclampsia"
                                } else {
                                    ": recheck and assess for pre-eclampsia"
                                }
                            ),
                            format!(
                                "尿蛋白 {}{}。",
                                dipstick.notation(),
                                if with_bp {
                                    "、高血圧を伴う：妊娠高血圧腎症を疑う"
                                } else {
                                    "：再検し妊娠高血圧腎症を評価"
                                }
                            ),
                        ),
                        evidence: vec![v.source.clone()],
                    });
                }
            }
            Measurement::BodyTemperature { celsius } if celsius >= limits::FEVER_C => {
                flags.push(RedFlag {
                    code: "fever".into(),
                    urgency: Urgency::SameDay,
                    message: t(
                        format!("Fever {celsius} °C: assess for infection."),
                        format!("発熱 {celsius} ℃：感染を評価。"),
                    ),
                    evidence: vec![v.source.clone()],
                });
            }
            _ => {}
        }
    }

    let preterm = weeks.is_some_and(|w| w < limits::TERM_WEEKS);
    for s in &present {
        let Some((code, urgency, en, ja)) = symptom_flag(s, preterm) else { continue };
        if flags.iter().any(|f| f.code == code) {
            continue;
        }
        flags.push(RedFlag {
            code: code.into(),
            urgency,
            message: t(en, ja),
            evidence: vec![s.source.clone()],
        });
    }
    if present.iter().any(|s| s.kind == SymptomKind::Breathlessness)
        && !flags.iter().any(|f| f.code == "hypertension_with_severe_features")
    {
        let s = present.iter().find(|s| s.kind == SymptomKind::Breathlessness);
        if let Some(s) = s {
            flags.push(RedFlag {
                code: "breathlessness".into(),
                urgency: Urgency::SameDay,
                message: t(
                    "Breathlessness reported: assess today.".into(),
                    "呼吸困難の訴え：本日中に評価。".into(),
                ),
                evidence: vec![s.source.clone()],
            });
        }
    }
    flags.sort_by_key(|f| std::cmp::Reverse(f.urgency));
    for f in &flags {
        if let Some(first) = f.evidence.first() {
            statements.push(derived(f.message.clone(), first));
        }
    }
    (statements, flags)
}

/// The flag a present symptom raises on its own: (code, urgency, English, Japanese).
fn symptom_flag(s: &Symptom, preterm: bool) -> Option<(&'static str, Urgency, String, String)> {
    Some(match s.kind {
        SymptomKind::Bleeding => (
            "bleeding",
            Urgency::Emergency,
            "Bleeding reported: contact the hospital now (placental abruption or praevia must \
             be excluded)."
                .into(),
            "出血の訴え：直ちに病院へ連絡（常位胎盤早期剥離・前置胎盤の除外が必要）。".into(),
        ),
        SymptomKind::LeakingFluid => {
            let (en, ja) =
                if preterm { (" before 37 weeks", "（37週未満）") } else { ("", "") };
            (
                "leaking_fluid",
                Urgency::Emergency,
                format!("Leaking fluid reported{en}: assess for rupture of membranes now."),
                format!("水っぽい流出の訴え{ja}：破水の評価を直ちに。"),
            )
        }
        SymptomKind::ReducedFetalMovement => (
            "reduced_fetal_movement",
            Urgency::Emergency,
            "Reduced fetal movement reported: assess fetal wellbeing (CTG) today without delay."
                .into(),
            "胎動減少の訴え：遅滞なく胎児の状態を評価（CTG）。".into(),
        ),
        SymptomKind::Seizure => (
            "seizure",
            Urgency::Emergency,
            "Seizure reported: treat as eclampsia until proven otherwise.".into(),
            "けいれんの訴え：否定されるまで子癇として対応。".into(),
        ),
        SymptomKind::Contractions if preterm => {
            let per_hour = s.frequency.map(|f| match f.per {
                Period::Hour => f.count,
                Period::Day => f.count / 24.0,
                Period::Week => f.count / (24.0 * 7.0),
            });
            let urgency = if per_hour.is_some_and(|n| n >= limits::PRETERM_CONTRACTIONS_PER_HOUR) {
                Urgency::Emergency
            } else {
                Urgency::Advisory
            };
            let (en, ja) = match s.frequency {
                Some(f) => (
                    format!(" ({} per {})", f.count, period_en(f.per)),
                    format!("（{}回/{}）", f.count, period_ja(f.per)),
                ),
                None => (String::new(), String::new()),
            };
            (
                "preterm_contractions",
                urgency,
                format!("Contractions before 37 weeks{en}: assess for threatened preterm labour."),
                format!("37週未満の子宮収縮{ja}：切迫早産の評価を。"),
            )
        }
        _ => return None,
    })
}

fn period_en(p: Period) -> &'static str {
    match p {
        Period::Hour => "hour",
        Period::Day => "day",
        Period::Week => "week",
    }
}

/// 2 = severe range, 1 = hypertensive range, 0 = below.
fn bp_tier(s: u16, d: u16) -> u8 {
    let (hs, hd) = limits::HYPERTENSION;
    let (ss, sd) = limits::SEVERE_HYPERTENSION;
    if s >= ss || d >= sd {
        2
    } else if s >= hs || d >= hd {
        1
    } else {
        0
    }
}

fn period_ja(p: Period) -> &'static str {
    match p {
        Period::Hour => "時間",
        Period::Day => "日",
        Period::Week => "週",
    }
}

fn derived(text: String, source: &SourceSpan) -> Statement {
    Statement { section: Section::A, text, origin: Origin::Derived, source: source.clone() }
}

fn join<'a>(items: impl Iterator<Item = &'a str>, lang: Lang) -> String {
    let v: Vec<&str> = items.collect();
    match lang {
        Lang::Ja => v.join("・"),
        Lang::En => v.join(", "),
    }
}
