//! Sample blocks: consecutive 4 Hz samples of one stream, binary encoding version 1.
//!
//! The layout is specified byte by byte in `PROTOCOL.md`; this module is its reference
//! implementation. Decoding checks everything a receiver relies on (ranges, sizes, reserved bits)
//! so that a payload that decodes is safe to store.

use crate::sample::{Bpm, Movement, Qualities, Sample, Toco};
use crate::{SAMPLE_PERIOD_MS, WIRE_VERSION};

/// Message type byte of a sample block.
pub const TYPE_SAMPLE_BLOCK: u8 = 0x01;
/// Most samples one block may carry (5 minutes at 4 Hz). Live blocks usually carry one.
pub const MAX_SAMPLES: usize = 1200;
/// Earliest acceptable receive time: 2000-01-01T00:00:00Z in Unix milliseconds.
pub const MIN_TIME_MS: i64 = 946_684_800_000;
/// Latest acceptable time: 2100-01-01T00:00:00Z in Unix milliseconds.
pub const MAX_TIME_MS: i64 = 4_102_444_800_000;

const FLAG_BACKLOG: u8 = 0b0000_0001;
const FLAG_DEVICE_TIME: u8 = 0b0000_0010;
const CLOCK_SHIFT: u8 = 2;
const FLAG_RESERVED: u8 = 0b1111_0000;

const CH_FHR1: u8 = 1 << 0;
const CH_FHR2: u8 = 1 << 1;
const CH_MHR: u8 = 1 << 2;
const CH_TOCO: u8 = 1 << 3;
const CH_MOVEMENT: u8 = 1 << 4;
const CH_MARKS: u8 = 1 << 5;
const CH_QUALITY: u8 = 1 << 6;
const CH_RESERVED: u8 = 1 << 7;

const HR_NONE: u16 = 0;
const TOCO_NONE: u8 = 0xFF;
const MOVEMENT_NONE: u8 = 0xFF;

/// How far the gateway's UTC clock can be trusted when it stamped the block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ClockQuality {
    /// The gateway does not know whether its clock is synchronised.
    #[default]
    Unknown = 0,
    /// The gateway clock is synchronised (NTP or equivalent).
    Synchronised = 1,
    /// The gateway clock is known to be free-running or not yet synchronised.
    Unsynchronised = 2,
}

