//! Gestational age from the due date, and weight gain against the configured target band.

use chrono::NaiveDate;

use crate::config::{AppConfig, WeightGainBand};

/// Days from the last menstrual period to the estimated due date (clinical.md §5).
pub const TERM_DAYS: i64 = 280;

/// Where she is: pregnant at a gestational age, or after birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No due date yet.
    Unknown,
    /// Gestational age in weeks and days.
    Pregnant { weeks: u32, days: u32 },
    /// Days since the birth (day 0 is the birthday).
    Postnatal { days: u32 },
}

/// Gestational age on `date` for a due date, or `None` before conception-equivalent (a due date
/// more than 280 days ahead is not a pregnancy yet) or implausibly late (past 45 weeks).
pub fn gestational_age(due: NaiveDate, date: NaiveDate) -> Option<(u32, u32)> {
    let lmp = due - chrono::Duration::days(TERM_DAYS);
    let days = date.signed_duration_since(lmp).num_days();
    if !(0..45 * 7).contains(&days) {
        return None;
    }
    let days = days as u32;
    Some((days / 7, days % 7))
}

/// Her stage on `today`.
pub fn stage(due: Option<NaiveDate>, birth: Option<NaiveDate>, today: NaiveDate) -> Stage {
    if let Some(b) = birth
        && today >= b
    {
        return Stage::Postnatal { days: today.signed_duration_since(b).num_days() as u32 };
    }
    match due.and_then(|d| gestational_age(d, today)) {
        Some((weeks, days)) => Stage::Pregnant { weeks, days },
        None => Stage::Unknown,
    }
}

/// Days until the due date (negative once past it).
pub fn days_to_due(due: NaiveDate, today: NaiveDate) -> i64 {
    due.signed_duration_since(today).num_days()
}

/// Body-mass index from height and weight.
pub fn bmi(height_cm: f64, weight_kg: f64) -> Option<f64> {
    let m = height_cm / 100.0;
    (m > 0.5 && m < 2.5 && weight_kg > 20.0 && weight_kg < 300.0).then(|| weight_kg / (m * m))
}

/// The total gain to aim for by birth for her pre-pregnancy BMI.
pub fn weight_gain_target(
    config: &AppConfig,
    height_cm: f64,
    weight_kg: f64,
) -> Option<WeightGainBand> {
    bmi(height_cm, weight_kg).and_then(|b| config.weight_gain_for_bmi(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn due_date_is_40_weeks_0_days() {
        assert_eq!(gestational_age(d("2026-08-01"), d("2026-08-01")), Some((40, 0)));
        assert_eq!(gestational_age(d("2026-08-01"), d("2026-07-31")), Some((39, 6)));
        // 280 days before the due date is 0w0d.
        assert_eq!(gestational_age(d("2026-08-01"), d("2025-10-25")), Some((0, 0)));
        assert_eq!(gestational_age(d("2026-08-01"), d("2025-10-24")), None);
        assert_eq!(gestational_age(d("2026-08-01"), d("2026-08-02")), Some((40, 1)));
        // 45 weeks and beyond is not a pregnancy any more.
        assert_eq!(gestational_age(d("2026-08-01"), d("2026-09-05")), None);
    }

    #[test]
    fn stage_switches_to_postnatal_on_the_birthday() {
        let due = Some(d("2026-08-01"));
        assert_eq!(stage(due, None, d("2026-05-12")), Stage::Pregnant { weeks: 28, days: 3 });
        assert_eq!(
            stage(due, Some(d("2026-07-20")), d("2026-07-19")),
            Stage::Pregnant { weeks: 38, days: 1 }
        );
        assert_eq!(
            stage(due, Some(d("2026-07-20")), d("2026-07-20")),
            Stage::Postnatal { days: 0 }
        );
        assert_eq!(
            stage(due, Some(d("2026-07-20")), d("2026-08-19")),
            Stage::Postnatal { days: 30 }
        );
        assert_eq!(stage(None, None, d("2026-05-12")), Stage::Unknown);
    }

    #[test]
    fn bmi_and_target_band() {
        let c = AppConfig::default();
        let b = bmi(158.0, 52.0).unwrap();
        assert!((b - 20.83).abs() < 0.01);
        let t = weight_gain_target(&c, 158.0, 52.0).unwrap();
        assert_eq!((t.min_kg, t.max_kg), (10.0, 13.0));
        assert_eq!(bmi(0.0, 52.0), None);
    }
}
