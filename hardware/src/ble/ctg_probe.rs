//! Our open GATT profile for wireless CTG probes, version 1. Vendors publish none, so this one is
//! specified byte by byte in `hardware/docs/ctg-probe-profile.md` for device makers; this module
//! is its reference implementation.
//!
//! * Samples (notify): 4 Hz samples packed several to a notification, each with FHR (0.25 bpm),
//!   TOCO, movement, event mark and per-channel signal quality, headed by the sequence number of
//!   the first sample so a receiver knows exactly how many samples a lost notification held.
//! * Status (read, notify): transducers off, battery low, charging, streaming, TOCO zeroing,
//!   fault, battery level.
//! * Control point (write, indicate): start/stop streaming, TOCO zero, samples per notification,
//!   identify.
//!
//! Decoders refuse anything the profile does not define (reserved bits, out-of-range values,
//! wrong lengths) with a [`BleError`] naming it.

use ctg_wire::{Bpm, Movement, Sample, SignalQuality, Toco, sample::Qualities};
use serde::{Deserialize, Serialize};

use super::{BleError, Reader};

/// Primary service `0cdd0001-9586-4354-90b9-d4f78160b47f`.
pub const SERVICE_UUID: u128 = 0x0cdd_0001_9586_4354_90b9_d4f7_8160_b47f;
/// Samples characteristic (notify) `0cdd0002-9586-4354-90b9-d4f78160b47f`.
pub const SAMPLES_UUID: u128 = 0x0cdd_0002_9586_4354_90b9_d4f7_8160_b47f;
/// Status characteristic (read, notify) `0cdd0003-9586-4354-90b9-d4f78160b47f`.
pub const STATUS_UUID: u128 = 0x0cdd_0003_9586_4354_90b9_d4f7_8160_b47f;
/// Control point characteristic (write, indicate) `0cdd0004-9586-4354-90b9-d4f78160b47f`.
pub const CONTROL_POINT_UUID: u128 = 0x0cdd_0004_9586_4354_90b9_d4f7_8160_b47f;

/// Format version carried in byte 0 of every samples notification.
pub const PROFILE_VERSION: u8 = 1;
/// Header bytes of a samples notification.
pub const PACKET_HEADER_LEN: usize = 4;
/// Bytes per sample.
pub const SAMPLE_LEN: usize = 4;
/// Most samples in one notification (15 s; 244 bytes, fits an ATT MTU of 247).
pub const MAX_SAMPLES_PER_PACKET: usize = 60;
/// Samples per notification with the default ATT MTU of 23 (20-byte payload): one second.
pub const DEFAULT_SAMPLES_PER_PACKET: usize = 4;

const FHR_MASK: u16 = 0x03FF;
const FHR_QUALITY_SHIFT: u16 = 10;
const TOCO_QUALITY_SHIFT: u16 = 12;
const MOVEMENT_SHIFT: u16 = 14;
const TOCO_NONE: u8 = 0xFF;
const BATTERY_UNKNOWN: u8 = 0xFF;

/// How many samples fit one notification for a negotiated ATT MTU (payload = MTU − 3).
pub fn max_samples_for_mtu(att_mtu: u16) -> usize {
    let payload = usize::from(att_mtu).saturating_sub(3);
    (payload.saturating_sub(PACKET_HEADER_LEN) / SAMPLE_LEN).min(MAX_SAMPLES_PER_PACKET)
}

/// One 4 Hz sample as the probe measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ProbeSample {
    /// Fetal heart rate; `None` when the probe has no value.
    pub fhr: Option<Bpm>,
    pub fhr_quality: SignalQuality,
    pub toco: Option<Toco>,
    pub toco_quality: SignalQuality,
    /// `None` when the probe has no movement detector (or it is off).
    pub movement: Option<Movement>,
    /// The event button (on the probe or its receiver) was pressed during this sample.
    pub mark: bool,
}