/// Why a payload is not a valid sample block. Every variant names what a sender got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload ends at byte {len}, needs {need} bytes for {what}")]
    Truncated { what: &'static str, need: usize, len: usize },
    #[error("unsupported wire version {0} (this build speaks version {WIRE_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("reserved bits set in {field}: 0x{value:02x}")]
    ReservedBits { field: &'static str, value: u8 },
    #[error("clock quality value 3 is reserved")]
    ReservedClockQuality,
    #[error("block carries {0} samples; allowed 1-{MAX_SAMPLES}")]
    BadCount(usize),
    #[error("sequence numbers overflow: first {first} + {count} samples")]
    SequenceOverflow { first: u64, count: usize },
    #[error("{field} {value} ms is outside 2000-01-01..2100-01-01")]
    TimeOutOfRange { field: &'static str, value: i64 },
    #[error("{channel} sample {index}: {raw} quarter-bpm is outside 30-240 bpm")]
    HeartRateOutOfRange { channel: &'static str, index: usize, raw: u16 },
    #[error("TOCO sample {index}: {raw} is above 127")]
    TocoOutOfRange { index: usize, raw: u8 },
    #[error("movement sample {index}: unknown value {raw}")]
    BadMovement { index: usize, raw: u8 },
    #[error("unused bits of the mark bitmap are set")]
    MarkPadding,
    #[error("{0} unexpected bytes after the block")]
    TrailingBytes(usize),
}

/// Consecutive samples of one stream.
///
/// Sample `i` has sequence number `first_seq + i` and was received at
/// `rx_utc_ms + i × 250 ms`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleBlock {
    /// Sequence number of the first sample; per stream, gap-free, starting at 0.
    pub first_seq: u64,
    /// Gateway receive time of the first sample, Unix milliseconds UTC.
    pub rx_utc_ms: i64,
    /// The device's own clock at the first sample, when the device has one. Reported as read,
    /// never corrected: device clocks are not trusted blindly.
    pub device_time_ms: Option<i64>,
    pub clock: ClockQuality,
    /// Set on blocks replayed from the gateway's outbox after an outage.
    pub backlog: bool,
    pub samples: Vec<Sample>,
}

impl SampleBlock {
    /// Sequence number of the last sample. Panics on an empty block, which is never valid.
    pub fn last_seq(&self) -> u64 {
        assert!(!self.samples.is_empty(), "empty sample block");
        self.first_seq + self.samples.len() as u64 - 1
    }

    /// Receive time of sample `i` in Unix milliseconds.
    pub fn sample_time_ms(&self, i: usize) -> i64 {
        self.rx_utc_ms + i as i64 * SAMPLE_PERIOD_MS
    }

    /// Iterates over `(sequence number, receive time ms, sample)`.
    pub fn iter_seq(&self) -> impl Iterator<Item = (u64, i64, &Sample)> + '_ {
        self.samples
            .iter()
            .enumerate()
            .map(|(i, s)| (self.first_seq + i as u64, self.sample_time_ms(i), s))
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        let n = self.samples.len();
        let mask = self.channel_mask();
        let mut len = 22 + if self.device_time_ms.is_some() { 8 } else { 0 };
        for (bit, per) in [(CH_FHR1, 2), (CH_FHR2, 2), (CH_MHR, 2), (CH_TOCO, 1), (CH_MOVEMENT, 1)]
        {
            if mask & bit != 0 {
                len += per * n;
            }
        }
        if mask & CH_MARKS != 0 {
            len += n.div_ceil(8);
        }
        if mask & CH_QUALITY != 0 {
            len += n;
        }
        len
    }

    /// Channels with at least one value in this block; absent channels cost no bytes.
    fn channel_mask(&self) -> u8 {
        let mut m = 0;
        for s in &self.samples {
            m |= if s.fhr1.is_some() { CH_FHR1 } else { 0 }
                | if s.fhr2.is_some() { CH_FHR2 } else { 0 }
                | if s.mhr.is_some() { CH_MHR } else { 0 }
                | if s.toco.is_some() { CH_TOCO } else { 0 }
                | if s.movement.is_some() { CH_MOVEMENT } else { 0 }
                | if s.mark { CH_MARKS } else { 0 }
                | if s.quality.is_unknown() { 0 } else { CH_QUALITY };
        }
        m
    }

    /// Encodes the block. The caller guarantees 1–1200 samples and in-range times; values are
    /// range-checked by construction of [`Bpm`] and [`Toco`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        debug_assert!((1..=MAX_SAMPLES).contains(&self.samples.len()));
        let mask = self.channel_mask();
        let mut flags = (self.clock as u8) << CLOCK_SHIFT;
        if self.backlog {
            flags |= FLAG_BACKLOG;
        }
        if self.device_time_ms.is_some() {
            flags |= FLAG_DEVICE_TIME;
        }
        out.extend_from_slice(&[WIRE_VERSION, TYPE_SAMPLE_BLOCK, flags, mask]);
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.rx_utc_ms.to_le_bytes());
        if let Some(t) = self.device_time_ms {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&(self.samples.len() as u16).to_le_bytes());
        let hr = |b: Option<Bpm>| b.map_or(HR_NONE, Bpm::quarters).to_le_bytes();
        if mask & CH_FHR1 != 0 {
            self.samples.iter().for_each(|s| out.extend_from_slice(&hr(s.fhr1)));
        }
        if mask & CH_FHR2 != 0 {
            self.samples.iter().for_each(|s| out.extend_from_slice(&hr(s.fhr2)));
        }
        if mask & CH_MHR != 0 {
            self.samples.iter().for_each(|s| out.extend_from_slice(&hr(s.mhr)));
        }
        if mask & CH_TOCO != 0 {
            out.extend(self.samples.iter().map(|s| s.toco.map_or(TOCO_NONE, Toco::value)));
        }
        if mask & CH_MOVEMENT != 0 {
            out.extend(self.samples.iter().map(|s| match s.movement {
                None => MOVEMENT_NONE,
                Some(Movement::None) => 0,
                Some(Movement::Detected) => 1,
            }));
        }
        if mask & CH_MARKS != 0 {
            for chunk in self.samples.chunks(8) {
                let byte =
                    chunk.iter().enumerate().fold(0u8, |b, (i, s)| b | (u8::from(s.mark) << i));
                out.push(byte);
            }
        }
        if mask & CH_QUALITY != 0 {
            out.extend(self.samples.iter().map(|s| s.quality.pack()));
        }
    }

    /// Decodes and validates one payload (an MQTT message is always complete).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.u8("version")?;
        if version != WIRE_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let ty = r.u8("message type")?;
        if ty != TYPE_SAMPLE_BLOCK {
            return Err(WireError::UnknownType(ty));
        }
        let flags = r.u8("flags")?;
        if flags & FLAG_RESERVED != 0 {
            return Err(WireError::ReservedBits { field: "flags", value: flags });
        }
        let clock = match (flags >> CLOCK_SHIFT) & 0b11 {
            0 => ClockQuality::Unknown,
            1 => ClockQuality::Synchronised,
            2 => ClockQuality::Unsynchronised,
            _ => return Err(WireError::ReservedClockQuality),
        };
        let mask = r.u8("channel mask")?;
        if mask & CH_RESERVED != 0 {
            return Err(WireError::ReservedBits { field: "channel mask", value: mask });
        }
        let first_seq = u64::from_le_bytes(r.array("first sequence number")?);
        let rx_utc_ms = i64::from_le_bytes(r.array("receive time")?);
        check_time("receive time", rx_utc_ms)?;
        let device_time_ms = if flags & FLAG_DEVICE_TIME != 0 {
            let t = i64::from_le_bytes(r.array("device time")?);
            // Device clocks reset to 1970 after a power cut: accept any non-negative time.
            if !(0..=MAX_TIME_MS).contains(&t) {
                return Err(WireError::TimeOutOfRange { field: "device time", value: t });
            }
            Some(t)
        } else {
            None
        };
        let count = usize::from(u16::from_le_bytes(r.array("sample count")?));
        if count == 0 || count > MAX_SAMPLES {
            return Err(WireError::BadCount(count));
        }
        if first_seq.checked_add(count as u64 - 1).is_none() {
            return Err(WireError::SequenceOverflow { first: first_seq, count });
        }
        let mut samples = vec![Sample::EMPTY; count];
        for (bit, name) in [(CH_FHR1, "FHR1"), (CH_FHR2, "FHR2"), (CH_MHR, "MHR")] {
            if mask & bit == 0 {
                continue;
            }
            let raw = r.take(name, count * 2)?;
            for (index, (pair, s)) in raw.chunks_exact(2).zip(samples.iter_mut()).enumerate() {
                let q = u16::from_le_bytes([pair[0], pair[1]]);
                let v = if q == HR_NONE {
                    None
                } else {
                    Some(Bpm::from_quarters(q).ok_or(WireError::HeartRateOutOfRange {
                        channel: name,
                        index,
                        raw: q,
                    })?)
                };
                match bit {
                    CH_FHR1 => s.fhr1 = v,
                    CH_FHR2 => s.fhr2 = v,
                    _ => s.mhr = v,
                }
            }
        }
        if mask & CH_TOCO != 0 {
            for (index, (&raw, s)) in
                r.take("TOCO", count)?.iter().zip(samples.iter_mut()).enumerate()
            {
                s.toco = if raw == TOCO_NONE {
                    None
                } else {
                    Some(Toco::new(raw).ok_or(WireError::TocoOutOfRange { index, raw })?)
                };
            }
        }
        if mask & CH_MOVEMENT != 0 {
            for (index, (&raw, s)) in
                r.take("movement", count)?.iter().zip(samples.iter_mut()).enumerate()
            {
                s.movement = match raw {
                    0 => Some(Movement::None),
                    1 => Some(Movement::Detected),
                    MOVEMENT_NONE => None,
                    _ => return Err(WireError::BadMovement { index, raw }),
                };
            }
        }
        if mask & CH_MARKS != 0 {
            let bytes = r.take("marks", count.div_ceil(8))?;
            for (i, s) in samples.iter_mut().enumerate() {
                s.mark = bytes[i / 8] & (1 << (i % 8)) != 0;
            }
            let used = count % 8;
            if used != 0 && bytes[bytes.len() - 1] >> used != 0 {
                return Err(WireError::MarkPadding);
            }
        }
        if mask & CH_QUALITY != 0 {
            for (&b, s) in r.take("quality", count)?.iter().zip(samples.iter_mut()) {
                s.quality = Qualities::unpack(b);
            }
        }
        if r.pos != buf.len() {
            return Err(WireError::TrailingBytes(buf.len() - r.pos));
        }
        Ok(Self {
            first_seq,
            rx_utc_ms,
            device_time_ms,
            clock,
            backlog: flags & FLAG_BACKLOG != 0,
            samples,
        })
    }
}

