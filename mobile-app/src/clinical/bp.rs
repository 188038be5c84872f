//! What a home blood-pressure reading means in pregnancy (clinical.md §3): tiers from the
//! clinic's configuration, confirmation by a repeat reading, warning symptoms that escalate, and a
//! re-measure prompt instead of a tier for implausible values. Pure: time is passed in.

use chrono::{DateTime, FixedOffset};

use crate::config::{BpConfig, Plausible, TierThreshold};
use crate::model::{Symptoms, Tier};

/// The numbers of one reading, in mmHg and beats per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BpValues {
    pub systolic: f64,
    pub diastolic: f64,
    pub pulse: Option<f64>,
}

/// Why a reading cannot be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implausible {
    SystolicOutOfRange,
    DiastolicOutOfRange,
    PulseOutOfRange,
    /// Diastolic at or above systolic, or too close to it: usually swapped or mistyped values.
    PulsePressureTooNarrow,
}

/// How sure the app is of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Normal readings, tiers configured without a repeat, and warning symptoms (act now).
    NotNeeded,
    /// Measure again after resting this many minutes to confirm.
    AwaitingRepeat { rest_minutes: u32 },
    /// An earlier reading within the repeat window was in this tier or above.
    Confirmed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    /// Values that cannot be right: ask for a re-measure, give no tier.
    Remeasure(Vec<Implausible>),
    Assessed {
        tier: Tier,
        confirmation: Confirmation,
        /// The tier of the numbers alone (the tier can be higher because of symptoms).
        values_tier: Tier,
        symptoms: Symptoms,
        /// Not empty only with warning symptoms: the emergency stands, and the numbers still need
        /// to be measured again (they are not stored).
        implausible: Vec<Implausible>,
    },
}

impl Assessment {
    pub fn tier(&self) -> Option<Tier> {
        match self {
            Assessment::Remeasure(_) => None,
            Assessment::Assessed { tier, .. } => Some(*tier),
        }
    }
    pub fn is_confirmed(&self) -> bool {
        matches!(
            self,
            Assessment::Assessed {
                confirmation: Confirmation::Confirmed | Confirmation::NotNeeded,
                ..
            }
        )
    }
}

/// An earlier reading that may confirm this one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub measured_at: DateTime<FixedOffset>,
    pub values: BpValues,
}

