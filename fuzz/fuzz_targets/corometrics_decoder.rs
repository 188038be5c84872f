//! Corometrics serial decoder with arbitrary chunking, plus the framer and the request decoder
//! over the same bytes.
//!
//! Invariants: chunked decoding equals one-shot decoding (messages and counters); every byte is
//! accounted for (`pushed = message_bytes + bytes_discarded + buffered`); the decoder never keeps
//! more than `MAX_PENDING` bytes after draining; every decoded message is valid and survives
//! encode → decode unchanged; the framer never emits more samples than messages.
#![no_main]

use hardware::corometrics::{
    DecodeStats, Decoder, Framer, FramerOutput, MAX_PENDING, Message, RequestDecoder,
    encode_to_vec, parse_request,
};
use libfuzzer_sys::fuzz_target;

fn decode(bytes: &[u8], chunk_sizes: &[u8]) -> (Vec<Message>, DecodeStats, usize) {
    let mut d = Decoder::new();
    let mut msgs = Vec::new();
    let mut rest = bytes;
    let mut k = 0;
    while !rest.is_empty() {
        let n = if chunk_sizes.is_empty() {
            rest.len()
        } else {
            usize::from(chunk_sizes[k % chunk_sizes.len()] % 32) + 1
        };
        let (now, later) = rest.split_at(n.min(rest.len()));
        rest = later;
        k += 1;
        d.push(now);
        while let Some(m) = d.next_message() {
            msgs.push(m);
        }
        assert!(d.buffered_len() <= MAX_PENDING, "decoder keeps {} bytes", d.buffered_len());
    }
    (msgs, d.stats(), d.buffered_len())
}

fuzz_target!(|data: &[u8]| {
    // The first four bytes choose the read sizes; the rest is the serial stream.
    let (chunks, bytes) = data.split_at(data.len().min(4));
    let whole = decode(bytes, &[]);
    let chunked = decode(bytes, chunks);
    assert_eq!(whole, chunked, "chunking changed the result");

    let (msgs, stats, pending) = whole;
    assert_eq!(stats.messages, msgs.len() as u64);
    assert_eq!(stats.message_bytes + stats.bytes_discarded + pending as u64, bytes.len() as u64);

    let mut framer = Framer::new();
    let mut samples = 0;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.validate(), Ok(()), "decoder produced an unsendable {m:?}");
        let again = decode(&encode_to_vec(m), &[]);
        assert_eq!(again.0, vec![m.clone()]);
        let now = i as i64 * 37; // arbitrary but increasing arrival times
        samples += framer
            .push(m.clone(), now)
            .iter()
            .filter(|o| matches!(o, FramerOutput::Sample { .. }))
            .count();
        samples += framer.poll(now).len();
    }
    samples += framer.flush(i64::MAX).len();
    assert!(samples <= msgs.len());
    assert_eq!(framer.stats().samples, samples as u64);

    let mut requests = RequestDecoder::new();
    let _ = requests.push(bytes);
    let _ = parse_request(bytes);
});
