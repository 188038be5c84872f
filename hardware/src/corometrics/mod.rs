//! The GE Corometrics "Model 115-compatible" serial protocol (120 and 170 series monitors), both
//! directions, byte-exact.
//!
//! Every value travels as its own message:
//!
//! ```text
//! '9' (0x39, monitor type)  type byte  '0' (0x30, monitor id)  ASCII data  ETX (0x03)
//! ```
//!
//! There is no STX, length or checksum and the monitor never retransmits, so the [`Decoder`]
//! resynchronises on ETX and on the next `'9' type '0'` header, and counts what it threw away.
//!
//! | type | byte | data | rate |
//! |---|---|---|---|
//! | heart rate 1 | 0x60 `` ` `` | 2–3 digits, bpm; `"00"` = no value (pen lift) | 4/s |
//! | uterine activity | 0x61 `a` | 2–3 digits; `"128"` = no value | 8/s |
//! | modes | 0x62 `b` | 2 chars: HR mode, UA mode | start, change, request, 1/min |
//! | annotation | 0x63 `c` | ASCII text | as entered |
//! | event mark | 0x64 `d` | empty | per press |
//! | heart rate 2 | 0x65 `e` | as heart rate 1 | 4/s |
//! | fetal movement | 0x66 `f` | `0` none, `1` movement, `2` not fitted, `4` disabled | 4/s |
//! | paper out | 0x67 `g` | `0` ok, `1` out | 1/s while active |
//!
//! In "Transmit/Receive" mode the host asks for the types it wants with
//! `'9'` + type bytes + ETX ([`encode_request`], [`parse_request`], [`RequestDecoder`]).
//!
//! * [`Decoder`]: bytes → [`Message`]s (gateway side).
//! * [`encode`], [`MonitorEncoder`]: [`Message`]s / 250 ms [`Tick`]s → bytes (simulator side).
//! * [`Framer`]: [`Message`]s → 4 Hz [`ctg_wire::Sample`]s and device events.
//!
//! Everything here is pure: no I/O, no clock; time is an argument.

mod decoder;
mod framer;
mod monitor;
mod request;
#[cfg(test)]
mod tests;

pub use decoder::{DecodeStats, Decoder, MAX_PENDING, RejectReason, Rejection};
pub use framer::{
    Framer, FramerOutput, FramerStats, HR1_SILENT_MS, POLL_HR1_OVERDUE_MS, TICK_SPLIT_MS,
};
pub use monitor::{MonitorEncoder, MonitorMode, Tick};
pub use request::{MAX_REQUEST_LEN, RequestDecoder, encode_request, parse_request};

use serde::{Deserialize, Serialize};

/// First byte of every message: the monitor type.
pub const MONITOR_TYPE: u8 = b'9';
/// Third byte of every message: the monitor id (fixed; which bed a port belongs to is gateway
/// configuration, not protocol).
pub const MONITOR_ID: u8 = b'0';
/// End of every message.
pub const ETX: u8 = 0x03;
/// Longest annotation text accepted or sent, in bytes. The manuals give no limit; bounding it
/// bounds the decoder's memory, and 64 characters is more than a bedside keypad note needs.
pub const MAX_ANNOTATION_LEN: usize = 64;
/// Longest message on the wire: header, the longest data field, ETX.
pub const MAX_MESSAGE_LEN: usize = 3 + MAX_ANNOTATION_LEN + 1;
/// Heart-rate value that means "no valid value" (pen lift).
pub const HR_NO_VALUE: u16 = 0;
/// Uterine-activity value that means "no valid value".
pub const UA_NO_VALUE: u16 = 128;

/// What a monitor reports in one message (its "response type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    HeartRate1,
    UterineActivity,
    Modes,
    Annotation,
    EventMark,
    HeartRate2,
    FetalMovement,
    PaperOut,
}

impl ResponseType {
    /// Every type, in wire-byte order.
    pub const ALL: [ResponseType; 8] = [
        Self::HeartRate1,
        Self::UterineActivity,
        Self::Modes,
        Self::Annotation,
        Self::EventMark,
        Self::HeartRate2,
        Self::FetalMovement,
        Self::PaperOut,
    ];

    /// The type byte on the wire (0x60–0x67).
    pub const fn byte(self) -> u8 {
        match self {
            Self::HeartRate1 => 0x60,
            Self::UterineActivity => 0x61,
            Self::Modes => 0x62,
            Self::Annotation => 0x63,
            Self::EventMark => 0x64,
            Self::HeartRate2 => 0x65,
            Self::FetalMovement => 0x66,
            Self::PaperOut => 0x67,
        }
    }