impl ProbeSample {
    /// The wire-contract sample: FHR on channel 1, TOCO, movement, mark and their qualities.
    pub fn to_wire(&self) -> Sample {
        Sample {
            fhr1: self.fhr,
            toco: self.toco,
            movement: self.movement,
            mark: self.mark,
            quality: Qualities {
                fhr1: self.fhr_quality,
                toco: self.toco_quality,
                ..Qualities::default()
            },
            ..Sample::EMPTY
        }
    }

    /// What a probe sends for a wire sample (FHR2, MHR and their qualities have no place here).
    pub fn from_wire(s: &Sample) -> Self {
        Self {
            fhr: s.fhr1,
            fhr_quality: s.quality.fhr1,
            toco: s.toco,
            toco_quality: s.quality.toco,
            movement: s.movement,
            mark: s.mark,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let movement: u16 = match self.movement {
            None => 0,
            Some(Movement::None) => 1,
            Some(Movement::Detected) => 2,
        };
        let word = self.fhr.map_or(0, Bpm::quarters)
            | (u16::from(self.fhr_quality.bits()) << FHR_QUALITY_SHIFT)
            | (u16::from(self.toco_quality.bits()) << TOCO_QUALITY_SHIFT)
            | (movement << MOVEMENT_SHIFT);
        out.extend_from_slice(&word.to_le_bytes());
        out.push(self.toco.map_or(TOCO_NONE, Toco::value));
        out.push(u8::from(self.mark));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, BleError> {
        let word = r.u16("sample")?;
        let toco = r.u8("sample TOCO")?;
        let flags = r.u8("sample flags")?;
        let quarters = word & FHR_MASK;
        let fhr = match quarters {
            0 => None,
            q => Some(
                Bpm::from_quarters(q)
                    .ok_or(BleError::OutOfRange { field: "FHR quarter-bpm", value: q.into() })?,
            ),
        };
        let movement = match word >> MOVEMENT_SHIFT {
            0 => None,
            1 => Some(Movement::None),
            2 => Some(Movement::Detected),
            v => return Err(BleError::OutOfRange { field: "movement", value: v.into() }),
        };
        let toco = match toco {
            TOCO_NONE => None,
            v => Some(Toco::new(v).ok_or(BleError::OutOfRange { field: "TOCO", value: v.into() })?),
        };
        if flags & !1 != 0 {
            return Err(BleError::ReservedBits { field: "sample flags", value: flags.into() });
        }
        Ok(Self {
            fhr,
            fhr_quality: SignalQuality::from_bits((word >> FHR_QUALITY_SHIFT) as u8),
            toco,
            toco_quality: SignalQuality::from_bits((word >> TOCO_QUALITY_SHIFT) as u8),
            movement,
            mark: flags & 1 != 0,
        })
    }
}

/// One samples notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SamplePacket {
    /// Sequence number of the first sample, counting every sample the probe produced since it
    /// powered up, modulo 65536. Sample `i` has number `first_seq + i` (wrapping).
    pub first_seq: u16,
    /// 1–[`MAX_SAMPLES_PER_PACKET`] consecutive samples, 250 ms apart.
    pub samples: Vec<ProbeSample>,
}

impl SamplePacket {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let version = r.u8("version")?;
        if version != PROFILE_VERSION {
            return Err(BleError::Invalid(format!(
                "CTG probe profile version {version} (this build reads version {PROFILE_VERSION})"
            )));
        }
        let first_seq = r.u16("first sequence number")?;
        let n = usize::from(r.u8("sample count")?);
        if n == 0 || n > MAX_SAMPLES_PER_PACKET {
            return Err(BleError::OutOfRange { field: "sample count", value: n as u32 });
        }
        let need = PACKET_HEADER_LEN + n * SAMPLE_LEN;
        if buf.len() < need {
            return Err(BleError::Truncated { what: "samples", need, len: buf.len() });
        }
        let samples = (0..n).map(|_| ProbeSample::read(&mut r)).collect::<Result<Vec<_>, _>>()?;
        r.finish("samples notification")?;
        Ok(Self { first_seq, samples })
    }

