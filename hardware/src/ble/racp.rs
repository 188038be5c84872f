//! Record Access Control Point (0x2A52): the client writes a request (op code, operator,
//! operand); the server indicates a response.
//!
//! What is covered, as used by the Glucose and CGM profiles (and any record-keeping service that
//! follows them): op codes 1 report stored records, 2 delete stored records, 3 abort operation,
//! 4 report number of stored records, 5 number of stored records response (u16), 6 response code
//! (request op code + response code value); operators 0 null, 1 all, 2 ≤, 3 ≥, 4 within range
//! (inclusive), 5 first, 6 last; filter types 0x01 sequence number (u16; CGM reads the same
//! bytes as a time offset in minutes) and 0x02 user facing time (7-byte Date Time). Other filter
//! types are service-specific and refused with a clear error rather than guessed.

use serde::{Deserialize, Serialize};

use super::{BleError, DateTime, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpCode {
    ReportStoredRecords = 1,
    DeleteStoredRecords = 2,
    AbortOperation = 3,
    ReportNumberOfStoredRecords = 4,
    NumberOfStoredRecordsResponse = 5,
    ResponseCode = 6,
}

impl OpCode {
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::ReportStoredRecords,
            2 => Self::DeleteStoredRecords,
            3 => Self::AbortOperation,
            4 => Self::ReportNumberOfStoredRecords,
            5 => Self::NumberOfStoredRecordsResponse,
            6 => Self::ResponseCode,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Null = 0,
    AllRecords = 1,
    LessThanOrEqualTo = 2,
    GreaterThanOrEqualTo = 3,
    WithinRangeOf = 4,
    FirstRecord = 5,
    LastRecord = 6,
}

impl Operator {
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Null,
            1 => Self::AllRecords,
            2 => Self::LessThanOrEqualTo,
            3 => Self::GreaterThanOrEqualTo,
            4 => Self::WithinRangeOf,
            5 => Self::FirstRecord,
            6 => Self::LastRecord,
            _ => return None,
        })
    }
}

/// Filter type byte: sequence number.
pub const FILTER_SEQUENCE_NUMBER: u8 = 0x01;
/// Filter type byte: user facing time.
pub const FILTER_USER_FACING_TIME: u8 = 0x02;

/// One bound of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    SequenceNumber(u16),
    UserFacingTime(DateTime),
}

/// An inclusive range; both bounds have the same filter type and `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterRange {
    SequenceNumber { min: u16, max: u16 },
    UserFacingTime { min: DateTime, max: DateTime },
}

/// Which records a request is about (operator + operand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    All,
    AtMost(Filter),
    AtLeast(Filter),
    Within(FilterRange),
    First,
    Last,
}

/// What a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RacpRequest {
    ReportStoredRecords(Selection),
    DeleteStoredRecords(Selection),
    ReportNumberOfStoredRecords(Selection),
    AbortOperation,
}

/// Response code values (op code 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCode {
    Success = 1,
    OpCodeNotSupported = 2,
    InvalidOperator = 3,
    OperatorNotSupported = 4,
    InvalidOperand = 5,
    NoRecordsFound = 6,
    AbortUnsuccessful = 7,
    ProcedureNotCompleted = 8,
    OperandNotSupported = 9,
}

impl ResponseCode {
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Success,
            2 => Self::OpCodeNotSupported,
            3 => Self::InvalidOperator,
            4 => Self::OperatorNotSupported,
            5 => Self::InvalidOperand,
            6 => Self::NoRecordsFound,
            7 => Self::AbortUnsuccessful,
            8 => Self::ProcedureNotCompleted,
            9 => Self::OperandNotSupported,
            _ => return None,
        })
    }
}

/// What a server indicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RacpResponse {
    NumberOfStoredRecords(u16),
    /// `request_op_code` is kept raw: a server answers "op code not supported" with the unknown
    /// op code it received.
    ResponseCode {
        request_op_code: u8,
        code: ResponseCode,
    },
}

fn read_filter(r: &mut Reader<'_>, filter_type: u8) -> Result<Filter, BleError> {
    match filter_type {
        FILTER_SEQUENCE_NUMBER => Ok(Filter::SequenceNumber(r.u16("sequence number")?)),
        FILTER_USER_FACING_TIME => Ok(Filter::UserFacingTime(DateTime::read(r)?)),
        other => Err(BleError::Unknown { field: "RACP filter type", value: other }),
    }
}

fn filter_type(f: &Filter) -> u8 {
    match f {
        Filter::SequenceNumber(_) => FILTER_SEQUENCE_NUMBER,
        Filter::UserFacingTime(_) => FILTER_USER_FACING_TIME,
    }
}

