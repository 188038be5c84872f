//! Demonstration data: a believable pregnancy at 28 weeks, for screenshots, store listings and
//! trying the app (`mobile-app --demo`). Deterministic: the same moment gives the same data.
//! Also the two-year series the benchmarks render.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone};
use hardware::ble::DateTime as BleDateTime;
use hardware::ble::bp::BloodPressureMeasurement;
use hardware::ble::bp::fixtures;

use crate::clinical::bp::{self, BpValues, Prior};
use crate::config::AppConfig;
use crate::i18n::Language;
use crate::model::{
    Arm, CheckupData, Dipstick, NewReading, Oedema, Profile, Session, Source, Symptoms,
};
use crate::store::{Store, StoreError};

/// The demonstration "now": Tuesday 12 May 2026, 07:35 in Japan, 28 weeks and 3 days.
pub fn now() -> DateTime<FixedOffset> {
    // A constant, valid by construction.
    DateTime::parse_from_rfc3339("2026-05-12T07:35:00+09:00").unwrap_or_default()
}

/// The demonstration cuff.
pub const CUFF_ID: &str = "F8:4A:11:3C:92:07";
pub const CUFF_NAME: &str = "BLEsmart_00000480";

/// A small deterministic generator (no dependency, same numbers everywhere).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal noise with the given spread.
    fn noise(&mut self, spread: f64) -> f64 {
        (self.next() + self.next() + self.next() - 1.5) * spread
    }
}

fn at(
    day: NaiveDate,
    hour: u32,
    minute: u32,
    offset: FixedOffset,
) -> Option<DateTime<FixedOffset>> {
    offset.from_local_datetime(&day.and_hms_opt(hour, minute, 0)?).single()
}

/// Stores readings in time order with the tier each would have been given.
fn store_series(
    store: &mut Store,
    readings: Vec<NewReading>,
    cfg: &AppConfig,
) -> Result<(), StoreError> {
    let mut prior: Option<Prior> = None;
    let mut batch = Vec::with_capacity(readings.len());
    for r in readings {
        let v = BpValues { systolic: r.systolic, diastolic: r.diastolic, pulse: r.pulse };
        let a = bp::assess(v, r.symptoms, r.measured_at, prior, &cfg.blood_pressure);
        prior = Some(Prior { measured_at: r.measured_at, values: v });
        batch.push((r, a.tier().unwrap_or_default(), a.is_confirmed()));
    }
    store.import_readings(&batch, now())?;
    Ok(())
}

fn reading(
    at: DateTime<FixedOffset>,
    s: f64,
    d: f64,
    pulse: f64,
    session: Session,
    source: Source,
) -> NewReading {
    NewReading {
        measured_at: at,
        systolic: s.round(),
        diastolic: d.round(),
        pulse: Some(pulse.round()),
        mean_arterial: None,
        arm: if matches!(source, Source::Manual) { Arm::Left } else { Arm::Unknown },
        session,
        symptoms: Symptoms::none(),
        note: String::new(),
        source,
    }
}