    /// The notification value; refuses an empty packet or one above
    /// [`MAX_SAMPLES_PER_PACKET`] samples.
    pub fn encode(&self) -> Result<Vec<u8>, BleError> {
        let n = self.samples.len();
        if n == 0 || n > MAX_SAMPLES_PER_PACKET {
            return Err(BleError::OutOfRange { field: "sample count", value: n as u32 });
        }
        let mut out = Vec::with_capacity(PACKET_HEADER_LEN + n * SAMPLE_LEN);
        out.push(PROFILE_VERSION);
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.push(n as u8);
        for s in &self.samples {
            s.write(&mut out);
        }
        Ok(out)
    }

    /// Sequence number of the sample after the last one.
    pub fn next_seq(&self) -> u16 {
        self.first_seq.wrapping_add(self.samples.len() as u16)
    }
}

/// How a notification follows the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Continuity {
    /// The first notification seen.
    First,
    Contiguous,
    /// This many samples were lost before this notification (fill them as "no value" to keep
    /// the time axis).
    Gap(u16),
    /// The sequence went backwards or jumped by half its range or more: the probe restarted or
    /// the packet is a duplicate. Start afresh from this notification.
    Restart,
}

/// Follows sample sequence numbers across notifications to find lost ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequenceTracker {
    next: Option<u16>,
}

impl SequenceTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, packet: &SamplePacket) -> Continuity {
        let c = match self.next {
            None => Continuity::First,
            Some(next) => match packet.first_seq.wrapping_sub(next) {
                0 => Continuity::Contiguous,
                d if d < 0x8000 => Continuity::Gap(d),
                _ => Continuity::Restart,
            },
        };
        self.next = Some(packet.next_seq());
        c
    }

    /// Forget the position (after a reconnection).
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// The probe's state (status characteristic, 3 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ProbeStatus {
    /// The FHR (ultrasound) transducer is not on the abdomen or not connected.
    pub fhr_transducer_off: bool,
    pub toco_transducer_off: bool,
    /// Battery below the probe's own warning threshold.
    pub battery_low: bool,
    pub charging: bool,
    /// Samples are being notified.
    pub streaming: bool,
    /// A TOCO zero is in progress; TOCO values are not meaningful until it clears.
    pub toco_zeroing: bool,
    /// Self-test failed: values cannot be trusted.
    pub fault: bool,
    /// 0–100 %, `None` when unknown.
    pub battery_percent: Option<u8>,
}

/// A status flag bit and the field it reports.
type StatusBit = (u16, fn(&ProbeStatus) -> bool);

const STATUS_BITS: [StatusBit; 7] = [
    (0x0001, |s| s.fhr_transducer_off),
    (0x0002, |s| s.toco_transducer_off),
    (0x0004, |s| s.battery_low),
    (0x0008, |s| s.charging),
    (0x0010, |s| s.streaming),
    (0x0020, |s| s.toco_zeroing),
    (0x0040, |s| s.fault),
];
const STATUS_RESERVED: u16 = !0x007F;

impl ProbeStatus {
    pub const LEN: usize = 3;

    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let flags = r.u16("status flags")?;
        let battery = r.u8("battery level")?;
        r.finish("status")?;
        if flags & STATUS_RESERVED != 0 {
            return Err(BleError::ReservedBits { field: "status flags", value: flags.into() });
        }
        let battery_percent = match battery {
            BATTERY_UNKNOWN => None,
            0..=100 => Some(battery),
            v => return Err(BleError::OutOfRange { field: "battery level", value: v.into() }),
        };
        let bit = |b: u16| flags & b != 0;
        Ok(Self {
            fhr_transducer_off: bit(0x0001),
            toco_transducer_off: bit(0x0002),
            battery_low: bit(0x0004),
            charging: bit(0x0008),
            streaming: bit(0x0010),
            toco_zeroing: bit(0x0020),
            fault: bit(0x0040),
            battery_percent,
        })
    }

    /// The characteristic value; a battery level above 100 is sent as unknown.
    pub fn encode(&self) -> Vec<u8> {
        let flags = STATUS_BITS.iter().filter(|(_, get)| get(self)).fold(0u16, |f, (b, _)| f | b);
        let battery = self.battery_percent.filter(|p| *p <= 100).unwrap_or(BATTERY_UNKNOWN);
        let [lo, hi] = flags.to_le_bytes();
        vec![lo, hi, battery]
    }
}