fn write_filter_value(f: &Filter, out: &mut Vec<u8>) {
    match f {
        Filter::SequenceNumber(n) => out.extend_from_slice(&n.to_le_bytes()),
        Filter::UserFacingTime(t) => t.write(out),
    }
}

impl Selection {
    fn read(r: &mut Reader<'_>) -> Result<Self, BleError> {
        let op = r.u8("operator")?;
        let operator =
            Operator::from_u8(op).ok_or(BleError::Unknown { field: "RACP operator", value: op })?;
        Ok(match operator {
            Operator::Null => {
                return Err(BleError::Invalid(
                    "RACP request needs an operator other than null".into(),
                ));
            }
            Operator::AllRecords => Self::All,
            Operator::FirstRecord => Self::First,
            Operator::LastRecord => Self::Last,
            Operator::LessThanOrEqualTo => {
                let t = r.u8("filter type")?;
                Self::AtMost(read_filter(r, t)?)
            }
            Operator::GreaterThanOrEqualTo => {
                let t = r.u8("filter type")?;
                Self::AtLeast(read_filter(r, t)?)
            }
            Operator::WithinRangeOf => {
                let range = match r.u8("filter type")? {
                    FILTER_SEQUENCE_NUMBER => FilterRange::SequenceNumber {
                        min: r.u16("range minimum")?,
                        max: r.u16("range maximum")?,
                    },
                    FILTER_USER_FACING_TIME => FilterRange::UserFacingTime {
                        min: DateTime::read(r)?,
                        max: DateTime::read(r)?,
                    },
                    other => {
                        return Err(BleError::Unknown { field: "RACP filter type", value: other });
                    }
                };
                let reversed = match range {
                    FilterRange::SequenceNumber { min, max } => min > max,
                    FilterRange::UserFacingTime { min, max } => min > max,
                };
                if reversed {
                    return Err(BleError::Invalid(
                        "RACP range has its minimum above its maximum".into(),
                    ));
                }
                Self::Within(range)
            }
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::All => out.push(Operator::AllRecords as u8),
            Self::First => out.push(Operator::FirstRecord as u8),
            Self::Last => out.push(Operator::LastRecord as u8),
            Self::AtMost(f) | Self::AtLeast(f) => {
                let op = if matches!(self, Self::AtMost(_)) {
                    Operator::LessThanOrEqualTo
                } else {
                    Operator::GreaterThanOrEqualTo
                };
                out.extend_from_slice(&[op as u8, filter_type(f)]);
                write_filter_value(f, out);
            }
            Self::Within(range) => {
                out.push(Operator::WithinRangeOf as u8);
                let (min, max) = match *range {
                    FilterRange::SequenceNumber { min, max } => {
                        (Filter::SequenceNumber(min), Filter::SequenceNumber(max))
                    }
                    FilterRange::UserFacingTime { min, max } => {
                        (Filter::UserFacingTime(min), Filter::UserFacingTime(max))
                    }
                };
                out.push(filter_type(&min));
                write_filter_value(&min, out);
                write_filter_value(&max, out);
            }
        }
    }
}

impl RacpRequest {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let op = r.u8("op code")?;
        let req = match OpCode::from_u8(op) {
            Some(OpCode::ReportStoredRecords) => {
                Self::ReportStoredRecords(Selection::read(&mut r)?)
            }
            Some(OpCode::DeleteStoredRecords) => {
                Self::DeleteStoredRecords(Selection::read(&mut r)?)
            }
            Some(OpCode::ReportNumberOfStoredRecords) => {
                Self::ReportNumberOfStoredRecords(Selection::read(&mut r)?)
            }
            Some(OpCode::AbortOperation) => {
                let operator = r.u8("operator")?;
                if operator != Operator::Null as u8 {
                    return Err(BleError::Invalid(format!(
                        "RACP abort needs the null operator, got {operator}"
                    )));
                }
                Self::AbortOperation
            }
            Some(OpCode::NumberOfStoredRecordsResponse | OpCode::ResponseCode) => {
                return Err(BleError::Invalid(format!(
                    "RACP op code {op} is a response, not a request"
                )));
            }
            None => return Err(BleError::Unknown { field: "RACP op code", value: op }),
        };
        r.finish("RACP request")?;
        Ok(req)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        match self {
            Self::ReportStoredRecords(s) => {
                out.push(OpCode::ReportStoredRecords as u8);
                s.write(&mut out);
            }
            Self::DeleteStoredRecords(s) => {
                out.push(OpCode::DeleteStoredRecords as u8);
                s.write(&mut out);
            }
            Self::ReportNumberOfStoredRecords(s) => {
                out.push(OpCode::ReportNumberOfStoredRecords as u8);
                s.write(&mut out);
            }
            Self::AbortOperation => {
                out.extend_from_slice(&[OpCode::AbortOperation as u8, Operator::Null as u8])
            }
        }
        out
    }

