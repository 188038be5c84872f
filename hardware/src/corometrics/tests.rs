//! Property tests across the encoder, decoder and framer.

use proptest::prelude::*;

use super::*;
use ctg_wire::{Bpm, Sample, Toco};

fn arb_hr() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![Just(None), (1u16..=999).prop_map(Some)]
}

fn arb_printable() -> impl Strategy<Value = u8> {
    0x20u8..=0x7e
}

/// Any message that [`Message::validate`] accepts.
fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        arb_hr().prop_map(Message::HeartRate1),
        arb_hr().prop_map(Message::HeartRate2),
        prop_oneof![Just(None), any::<u8>().prop_filter("sentinel", |v| *v != 128).prop_map(Some)]
            .prop_map(Message::UterineActivity),
        (arb_printable(), arb_printable()).prop_map(|(hr, ua)| Message::Modes { hr, ua }),
        "[ -~]{0,64}"
            .prop_filter("header-like text", |s| check_annotation(s.as_bytes()).is_ok())
            .prop_map(Message::Annotation),
        Just(Message::EventMark),
        prop_oneof![
            Just(MovementReport::None),
            Just(MovementReport::Movement),
            Just(MovementReport::NotFitted),
            Just(MovementReport::Disabled)
        ]
        .prop_map(Message::FetalMovement),
        any::<bool>().prop_map(Message::PaperOut),
    ]
}

/// Noise that cannot contain a message header: every `'9' type '0'` has its `'0'` replaced by a
/// byte that can start no header either.
fn arb_clean_garbage() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(|mut g| {
        for i in 0..g.len() {
            if is_header(&g[i..]) {
                g[i + 2] = b'x';
            }
        }
        g
    })
}

fn decode_chunked(bytes: &[u8], cuts: &[usize]) -> (Vec<Message>, DecodeStats, usize) {
    let mut d = Decoder::new();
    let mut msgs = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        d.push(&bytes[at..cut]);
        at = cut;
        msgs.extend(d.by_ref());
        assert!(d.buffered_len() <= MAX_PENDING, "decoder keeps {} bytes", d.buffered_len());
    }
    (msgs, d.stats(), d.buffered_len())
}

/// Turns random bytes into a serial stream that is mostly protocol: whole messages, messages cut
/// short, headers followed by junk, and noise skewed towards the protocol's own bytes, so the
/// decoder's every path is taken often.
fn protocol_heavy(seed: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(seed.len() * 2);
    for c in seed.chunks(4) {
        let at = |i: usize| c.get(i).copied().unwrap_or(0);
        let msg = || match at(1) % 8 {
            0 => Message::HeartRate1(Some(u16::from(at(2)) + u16::from(at(3) % 4) * 250)),
            1 => Message::UterineActivity(Some(at(2))),
            2 => Message::Modes { hr: 0x20 + at(2) % 95, ua: 0x20 + at(3) % 95 },
            3 => Message::Annotation("note 9 a0".chars().take(usize::from(at(2) % 10)).collect()),
            4 => Message::EventMark,
            5 => Message::HeartRate2(None),
            6 => Message::FetalMovement(MovementReport::Movement),
            _ => Message::PaperOut(at(2) % 2 == 0),
        };
        match at(0) % 8 {
            0..=2 => encode(&msg(), &mut out),
            3 => {
                let frame = encode_to_vec(&msg());
                out.extend_from_slice(&frame[..usize::from(at(3)) % frame.len()]);
            }
            4 => out.extend_from_slice(&[MONITOR_TYPE, 0x60 + at(1) % 8, MONITOR_ID, at(2), at(3)]),
            _ => out.extend(c.iter().map(|&b| match b % 8 {
                0 => MONITOR_TYPE,
                1 => MONITOR_ID,
                2 => ETX,
                3 => 0x60 + (b >> 3) % 8,
                4 => b'0' + (b >> 3) % 10,
                _ => b,
            })),
        }
    }
    out
}

