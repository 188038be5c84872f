//! What a record means to the clinic (clinical.md §3–4), derived on the server from the values
//! themselves, never from what the phone displayed: the tier of a home blood-pressure reading and
//! the EPDS score, and the warnings they raise for the clinic's list of mothers to call.

use serde::{Deserialize, Serialize};

use crate::records::{BpReading, Epds, Record};

/// Tiers of a home reading, in ascending urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Normal,
    /// ≥ 135/85: tell the clinic at the next contact.
    Advisory,
    /// ≥ 140/90: call the clinic today.
    SameDay,
    /// ≥ 160/110, or any reading with a warning symptom: contact the hospital now.
    Emergency,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Advisory => "advisory",
            Self::SameDay => "same_day",
            Self::Emergency => "emergency",
        }
    }
}

/// A tier applies when systolic ≥ `.0` or diastolic ≥ `.1` (mmHg).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub advisory: (f64, f64),
    pub same_day: (f64, f64),
    pub emergency: (f64, f64),
    /// EPDS total at or above this is positive (Japanese cut-off 9; the original English 13).
    pub epds_cutoff: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            advisory: (135.0, 85.0),
            same_day: (140.0, 90.0),
            emergency: (160.0, 110.0),
            epds_cutoff: 9,
        }
    }
}

/// The tier of a reading: its values, raised to emergency by any warning symptom.
pub fn bp_tier(r: &BpReading, t: &Thresholds) -> Tier {
    let meets = |(s, d): (f64, f64)| r.systolic >= s || r.diastolic >= d;
    if !r.symptoms.is_empty() || meets(t.emergency) {
        Tier::Emergency
    } else if meets(t.same_day) {
        Tier::SameDay
    } else if meets(t.advisory) {
        Tier::Advisory
    } else {
        Tier::Normal
    }
}

/// A scored EPDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpdsScore {
    pub total: u8,
    /// Score of item 10 (thoughts of self-harm).
    pub item10: u8,
    pub positive: bool,
    /// Item 10 above 0: a call today whatever the total.
    pub self_harm: bool,
}

/// Whether item `n` (1-based) is reverse-scored: its first displayed option scores 3.
pub fn epds_reverse_scored(item: usize) -> bool {
    !matches!(item, 1 | 2 | 4)
}

/// Scores answers given as displayed options (validated to 0–3; larger values count as 3).
pub fn epds_score(e: &Epds, cutoff: u8) -> EpdsScore {
    let score = |i: usize, a: u8| {
        let a = a.min(3);
        if epds_reverse_scored(i + 1) { 3 - a } else { a }
    };
    let total = e.answers.iter().enumerate().map(|(i, a)| score(i, *a)).sum();
    let item10 = score(9, e.answers[9]);
    EpdsScore { total, item10, positive: total >= cutoff, self_harm: item10 > 0 }
}

/// Warnings a clinic sees in its list of mothers to call today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A home reading in the same-day tier.
    BpSameDay,
    /// A home reading in the emergency tier (values or symptoms).
    BpEmergency,
    /// EPDS total at or above the cut-off.
    EpdsPositive,
    /// EPDS item 10 above 0.
    EpdsSelfHarm,
}