    pub const fn op_code(&self) -> OpCode {
        match self {
            Self::ReportStoredRecords(_) => OpCode::ReportStoredRecords,
            Self::DeleteStoredRecords(_) => OpCode::DeleteStoredRecords,
            Self::ReportNumberOfStoredRecords(_) => OpCode::ReportNumberOfStoredRecords,
            Self::AbortOperation => OpCode::AbortOperation,
        }
    }
}

impl RacpResponse {
    pub fn decode(buf: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(buf);
        let op = r.u8("op code")?;
        let operator = r.u8("operator")?;
        let resp = match OpCode::from_u8(op) {
            Some(OpCode::NumberOfStoredRecordsResponse) => {
                Self::NumberOfStoredRecords(r.u16("number of records")?)
            }
            Some(OpCode::ResponseCode) => {
                let request_op_code = r.u8("request op code")?;
                let c = r.u8("response code")?;
                let code = ResponseCode::from_u8(c)
                    .ok_or(BleError::Unknown { field: "RACP response code", value: c })?;
                Self::ResponseCode { request_op_code, code }
            }
            Some(_) => {
                return Err(BleError::Invalid(format!(
                    "RACP op code {op} is a request, not a response"
                )));
            }
            None => return Err(BleError::Unknown { field: "RACP op code", value: op }),
        };
        if operator != Operator::Null as u8 {
            return Err(BleError::Invalid(format!(
                "RACP response needs the null operator, got {operator}"
            )));
        }
        r.finish("RACP response")?;
        Ok(resp)
    }

    pub fn encode(&self) -> Vec<u8> {
        match *self {
            Self::NumberOfStoredRecords(n) => {
                let [lo, hi] = n.to_le_bytes();
                vec![OpCode::NumberOfStoredRecordsResponse as u8, Operator::Null as u8, lo, hi]
            }
            Self::ResponseCode { request_op_code, code } => {
                vec![OpCode::ResponseCode as u8, Operator::Null as u8, request_op_code, code as u8]
            }
        }
    }

