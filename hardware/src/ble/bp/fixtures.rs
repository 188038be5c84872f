//! Realistic Blood Pressure Measurement values, byte for byte, for fake peripherals and tests.
//!
//! These are not captures from a particular cuff: they are written from the published layout to
//! look like what home cuffs send (Omron-style: mmHg, time stamp, pulse, user id, status, mean
//! arterial pressure not computed; A&D-style: the same with the mean computed), with the
//! readings a pregnancy record sees (normal, irregular pulse with movement, a hypertensive
//! reading with a loose cuff, a guest measurement with tachycardia, a kPa cuff whose clock was
//! never set). Each carries the measurement it must decode to, checked by the tests below.
//!
//! [`STORED_RECORDS_BURST`] is what a classic cuff indicates, oldest first, right after bonding;
//! [`CUFF_INFLATION`] is an Intermediate Cuff Pressure (0x2A36) sequence during a measurement.

use super::{BloodPressureMeasurement, MeasurementStatus, PressureUnit};
use crate::ble::DateTime;
use crate::ble::sfloat::SFloat;
use crate::ble::uuids::{BLOOD_PRESSURE_MEASUREMENT, INTERMEDIATE_CUFF_PRESSURE};

/// One characteristic value and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CuffFixture {
    pub name: &'static str,
    pub description: &'static str,
    /// 16-bit UUID of the characteristic the value is sent on.
    pub characteristic: u16,
    pub bytes: &'static [u8],
    pub measurement: BloodPressureMeasurement,
}

const fn v(mantissa: i16, exponent: i8) -> SFloat {
    SFloat::Value { mantissa, exponent }
}

const fn at(
    year: u16,
    month: u8,
    day: u8,
    hours: u8,
    minutes: u8,
    seconds: u8,
) -> Option<DateTime> {
    Some(DateTime { year, month, day, hours, minutes, seconds })
}

pub const MORNING_NORMAL: CuffFixture = CuffFixture {
    name: "morning_normal",
    description: "118/76 mmHg, pulse 72, user 1, no problems; mean arterial pressure not computed (NaN)",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[
        0x1E, 0x76, 0x00, 0x4C, 0x00, 0xFF, 0x07, 0xE9, 0x07, 0x05, 0x11, 0x07, 0x2A, 0x0F, 0x48,
        0x00, 0x01, 0x00, 0x00,
    ],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::MmHg,
        systolic: v(118, 0),
        diastolic: v(76, 0),
        mean_arterial: SFloat::NaN,
        timestamp: at(2025, 5, 17, 7, 42, 15),
        pulse_rate: Some(v(72, 0)),
        user_id: Some(1),
        status: Some(MeasurementStatus(0)),
    },
};

pub const EVENING_IRREGULAR_PULSE: CuffFixture = CuffFixture {
    name: "evening_irregular_pulse",
    description: "132/88 mmHg, pulse 95, user 1, body movement and irregular pulse flagged",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[
        0x1E, 0x84, 0x00, 0x58, 0x00, 0xFF, 0x07, 0xE9, 0x07, 0x05, 0x11, 0x15, 0x03, 0x28, 0x5F,
        0x00, 0x01, 0x05, 0x00,
    ],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::MmHg,
        systolic: v(132, 0),
        diastolic: v(88, 0),
        mean_arterial: SFloat::NaN,
        timestamp: at(2025, 5, 17, 21, 3, 40),
        pulse_rate: Some(v(95, 0)),
        user_id: Some(1),
        status: Some(MeasurementStatus(
            MeasurementStatus::BODY_MOVEMENT | MeasurementStatus::IRREGULAR_PULSE,
        )),
    },
};

pub const HYPERTENSIVE_LOOSE_CUFF: CuffFixture = CuffFixture {
    name: "hypertensive_loose_cuff",
    description: "152/101 mmHg, mean 118, pulse 88, user 1, cuff too loose: the app should ask for a re-measurement",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[
        0x1E, 0x98, 0x00, 0x65, 0x00, 0x76, 0x00, 0xE9, 0x07, 0x05, 0x12, 0x06, 0x37, 0x00, 0x58,
        0x00, 0x01, 0x02, 0x00,
    ],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::MmHg,
        systolic: v(152, 0),
        diastolic: v(101, 0),
        mean_arterial: v(118, 0),
        timestamp: at(2025, 5, 18, 6, 55, 0),
        pulse_rate: Some(v(88, 0)),
        user_id: Some(1),
        status: Some(MeasurementStatus(MeasurementStatus::CUFF_TOO_LOOSE)),
    },
};

pub const GUEST_TACHYCARDIA: CuffFixture = CuffFixture {
    name: "guest_tachycardia",
    description: "124/80 mmHg, mean 95, pulse 128 above range, unknown user (guest), improper position",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[
        0x1E, 0x7C, 0x00, 0x50, 0x00, 0x5F, 0x00, 0xE9, 0x07, 0x05, 0x12, 0x0C, 0x0A, 0x05, 0x80,
        0x00, 0xFF, 0x28, 0x00,
    ],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::MmHg,
        systolic: v(124, 0),
        diastolic: v(80, 0),
        mean_arterial: v(95, 0),
        timestamp: at(2025, 5, 18, 12, 10, 5),
        pulse_rate: Some(v(128, 0)),
        user_id: Some(super::USER_ID_UNKNOWN),
        status: Some(MeasurementStatus(0x0008 | MeasurementStatus::IMPROPER_POSITION)),
    },
};

