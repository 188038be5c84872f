//! `ctg_wire::SampleBlock::decode`, the server's parser for every sample payload on MQTT.
//!
//! Invariants: a decoded block is non-empty, re-encodes to `encoded_len()` bytes, and decoding
//! its encoding gives the same block back.
#![no_main]

use ctg_wire::SampleBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = SampleBlock::decode(data) {
        assert!(!block.samples.is_empty());
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encoded_len());
        assert!(bytes.len() <= data.len(), "canonical encoding is never longer than a valid input");
        assert_eq!(SampleBlock::decode(&bytes), Ok(block));
    }
});