fn check_time(field: &'static str, value: i64) -> Result<(), WireError> {
    if (MIN_TIME_MS..=MAX_TIME_MS).contains(&value) {
        Ok(())
    } else {
        Err(WireError::TimeOutOfRange { field, value })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos + n;
        if end > self.buf.len() {
            return Err(WireError::Truncated { what, need: end, len: self.buf.len() });
        }
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(what, 1)?[0])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(what, N)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SignalQuality;
    use proptest::prelude::*;

    const T0: i64 = 1_790_000_000_000;

    fn sample(fhr: u16) -> Sample {
        Sample { fhr1: Bpm::from_whole(fhr), toco: Toco::new(12), ..Sample::EMPTY }
    }

    #[test]
    fn single_live_sample_is_small() {
        let b = SampleBlock {
            first_seq: 7,
            rx_utc_ms: T0,
            samples: vec![sample(140)],
            ..Default::default()
        };
        let bytes = b.encode();
        assert_eq!(bytes.len(), 22 + 2 + 1);
        assert_eq!(bytes.len(), b.encoded_len());
        assert_eq!(SampleBlock::decode(&bytes).unwrap(), b);
    }

    #[test]
    fn golden_bytes_match_protocol_document() {
        // The worked example in PROTOCOL.md, section "Example".
        let mut s0 = Sample {
            fhr1: Bpm::from_f32(140.25),
            mhr: Bpm::from_whole(82),
            toco: Toco::new(10),
            ..Sample::EMPTY
        };
        s0.quality.fhr1 = SignalQuality::Good;
        let s1 = Sample {
            fhr1: None,
            mhr: Bpm::from_whole(83),
            toco: Toco::new(11),
            mark: true,
            ..Sample::EMPTY
        };
        let b = SampleBlock {
            first_seq: 1000,
            rx_utc_ms: 1_790_000_000_000,
            device_time_ms: None,
            clock: ClockQuality::Synchronised,
            backlog: false,
            samples: vec![s0, s1],
        };
        let hex: String = b.encode().iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            "0101046d\
             e803000000000000\
             006c50c4a0010000\
             0200\
             31020000\
             48014c01\
             0a0b\
             02\
             0300"
        );
    }

    #[test]
    fn rejects_what_a_receiver_must_not_store() {
        let good = SampleBlock {
            first_seq: 0,
            rx_utc_ms: T0,
            samples: vec![sample(140); 4],
            ..Default::default()
        }
        .encode();
        assert!(SampleBlock::decode(&good).is_ok());

        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(SampleBlock::decode(&v), Err(WireError::UnsupportedVersion(2)));

        let mut v = good.clone();
        v[1] = 9;
        assert_eq!(SampleBlock::decode(&v), Err(WireError::UnknownType(9)));

        // FHR 900 bpm.
        let mut v = good.clone();
        v[22..24].copy_from_slice(&(900u16 * 4).to_le_bytes());
        assert!(matches!(
            SampleBlock::decode(&v),
            Err(WireError::HeartRateOutOfRange { index: 0, .. })
        ));

        let mut v = good.clone();
        v.push(0);
        assert_eq!(SampleBlock::decode(&v), Err(WireError::TrailingBytes(1)));

        assert!(matches!(
            SampleBlock::decode(&good[..good.len() - 1]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(SampleBlock::decode(&[]), Err(WireError::Truncated { .. })));

        // Receive time in 1970.
        let mut v = good.clone();
        v[12..20].copy_from_slice(&0i64.to_le_bytes());
        assert!(matches!(SampleBlock::decode(&v), Err(WireError::TimeOutOfRange { .. })));

        // Zero samples.
        let mut v = good[..22].to_vec();
        v[20..22].copy_from_slice(&0u16.to_le_bytes());
        v[3] = 0;
        assert_eq!(SampleBlock::decode(&v), Err(WireError::BadCount(0)));
    }

    fn arb_bpm() -> impl Strategy<Value = Option<Bpm>> {
        prop_oneof![
            Just(None),
            (Bpm::MIN_QUARTERS..=Bpm::MAX_QUARTERS).prop_map(Bpm::from_quarters)
        ]
    }

    fn arb_sample() -> impl Strategy<Value = Sample> {
        (
            arb_bpm(),
            arb_bpm(),
            arb_bpm(),
            proptest::option::of(0u8..=127),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
            any::<u8>(),
        )
            .prop_map(|(fhr1, fhr2, mhr, toco, mv, mark, q)| Sample {
                fhr1,
                fhr2,
                mhr,
                toco: toco.and_then(Toco::new),
                movement: mv.map(|d| if d { Movement::Detected } else { Movement::None }),
                mark,
                quality: Qualities::unpack(q),
            })
    }

    proptest! {
        #[test]
        fn round_trip(
            first_seq in 0u64..u64::MAX / 2,
            rx in MIN_TIME_MS..MAX_TIME_MS,
            dev in proptest::option::of(0i64..MAX_TIME_MS),
            clock in 0u8..3,
            backlog in any::<bool>(),
            samples in proptest::collection::vec(arb_sample(), 1..300),
        ) {
            let clock = [ClockQuality::Unknown, ClockQuality::Synchronised, ClockQuality::Unsynchronised][clock as usize];
            let b = SampleBlock { first_seq, rx_utc_ms: rx, device_time_ms: dev, clock, backlog, samples };
            let bytes = b.encode();
            prop_assert_eq!(bytes.len(), b.encoded_len());
            prop_assert_eq!(SampleBlock::decode(&bytes).unwrap(), b);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = SampleBlock::decode(&bytes);
        }

        #[test]
        fn decoded_blocks_re_encode_identically(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Anything accepted is canonical, except channels sent although all values are
            // "no value" (accepted, dropped on re-encode).
            if let Ok(b) = SampleBlock::decode(&bytes) {
                let again = SampleBlock::decode(&b.encode()).unwrap();
                prop_assert_eq!(again, b);
            }
        }
    }
}
