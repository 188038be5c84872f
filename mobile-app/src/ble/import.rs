//! Turning a burst of Blood Pressure Measurement values into readings, pure. Decoding is the
//! `hardware` crate's; this module decides what the app keeps and which time it trusts.
//!
//! Cuff clocks drift, reset to a default date when the batteries are changed, and cannot always be
//! set by the phone. A device time is used when it is a real date within [`MAX_AGE`] before and
//! [`MAX_AHEAD`] after the moment of receipt; otherwise the receipt time is used and the reading is
//! flagged. The device's own time is always kept verbatim: it is what recognises the same stored
//! record when the cuff sends it again.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Timelike};
use hardware::ble::bp::{BloodPressureMeasurement, USER_ID_UNKNOWN};
use hardware::ble::{BleError, DateTime as BleDateTime};

use crate::model::{Arm, NewReading, Session, Source, Symptoms};

/// A device time this far before receipt is not believed (cuff memories hold weeks, not years).
pub const MAX_AGE: Duration = Duration::days(400);
/// A device time this far after receipt is not believed (a fast clock).
pub const MAX_AHEAD: Duration = Duration::minutes(10);

/// One value as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub bytes: Vec<u8>,
    /// When the phone received it, in the phone's local offset.
    pub at: DateTime<FixedOffset>,
}

/// Why a value was left out.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The bytes are not a Blood Pressure Measurement.
    Malformed(BleError),
    /// The cuff sent "not a number" or a special value for a pressure.
    NoValue,
}

/// A decoded burst.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    pub readings: Vec<NewReading>,
    /// Readings whose device time was not believed (they carry the receipt time).
    pub clock_untrusted: usize,
    /// Guest measurements (user id 0xFF: someone else used the cuff).
    pub guests: usize,
    pub rejected: Vec<(usize, Rejection)>,
}

/// The cuff's time as it sent it, for de-duplication: "2025-05-17T07:42:15" (zeros kept).
pub fn device_time_text(t: &BleDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hours, t.minutes, t.seconds
    )
}

/// The device time as an instant in the phone's offset, when it is believable.
pub fn trusted_time(
    t: &BleDateTime,
    received: DateTime<FixedOffset>,
) -> Option<DateTime<FixedOffset>> {
    if !t.is_date_known() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(i32::from(t.year), u32::from(t.month), u32::from(t.day))?
        .and_hms_opt(u32::from(t.hours), u32::from(t.minutes), u32::from(t.seconds))?;
    // BLE Date Time has no zone: it is the cuff's wall clock, read in the phone's offset.
    let at = received.offset().from_local_datetime(&local).single()?;
    let age = received.signed_duration_since(at);
    (age <= MAX_AGE && age >= -MAX_AHEAD).then_some(at)
}

/// Decodes a burst from one cuff into readings, in the order received.
pub fn decode_burst(device_id: &str, burst: &[Received]) -> Decoded {
    let mut out = Decoded::default();
    for (i, value) in burst.iter().enumerate() {
        let m = match BloodPressureMeasurement::decode(&value.bytes) {
            Ok(m) => m,
            Err(e) => {
                out.rejected.push((i, Rejection::Malformed(e)));
                continue;
            }
        };
        if m.user_id == Some(USER_ID_UNKNOWN) {
            out.guests += 1;
            continue;
        }
        let (Some(systolic), Some(diastolic)) = (m.systolic_mmhg(), m.diastolic_mmhg()) else {
            out.rejected.push((i, Rejection::NoValue));
            continue;
        };
        let trusted = m.timestamp.as_ref().and_then(|t| trusted_time(t, value.at));
        let clock_untrusted = trusted.is_none();
        if clock_untrusted {
            out.clock_untrusted += 1;
        }
        let measured_at = trusted.unwrap_or(value.at);
        out.readings.push(NewReading {
            measured_at,
            // Blood pressure is recorded in whole mmHg; a kPa cuff's 0.1 kPa step is 0.75 mmHg.
            systolic: round_whole(systolic),
            diastolic: round_whole(diastolic),
            pulse: m.pulse_bpm().map(round_whole),
            mean_arterial: m.mean_arterial_mmhg().map(round_whole),
            arm: Arm::Unknown,
            session: Session::from_local_hour(measured_at.hour()),
            symptoms: Symptoms::none(),
            note: String::new(),
            source: Source::Cuff {
                device_id: device_id.to_string(),
                device_time: m.timestamp.as_ref().map(device_time_text),
                clock_untrusted,
                status: m.status.map(|s| s.0),
                user_id: m.user_id,
            },
        });
    }
    out
}

fn round_whole(v: f32) -> f64 {
    f64::from(v).round()
}

/// Problems the cuff itself reported, as status bits (see `hardware::ble::bp::MeasurementStatus`).
pub fn status_problems(status: u16) -> Vec<CuffProblem> {
    let s = hardware::ble::bp::MeasurementStatus(status);
    let mut v = Vec::new();
    if s.body_movement() {
        v.push(CuffProblem::BodyMovement);
    }
    if s.cuff_too_loose() {
        v.push(CuffProblem::CuffTooLoose);
    }
    if s.irregular_pulse() {
        v.push(CuffProblem::IrregularPulse);
    }
    if s.improper_position() {
        v.push(CuffProblem::ImproperPosition);
    }
    v
}

