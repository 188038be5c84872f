//! CTG probe profile decoders: samples notification, status, control point request/response.
//!
//! Invariants: whatever decodes re-encodes to exactly the input; samples map to wire samples and
//! back unchanged.
#![no_main]

use hardware::ble::ctg_probe::{
    ControlRequest, ControlResponse, ProbeSample, ProbeStatus, SamplePacket,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SamplePacket::decode(data) {
        assert_eq!(p.encode().as_deref(), Ok(data));
        for s in &p.samples {
            assert_eq!(ProbeSample::from_wire(&s.to_wire()), *s);
        }
    }
    if let Ok(s) = ProbeStatus::decode(data) {
        assert_eq!(s.encode(), data);
    }
    if let Ok(c) = ControlRequest::decode(data) {
        assert_eq!(c.encode(), data);
    }
    if let Ok(c) = ControlResponse::decode(data) {
        assert_eq!(c.encode(), data);
    }
});