pub const KPA_CLOCK_NOT_SET: CuffFixture = CuffFixture {
    name: "kpa_clock_not_set",
    description: "16.0/10.7 kPa (120/80 mmHg), mean 12.5 kPa, pulse 70; date unknown (0), time 09:00:00",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[
        0x07, 0xA0, 0xF0, 0x6B, 0xF0, 0x7D, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x46,
        0x00,
    ],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::KPa,
        systolic: v(160, -1),
        diastolic: v(107, -1),
        mean_arterial: v(125, -1),
        timestamp: at(0, 0, 0, 9, 0, 0),
        pulse_rate: Some(v(70, 0)),
        user_id: None,
        status: None,
    },
};

pub const MINIMAL: CuffFixture = CuffFixture {
    name: "minimal",
    description: "110/70 mmHg, mean 83: the shortest valid value (7 bytes, no optional field)",
    characteristic: BLOOD_PRESSURE_MEASUREMENT,
    bytes: &[0x00, 0x6E, 0x00, 0x46, 0x00, 0x53, 0x00],
    measurement: BloodPressureMeasurement {
        unit: PressureUnit::MmHg,
        systolic: v(110, 0),
        diastolic: v(70, 0),
        mean_arterial: v(83, 0),
        timestamp: None,
        pulse_rate: None,
        user_id: None,
        status: None,
    },
};

const fn cuff(name: &'static str, mmhg: i16, bytes: &'static [u8]) -> CuffFixture {
    CuffFixture {
        name,
        description: "Intermediate cuff pressure: current pressure in the systolic field, the others NaN",
        characteristic: INTERMEDIATE_CUFF_PRESSURE,
        bytes,
        measurement: BloodPressureMeasurement {
            unit: PressureUnit::MmHg,
            systolic: v(mmhg, 0),
            diastolic: SFloat::NaN,
            mean_arterial: SFloat::NaN,
            timestamp: None,
            pulse_rate: None,
            user_id: None,
            status: None,
        },
    }
}

/// Intermediate Cuff Pressure notifications while the cuff inflates: 40, 90, 140, 175 mmHg.
pub const CUFF_INFLATION: [CuffFixture; 4] = [
    cuff("cuff_40", 40, &[0x00, 0x28, 0x00, 0xFF, 0x07, 0xFF, 0x07]),
    cuff("cuff_90", 90, &[0x00, 0x5A, 0x00, 0xFF, 0x07, 0xFF, 0x07]),
    cuff("cuff_140", 140, &[0x00, 0x8C, 0x00, 0xFF, 0x07, 0xFF, 0x07]),
    cuff("cuff_175", 175, &[0x00, 0xAF, 0x00, 0xFF, 0x07, 0xFF, 0x07]),
];

/// Stored records a cuff indicates after bonding, oldest first.
pub const STORED_RECORDS_BURST: [CuffFixture; 4] =
    [MORNING_NORMAL, EVENING_IRREGULAR_PULSE, HYPERTENSIVE_LOOSE_CUFF, GUEST_TACHYCARDIA];

/// Every measurement fixture (0x2A35 and 0x2A36).
pub fn all() -> Vec<CuffFixture> {
    let mut v = STORED_RECORDS_BURST.to_vec();
    v.extend([KPA_CLOCK_NOT_SET, MINIMAL]);
    v.extend(CUFF_INFLATION);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ble::bp::PulseRateRange;

    #[test]
    fn every_fixture_decodes_to_its_measurement_and_back() {
        for f in all() {
            let m = BloodPressureMeasurement::decode(f.bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", f.name));
            assert_eq!(m, f.measurement, "{}", f.name);
            assert_eq!(m.encode(), f.bytes, "{}", f.name);
            if let Some(t) = m.timestamp {
                t.validate().unwrap();
            }
        }
    }

    #[test]
    fn fixtures_read_as_described() {
        let m = HYPERTENSIVE_LOOSE_CUFF.measurement;
        assert_eq!(
            (m.systolic_mmhg(), m.diastolic_mmhg(), m.mean_arterial_mmhg()),
            (Some(152.0), Some(101.0), Some(118.0))
        );
        assert!(m.status.unwrap().cuff_too_loose() && m.status.unwrap().any_problem());
        let g = GUEST_TACHYCARDIA.measurement;
        assert_eq!(g.status.unwrap().pulse_rate_range(), PulseRateRange::ExceedsUpperLimit);
        assert_eq!(g.pulse_bpm(), Some(128.0));
        let k = KPA_CLOCK_NOT_SET.measurement;
        assert!(!k.timestamp.unwrap().is_date_known());
        assert_eq!(k.systolic_mmhg().map(f32::round), Some(120.0));
        assert_eq!(k.diastolic_mmhg().map(f32::round), Some(80.0));
        assert_eq!(MORNING_NORMAL.measurement.mean_arterial_mmhg(), None);
        let burst: Vec<_> =
            STORED_RECORDS_BURST.iter().map(|f| f.measurement.timestamp.unwrap()).collect();
        assert!(burst.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let cuff: Vec<_> =
            CUFF_INFLATION.iter().map(|f| f.measurement.cuff_pressure_mmhg().unwrap()).collect();
        assert_eq!(cuff, vec![40.0, 90.0, 140.0, 175.0]);
    }
}