fn is_subsequence(needle: &[Message], hay: &[Message]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        prop_assert!(msg.validate().is_ok());
        let mut bytes = Vec::new();
        try_encode(&msg, &mut bytes).unwrap();
        prop_assert!(bytes.len() <= MAX_MESSAGE_LEN);
        let (msgs, stats, pending) = decode_chunked(&bytes, &[]);
        prop_assert_eq!(msgs, vec![msg]);
        prop_assert_eq!(stats, DecodeStats { messages: 1, bytes_discarded: 0, frames_rejected: 0, message_bytes: bytes.len() as u64 });
        prop_assert_eq!(pending, 0);
    }

    #[test]
    fn invalid_messages_still_encode_to_a_decodable_frame(
        ty in 0usize..8, v in any::<u16>(), text in proptest::collection::vec(any::<u8>(), 0..100)
    ) {
        let msg = match ty {
            0 => Message::HeartRate1(Some(v)),
            1 => Message::HeartRate2(Some(v)),
            2 => Message::UterineActivity(Some(v as u8)),
            3 => Message::Modes { hr: v as u8, ua: (v >> 8) as u8 },
            _ => Message::Annotation(String::from_utf8_lossy(&text).into_owned()),
        };
        let bytes = encode_to_vec(&msg);
        let (msgs, stats, _) = decode_chunked(&bytes, &[]);
        prop_assert_eq!(msgs.len(), 1);
        prop_assert_eq!(stats.bytes_discarded, 0);
        let mut refused = Vec::new();
        if try_encode(&msg, &mut refused).is_err() {
            prop_assert!(refused.is_empty());
        } else {
            prop_assert_eq!(&msgs[0], &msg);
        }
    }

    #[test]
    fn garbage_between_frames_is_counted_exactly(
        parts in proptest::collection::vec((arb_clean_garbage(), arb_message()), 0..40),
        tail in arb_clean_garbage(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = Vec::new();
        let mut garbage = 0;
        for (g, m) in &parts {
            bytes.extend_from_slice(g);
            garbage += g.len();
            encode(m, &mut bytes);
        }
        bytes.extend_from_slice(&tail);
        garbage += tail.len();

        let mut d = Decoder::new();
        let mut at = 0;
        let mut msgs = Vec::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([bytes.len()]) {
            d.push(&bytes[at..cut]);
            at = cut;
            msgs.extend(d.by_ref());
        }
        d.discard_pending();
        let want: Vec<Message> = parts.into_iter().map(|(_, m)| m).collect();
        prop_assert_eq!(msgs, want);
        prop_assert_eq!(d.stats().bytes_discarded, garbage as u64);
        prop_assert_eq!(d.stats().frames_rejected, 0);
        prop_assert_eq!(d.stats().message_bytes + garbage as u64, bytes.len() as u64);
    }

    #[test]
    fn arbitrary_garbage_never_hides_a_real_frame(
        parts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..24), arb_message()), 0..40),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = Vec::new();
        for (g, m) in &parts {
            bytes.extend_from_slice(g);
            encode(m, &mut bytes);
        }
        let (msgs, stats, pending) = decode_chunked(&bytes, &cuts);
        let want: Vec<Message> = parts.into_iter().map(|(_, m)| m).collect();
        prop_assert!(is_subsequence(&want, &msgs), "want {:?}\ngot {:?}", want, msgs);
        prop_assert_eq!(stats.messages, msgs.len() as u64);
        prop_assert_eq!(stats.message_bytes + stats.bytes_discarded + pending as u64, bytes.len() as u64);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
        bytes in proptest::collection::vec(any::<u8>(), 0..1000).prop_map(protocol_heavy),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let (msgs, stats, pending) = decode_chunked(&bytes, &cuts);
        prop_assert_eq!(stats.messages, msgs.len() as u64);
        prop_assert_eq!(stats.message_bytes + stats.bytes_discarded + pending as u64, bytes.len() as u64);
    }

    #[test]
    fn splitting_the_stream_anywhere_gives_the_same_result(
        parts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..8), arb_message()), 0..30),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut bytes = Vec::new();
        for (g, m) in &parts {
            bytes.extend_from_slice(g);
            encode(m, &mut bytes);
        }
        let whole = decode_chunked(&bytes, &[]);
        let chunked = decode_chunked(&bytes, &cuts);
        prop_assert_eq!(&whole, &chunked);
        // Byte at a time: the extreme split.
        let all_cuts: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(whole, decode_chunked(&bytes, &all_cuts));
    }
}

