//! Blood Pressure service (0x1810): Blood Pressure Measurement (0x2A35, indicate), Intermediate
//! Cuff Pressure (0x2A36, notify, same layout) and Blood Pressure Feature (0x2A49).
//!
//! Measurement layout, little-endian:
//!
//! | offset | size | field | present when |
//! |---|---|---|---|
//! | 0 | 1 | flags | always |
//! | 1 | 2 | systolic, SFLOAT | always |
//! | 3 | 2 | diastolic, SFLOAT | always |
//! | 5 | 2 | mean arterial pressure, SFLOAT | always |
//! | next | 7 | time stamp (Date Time) | flags bit 1 |
//! | next | 2 | pulse rate, SFLOAT | flags bit 2 |
//! | next | 1 | user id | flags bit 3 |
//! | next | 2 | measurement status | flags bit 4 |
//!
//! Flags bit 0 is the unit of all three pressures (0 mmHg, 1 kPa). Reserved flag bits are ignored
//! as receivers must; bytes beyond the announced fields are an error, since they mean a layout
//! this decoder does not know.
//!
//! Classic cuffs (Omron, A&D) push their stored records as a burst of indications after bonding;
//! import de-duplicates by (device, time stamp, values) and never trusts the cuff clock blindly.

pub mod fixtures;

use serde::{Deserialize, Serialize};

use super::sfloat::SFloat;
use super::{BleError, DateTime, Reader};

/// mmHg per kPa.
pub const MMHG_PER_KPA: f64 = 7.500_615_758;

const FLAG_KPA: u8 = 0x01;
const FLAG_TIMESTAMP: u8 = 0x02;
const FLAG_PULSE_RATE: u8 = 0x04;
const FLAG_USER_ID: u8 = 0x08;
const FLAG_STATUS: u8 = 0x10;

/// Shortest and longest measurement values.
pub const MIN_LEN: usize = 7;
pub const MAX_LEN: usize = 19;

/// User id meaning "unknown user" (a guest measurement).
pub const USER_ID_UNKNOWN: u8 = 0xFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PressureUnit {
    #[default]
    MmHg,
    KPa,
}

/// The cuff's verdict on the pulse rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PulseRateRange {
    WithinRange,
    ExceedsUpperLimit,
    BelowLowerLimit,
    /// Value 3, reserved.
    Reserved,
}

/// Measurement Status bits. Reserved bits (6–15) are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct MeasurementStatus(pub u16);

impl MeasurementStatus {
    pub const BODY_MOVEMENT: u16 = 0x0001;
    pub const CUFF_TOO_LOOSE: u16 = 0x0002;
    pub const IRREGULAR_PULSE: u16 = 0x0004;
    pub const PULSE_RANGE_MASK: u16 = 0x0018;
    pub const IMPROPER_POSITION: u16 = 0x0020;

    pub const fn body_movement(self) -> bool {
        self.0 & Self::BODY_MOVEMENT != 0
    }
    pub const fn cuff_too_loose(self) -> bool {
        self.0 & Self::CUFF_TOO_LOOSE != 0
    }
    pub const fn irregular_pulse(self) -> bool {
        self.0 & Self::IRREGULAR_PULSE != 0
    }
    pub const fn pulse_rate_range(self) -> PulseRateRange {
        match (self.0 & Self::PULSE_RANGE_MASK) >> 3 {
            0 => PulseRateRange::WithinRange,
            1 => PulseRateRange::ExceedsUpperLimit,
            2 => PulseRateRange::BelowLowerLimit,
            _ => PulseRateRange::Reserved,
        }
    }
    pub const fn improper_position(self) -> bool {
        self.0 & Self::IMPROPER_POSITION != 0
    }
    /// True when the cuff flagged anything that makes the reading doubtful.
    pub const fn any_problem(self) -> bool {
        self.0 & (Self::BODY_MOVEMENT | Self::CUFF_TOO_LOOSE | Self::IMPROPER_POSITION) != 0
    }
}