/// Control point op codes.
pub mod op {
    pub const START_STREAMING: u8 = 0x01;
    pub const STOP_STREAMING: u8 = 0x02;
    pub const TOCO_ZERO: u8 = 0x03;
    pub const SET_SAMPLES_PER_NOTIFICATION: u8 = 0x04;
    pub const IDENTIFY: u8 = 0x05;
    pub const RESPONSE: u8 = 0x80;
}

/// Highest TOCO zero reference level.
pub const MAX_TOCO_ZERO_LEVEL: u8 = 50;

/// What a receiver writes to the control point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlRequest {
    StartStreaming,
    StopStreaming,
    /// Take the current uterine pressure as `level` (0–50, usually 10 or 20).
    TocoZero {
        level: u8,
    },
    /// Samples per notification (1–60); the probe refuses a count that does not fit the MTU.
    SetSamplesPerNotification(u8),
    /// Blink or beep so the midwife can tell which probe is which.
    Identify,
}

impl ControlRequest {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let code = r.u8("op code")?;
        let req = match code {
            op::START_STREAMING => Self::StartStreaming,
            op::STOP_STREAMING => Self::StopStreaming,
            op::IDENTIFY => Self::Identify,
            op::TOCO_ZERO => {
                let level = r.u8("TOCO zero level")?;
                if level > MAX_TOCO_ZERO_LEVEL {
                    return Err(BleError::OutOfRange {
                        field: "TOCO zero level",
                        value: level.into(),
                    });
                }
                Self::TocoZero { level }
            }
            op::SET_SAMPLES_PER_NOTIFICATION => {
                let n = r.u8("samples per notification")?;
                if n == 0 || usize::from(n) > MAX_SAMPLES_PER_PACKET {
                    return Err(BleError::OutOfRange {
                        field: "samples per notification",
                        value: n.into(),
                    });
                }
                Self::SetSamplesPerNotification(n)
            }
            other => {
                return Err(BleError::Unknown { field: "control point op code", value: other });
            }
        };
        r.finish("control point request")?;
        Ok(req)
    }

    pub fn encode(&self) -> Vec<u8> {
        match *self {
            Self::StartStreaming => vec![op::START_STREAMING],
            Self::StopStreaming => vec![op::STOP_STREAMING],
            Self::Identify => vec![op::IDENTIFY],
            Self::TocoZero { level } => vec![op::TOCO_ZERO, level],
            Self::SetSamplesPerNotification(n) => vec![op::SET_SAMPLES_PER_NOTIFICATION, n],
        }
    }

    pub const fn op_code(&self) -> u8 {
        match self {
            Self::StartStreaming => op::START_STREAMING,
            Self::StopStreaming => op::STOP_STREAMING,
            Self::TocoZero { .. } => op::TOCO_ZERO,
            Self::SetSamplesPerNotification(_) => op::SET_SAMPLES_PER_NOTIFICATION,
            Self::Identify => op::IDENTIFY,
        }
    }
}

/// Result of a control point request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlResult {
    Success = 1,
    OpCodeNotSupported = 2,
    InvalidParameter = 3,
    /// Understood but not possible now (e.g. TOCO zero with the transducer off).
    OperationFailed = 4,
}

/// The probe's indication answering a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ControlResponse {
    /// Raw, so an unknown op code can be answered.
    pub request_op_code: u8,
    pub result: ControlResult,
}