    /// The type a wire byte stands for; `None` for any other byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x60 => Some(Self::HeartRate1),
            0x61 => Some(Self::UterineActivity),
            0x62 => Some(Self::Modes),
            0x63 => Some(Self::Annotation),
            0x64 => Some(Self::EventMark),
            0x65 => Some(Self::HeartRate2),
            0x66 => Some(Self::FetalMovement),
            0x67 => Some(Self::PaperOut),
            _ => None,
        }
    }

    /// Position 0–7 (the low bits of the type byte), for per-type tables.
    pub const fn index(self) -> usize {
        (self.byte() - 0x60) as usize
    }

    /// Most data bytes a message of this type may carry; longer frames are rejected, which
    /// bounds the decoder's memory.
    pub const fn max_data_len(self) -> usize {
        match self {
            Self::HeartRate1 | Self::HeartRate2 | Self::UterineActivity => 3,
            Self::Modes => 2,
            Self::Annotation => MAX_ANNOTATION_LEN,
            Self::EventMark => 0,
            Self::FetalMovement | Self::PaperOut => 1,
        }
    }
}

/// What the fetal movement detector reports in one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementReport {
    /// `'0'`: detector fitted, no movement.
    #[default]
    None,
    /// `'1'`: movement detected.
    Movement,
    /// `'2'`: detector not fitted.
    NotFitted,
    /// `'4'`: detector disabled.
    Disabled,
}

impl MovementReport {
    pub const fn byte(self) -> u8 {
        match self {
            Self::None => b'0',
            Self::Movement => b'1',
            Self::NotFitted => b'2',
            Self::Disabled => b'4',
        }
    }

    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'0' => Some(Self::None),
            b'1' => Some(Self::Movement),
            b'2' => Some(Self::NotFitted),
            b'4' => Some(Self::Disabled),
            _ => None,
        }
    }

    /// The wire-contract value: `None` when the detector cannot report (not fitted, disabled).
    pub const fn to_wire(self) -> Option<ctg_wire::Movement> {
        match self {
            Self::None => Some(ctg_wire::Movement::None),
            Self::Movement => Some(ctg_wire::Movement::Detected),
            Self::NotFitted | Self::Disabled => None,
        }
    }
}

/// One decoded message. Values are as the monitor sent them (range checks against the wire
/// contract happen in the [`Framer`]); "no valid value" sentinels are `None`, never a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Heart rate 1 in bpm; `"00"` (pen lift) is `None`, never `Some(0)`.
    HeartRate1(Option<u16>),
    /// Heart rate 2 in bpm (second transducer), same encoding as heart rate 1.
    HeartRate2(Option<u16>),
    /// Uterine activity; `"128"` is `None`.
    UterineActivity(Option<u8>),
    /// Transducer mode characters, raw: heart-rate mode and uterine-activity mode.
    Modes {
        hr: u8,
        ua: u8,
    },
    /// Free text entered on the monitor (printable ASCII).
    Annotation(String),
    /// The event-mark button was pressed.
    EventMark,
    FetalMovement(MovementReport),
    /// `true` while the recorder is out of paper.
    PaperOut(bool),
}

impl Message {
    pub const fn response_type(&self) -> ResponseType {
        match self {
            Self::HeartRate1(_) => ResponseType::HeartRate1,
            Self::HeartRate2(_) => ResponseType::HeartRate2,
            Self::UterineActivity(_) => ResponseType::UterineActivity,
            Self::Modes { .. } => ResponseType::Modes,
            Self::Annotation(_) => ResponseType::Annotation,
            Self::EventMark => ResponseType::EventMark,
            Self::FetalMovement(_) => ResponseType::FetalMovement,
            Self::PaperOut(_) => ResponseType::PaperOut,
        }
    }

    /// Checks that the message can be sent exactly as it is, so that decoding its encoding gives
    /// it back.
    pub fn validate(&self) -> Result<(), CorometricsError> {
        match self {
            Self::HeartRate1(Some(v)) | Self::HeartRate2(Some(v))
                if *v == HR_NO_VALUE || *v > 999 =>
            {
                Err(CorometricsError::ValueNotEncodable {
                    response_type: self.response_type(),
                    value: *v,
                })
            }
            Self::UterineActivity(Some(v)) if u16::from(*v) == UA_NO_VALUE => {
                Err(CorometricsError::ValueNotEncodable {
                    response_type: self.response_type(),
                    value: u16::from(*v),
                })
            }
            Self::Modes { hr, ua } => {
                for b in [*hr, *ua] {
                    if !is_printable(b) {
                        return Err(CorometricsError::ModeNotPrintable(b));
                    }
                }
                Ok(())
            }
            Self::Annotation(text) => check_annotation(text.as_bytes()),
            _ => Ok(()),
        }
    }
}