fn arb_tick() -> impl Strategy<Value = Tick> {
    let hr = prop_oneof![3 => (50u16..=210).prop_map(Some), 1 => Just(None), 1 => (0u16..=999).prop_map(Some)];
    let ua = prop_oneof![4 => (0u8..=100).prop_map(Some), 1 => Just(None), 1 => any::<u8>().prop_map(Some)];
    let movement = prop_oneof![
        Just(MovementReport::None),
        Just(MovementReport::Movement),
        Just(MovementReport::NotFitted),
        Just(MovementReport::Disabled)
    ];
    (hr.clone(), hr, ua.clone(), ua, movement, proptest::bool::weighted(0.05)).prop_map(
        |(hr1, hr2, ua0, ua1, movement, mark)| Tick {
            hr1,
            hr2,
            ua: [ua0, ua1],
            movement,
            mark,
            ..Tick::default()
        },
    )
}

/// What the framer must make of a tick.
fn expected_sample(t: &Tick) -> Sample {
    let toco = |v: Option<u8>| v.and_then(Toco::new);
    Sample {
        fhr1: t.hr1.and_then(Bpm::from_whole),
        fhr2: t.hr2.and_then(Bpm::from_whole),
        toco: toco(t.ua[0]).max(toco(t.ua[1])),
        movement: t.movement.to_wire(),
        mark: t.mark,
        ..Sample::EMPTY
    }
}

/// Values a tick carries that the wire contract cannot (sentinels excluded: they are "no value").
fn expected_out_of_range(t: &Tick) -> u64 {
    let hr = |v: Option<u16>| u64::from(v.is_some_and(|v| v != 0 && Bpm::from_whole(v).is_none()));
    let ua = |v: Option<u8>| u64::from(v.is_some_and(|v| v != 128 && Toco::new(v).is_none()));
    hr(t.hr1) + hr(t.hr2) + ua(t.ua[0]) + ua(t.ua[1])
}