    /// The response code a server sends for `request`.
    pub const fn for_request(request: &RacpRequest, code: ResponseCode) -> Self {
        Self::ResponseCode { request_op_code: request.op_code() as u8, code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn literal_requests() {
        let cases: &[(&[u8], RacpRequest)] = &[
            (&[0x01, 0x01], RacpRequest::ReportStoredRecords(Selection::All)),
            (&[0x01, 0x06], RacpRequest::ReportStoredRecords(Selection::Last)),
            (&[0x04, 0x05], RacpRequest::ReportNumberOfStoredRecords(Selection::First)),
            (&[0x02, 0x01], RacpRequest::DeleteStoredRecords(Selection::All)),
            (&[0x03, 0x00], RacpRequest::AbortOperation),
            (
                &[0x01, 0x03, 0x01, 0x0A, 0x00],
                RacpRequest::ReportStoredRecords(Selection::AtLeast(Filter::SequenceNumber(10))),
            ),
            (
                &[0x01, 0x04, 0x01, 0x0A, 0x00, 0x14, 0x01],
                RacpRequest::ReportStoredRecords(Selection::Within(FilterRange::SequenceNumber {
                    min: 10,
                    max: 276,
                })),
            ),
            (
                &[0x04, 0x02, 0x02, 0xE9, 0x07, 0x05, 0x11, 0x00, 0x00, 0x00],
                RacpRequest::ReportNumberOfStoredRecords(Selection::AtMost(
                    Filter::UserFacingTime(DateTime {
                        year: 2025,
                        month: 5,
                        day: 17,
                        hours: 0,
                        minutes: 0,
                        seconds: 0,
                    }),
                )),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(RacpRequest::decode(bytes).as_ref(), Ok(want), "{bytes:02x?}");
            assert_eq!(&want.encode(), bytes);
        }
    }

    #[test]
    fn literal_responses() {
        assert_eq!(
            RacpResponse::decode(&[0x05, 0x00, 0x2A, 0x01]),
            Ok(RacpResponse::NumberOfStoredRecords(298))
        );
        let r = RacpResponse::decode(&[0x06, 0x00, 0x01, 0x06]).unwrap();
        assert_eq!(
            r,
            RacpResponse::ResponseCode { request_op_code: 1, code: ResponseCode::NoRecordsFound }
        );
        assert_eq!(r.encode(), [0x06, 0x00, 0x01, 0x06]);
        let unsupported = RacpResponse::decode(&[0x06, 0x00, 0x07, 0x02]).unwrap();
        assert_eq!(
            unsupported,
            RacpResponse::ResponseCode {
                request_op_code: 7,
                code: ResponseCode::OpCodeNotSupported
            }
        );
        assert_eq!(
            RacpResponse::for_request(&RacpRequest::AbortOperation, ResponseCode::Success).encode(),
            [0x06, 0x00, 0x03, 0x01]
        );
    }

    #[test]
    fn malformed_requests_are_explained() {
        assert!(matches!(RacpRequest::decode(&[]), Err(BleError::Truncated { .. })));
        assert_eq!(
            RacpRequest::decode(&[0x09, 0x01]),
            Err(BleError::Unknown { field: "RACP op code", value: 9 })
        );
        assert_eq!(
            RacpRequest::decode(&[0x01, 0x07]),
            Err(BleError::Unknown { field: "RACP operator", value: 7 })
        );
        assert!(matches!(RacpRequest::decode(&[0x01, 0x00]), Err(BleError::Invalid(_))));
        assert!(matches!(RacpRequest::decode(&[0x03, 0x01]), Err(BleError::Invalid(_))));
        assert!(matches!(
            RacpRequest::decode(&[0x05, 0x00, 0x01, 0x00]),
            Err(BleError::Invalid(_))
        ));
        assert_eq!(
            RacpRequest::decode(&[0x01, 0x01, 0x00]),
            Err(BleError::TrailingBytes { what: "RACP request", extra: 1 })
        );
        assert_eq!(
            RacpRequest::decode(&[0x01, 0x03, 0x03, 0x00, 0x00]),
            Err(BleError::Unknown { field: "RACP filter type", value: 3 })
        );
        assert!(matches!(
            RacpRequest::decode(&[0x01, 0x03, 0x01, 0x0A]),
            Err(BleError::Truncated { .. })
        ));
        assert!(matches!(
            RacpRequest::decode(&[0x01, 0x04, 0x01, 0x14, 0x00, 0x0A, 0x00]),
            Err(BleError::Invalid(_))
        ));
        assert!(matches!(
            RacpResponse::decode(&[0x06, 0x00, 0x01, 0x0A]),
            Err(BleError::Unknown { .. })
        ));
        assert!(matches!(
            RacpResponse::decode(&[0x05, 0x01, 0x01, 0x00]),
            Err(BleError::Invalid(_))
        ));
        assert!(matches!(RacpResponse::decode(&[0x01, 0x01]), Err(BleError::Invalid(_))));
    }

    fn arb_datetime() -> impl Strategy<Value = DateTime> {
        (prop_oneof![Just(0u16), 1582u16..=9999], 0u8..=12, 0u8..=31, 0u8..=23, 0u8..=59, 0u8..=59)
            .prop_map(|(year, month, day, hours, minutes, seconds)| DateTime {
                year,
                month,
                day,
                hours,
                minutes,
                seconds,
            })
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        prop_oneof![
            any::<u16>().prop_map(Filter::SequenceNumber),
            arb_datetime().prop_map(Filter::UserFacingTime)
        ]
    }

    fn arb_selection() -> impl Strategy<Value = Selection> {
        prop_oneof![
            Just(Selection::All),
            Just(Selection::First),
            Just(Selection::Last),
            arb_filter().prop_map(Selection::AtMost),
            arb_filter().prop_map(Selection::AtLeast),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Selection::Within(
                FilterRange::SequenceNumber { min: a.min(b), max: a.max(b) }
            )),
            (arb_datetime(), arb_datetime()).prop_map(|(a, b)| Selection::Within(
                FilterRange::UserFacingTime { min: a.min(b), max: a.max(b) }
            )),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(sel in arb_selection(), op in 0u8..4) {
            let req = match op {
                0 => RacpRequest::ReportStoredRecords(sel),
                1 => RacpRequest::DeleteStoredRecords(sel),
                2 => RacpRequest::ReportNumberOfStoredRecords(sel),
                _ => RacpRequest::AbortOperation,
            };
            prop_assert_eq!(RacpRequest::decode(&req.encode()), Ok(req));
        }

        #[test]
        fn responses_round_trip(n in any::<u16>(), req_op in any::<u8>(), code in 1u8..=9) {
            let a = RacpResponse::NumberOfStoredRecords(n);
            prop_assert_eq!(RacpResponse::decode(&a.encode()), Ok(a));
            let b = RacpResponse::ResponseCode { request_op_code: req_op, code: ResponseCode::from_u8(code).unwrap() };
            prop_assert_eq!(RacpResponse::decode(&b.encode()), Ok(b));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(req) = RacpRequest::decode(&bytes) {
                prop_assert_eq!(req.encode(), bytes.clone());
            }
            if let Ok(resp) = RacpResponse::decode(&bytes) {
                prop_assert_eq!(resp.encode(), bytes);
            }
        }
    }
}
