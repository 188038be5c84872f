//! Host → monitor requests in Transmit/Receive mode: `'9'` + the wanted type bytes + ETX.

use super::{CorometricsError, ETX, MONITOR_TYPE, ResponseType};

/// Longest request body accepted: every type once, plus room for a host that repeats some.
pub const MAX_REQUEST_LEN: usize = 16;

/// Appends a request for `types` (duplicates are sent once, in the given order).
pub fn encode_request(types: &[ResponseType], out: &mut Vec<u8>) {
    out.push(MONITOR_TYPE);
    let mut seen = [false; 8];
    for t in types {
        if !std::mem::replace(&mut seen[t.index()], true) {
            out.push(t.byte());
        }
    }
    out.push(ETX);
}

/// What a monitor makes of a request: the response types to stream, each once, in order.
///
/// `frame_data` is the request body (the type bytes); a leading `'9'` and a trailing ETX are
/// accepted too, so a whole request frame can be passed as it arrived.
pub fn parse_request(frame_data: &[u8]) -> Result<Vec<ResponseType>, CorometricsError> {
    let mut body = frame_data;
    if let [MONITOR_TYPE, rest @ ..] = body {
        body = rest;
    }
    if let [rest @ .., ETX] = body {
        body = rest;
    }
    if body.is_empty() {
        return Err(CorometricsError::EmptyRequest);
    }
    if body.len() > MAX_REQUEST_LEN {
        return Err(CorometricsError::RequestTooLong(body.len()));
    }
    let mut types = Vec::with_capacity(body.len());
    for (index, &byte) in body.iter().enumerate() {
        let t = ResponseType::from_byte(byte)
            .ok_or(CorometricsError::UnknownResponseType { index, byte })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

/// Finds requests in the byte stream a monitor (or the simulator playing one) receives from the
/// host. Bytes outside `'9' … ETX` are discarded and counted; memory is bounded by
/// [`MAX_REQUEST_LEN`].
#[derive(Debug, Clone, Default)]
pub struct RequestDecoder {
    /// Body of the request being received, once its `'9'` has been seen.
    body: Option<Vec<u8>>,
    bytes_discarded: u64,
}

impl RequestDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; returns every request completed by them, in order, with an error for
    /// each malformed one (the host re-sends when the monitor does not answer).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<ResponseType>, CorometricsError>> {
        let mut done = Vec::new();
        for &b in bytes {
            match &mut self.body {
                None if b == MONITOR_TYPE => self.body = Some(Vec::with_capacity(8)),
                None => self.bytes_discarded += 1,
                Some(body) if b == ETX => {
                    done.push(parse_request(body));
                    self.body = None;
                }
                Some(body) if b == MONITOR_TYPE => {
                    // A new request began before the last one ended: drop the unfinished one.
                    self.bytes_discarded += 1 + body.len() as u64;
                    body.clear();
                }
                Some(body) if body.len() >= MAX_REQUEST_LEN => {
                    done.push(Err(CorometricsError::RequestTooLong(body.len() + 1)));
                    self.bytes_discarded += 2 + body.len() as u64;
                    self.body = None;
                }
                Some(body) => body.push(b),
            }
        }
        done
    }

    /// Bytes that belonged to no request.
    pub fn bytes_discarded(&self) -> u64 {
        self.bytes_discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_literal_bytes() {
        let mut out = Vec::new();
        encode_request(
            &[ResponseType::HeartRate1, ResponseType::UterineActivity, ResponseType::HeartRate1],
            &mut out,
        );
        assert_eq!(out, b"9`a\x03");
        assert_eq!(
            parse_request(&out).unwrap(),
            vec![ResponseType::HeartRate1, ResponseType::UterineActivity]
        );
        assert_eq!(
            parse_request(b"`a").unwrap(),
            vec![ResponseType::HeartRate1, ResponseType::UterineActivity]
        );
        let all: Vec<u8> = (0x60..=0x67).collect();
        assert_eq!(parse_request(&all).unwrap(), ResponseType::ALL.to_vec());
    }

    #[test]
    fn bad_requests_are_explained() {
        assert_eq!(parse_request(b""), Err(CorometricsError::EmptyRequest));
        assert_eq!(parse_request(b"9\x03"), Err(CorometricsError::EmptyRequest));
        assert_eq!(
            parse_request(b"`x"),
            Err(CorometricsError::UnknownResponseType { index: 1, byte: b'x' })
        );
        assert_eq!(parse_request(&[0x60; 17]), Err(CorometricsError::RequestTooLong(17)));
    }

    #[test]
    fn request_decoder_finds_requests_in_noise() {
        let mut d = RequestDecoder::new();
        let got = d.push(b"zz9`");
        assert!(got.is_empty());
        let got = d.push(b"e\x03 9x\x039b\x03");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Ok(vec![ResponseType::HeartRate1, ResponseType::HeartRate2]));
        assert_eq!(got[1], Err(CorometricsError::UnknownResponseType { index: 0, byte: b'x' }));
        assert_eq!(got[2], Ok(vec![ResponseType::Modes]));
        assert_eq!(d.bytes_discarded(), 3);
    }

    #[test]
    fn request_decoder_bounds_memory() {
        let mut d = RequestDecoder::new();
        let mut input = vec![b'9'];
        input.extend(std::iter::repeat_n(b'a', 1000));
        let got = d.push(&input);
        assert!(got.iter().all(|r| matches!(r, Err(CorometricsError::RequestTooLong(_)))));
        assert!(d.body.as_ref().is_none_or(|b| b.len() <= MAX_REQUEST_LEN));
    }
}
