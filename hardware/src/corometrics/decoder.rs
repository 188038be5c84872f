//! Byte stream → [`Message`]s, resynchronising after anything the serial line throws at it.

use serde::Serialize;

use super::{
    ETX, MAX_ANNOTATION_LEN, MONITOR_TYPE, Message, MovementReport, ResponseType, is_printable,
};

/// Most bytes the decoder keeps between calls once [`Decoder::next_message`] has returned `None`:
/// an unfinished message of the longest type plus the two bytes needed to tell whether a `'9'`
/// starts a new header.
pub const MAX_PENDING: usize = 3 + MAX_ANNOTATION_LEN + 2;

/// Counters of everything the decoder has seen. Every byte pushed is, once decided, either part
/// of a decoded message (`message_bytes`) or discarded (`bytes_discarded`):
/// `pushed = message_bytes + bytes_discarded + Decoder::buffered_len()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DecodeStats {
    /// Messages decoded.
    pub messages: u64,
    /// Bytes thrown away: noise between messages and the bytes of rejected frames.
    pub bytes_discarded: u64,
    /// Frames that began with a valid header but were not accepted (bad data, too long, cut off
    /// by the next header before their ETX).
    pub frames_rejected: u64,
    /// Bytes of the decoded messages, header and ETX included.
    pub message_bytes: u64,
}

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A new header arrived before this frame's ETX (truncated frame, monitor reboot).
    MissingEtx,
    /// More data bytes than the type allows.
    TooLong,
    /// The data field does not match the type's format.
    BadData,
}

/// The most recent rejected frame, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub response_type: ResponseType,
    pub reason: RejectReason,
    /// Bytes discarded with the frame.
    pub len: usize,
}

/// Incremental decoder. Feed bytes with [`push`](Self::push) as they arrive, then call
/// [`next_message`](Self::next_message) until it returns `None` ("need more bytes").
///
/// Framing rules:
/// * Outside a frame every byte is discarded until a header `'9' type '0'` (type 0x60–0x67).
/// * Inside a frame data bytes are collected until ETX; the data is then checked against the
///   type's format and the frame accepted or rejected.
/// * A header inside a frame starts a new frame and rejects the unfinished one: without its ETX
///   a value may be cut short (`"14"` of `"140"`), and a wrong number is worse than none.
/// * A frame longer than its type allows is rejected and the decoder hunts for the next header.
///
/// Memory stays bounded whatever the input: after `next_message` returns `None` at most
/// [`MAX_PENDING`] bytes are kept. Call it after every `push`; bytes pushed and not yet decoded
/// are buffered.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// First byte of `buf` not yet decided.
    pos: usize,
    stats: DecodeStats,
    last_rejection: Option<Rejection>,
}

/// What the bytes at a position say about a header.
enum Header {
    Yes(ResponseType),
    No,
    NeedMore,
}

fn header_at(bytes: &[u8]) -> Header {
    debug_assert_eq!(bytes.first(), Some(&MONITOR_TYPE));
    let Some(&ty) = bytes.get(1) else { return Header::NeedMore };
    let Some(ty) = ResponseType::from_byte(ty) else { return Header::No };
    match bytes.get(2) {
        None => Header::NeedMore,
        Some(&super::MONITOR_ID) => Header::Yes(ty),
        Some(_) => Header::No,
    }
}