fn cuff_source(t: DateTime<FixedOffset>) -> Source {
    Source::Cuff {
        device_id: CUFF_ID.into(),
        device_time: Some(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        clock_untrusted: false,
        status: Some(0),
        user_id: Some(1),
    }
}

/// Fills `store` with eight weeks of morning and evening readings, six check-ups and her profile.
pub fn populate(store: &mut Store, language: Language, cfg: &AppConfig) -> Result<(), StoreError> {
    let now = now();
    let offset = *now.offset();
    let today = now.date_naive();
    let ja = language == Language::Japanese;
    store.save_profile(
        &Profile {
            display_name: if ja { "さくら".into() } else { "Sakura".into() },
            due_date: NaiveDate::from_ymd_opt(2026, 8, 1),
            birth_date: None,
            height_cm: Some(158.0),
            pre_pregnancy_weight_kg: Some(52.0),
        },
        now,
    )?;
    store.remember_cuff(CUFF_ID, CUFF_NAME, now - Duration::days(40))?;

    let mut rng = Lcg(20260512);
    let mut readings = Vec::new();
    for back in (1..=56).rev() {
        let day = today - Duration::days(back);
        // A slow rise over the weeks, as blood pressure does in the third trimester.
        let trend = (56 - back) as f64 * 0.16;
        let morning = at(day, 6, 40 + (rng.next() * 30.0) as u32 % 20, offset);
        let evening = at(day, 21, 30 + (rng.next() * 25.0) as u32 % 25, offset);
        let from_cuff = back <= 40;
        if let Some(t) = morning {
            let source = if from_cuff { cuff_source(t) } else { Source::Manual };
            readings.push(reading(
                t,
                114.0 + trend + rng.noise(8.0),
                72.0 + trend * 0.6 + rng.noise(6.0),
                74.0 + rng.noise(8.0),
                Session::Morning,
                source,
            ));
        }
        if back % 6 != 0
            && let Some(t) = evening
        {
            let source = if from_cuff { cuff_source(t) } else { Source::Manual };
            readings.push(reading(
                t,
                110.0 + trend + rng.noise(8.0),
                70.0 + trend * 0.6 + rng.noise(6.0),
                78.0 + rng.noise(8.0),
                Session::Evening,
                source,
            ));
        }
    }
    // Four days ago one high morning, confirmed lower by the repeat five minutes later.
    if let Some(t) = at(today - Duration::days(4), 6, 52, offset) {
        readings.push(reading(t, 138.0, 87.0, 82.0, Session::Morning, Source::Manual));
        let mut repeat =
            reading(t + Duration::minutes(6), 131.0, 83.0, 80.0, Session::Morning, Source::Manual);
        repeat.note = if ja {
            "1回目は急いで測ったかも".into()
        } else {
            "Rushed the first one".into()
        };
        readings.push(repeat);
    }
    // This morning.
    if let Some(t) = at(today, 7, 2, offset) {
        readings.push(reading(t, 126.0, 81.0, 76.0, Session::Morning, cuff_source(t)));
    }
    readings.sort_by_key(|r| r.measured_at);
    store_series(store, readings, cfg)?;

    let facility =
        if ja { "さくら産婦人科クリニック" } else { "Sakura Maternity Clinic" };
    struct Visit {
        date: (u32, u32),
        weight: f64,
        bp: (f64, f64),
        fundal: Option<f64>,
        abdominal: Option<f64>,
        glucose: Dipstick,
        oedema: Oedema,
        notes: (&'static str, &'static str),
    }
    let visit = |date, weight, bp, fundal, abdominal, glucose, oedema, notes| Visit {
        date,
        weight,
        bp,
        fundal,
        abdominal,
        glucose,
        oedema,
        notes,
    };
    let none = Oedema::None;
    let visits = [
        visit((1, 20), 52.9, (108.0, 66.0), None, Some(76.0), Dipstick::Negative, none, ("", "")),
        visit(
            (2, 17),
            54.0,
            (110.0, 68.0),
            Some(14.0),
            Some(78.0),
            Dipstick::Negative,
            none,
            ("Hb 11.8", "Hb 11.8"),
        ),
        visit(
            (3, 17),
            55.5,
            (112.0, 70.0),
            Some(18.5),
            Some(80.0),
            Dipstick::Negative,
            none,
            ("", ""),
        ),
        visit(
            (4, 7),
            56.8,
            (114.0, 72.0),
            Some(21.0),
            Some(82.0),
            Dipstick::Trace,
            none,
            ("糖負荷試験 異常なし", "Glucose tolerance test normal"),
        ),
        visit(
            (4, 28),
            57.9,
            (118.0, 74.0),
            Some(24.0),
            Some(83.5),
            Dipstick::Negative,
            none,
            ("", ""),
        ),
        visit(
            (5, 5),
            58.4,
            (120.0, 76.0),
            Some(25.5),
            Some(84.0),
            Dipstick::Negative,
            Oedema::Plus1,
            ("次回 2週間後", "Next visit in 2 weeks"),
        ),
    ];
    for v in visits {
        let Some(date) = NaiveDate::from_ymd_opt(2026, v.date.0, v.date.1) else { continue };
        store.insert_checkup(
            &CheckupData {
                date,
                facility: facility.into(),
                weight_kg: Some(v.weight),
                systolic: Some(v.bp.0),
                diastolic: Some(v.bp.1),
                urine_protein: Dipstick::Negative,
                urine_glucose: v.glucose,
                fundal_height_cm: v.fundal,
                abdominal_circumference_cm: v.abdominal,
                oedema: v.oedema,
                notes: if ja { v.notes.0.into() } else { v.notes.1.into() },
            },
            now,
        )?;
    }
    Ok(())
}

/// The cuff's stored records for the demonstration import: the `hardware` fixtures' layouts
/// re-encoded with this week's times (real byte sequences from the real encoder). The last one is
/// this morning's reading, already imported, so the import shows a duplicate skipped.
pub fn cuff_burst() -> Vec<Vec<u8>> {
    use hardware::ble::sfloat::SFloat;
    let today = now().date_naive();
    let stamp = |day: NaiveDate, hours: u8, minutes: u8| BleDateTime {
        year: chrono::Datelike::year(&day) as u16,
        month: chrono::Datelike::month(&day) as u8,
        day: chrono::Datelike::day(&day) as u8,
        hours,
        minutes,
        seconds: 0,
    };
    let two_days_ago = today - Duration::days(2);
    let mut morning: BloodPressureMeasurement = fixtures::MORNING_NORMAL.measurement;
    morning.timestamp = Some(stamp(two_days_ago, 7, 15));
    let mut evening: BloodPressureMeasurement = fixtures::EVENING_IRREGULAR_PULSE.measurement;
    evening.timestamp = Some(stamp(two_days_ago, 21, 48));
    let mut again: BloodPressureMeasurement = fixtures::MORNING_NORMAL.measurement;
    again.timestamp = Some(stamp(today, 7, 2));
    again.systolic = SFloat::Value { mantissa: 126, exponent: 0 };
    again.diastolic = SFloat::Value { mantissa: 81, exponent: 0 };
    again.pulse_rate = Some(SFloat::Value { mantissa: 76, exponent: 0 });
    [morning, evening, again].iter().map(BloodPressureMeasurement::encode).collect()
}

/// Two years of twice-daily readings ending at `end` (the benchmarks' worst case).
pub fn two_years(
    store: &mut Store,
    end: DateTime<FixedOffset>,
    cfg: &AppConfig,
) -> Result<usize, StoreError> {
    let mut rng = Lcg(730);
    let offset = *end.offset();
    let today = end.date_naive();
    let mut readings = Vec::with_capacity(1460);
    for back in (0..730).rev() {
        let day = today - Duration::days(back);
        for (hour, session) in [(7, Session::Morning), (22, Session::Evening)] {
            if let Some(t) = at(day, hour, (rng.next() * 50.0) as u32, offset)
                && t <= end
            {
                let season = ((back as f64) / 58.0).sin() * 4.0;
                readings.push(reading(
                    t,
                    118.0 + season + rng.noise(10.0),
                    76.0 + season * 0.6 + rng.noise(7.0),
                    72.0 + rng.noise(9.0),
                    session,
                    Source::Manual,
                ));
            }
        }
    }
    let n = readings.len();
    store_series(store, readings, cfg)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::pregnancy::{Stage, stage};

    #[test]
    fn demo_is_28_weeks_with_readings_checkups_and_a_cuff() {
        let mut s = Store::open_in_memory().unwrap();
        populate(&mut s, Language::Japanese, &AppConfig::default()).unwrap();
        let p = s.profile().unwrap();
        assert_eq!(
            stage(p.due_date, p.birth_date, now().date_naive()),
            Stage::Pregnant { weeks: 28, days: 3 }
        );
        assert!(s.reading_count().unwrap() > 90);
        assert_eq!(s.checkups().unwrap().len(), 6);
        assert_eq!(s.paired_cuffs().unwrap().len(), 1);
        let latest = s.latest_readings(1).unwrap().remove(0);
        assert_eq!((latest.data.systolic, latest.data.diastolic), (126.0, 81.0));
    }

    #[test]
    fn demo_burst_decodes_to_this_weeks_readings() {
        let received: Vec<_> = cuff_burst()
            .into_iter()
            .map(|bytes| crate::ble::import::Received { bytes, at: now() })
            .collect();
        let d = crate::ble::import::decode_burst(CUFF_ID, &received);
        assert_eq!(d.readings.len(), 3);
        assert_eq!(d.clock_untrusted, 0);
        assert!(d.readings.iter().all(|r| (now() - r.measured_at) < Duration::days(3)));
        // The last one is this morning's, already stored by `populate`.
        let mut s = Store::open_in_memory().unwrap();
        populate(&mut s, Language::English, &AppConfig::default()).unwrap();
        let batch: Vec<_> =
            d.readings.into_iter().map(|r| (r, crate::model::Tier::Normal, true)).collect();
        let outcome = s.import_readings(&batch, now()).unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (2, 1));
    }

    #[test]
    fn two_years_is_twice_daily() {
        let mut s = Store::open_in_memory().unwrap();
        let n = two_years(&mut s, now(), &AppConfig::default()).unwrap();
        assert!((1455..=1460).contains(&n), "{n}");
        assert_eq!(s.reading_count().unwrap(), n);
    }
}
