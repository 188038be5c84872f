//! Record Access Control Point request and response decoders.
//!
//! Invariant: whatever decodes re-encodes to exactly the input.
#![no_main]

use hardware::ble::racp::{RacpRequest, RacpResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = RacpRequest::decode(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(r) = RacpResponse::decode(data) {
        assert_eq!(r.encode(), data);
    }
});