/// How a frame that started at the decoder's position ends.
enum FrameEnd {
    Accepted(Message, usize),
    Rejected(RejectReason, usize),
    NeedMore,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Decided bytes are dropped first, so the buffer never holds more
    /// than [`MAX_PENDING`] bytes plus the new ones.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next decoded message, or `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Option<Message> {
        loop {
            let rest = &self.buf[self.pos..];
            // Hunt: everything before the next '9' is noise.
            let Some(skip) = rest.iter().position(|&b| b == MONITOR_TYPE) else {
                let n = rest.len();
                self.discard(n);
                return None;
            };
            self.discard(skip);
            let ty = match header_at(&self.buf[self.pos..]) {
                Header::NeedMore => return None,
                Header::No => {
                    self.discard(1);
                    continue;
                }
                Header::Yes(ty) => ty,
            };
            match scan_frame(ty, &self.buf[self.pos..]) {
                FrameEnd::NeedMore => return None,
                FrameEnd::Accepted(msg, len) => {
                    self.pos += len;
                    self.stats.messages += 1;
                    self.stats.message_bytes += len as u64;
                    return Some(msg);
                }
                FrameEnd::Rejected(reason, len) => {
                    self.discard(len);
                    self.stats.frames_rejected += 1;
                    self.last_rejection = Some(Rejection { response_type: ty, reason, len });
                }
            }
        }
    }

    /// Gives up on a partly received message (link closed, port re-opened): its bytes are
    /// counted as discarded, and as a rejected frame if its header was complete. Returns how
    /// many bytes were dropped.
    pub fn discard_pending(&mut self) -> usize {
        let rest = &self.buf[self.pos..];
        let n = rest.len();
        // After next_message returned None, pending bytes always start at a '9' (or are none).
        if rest.first() == Some(&MONITOR_TYPE)
            && let Header::Yes(ty) = header_at(rest)
        {
            self.stats.frames_rejected += 1;
            self.last_rejection =
                Some(Rejection { response_type: ty, reason: RejectReason::MissingEtx, len: n });
        }
        self.discard(n);
        n
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// The last frame rejected, if any.
    pub fn last_rejection(&self) -> Option<Rejection> {
        self.last_rejection
    }

    /// Bytes pushed and not yet decided (an unfinished message).
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Back to the state of [`Decoder::new`], counters included; keeps the allocation.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.stats = DecodeStats::default();
        self.last_rejection = None;
    }

    fn discard(&mut self, n: usize) {
        self.pos += n;
        self.stats.bytes_discarded += n as u64;
    }
}

/// Yields the messages decodable from the bytes pushed so far; `None` means "push more bytes",
/// after which it yields again (it is not a fused iterator).
impl Iterator for Decoder {
    type Item = Message;
    fn next(&mut self) -> Option<Message> {
        self.next_message()
    }
}

/// Scans the frame whose header starts `bytes`.
fn scan_frame(ty: ResponseType, bytes: &[u8]) -> FrameEnd {
    let max = ty.max_data_len();
    let mut i = 3;
    loop {
        let Some(&b) = bytes.get(i) else { return FrameEnd::NeedMore };
        if b == ETX {
            let len = i + 1;
            return match parse_data(ty, &bytes[3..i]) {
                Some(msg) => FrameEnd::Accepted(msg, len),
                None => FrameEnd::Rejected(RejectReason::BadData, len),
            };
        }
        if b == MONITOR_TYPE {
            match header_at(&bytes[i..]) {
                Header::NeedMore => return FrameEnd::NeedMore,
                Header::Yes(_) => return FrameEnd::Rejected(RejectReason::MissingEtx, i),
                Header::No => {}
            }
        }
        if i - 3 >= max {
            // `b` is neither ETX nor a header: hunting resumes on it and discards it.
            return FrameEnd::Rejected(RejectReason::TooLong, i);
        }
        i += 1;
    }
}

/// 2–3 ASCII digits.
fn digits(data: &[u8]) -> Option<u16> {
    if !(2..=3).contains(&data.len()) {
        return None;
    }
    data.iter().try_fold(0u16, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u16::from(b - b'0')))
}

fn parse_data(ty: ResponseType, data: &[u8]) -> Option<Message> {
    Some(match ty {
        ResponseType::HeartRate1 => Message::HeartRate1(heart_rate(data)?),
        ResponseType::HeartRate2 => Message::HeartRate2(heart_rate(data)?),
        ResponseType::UterineActivity => {
            let v = digits(data)?;
            if v == super::UA_NO_VALUE {
                Message::UterineActivity(None)
            } else {
                // Above 255 the value cannot be a uterine activity at all: reject the frame.
                Message::UterineActivity(Some(u8::try_from(v).ok()?))
            }
        }
        ResponseType::Modes => match *data {
            [hr, ua] if is_printable(hr) && is_printable(ua) => Message::Modes { hr, ua },
            _ => return None,
        },
        ResponseType::Annotation => {
            if !data.iter().all(|&b| is_printable(b)) {
                return None;
            }
            // Printable ASCII is valid UTF-8.
            Message::Annotation(String::from_utf8(data.to_vec()).ok()?)
        }
        ResponseType::EventMark => {
            if !data.is_empty() {
                return None;
            }
            Message::EventMark
        }
        ResponseType::FetalMovement => match *data {
            [b] => Message::FetalMovement(MovementReport::from_byte(b)?),
            _ => return None,
        },
        ResponseType::PaperOut => match data {
            b"0" => Message::PaperOut(false),
            b"1" => Message::PaperOut(true),
            _ => return None,
        },
    })
}