impl WarningKind {
    pub const ALL: [WarningKind; 4] =
        [Self::BpSameDay, Self::BpEmergency, Self::EpdsPositive, Self::EpdsSelfHarm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BpSameDay => "bp_same_day",
            Self::BpEmergency => "bp_emergency",
            Self::EpdsPositive => "epds_positive",
            Self::EpdsSelfHarm => "epds_self_harm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A warning a record raises, with a short factual detail (values, not advice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedWarning {
    pub kind: WarningKind,
    pub detail: String,
}

/// The warnings one record raises (none for normal and advisory readings, check-ups and notes).
pub fn warnings(record: &Record, t: &Thresholds) -> Vec<RaisedWarning> {
    match record {
        Record::BpReading(r) => {
            let kind = match bp_tier(r, t) {
                Tier::Emergency => WarningKind::BpEmergency,
                Tier::SameDay => WarningKind::BpSameDay,
                _ => return Vec::new(),
            };
            let mut detail = format!("{:.0}/{:.0} mmHg", r.systolic, r.diastolic);
            if !r.symptoms.is_empty() {
                let names: Vec<String> = r
                    .symptoms
                    .iter()
                    .map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    })
                    .collect();
                detail.push_str(&format!(" with {}", names.join(", ")));
            }
            vec![RaisedWarning { kind, detail }]
        }
        Record::Epds(e) => {
            let s = epds_score(e, t.epds_cutoff);
            let mut out = Vec::new();
            if s.positive {
                out.push(RaisedWarning {
                    kind: WarningKind::EpdsPositive,
                    detail: format!("EPDS {} (cut-off {})", s.total, t.epds_cutoff),
                });
            }
            if s.self_harm {
                out.push(RaisedWarning {
                    kind: WarningKind::EpdsSelfHarm,
                    detail: format!("EPDS item 10 = {}", s.item10),
                });
            }
            out
        }
        Record::Checkup(_) | Record::Note(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Symptom;

    fn bp(s: f64, d: f64, symptoms: Vec<Symptom>) -> BpReading {
        BpReading {
            measured_at: "2026-11-21T07:00:00+09:00".parse().unwrap(),
            systolic: s,
            diastolic: d,
            pulse: None,
            arm: Default::default(),
            session: Default::default(),
            symptoms,
            note: String::new(),
            source: Default::default(),
            device_id: None,
        }
    }

    #[test]
    fn tiers_follow_the_thresholds_and_symptoms_escalate() {
        let t = Thresholds::default();
        assert_eq!(bp_tier(&bp(120.0, 80.0, vec![]), &t), Tier::Normal);
        assert_eq!(bp_tier(&bp(135.0, 70.0, vec![]), &t), Tier::Advisory);
        assert_eq!(bp_tier(&bp(128.0, 90.0, vec![]), &t), Tier::SameDay);
        assert_eq!(bp_tier(&bp(160.0, 95.0, vec![]), &t), Tier::Emergency);
        assert_eq!(
            bp_tier(&bp(118.0, 76.0, vec![Symptom::VisualDisturbance]), &t),
            Tier::Emergency
        );
        let w = warnings(&Record::BpReading(bp(118.0, 76.0, vec![Symptom::Headache])), &t);
        assert_eq!(w[0].kind, WarningKind::BpEmergency);
        assert_eq!(w[0].detail, "118/76 mmHg with headache");
        assert!(warnings(&Record::BpReading(bp(136.0, 80.0, vec![])), &t).is_empty());
    }

    #[test]
    fn epds_scores_reverse_items_and_flags_item_ten() {
        let t = Thresholds::default();
        // All first options: items 1, 2, 4 score 0; the seven reverse-scored items score 3 each.
        let e = Epds { taken_at: "2026-11-21T07:00:00+09:00".parse().unwrap(), answers: [0; 10] };
        let s = epds_score(&e, t.epds_cutoff);
        assert_eq!((s.total, s.item10, s.positive, s.self_harm), (21, 3, true, true));
        let calm = Epds { answers: [0, 0, 3, 0, 3, 3, 3, 3, 3, 3], ..e.clone() };
        let s = epds_score(&calm, t.epds_cutoff);
        assert_eq!((s.total, s.positive, s.self_harm), (0, false, false));
        let only10 = Epds { answers: [0, 0, 3, 0, 3, 3, 3, 3, 3, 2], ..e };
        let kinds: Vec<_> = warnings(&Record::Epds(only10), &t).iter().map(|w| w.kind).collect();
        assert_eq!(kinds, vec![WarningKind::EpdsSelfHarm]);
    }
}