/// A measurement problem the cuff flagged: the reading is kept, and she is asked to measure again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CuffProblem {
    BodyMovement,
    CuffTooLoose,
    IrregularPulse,
    ImproperPosition,
}

impl CuffProblem {
    /// Index the UI uses for its message.
    pub fn index(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardware::ble::bp::fixtures;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn burst(values: &[&[u8]], received: &str) -> Vec<Received> {
        values.iter().map(|b| Received { bytes: b.to_vec(), at: at(received) }).collect()
    }

    #[test]
    fn stored_burst_decodes_with_device_times_and_skips_the_guest() {
        let values: Vec<&[u8]> = fixtures::STORED_RECORDS_BURST.iter().map(|f| f.bytes).collect();
        let d = decode_burst("AA:BB", &burst(&values, "2025-05-18T13:00:00+09:00"));
        assert_eq!(d.readings.len(), 3);
        assert_eq!(d.guests, 1);
        assert_eq!(d.clock_untrusted, 0);
        assert!(d.rejected.is_empty());
        let first = &d.readings[0];
        assert_eq!((first.systolic, first.diastolic, first.pulse), (118.0, 76.0, Some(72.0)));
        assert_eq!(first.measured_at, at("2025-05-17T07:42:15+09:00"));
        assert_eq!(first.session, Session::Morning);
        assert_eq!(first.mean_arterial, None, "NaN mean is no value, not zero");
        assert_eq!(d.readings[1].session, Session::Evening);
        match &d.readings[2].source {
            Source::Cuff { device_time, status, clock_untrusted, .. } => {
                assert_eq!(device_time.as_deref(), Some("2025-05-18T06:55:00"));
                assert_eq!(status_problems(status.unwrap()), vec![CuffProblem::CuffTooLoose]);
                assert!(!clock_untrusted);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clock_not_set_uses_receipt_time_and_converts_kpa() {
        let d = decode_burst(
            "AA:BB",
            &burst(&[fixtures::KPA_CLOCK_NOT_SET.bytes], "2025-05-18T13:00:00+09:00"),
        );
        assert_eq!(d.clock_untrusted, 1);
        let r = &d.readings[0];
        assert_eq!(r.measured_at, at("2025-05-18T13:00:00+09:00"));
        assert_eq!((r.systolic, r.diastolic), (120.0, 80.0), "16.0/10.7 kPa in whole mmHg");
        assert!(
            matches!(&r.source, Source::Cuff { clock_untrusted: true, device_time: Some(t), .. } if t == "0000-00-00T09:00:00")
        );
    }

    #[test]
    fn clocks_in_the_future_or_long_past_are_not_believed() {
        let t = BleDateTime { year: 2025, month: 5, day: 18, hours: 12, minutes: 0, seconds: 0 };
        assert!(trusted_time(&t, at("2025-05-18T13:00:00+09:00")).is_some());
        assert!(
            trusted_time(&t, at("2025-05-18T11:55:00+09:00")).is_some(),
            "5 minutes fast is fine"
        );
        assert!(
            trusted_time(&t, at("2025-05-18T11:40:00+09:00")).is_none(),
            "20 minutes in the future"
        );
        let reset = BleDateTime { year: 2000, month: 1, day: 1, hours: 0, minutes: 12, seconds: 0 };
        assert!(
            trusted_time(&reset, at("2025-05-18T13:00:00+09:00")).is_none(),
            "battery-change default"
        );
        let impossible =
            BleDateTime { year: 2025, month: 2, day: 30, hours: 0, minutes: 0, seconds: 0 };
        assert!(trusted_time(&impossible, at("2025-05-18T13:00:00+09:00")).is_none());
    }

    #[test]
    fn malformed_values_are_rejected_and_the_rest_kept() {
        let values: Vec<&[u8]> =
            vec![fixtures::MORNING_NORMAL.bytes, &[0x1E, 0x76], fixtures::MINIMAL.bytes];
        let d = decode_burst("AA:BB", &burst(&values, "2025-05-18T13:00:00+09:00"));
        assert_eq!(d.readings.len(), 2);
        assert_eq!(d.rejected.len(), 1);
        assert!(matches!(d.rejected[0], (1, Rejection::Malformed(_))));
        // MINIMAL has no time stamp: receipt time, flagged, no device time for de-duplication.
        assert!(matches!(
            &d.readings[1].source,
            Source::Cuff { device_time: None, clock_untrusted: true, .. }
        ));
    }

    #[test]
    fn special_values_are_rejected_not_stored_as_numbers() {
        // Intermediate cuff pressure layout: diastolic NaN.
        let d = decode_burst(
            "AA:BB",
            &burst(&[fixtures::CUFF_INFLATION[0].bytes], "2025-05-18T13:00:00+09:00"),
        );
        assert!(d.readings.is_empty());
        assert_eq!(d.rejected, vec![(0, Rejection::NoValue)]);
    }
}