/// Why something cannot be encoded, or a request cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorometricsError {
    #[error(
        "{response_type:?} value {value} cannot be sent (the wire carries 1-999, and 0 / 128 are \"no value\")"
    )]
    ValueNotEncodable { response_type: ResponseType, value: u16 },
    #[error("mode character 0x{0:02x} is not printable ASCII")]
    ModeNotPrintable(u8),
    #[error("annotation is {0} bytes; at most {MAX_ANNOTATION_LEN} allowed")]
    AnnotationTooLong(usize),
    #[error("annotation byte {index} (0x{byte:02x}) is not printable ASCII")]
    AnnotationNotAscii { index: usize, byte: u8 },
    #[error(
        "annotation has '9', a type byte and '0' at byte {0}; receivers take that for a new message"
    )]
    AnnotationLooksLikeHeader(usize),
    #[error("request names no response type")]
    EmptyRequest,
    #[error("request is {0} bytes; at most {MAX_REQUEST_LEN} allowed")]
    RequestTooLong(usize),
    #[error("request byte {index} (0x{byte:02x}) is not a response type (0x60-0x67)")]
    UnknownResponseType { index: usize, byte: u8 },
}

const fn is_printable(b: u8) -> bool {
    matches!(b, 0x20..=0x7e)
}

/// True when `bytes` starts with a complete message header `'9' type '0'`.
const fn is_header(bytes: &[u8]) -> bool {
    bytes.len() >= 3
        && bytes[0] == MONITOR_TYPE
        && ResponseType::from_byte(bytes[1]).is_some()
        && bytes[2] == MONITOR_ID
}

fn check_annotation(text: &[u8]) -> Result<(), CorometricsError> {
    if text.len() > MAX_ANNOTATION_LEN {
        return Err(CorometricsError::AnnotationTooLong(text.len()));
    }
    if let Some((index, &byte)) = text.iter().enumerate().find(|(_, b)| !is_printable(**b)) {
        return Err(CorometricsError::AnnotationNotAscii { index, byte });
    }
    if let Some(index) = (0..text.len()).find(|&i| is_header(&text[i..])) {
        return Err(CorometricsError::AnnotationLooksLikeHeader(index));
    }
    Ok(())
}

/// Appends `v` as at least two decimal digits (`5` → `"05"`, `140` → `"140"`).
fn push_digits(out: &mut Vec<u8>, v: u16) {
    debug_assert!(v <= 999);
    if v >= 100 {
        out.push(b'0' + (v / 100) as u8);
    }
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends one message to `out`.
///
/// A [`Message`] that fails [`Message::validate`] is still sent the way a monitor could send it:
/// a heart rate of 0 or above 999 as the `"00"` sentinel, a uterine activity of 128 as the `"128"`
/// sentinel, a non-printable mode character as `'?'`, and an annotation cut to
/// [`MAX_ANNOTATION_LEN`] bytes with non-printable bytes and header-like `'9'`s replaced by `'?'`.
/// Use [`try_encode`] to refuse such messages instead.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    out.extend_from_slice(&[MONITOR_TYPE, msg.response_type().byte(), MONITOR_ID]);
    match msg {
        Message::HeartRate1(v) | Message::HeartRate2(v) => {
            push_digits(out, v.filter(|v| (1..=999).contains(v)).unwrap_or(HR_NO_VALUE));
        }
        Message::UterineActivity(v) => push_digits(out, v.map_or(UA_NO_VALUE, u16::from)),
        Message::Modes { hr, ua } => {
            for b in [*hr, *ua] {
                out.push(if is_printable(b) { b } else { b'?' });
            }
        }
        Message::Annotation(text) => {
            let start = out.len();
            let bytes = &text.as_bytes()[..text.len().min(MAX_ANNOTATION_LEN)];
            out.extend(bytes.iter().map(|&b| if is_printable(b) { b } else { b'?' }));
            for i in start..out.len() {
                if is_header(&out[i..]) {
                    out[i] = b'?';
                }
            }
        }
        Message::EventMark => {}
        Message::FetalMovement(m) => out.push(m.byte()),
        Message::PaperOut(out_of_paper) => out.push(if *out_of_paper { b'1' } else { b'0' }),
    }
    out.push(ETX);
}

/// Appends one message to `out` after checking it with [`Message::validate`]; on error `out` is
/// left as it was.
pub fn try_encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), CorometricsError> {
    msg.validate()?;
    encode(msg, out);
    Ok(())
}

/// The encoding of one message as a new vector.
pub fn encode_to_vec(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    encode(msg, &mut out);
    out
}