/// Checks values against the plausible ranges.
pub fn check_plausible(v: BpValues, p: &Plausible) -> Result<(), Vec<Implausible>> {
    let within = |x: f64, [lo, hi]: [f64; 2]| x.is_finite() && x >= lo && x <= hi;
    let mut problems = Vec::new();
    if !within(v.systolic, p.systolic) {
        problems.push(Implausible::SystolicOutOfRange);
    }
    if !within(v.diastolic, p.diastolic) {
        problems.push(Implausible::DiastolicOutOfRange);
    }
    if let Some(pulse) = v.pulse
        && !within(pulse, p.pulse)
    {
        problems.push(Implausible::PulseOutOfRange);
    }
    if problems.is_empty() && v.systolic - v.diastolic < p.min_pulse_pressure {
        problems.push(Implausible::PulsePressureTooNarrow);
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn meets(v: BpValues, t: &TierThreshold) -> bool {
    v.systolic >= t.systolic || v.diastolic >= t.diastolic
}

fn threshold(cfg: &BpConfig, tier: Tier) -> Option<&TierThreshold> {
    match tier {
        Tier::Normal => None,
        Tier::Advisory => Some(&cfg.advisory),
        Tier::SameDay => Some(&cfg.same_day),
        Tier::Emergency => Some(&cfg.emergency),
    }
}

/// The tier of the numbers alone.
pub fn values_tier(v: BpValues, cfg: &BpConfig) -> Tier {
    if meets(v, &cfg.emergency) {
        Tier::Emergency
    } else if meets(v, &cfg.same_day) {
        Tier::SameDay
    } else if meets(v, &cfg.advisory) {
        Tier::Advisory
    } else {
        Tier::Normal
    }
}

/// Assesses a reading taken at `at`. `prior` is her most recent earlier reading, if any; it
/// confirms a tier when it lies within the repeat window and is plausible.
///
/// Confirmation is by persistence: the confirmed tier is the lower of the two readings' tiers,
/// so one high reading followed by a lower one settles on the lower tier. A repeat that is higher
/// than the reading before it asks for yet another repeat at the higher tier.
pub fn assess(
    v: BpValues,
    symptoms: Symptoms,
    at: DateTime<FixedOffset>,
    prior: Option<Prior>,
    cfg: &BpConfig,
) -> Assessment {
    let plausible = check_plausible(v, &cfg.plausible);
    if symptoms.any() {
        // Warning symptoms are an emergency whatever the numbers (even mistyped ones); waiting for
        // a repeat would only delay her call.
        let (values_tier, implausible) = match plausible {
            Ok(()) => (values_tier(v, cfg), Vec::new()),
            Err(problems) => (Tier::Normal, problems),
        };
        return Assessment::Assessed {
            tier: Tier::Emergency,
            confirmation: Confirmation::NotNeeded,
            values_tier,
            symptoms,
            implausible,
        };
    }
    if let Err(problems) = plausible {
        return Assessment::Remeasure(problems);
    }
    let vt = values_tier(v, cfg);
    let result = |tier, confirmation| Assessment::Assessed {
        tier,
        confirmation,
        values_tier: vt,
        symptoms,
        implausible: Vec::new(),
    };
    let Some(t) = threshold(cfg, vt) else {
        return result(Tier::Normal, Confirmation::NotNeeded);
    };
    if !t.confirm_with_repeat {
        return result(vt, Confirmation::NotNeeded);
    }
    let window = chrono::Duration::minutes(i64::from(cfg.repeat_window_minutes));
    let prior_tier = prior
        .filter(|p| {
            let age = at.signed_duration_since(p.measured_at);
            age > chrono::Duration::zero() && age <= window
        })
        .filter(|p| check_plausible(p.values, &cfg.plausible).is_ok())
        .map(|p| values_tier(p.values, cfg));
    let awaiting = Confirmation::AwaitingRepeat { rest_minutes: cfg.repeat_after_minutes };
    match prior_tier {
        // Both readings are at least in this tier: it persists.
        Some(pt) if pt >= vt => result(vt, Confirmation::Confirmed),
        // No earlier reading, or a lower one: this tier still needs its repeat.
        _ => result(vt, awaiting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    fn cfg() -> BpConfig {
        AppConfig::default().blood_pressure
    }
    fn at(min: i64) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-05-12T07:00:00+09:00").unwrap()
            + chrono::Duration::minutes(min)
    }
    fn v(s: f64, d: f64) -> BpValues {
        BpValues { systolic: s, diastolic: d, pulse: Some(80.0) }
    }
    fn prior(min: i64, s: f64, d: f64) -> Option<Prior> {
        Some(Prior { measured_at: at(min), values: v(s, d) })
    }

    #[test]
    fn tiers_follow_the_configured_thresholds_on_either_number() {
        let c = cfg();
        assert_eq!(values_tier(v(134.0, 84.0), &c), Tier::Normal);
        assert_eq!(values_tier(v(135.0, 70.0), &c), Tier::Advisory);
        assert_eq!(values_tier(v(120.0, 85.0), &c), Tier::Advisory);
        assert_eq!(values_tier(v(139.0, 90.0), &c), Tier::SameDay);
        assert_eq!(values_tier(v(140.0, 60.0), &c), Tier::SameDay);
        assert_eq!(values_tier(v(159.0, 110.0), &c), Tier::Emergency);
        assert_eq!(values_tier(v(160.0, 100.0), &c), Tier::Emergency);
    }

    #[test]
    fn normal_reading_needs_no_repeat() {
        let a = assess(v(118.0, 76.0), Symptoms::none(), at(0), None, &cfg());
        assert_eq!(a.tier(), Some(Tier::Normal));
        assert!(a.is_confirmed());
    }

    #[test]
    fn first_high_reading_asks_for_a_repeat_then_the_repeat_confirms() {
        let c = cfg();
        let first = assess(v(146.0, 94.0), Symptoms::none(), at(0), None, &c);
        assert_eq!(
            first,
            Assessment::Assessed {
                tier: Tier::SameDay,
                confirmation: Confirmation::AwaitingRepeat { rest_minutes: 5 },
                values_tier: Tier::SameDay,
                symptoms: Symptoms::none(),
                implausible: vec![],
            }
        );
        let second = assess(v(144.0, 92.0), Symptoms::none(), at(6), prior(0, 146.0, 94.0), &c);
        assert_eq!(second.tier(), Some(Tier::SameDay));
        assert!(second.is_confirmed());
    }

    #[test]
    fn repeat_settles_on_the_lower_tier_of_the_two() {
        let c = cfg();
        // 165/112 then 150/95: the persistent tier is same-day, confirmed.
        let a = assess(v(150.0, 95.0), Symptoms::none(), at(6), prior(0, 165.0, 112.0), &c);
        assert_eq!(a.tier(), Some(Tier::SameDay));
        assert!(a.is_confirmed());
        // 150/95 then 124/80: normal.
        let a = assess(v(124.0, 80.0), Symptoms::none(), at(6), prior(0, 150.0, 95.0), &c);
        assert_eq!(a.tier(), Some(Tier::Normal));
    }

    #[test]
    fn higher_repeat_asks_again_at_the_higher_tier() {
        let a = assess(v(166.0, 112.0), Symptoms::none(), at(6), prior(0, 142.0, 91.0), &cfg());
        assert_eq!(a.tier(), Some(Tier::Emergency));
        assert!(!a.is_confirmed());
    }

    #[test]
    fn prior_outside_the_window_or_implausible_does_not_confirm() {
        let c = cfg();
        let a = assess(v(150.0, 95.0), Symptoms::none(), at(61), prior(0, 150.0, 95.0), &c);
        assert!(!a.is_confirmed(), "61 minutes is outside the 60-minute window");
        let a = assess(v(150.0, 95.0), Symptoms::none(), at(5), prior(0, 300.0, 95.0), &c);
        assert!(!a.is_confirmed(), "an implausible prior confirms nothing");
        let a = assess(v(150.0, 95.0), Symptoms::none(), at(0), prior(5, 150.0, 95.0), &c);
        assert!(!a.is_confirmed(), "a prior after this reading is not a prior");
    }

    #[test]
    fn any_warning_symptom_is_an_emergency_whatever_the_numbers() {
        for s in Symptoms::ALL {
            let a = assess(v(118.0, 74.0), s, at(0), None, &cfg());
            assert_eq!(a.tier(), Some(Tier::Emergency), "{s:?}");
            assert!(a.is_confirmed(), "symptoms never wait for a repeat");
        }
        let a = assess(v(172.0, 114.0), Symptoms::HEADACHE, at(0), None, &cfg());
        assert_eq!(
            a,
            Assessment::Assessed {
                tier: Tier::Emergency,
                confirmation: Confirmation::NotNeeded,
                values_tier: Tier::Emergency,
                symptoms: Symptoms::HEADACHE,
                implausible: vec![],
            }
        );
    }

    #[test]
    fn implausible_values_ask_for_a_remeasure_not_a_tier() {
        let c = cfg();
        let a = assess(v(300.0, 90.0), Symptoms::none(), at(0), None, &c);
        assert_eq!(a, Assessment::Remeasure(vec![Implausible::SystolicOutOfRange]));
        let a = assess(v(80.0, 120.0), Symptoms::none(), at(0), None, &c);
        assert_eq!(a, Assessment::Remeasure(vec![Implausible::PulsePressureTooNarrow]));
        let a = assess(
            BpValues { systolic: 120.0, diastolic: 80.0, pulse: Some(400.0) },
            Symptoms::none(),
            at(0),
            None,
            &c,
        );
        assert_eq!(a, Assessment::Remeasure(vec![Implausible::PulseOutOfRange]));
        // Symptoms still make it an emergency; the numbers must be measured again.
        let a = assess(v(f64::NAN, 80.0), Symptoms::HEADACHE, at(0), None, &c);
        assert_eq!(a.tier(), Some(Tier::Emergency));
        assert!(
            matches!(&a, Assessment::Assessed { implausible, .. } if implausible == &[Implausible::SystolicOutOfRange])
        );
    }

    #[test]
    fn tiers_configured_without_repeat_are_confirmed_at_once() {
        let mut c = cfg();
        c.emergency.confirm_with_repeat = false;
        let a = assess(v(170.0, 100.0), Symptoms::none(), at(0), None, &c);
        assert_eq!(a.tier(), Some(Tier::Emergency));
        assert!(a.is_confirmed());
    }
}
