//! The JSON control decoders of `ctg_wire`: device events, presence, heartbeat, acknowledgement.
//!
//! Invariant: whatever decodes re-encodes to JSON that decodes to the same message.
#![no_main]

use ctg_wire::{Ack, DeviceEvent, Heartbeat, Presence};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = DeviceEvent::decode(data) {
        assert_eq!(DeviceEvent::decode(&m.encode()).ok(), Some(m));
    }
    if let Ok(m) = Presence::decode(data) {
        assert_eq!(Presence::decode(&m.encode()).ok(), Some(m));
    }
    if let Ok(m) = Heartbeat::decode(data) {
        assert_eq!(Heartbeat::decode(&m.encode()).ok(), Some(m));
    }
    if let Ok(m) = Ack::decode(data) {
        assert_eq!(Ack::decode(&m.encode()).ok(), Some(m));
    }
});