fn samples_of(outs: Vec<FramerOutput>) -> impl Iterator<Item = Sample> {
    outs.into_iter().filter_map(|o| match o {
        FramerOutput::Sample { sample, .. } => Some(sample),
        _ => None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Monitor → bytes → decoder → framer gives one sample per tick with the tick's values, even
    /// when a tick's bytes arrive in two reads up to 200 ms apart.
    #[test]
    fn monitor_to_samples_end_to_end(
        ticks in proptest::collection::vec((arb_tick(), any::<usize>(), 0i64..200), 1..200),
    ) {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut dec = Decoder::new();
        let mut framer = Framer::new();
        let mut got = Vec::new();
        let mut bytes = Vec::new();
        for (i, (tick, cut, delay)) in ticks.iter().enumerate() {
            bytes.clear();
            enc.encode_tick(i as u64, tick, &mut bytes);
            let cut = cut % (bytes.len() + 1);
            let t0 = i as i64 * 250;
            for (part, now) in [(&bytes[..cut], t0), (&bytes[cut..], t0 + delay)] {
                dec.push(part);
                while let Some(m) = dec.next_message() {
                    got.extend(samples_of(framer.push(m, now)));
                }
            }
        }
        got.extend(samples_of(framer.flush(ticks.len() as i64 * 250)));
        let want: Vec<Sample> = ticks.iter().map(|(t, _, _)| expected_sample(t)).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(dec.stats().bytes_discarded, 0);
        prop_assert_eq!(framer.stats().out_of_range, ticks.iter().map(|(t, _, _)| expected_out_of_range(t)).sum::<u64>());
    }

    /// Transmit/Receive with only uterine activity requested: samples come from arrival times.
    #[test]
    fn ua_only_stream_is_framed_by_time(
        ticks in proptest::collection::vec((arb_tick(), -40i64..40), 1..200),
    ) {
        let mut enc = MonitorEncoder::new(MonitorMode::TransmitReceive, b'U', b'T');
        enc.request(&[ResponseType::UterineActivity]);
        let mut dec = Decoder::new();
        let mut framer = Framer::new();
        let mut got = Vec::new();
        let mut bytes = Vec::new();
        for (i, (tick, jitter)) in ticks.iter().enumerate() {
            bytes.clear();
            enc.encode_tick(i as u64, tick, &mut bytes);
            dec.push(&bytes);
            let t = 10_000 + i as i64 * 250 + jitter;
            for (j, m) in dec.by_ref().enumerate() {
                // The monitor sends the two readings 125 ms apart.
                got.extend(samples_of(framer.push(m, t + 125 * j as i64)));
            }
        }
        got.extend(samples_of(framer.flush(i64::MAX)));
        let want: Vec<Option<Toco>> = ticks.iter().map(|(t, _)| expected_sample(t).toco).collect();
        prop_assert_eq!(got.iter().map(|s| s.toco).collect::<Vec<_>>(), want);
        prop_assert!(got.iter().all(|s| s.fhr1.is_none() && s.fhr2.is_none() && s.movement.is_none()));
    }
}

#[test]
fn encode_replaces_what_the_wire_cannot_carry() {
    assert_eq!(encode_to_vec(&Message::HeartRate1(Some(0))), b"9`000\x03");
    assert_eq!(encode_to_vec(&Message::HeartRate2(Some(1000))), b"9e000\x03");
    assert_eq!(encode_to_vec(&Message::HeartRate1(Some(5))), b"9`005\x03");
    assert_eq!(encode_to_vec(&Message::UterineActivity(Some(7))), b"9a007\x03");
    assert_eq!(encode_to_vec(&Message::Modes { hr: 0x03, ua: b'T' }), b"9b0?T\x03");
    assert_eq!(
        encode_to_vec(&Message::Annotation("bed 9a0 caf\u{e9}".into())),
        b"9c0bed ?a0 caf??\x03"
    );
    let long = "x".repeat(100);
    assert_eq!(encode_to_vec(&Message::Annotation(long)).len(), MAX_MESSAGE_LEN);
}

#[test]
fn validate_explains_what_cannot_be_sent() {
    assert_eq!(
        Message::HeartRate1(Some(0)).validate(),
        Err(CorometricsError::ValueNotEncodable {
            response_type: ResponseType::HeartRate1,
            value: 0
        })
    );
    assert_eq!(
        Message::UterineActivity(Some(128)).validate(),
        Err(CorometricsError::ValueNotEncodable {
            response_type: ResponseType::UterineActivity,
            value: 128
        })
    );
    assert_eq!(
        Message::Annotation("x".repeat(65)).validate(),
        Err(CorometricsError::AnnotationTooLong(65))
    );
    assert_eq!(
        Message::Annotation("ok\tno".into()).validate(),
        Err(CorometricsError::AnnotationNotAscii { index: 2, byte: b'\t' })
    );
    assert_eq!(
        Message::Annotation("go 9f0".into()).validate(),
        Err(CorometricsError::AnnotationLooksLikeHeader(3))
    );
    assert_eq!(
        Message::Modes { hr: b'U', ua: 0x80 }.validate(),
        Err(CorometricsError::ModeNotPrintable(0x80))
    );
}

#[test]
fn response_type_bytes_round_trip() {
    for (i, t) in ResponseType::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
        assert_eq!(ResponseType::from_byte(t.byte()), Some(*t));
    }
    assert_eq!(ResponseType::from_byte(0x5f), None);
    assert_eq!(ResponseType::from_byte(0x68), None);
}

#[test]
fn protocol_heavy_noise_exercises_every_path() {
    // Guards the property test above: its input must form messages and rejected frames, not
    // just noise.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let (msgs, stats, _) = decode_chunked(&protocol_heavy(bytes), &[1000, 5000, 77_777]);
    assert!(msgs.len() > 10_000, "{} messages", msgs.len());
    assert!(stats.frames_rejected > 5_000, "{} rejected", stats.frames_rejected);
    let kinds: std::collections::HashSet<_> = msgs.iter().map(Message::response_type).collect();
    assert!(kinds.len() >= 6, "{kinds:?}");
}