/// Heart-rate data; 0 in any width ("00", "000") is the pen-lift sentinel.
fn heart_rate(data: &[u8]) -> Option<Option<u16>> {
    let v = digits(data)?;
    Some((v != super::HR_NO_VALUE).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (Vec<Message>, DecodeStats, usize) {
        let mut d = Decoder::new();
        d.push(bytes);
        let msgs: Vec<_> = d.by_ref().collect();
        (msgs, d.stats(), d.buffered_len())
    }

    #[test]
    fn decodes_each_response_type_from_literal_bytes() {
        let cases: &[(&[u8], Message)] = &[
            (b"9`0140\x03", Message::HeartRate1(Some(140))),
            (b"9`095\x03", Message::HeartRate1(Some(95))),
            (b"9`000\x03", Message::HeartRate1(None)),
            (b"9e0152\x03", Message::HeartRate2(Some(152))),
            (b"9e000\x03", Message::HeartRate2(None)),
            (b"9a017\x03", Message::UterineActivity(Some(17))),
            (b"9a0100\x03", Message::UterineActivity(Some(100))),
            (b"9a0128\x03", Message::UterineActivity(None)),
            (b"9b0UT\x03", Message::Modes { hr: b'U', ua: b'T' }),
            (b"9c0Dr Sato in\x03", Message::Annotation("Dr Sato in".into())),
            (b"9d0\x03", Message::EventMark),
            (b"9f00\x03", Message::FetalMovement(MovementReport::None)),
            (b"9f01\x03", Message::FetalMovement(MovementReport::Movement)),
            (b"9f02\x03", Message::FetalMovement(MovementReport::NotFitted)),
            (b"9f04\x03", Message::FetalMovement(MovementReport::Disabled)),
            (b"9g00\x03", Message::PaperOut(false)),
            (b"9g01\x03", Message::PaperOut(true)),
        ];
        for (bytes, want) in cases {
            let (msgs, stats, pending) = decode_all(bytes);
            assert_eq!(msgs, vec![want.clone()], "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(stats.bytes_discarded, 0);
            assert_eq!(stats.message_bytes, bytes.len() as u64);
            assert_eq!(pending, 0);
        }
    }

    #[test]
    fn pen_lift_in_three_digits_is_no_value_not_zero() {
        assert_eq!(decode_all(b"9`0000\x03").0, vec![Message::HeartRate1(None)]);
    }

    #[test]
    fn rejects_malformed_data_and_counts_it() {
        let bad: &[&[u8]] = &[
            b"9`01\x03",           // one digit
            b"9`01a0\x03",         // letter
            b"9`0\x03",            // empty
            b"9a0300\x03",         // UA above 255
            b"9b0U\x03",           // one mode char
            b"9b0U\x01\x03",       // non-printable mode
            b"9d0x\x03",           // data on an event mark
            b"9f03\x03",           // unknown movement code
            b"9f0\x03",            // no movement code
            b"9g02\x03",           // paper out must be 0 or 1
            b"9c0caf\xc3\xa9\x03", // non-ASCII annotation
        ];
        for bytes in bad {
            let (msgs, stats, pending) = decode_all(bytes);
            assert!(msgs.is_empty(), "{bytes:?} gave {msgs:?}");
            assert_eq!(stats.frames_rejected, 1, "{bytes:?}");
            assert_eq!(stats.bytes_discarded, bytes.len() as u64, "{bytes:?}");
            assert_eq!(pending, 0, "{bytes:?}");
        }
    }

    #[test]
    fn frame_cut_by_next_header_is_rejected_and_next_frame_kept() {
        // Monitor rebooted after "14" of "140": the value is unknowable, the next frame is fine.
        let (msgs, stats, _) = decode_all(b"9`0149a017\x03");
        assert_eq!(msgs, vec![Message::UterineActivity(Some(17))]);
        assert_eq!(stats.frames_rejected, 1);
        assert_eq!(stats.bytes_discarded, 5);
    }

    #[test]
    fn digits_nine_inside_heart_rate_do_not_start_a_frame() {
        let (msgs, stats, _) = decode_all(b"9`0199\x039e099\x03");
        assert_eq!(msgs, vec![Message::HeartRate1(Some(199)), Message::HeartRate2(Some(99))]);
        assert_eq!(stats.bytes_discarded, 0);
    }

    #[test]
    fn garbage_is_skipped_and_counted_exactly() {
        let (msgs, stats, pending) = decode_all(b"\x00\xff9x\x03 99`9`0140\x03\x03junk9e000\x03");
        assert_eq!(msgs, vec![Message::HeartRate1(Some(140)), Message::HeartRate2(None)]);
        assert_eq!(stats.bytes_discarded, 9 + 5);
        assert_eq!(stats.frames_rejected, 0);
        assert_eq!(pending, 0);
    }

    #[test]
    fn overlong_frames_are_rejected_and_resynchronised() {
        let mut bytes = b"9c0".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 200));
        bytes.extend_from_slice(b"\x039`0140\x03");
        let (msgs, stats, _) = decode_all(&bytes);
        assert_eq!(msgs, vec![Message::HeartRate1(Some(140))]);
        assert_eq!(stats.frames_rejected, 1);
        assert_eq!(stats.bytes_discarded, 3 + 200 + 1);

        let (msgs, stats, _) = decode_all(b"9`01400\x039`0140\x03");
        assert_eq!(msgs, vec![Message::HeartRate1(Some(140))]);
        assert_eq!((stats.frames_rejected, stats.bytes_discarded), (1, 8));
    }

    #[test]
    fn longest_annotation_is_accepted() {
        let text = "A".repeat(MAX_ANNOTATION_LEN);
        let bytes = [b"9c0".as_slice(), text.as_bytes(), b"\x03"].concat();
        assert_eq!(decode_all(&bytes).0, vec![Message::Annotation(text)]);
    }

    #[test]
    fn waits_for_more_bytes_without_deciding() {
        let frame = b"9`0140\x03";
        let mut d = Decoder::new();
        for (i, b) in frame.iter().enumerate() {
            assert_eq!(d.next_message(), None);
            assert_eq!(d.buffered_len(), i);
            d.push(&[*b]);
        }
        assert_eq!(d.next_message(), Some(Message::HeartRate1(Some(140))));
        assert_eq!(d.stats().bytes_discarded, 0);
    }

    #[test]
    fn discard_pending_counts_unfinished_frame() {
        let mut d = Decoder::new();
        d.push(b"9`014");
        assert_eq!(d.next_message(), None);
        assert_eq!(d.discard_pending(), 5);
        assert_eq!(d.stats().frames_rejected, 1);
        assert_eq!(d.stats().bytes_discarded, 5);
        d.push(b"0\x039`0141\x03");
        assert_eq!(d.next_message(), Some(Message::HeartRate1(Some(141))));
        assert_eq!(d.stats().bytes_discarded, 7);
    }

    #[test]
    fn reset_forgets_everything() {
        let mut d = Decoder::new();
        d.push(b"xx9`01");
        assert_eq!(d.next_message(), None);
        d.reset();
        assert_eq!(d.stats(), DecodeStats::default());
        assert_eq!(d.buffered_len(), 0);
        d.push(b"9`0140\x03");
        assert_eq!(d.next_message(), Some(Message::HeartRate1(Some(140))));
    }

    #[test]
    fn last_rejection_names_type_and_reason() {
        let mut d = Decoder::new();
        d.push(b"9f07\x03");
        assert_eq!(d.next_message(), None);
        assert_eq!(
            d.last_rejection(),
            Some(Rejection {
                response_type: ResponseType::FetalMovement,
                reason: RejectReason::BadData,
                len: 5
            })
        );
    }
}