/// One Blood Pressure Measurement (or Intermediate Cuff Pressure) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BloodPressureMeasurement {
    pub unit: PressureUnit,
    pub systolic: SFloat,
    pub diastolic: SFloat,
    pub mean_arterial: SFloat,
    pub timestamp: Option<DateTime>,
    pub pulse_rate: Option<SFloat>,
    /// 0–254, or [`USER_ID_UNKNOWN`].
    pub user_id: Option<u8>,
    pub status: Option<MeasurementStatus>,
}

impl BloodPressureMeasurement {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let flags = r.u8("flags")?;
        let mut sfloat = |what| r.u16(what).map(SFloat::from_raw);
        let systolic = sfloat("systolic")?;
        let diastolic = sfloat("diastolic")?;
        let mean_arterial = sfloat("mean arterial pressure")?;
        let timestamp =
            if flags & FLAG_TIMESTAMP != 0 { Some(DateTime::read(&mut r)?) } else { None };
        let pulse_rate = if flags & FLAG_PULSE_RATE != 0 {
            Some(SFloat::from_raw(r.u16("pulse rate")?))
        } else {
            None
        };
        let user_id = if flags & FLAG_USER_ID != 0 { Some(r.u8("user id")?) } else { None };
        let status = if flags & FLAG_STATUS != 0 {
            Some(MeasurementStatus(r.u16("measurement status")?))
        } else {
            None
        };
        r.finish("blood pressure measurement")?;
        Ok(Self {
            unit: if flags & FLAG_KPA != 0 { PressureUnit::KPa } else { PressureUnit::MmHg },
            systolic,
            diastolic,
            mean_arterial,
            timestamp,
            pulse_rate,
            user_id,
            status,
        })
    }

    /// The characteristic value. A time stamp is written as given; check it with
    /// [`DateTime::validate`] first if it did not come from a decoder.
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = 0;
        if self.unit == PressureUnit::KPa {
            flags |= FLAG_KPA;
        }
        if self.timestamp.is_some() {
            flags |= FLAG_TIMESTAMP;
        }
        if self.pulse_rate.is_some() {
            flags |= FLAG_PULSE_RATE;
        }
        if self.user_id.is_some() {
            flags |= FLAG_USER_ID;
        }
        if self.status.is_some() {
            flags |= FLAG_STATUS;
        }
        let mut out = Vec::with_capacity(MAX_LEN);
        out.push(flags);
        for v in [self.systolic, self.diastolic, self.mean_arterial] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(t) = &self.timestamp {
            t.write(&mut out);
        }
        if let Some(p) = self.pulse_rate {
            out.extend_from_slice(&p.to_le_bytes());
        }
        if let Some(u) = self.user_id {
            out.push(u);
        }
        if let Some(s) = self.status {
            out.extend_from_slice(&s.0.to_le_bytes());
        }
        out
    }

    fn mmhg(&self, v: SFloat) -> Option<f32> {
        let v = v.to_f64()?;
        let mmhg = match self.unit {
            PressureUnit::MmHg => v,
            PressureUnit::KPa => v * MMHG_PER_KPA,
        };
        Some(mmhg as f32)
    }

    /// Systolic pressure in mmHg (converted from kPa when needed); `None` for special values.
    pub fn systolic_mmhg(&self) -> Option<f32> {
        self.mmhg(self.systolic)
    }

    pub fn diastolic_mmhg(&self) -> Option<f32> {
        self.mmhg(self.diastolic)
    }

    pub fn mean_arterial_mmhg(&self) -> Option<f32> {
        self.mmhg(self.mean_arterial)
    }

    /// Pulse rate in beats per minute; `None` when absent or a special value.
    pub fn pulse_bpm(&self) -> Option<f32> {
        self.pulse_rate?.to_f64().map(|v| v as f32)
    }

    /// Intermediate Cuff Pressure carries the current cuff pressure in the systolic field.
    pub fn cuff_pressure_mmhg(&self) -> Option<f32> {
        self.systolic_mmhg()
    }
}

