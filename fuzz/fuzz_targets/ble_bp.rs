//! Blood Pressure Measurement / Intermediate Cuff Pressure and Feature decoders.
//!
//! Invariants: whatever decodes re-encodes to the same bytes (reserved flag bits aside) and
//! decodes again to the same value; the mmHg helpers never panic and give finite numbers.
#![no_main]

use hardware::ble::bp::{BloodPressureFeature, BloodPressureMeasurement};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = BloodPressureMeasurement::decode(data) {
        let bytes = m.encode();
        let mut want = data.to_vec();
        want[0] &= 0x1F;
        assert_eq!(bytes, want);
        assert_eq!(BloodPressureMeasurement::decode(&bytes), Ok(m));
        for v in [m.systolic_mmhg(), m.diastolic_mmhg(), m.mean_arterial_mmhg(), m.pulse_bpm()]
            .into_iter()
            .flatten()
        {
            assert!(v.is_finite());
        }
    }
    if let Ok(f) = BloodPressureFeature::decode(data) {
        assert_eq!(f.encode(), data);
    }
});