impl ControlResponse {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let code = r.u8("op code")?;
        if code != op::RESPONSE {
            return Err(BleError::Unknown { field: "control point response op code", value: code });
        }
        let request_op_code = r.u8("request op code")?;
        let result = match r.u8("result")? {
            1 => ControlResult::Success,
            2 => ControlResult::OpCodeNotSupported,
            3 => ControlResult::InvalidParameter,
            4 => ControlResult::OperationFailed,
            other => return Err(BleError::Unknown { field: "control point result", value: other }),
        };
        r.finish("control point response")?;
        Ok(Self { request_op_code, result })
    }

    pub fn encode(&self) -> Vec<u8> {
        vec![op::RESPONSE, self.request_op_code, self.result as u8]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(fhr: f32, toco: u8) -> ProbeSample {
        ProbeSample {
            fhr: Bpm::from_f32(fhr),
            fhr_quality: SignalQuality::Good,
            toco: Toco::new(toco),
            toco_quality: SignalQuality::Good,
            movement: Some(Movement::None),
            mark: false,
        }
    }

    #[test]
    fn default_mtu_packet_is_twenty_bytes_and_exact() {
        let p = SamplePacket {
            first_seq: 0x1234,
            samples: vec![
                sample(140.0, 12),
                sample(140.25, 13),
                ProbeSample { movement: Some(Movement::Detected), mark: true, ..sample(141.5, 14) },
                ProbeSample {
                    fhr: None,
                    fhr_quality: SignalQuality::NoSignal,
                    toco: None,
                    movement: None,
                    ..sample(0.0, 0)
                },
            ],
        };
        let bytes = p.encode().unwrap();
        assert_eq!(bytes.len(), 20);
        assert_eq!(max_samples_for_mtu(23), 4);
        // 140 bpm = 560 quarters = 0x230; quality good (3) at bits 10-11 and 12-13; movement none
        // (1) at bits 14-15: 0x230 | 0x0C00 | 0x3000 | 0x4000 = 0x7E30.
        assert_eq!(&bytes[..8], &[0x01, 0x34, 0x12, 0x04, 0x30, 0x7E, 0x0C, 0x00]);
        // Movement detected (2 << 14) and the mark bit.
        assert_eq!(&bytes[12..16], &[0x36, 0xBE, 0x0E, 0x01]);
        // No FHR, no-signal quality (1 << 10), TOCO good, no TOCO value, no movement detector.
        assert_eq!(&bytes[16..20], &[0x00, 0x34, 0xFF, 0x00]);
        // The example in docs/ctg-probe-profile.md, section 2.2.
        let doc = [
            0x01, 0x34, 0x12, 0x04, 0x30, 0x7E, 0x0C, 0x00, 0x31, 0x7E, 0x0D, 0x00, 0x36, 0xBE,
            0x0E, 0x01, 0x00, 0x34, 0xFF, 0x00,
        ];
        assert_eq!(bytes, doc);
        assert_eq!(SamplePacket::decode(&bytes), Ok(p.clone()));
        assert_eq!(p.next_seq(), 0x1238);
    }

    #[test]
    fn maps_to_the_wire_sample() {
        let s =
            ProbeSample { movement: Some(Movement::Detected), mark: true, ..sample(152.75, 40) };
        let w = s.to_wire();
        assert_eq!(w.fhr1.map(Bpm::as_f32), Some(152.75));
        assert_eq!((w.fhr2, w.mhr), (None, None));
        assert_eq!(w.toco.map(Toco::value), Some(40));
        assert_eq!((w.movement, w.mark), (Some(Movement::Detected), true));
        assert_eq!(
            (w.quality.fhr1, w.quality.toco, w.quality.mhr),
            (SignalQuality::Good, SignalQuality::Good, SignalQuality::Unknown)
        );
        assert_eq!(ProbeSample::from_wire(&w), s);
    }

    #[test]
    fn mtu_sizes() {
        assert_eq!(max_samples_for_mtu(0), 0);
        assert_eq!(max_samples_for_mtu(27), 5);
        assert_eq!(max_samples_for_mtu(247), 60);
        assert_eq!(max_samples_for_mtu(517), 60);
        let p = SamplePacket { first_seq: 0, samples: vec![ProbeSample::default(); 60] };
        assert_eq!(p.encode().unwrap().len(), 244);
    }

    #[test]
    fn malformed_packets_are_explained() {
        let good =
            SamplePacket { first_seq: 7, samples: vec![sample(140.0, 10); 2] }.encode().unwrap();
        assert!(matches!(SamplePacket::decode(&[]), Err(BleError::Truncated { .. })));
        assert!(matches!(
            SamplePacket::decode(&[2, 0, 0, 1, 0, 0, 0, 0]),
            Err(BleError::Invalid(_))
        ));
        assert_eq!(
            SamplePacket::decode(&[1, 0, 0, 0]),
            Err(BleError::OutOfRange { field: "sample count", value: 0 })
        );
        assert_eq!(
            SamplePacket::decode(&[1, 0, 0, 61]),
            Err(BleError::OutOfRange { field: "sample count", value: 61 })
        );
        assert_eq!(
            SamplePacket::decode(&good[..good.len() - 1]),
            Err(BleError::Truncated { what: "samples", need: 12, len: 11 })
        );
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            SamplePacket::decode(&extra),
            Err(BleError::TrailingBytes { what: "samples notification", extra: 1 })
        );
        let mut bad = good.clone();
        bad[4] = 100; // 25 bpm
        bad[5] &= !0x03;
        assert_eq!(
            SamplePacket::decode(&bad),
            Err(BleError::OutOfRange { field: "FHR quarter-bpm", value: 100 })
        );
        let mut bad = good.clone();
        bad[5] |= 0xC0;
        assert_eq!(
            SamplePacket::decode(&bad),
            Err(BleError::OutOfRange { field: "movement", value: 3 })
        );
        let mut bad = good.clone();
        bad[6] = 128;
        assert_eq!(
            SamplePacket::decode(&bad),
            Err(BleError::OutOfRange { field: "TOCO", value: 128 })
        );
        let mut bad = good;
        bad[7] = 0x02;
        assert_eq!(
            SamplePacket::decode(&bad),
            Err(BleError::ReservedBits { field: "sample flags", value: 2 })
        );
        assert!(SamplePacket { first_seq: 0, samples: vec![] }.encode().is_err());
        assert!(
            SamplePacket { first_seq: 0, samples: vec![ProbeSample::default(); 61] }
                .encode()
                .is_err()
        );
    }

    #[test]
    fn tracker_finds_lost_notifications_and_restarts() {
        let packet =
            |first_seq, n| SamplePacket { first_seq, samples: vec![ProbeSample::default(); n] };
        let mut t = SequenceTracker::new();
        assert_eq!(t.observe(&packet(65_532, 4)), Continuity::First);
        assert_eq!(t.observe(&packet(0, 4)), Continuity::Contiguous, "wraps at 65536");
        assert_eq!(t.observe(&packet(12, 4)), Continuity::Gap(8), "two notifications lost");
        assert_eq!(t.observe(&packet(3, 4)), Continuity::Restart, "went backwards");
        assert_eq!(t.observe(&packet(7, 4)), Continuity::Contiguous);
        t.reset();
        assert_eq!(t.observe(&packet(500, 4)), Continuity::First);
    }

    #[test]
    fn status_layout() {
        let s = ProbeStatus {
            toco_transducer_off: true,
            battery_low: true,
            streaming: true,
            battery_percent: Some(12),
            ..Default::default()
        };
        assert_eq!(s.encode(), [0x16, 0x00, 12]);
        assert_eq!(ProbeStatus::decode(&[0x16, 0x00, 12]), Ok(s));
        assert_eq!(ProbeStatus::decode(&[0x00, 0x00, 0xFF]).unwrap().battery_percent, None);
        assert_eq!(
            ProbeStatus::decode(&[0x80, 0x00, 50]),
            Err(BleError::ReservedBits { field: "status flags", value: 0x80 })
        );
        assert_eq!(
            ProbeStatus::decode(&[0x00, 0x00, 101]),
            Err(BleError::OutOfRange { field: "battery level", value: 101 })
        );
        assert!(matches!(ProbeStatus::decode(&[0x00, 0x00]), Err(BleError::Truncated { .. })));
        assert_eq!(
            ProbeStatus { battery_percent: Some(200), ..Default::default() }.encode(),
            [0, 0, 0xFF]
        );
    }

    #[test]
    fn control_point_layout() {
        for (req, bytes) in [
            (ControlRequest::StartStreaming, vec![0x01]),
            (ControlRequest::StopStreaming, vec![0x02]),
            (ControlRequest::TocoZero { level: 10 }, vec![0x03, 10]),
            (ControlRequest::SetSamplesPerNotification(8), vec![0x04, 8]),
            (ControlRequest::Identify, vec![0x05]),
        ] {
            assert_eq!(req.encode(), bytes);
            assert_eq!(ControlRequest::decode(&bytes), Ok(req));
            assert_eq!(req.op_code(), bytes[0]);
        }
        assert_eq!(
            ControlRequest::decode(&[0x03, 51]),
            Err(BleError::OutOfRange { field: "TOCO zero level", value: 51 })
        );
        assert!(ControlRequest::decode(&[0x04, 0]).is_err());
        assert!(ControlRequest::decode(&[0x04, 61]).is_err());
        assert!(matches!(ControlRequest::decode(&[0x03]), Err(BleError::Truncated { .. })));
        assert!(matches!(
            ControlRequest::decode(&[0x01, 0x00]),
            Err(BleError::TrailingBytes { .. })
        ));
        assert_eq!(
            ControlRequest::decode(&[0x09]),
            Err(BleError::Unknown { field: "control point op code", value: 9 })
        );
        let resp =
            ControlResponse { request_op_code: 0x03, result: ControlResult::OperationFailed };
        assert_eq!(resp.encode(), [0x80, 0x03, 0x04]);
        assert_eq!(ControlResponse::decode(&[0x80, 0x03, 0x04]), Ok(resp));
        assert!(ControlResponse::decode(&[0x80, 0x03, 0x05]).is_err());
        assert!(ControlResponse::decode(&[0x81, 0x03, 0x01]).is_err());
    }

    fn arb_quality() -> impl Strategy<Value = SignalQuality> {
        (0u8..4).prop_map(SignalQuality::from_bits)
    }

    fn arb_sample() -> impl Strategy<Value = ProbeSample> {
        (
            proptest::option::of(
                (Bpm::MIN_QUARTERS..=Bpm::MAX_QUARTERS)
                    .prop_map(|q| Bpm::from_quarters(q).unwrap()),
            ),
            arb_quality(),
            proptest::option::of((0u8..=Toco::MAX).prop_map(|v| Toco::new(v).unwrap())),
            arb_quality(),
            prop_oneof![Just(None), Just(Some(Movement::None)), Just(Some(Movement::Detected))],
            any::<bool>(),
        )
            .prop_map(|(fhr, fhr_quality, toco, toco_quality, movement, mark)| {
                ProbeSample { fhr, fhr_quality, toco, toco_quality, movement, mark }
            })
    }

    proptest! {
        #[test]
        fn packets_round_trip(first_seq in any::<u16>(), samples in proptest::collection::vec(arb_sample(), 1..=60)) {
            let p = SamplePacket { first_seq, samples };
            let bytes = p.encode().unwrap();
            prop_assert_eq!(bytes.len(), PACKET_HEADER_LEN + SAMPLE_LEN * p.samples.len());
            prop_assert_eq!(SamplePacket::decode(&bytes), Ok(p.clone()));
            for s in &p.samples {
                prop_assert_eq!(ProbeSample::from_wire(&s.to_wire()), *s);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
            if let Ok(p) = SamplePacket::decode(&bytes) {
                prop_assert_eq!(p.encode().unwrap(), bytes.clone());
            }
            if let Ok(s) = ProbeStatus::decode(&bytes) {
                prop_assert_eq!(s.encode(), bytes.clone());
            }
            if let Ok(c) = ControlRequest::decode(&bytes) {
                prop_assert_eq!(c.encode(), bytes.clone());
            }
            if let Ok(c) = ControlResponse::decode(&bytes) {
                prop_assert_eq!(c.encode(), bytes);
            }
        }
    }
}