/// Blood Pressure Feature (0x2A49): what the cuff can detect. Bits other than those named are
/// kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BloodPressureFeature(pub u16);

impl BloodPressureFeature {
    pub const BODY_MOVEMENT_DETECTION: u16 = 0x0001;
    pub const CUFF_FIT_DETECTION: u16 = 0x0002;
    pub const IRREGULAR_PULSE_DETECTION: u16 = 0x0004;
    pub const PULSE_RATE_RANGE_DETECTION: u16 = 0x0008;
    pub const MEASUREMENT_POSITION_DETECTION: u16 = 0x0010;
    pub const MULTIPLE_BOND: u16 = 0x0020;

    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let v = r.u16("blood pressure feature")?;
        r.finish("blood pressure feature")?;
        Ok(Self(v))
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.to_le_bytes().to_vec()
    }

    pub const fn supports(self, bit: u16) -> bool {
        self.0 & bit == bit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minimal_and_full_layouts() {
        let m =
            BloodPressureMeasurement::decode(&[0x00, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00]).unwrap();
        assert_eq!(
            (m.systolic_mmhg(), m.diastolic_mmhg(), m.mean_arterial_mmhg()),
            (Some(110.0), Some(70.0), Some(83.0))
        );
        assert_eq!((m.timestamp, m.pulse_rate, m.user_id, m.status), (None, None, None, None));

        let full = [
            0x1E, 0x84, 0x00, 0x58, 0x00, 0xFF, 0x07, 0xE9, 0x07, 5, 17, 21, 3, 40, 0x5F, 0x00,
            0x01, 0x05, 0x00,
        ];
        let m = BloodPressureMeasurement::decode(&full).unwrap();
        assert_eq!(full.len(), MAX_LEN);
        assert_eq!(m.systolic_mmhg(), Some(132.0));
        assert_eq!(m.mean_arterial, SFloat::NaN);
        assert_eq!(m.mean_arterial_mmhg(), None);
        assert_eq!(
            m.timestamp,
            Some(DateTime { year: 2025, month: 5, day: 17, hours: 21, minutes: 3, seconds: 40 })
        );
        assert_eq!(m.pulse_bpm(), Some(95.0));
        assert_eq!(m.user_id, Some(1));
        let s = m.status.unwrap();
        assert!(
            s.body_movement()
                && s.irregular_pulse()
                && !s.cuff_too_loose()
                && !s.improper_position()
        );
        assert_eq!(s.pulse_rate_range(), PulseRateRange::WithinRange);
        assert_eq!(m.encode(), full);
    }

    #[test]
    fn kpa_is_converted_to_mmhg() {
        // 16.0 / 10.7 / 12.5 kPa.
        let m =
            BloodPressureMeasurement::decode(&[0x01, 0xA0, 0xF0, 0x6B, 0xF0, 0x7D, 0xF0]).unwrap();
        assert_eq!(m.unit, PressureUnit::KPa);
        assert!((m.systolic_mmhg().unwrap() - 120.01).abs() < 0.01);
        assert!((m.diastolic_mmhg().unwrap() - 80.26).abs() < 0.01);
        assert!((m.mean_arterial_mmhg().unwrap() - 93.76).abs() < 0.01);
    }

    #[test]
    fn special_values_give_none() {
        let m = BloodPressureMeasurement::decode(&[
            0x04, 0xFE, 0x07, 0x00, 0x08, 0x02, 0x08, 0x01, 0x08,
        ])
        .unwrap();
        assert_eq!(m.systolic, SFloat::PositiveInfinity);
        assert_eq!(
            (m.systolic_mmhg(), m.diastolic_mmhg(), m.mean_arterial_mmhg(), m.pulse_bpm()),
            (None, None, None, None)
        );
    }

    #[test]
    fn pulse_range_bits() {
        for (bits, want) in [
            (0x00, PulseRateRange::WithinRange),
            (0x08, PulseRateRange::ExceedsUpperLimit),
            (0x10, PulseRateRange::BelowLowerLimit),
            (0x18, PulseRateRange::Reserved),
        ] {
            assert_eq!(MeasurementStatus(bits).pulse_rate_range(), want);
        }
    }

    #[test]
    fn malformed_values_are_explained() {
        assert_eq!(
            BloodPressureMeasurement::decode(&[]),
            Err(BleError::Truncated { what: "flags", need: 1, len: 0 })
        );
        assert_eq!(
            BloodPressureMeasurement::decode(&[0x00, 0x6E, 0x00, 0x46]),
            Err(BleError::Truncated { what: "diastolic", need: 5, len: 4 })
        );
        // Flags announce a time stamp that is not there.
        assert_eq!(
            BloodPressureMeasurement::decode(&[0x02, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00, 0xE9]),
            Err(BleError::Truncated { what: "date-time year", need: 9, len: 8 })
        );
        assert_eq!(
            BloodPressureMeasurement::decode(&[0x00, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00, 0x48]),
            Err(BleError::TrailingBytes { what: "blood pressure measurement", extra: 1 })
        );
        assert_eq!(
            BloodPressureMeasurement::decode(&[
                0x02, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00, 0xE9, 0x07, 2, 30, 61, 0, 0
            ]),
            Err(BleError::OutOfRange { field: "hours", value: 61 })
        );
    }

    #[test]
    fn reserved_flag_bits_are_ignored() {
        let m =
            BloodPressureMeasurement::decode(&[0xE0, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00]).unwrap();
        assert_eq!(m.systolic_mmhg(), Some(110.0));
        assert_eq!(m.encode()[0], 0x00);
    }

    #[test]
    fn feature_bits() {
        let f = BloodPressureFeature::decode(&[0x25, 0x00]).unwrap();
        assert!(f.supports(BloodPressureFeature::BODY_MOVEMENT_DETECTION));
        assert!(f.supports(BloodPressureFeature::IRREGULAR_PULSE_DETECTION));
        assert!(f.supports(BloodPressureFeature::MULTIPLE_BOND));
        assert!(!f.supports(BloodPressureFeature::CUFF_FIT_DETECTION));
        assert_eq!(f.encode(), [0x25, 0x00]);
        assert!(BloodPressureFeature::decode(&[0x25]).is_err());
        assert!(BloodPressureFeature::decode(&[0x25, 0, 0]).is_err());
    }

    fn arb_sfloat() -> impl Strategy<Value = SFloat> {
        any::<u16>().prop_map(SFloat::from_raw)
    }

    fn arb_datetime() -> impl Strategy<Value = DateTime> {
        (prop_oneof![Just(0u16), 1582u16..=9999], 0u8..=12, 0u8..=31, 0u8..=23, 0u8..=59, 0u8..=59)
            .prop_map(|(year, month, day, hours, minutes, seconds)| DateTime {
                year,
                month,
                day,
                hours,
                minutes,
                seconds,
            })
    }

    proptest! {
        #[test]
        fn measurement_round_trips(
            kpa in any::<bool>(), sys in arb_sfloat(), dia in arb_sfloat(), map in arb_sfloat(),
            ts in proptest::option::of(arb_datetime()), pulse in proptest::option::of(arb_sfloat()),
            user in proptest::option::of(any::<u8>()), status in proptest::option::of(any::<u16>()),
        ) {
            let m = BloodPressureMeasurement {
                unit: if kpa { PressureUnit::KPa } else { PressureUnit::MmHg },
                systolic: sys, diastolic: dia, mean_arterial: map, timestamp: ts, pulse_rate: pulse,
                user_id: user, status: status.map(MeasurementStatus),
            };
            let bytes = m.encode();
            prop_assert!((MIN_LEN..=MAX_LEN).contains(&bytes.len()));
            prop_assert_eq!(BloodPressureMeasurement::decode(&bytes), Ok(m));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(m) = BloodPressureMeasurement::decode(&bytes) {
                // Whatever decodes re-encodes to the same bytes, reserved flag bits aside.
                let mut want = bytes.clone();
                want[0] &= 0x1F;
                prop_assert_eq!(m.encode(), want);
            }
        }
    }
}
