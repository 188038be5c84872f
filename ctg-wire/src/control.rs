//! Low-rate control messages, JSON with a `"v"` version field: device events, gateway presence
//! and heartbeat, and the server's acknowledgement watermark. Samples are binary
//! ([`crate::block`]); these are rare and are easier to debug as text.
//!
//! Unknown fields are refused (`deny_unknown_fields`) so a typo in a third-party gateway is an
//! error at the server, not a silently ignored field.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::sample::Channel;
use crate::{Label, WIRE_VERSION};

/// Largest control payload accepted, in bytes.
pub const MAX_CONTROL_LEN: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control payload is {0} bytes; at most {MAX_CONTROL_LEN} allowed")]
    TooLarge(usize),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported version {0} (this build speaks version {WIRE_VERSION})")]
    UnsupportedVersion(u8),
    #[error("{0}")]
    Invalid(String),
}

/// Shared by all control messages: size limit, JSON, version, then the message's own checks.
fn decode_json<T: DeserializeOwned + Versioned>(buf: &[u8]) -> Result<T, ControlError> {
    if buf.len() > MAX_CONTROL_LEN {
        return Err(ControlError::TooLarge(buf.len()));
    }
    let msg: T = serde_json::from_slice(buf)?;
    if msg.version() != WIRE_VERSION {
        return Err(ControlError::UnsupportedVersion(msg.version()));
    }
    msg.validate()?;
    Ok(msg)
}

fn encode_json<T: Serialize>(msg: &T) -> Vec<u8> {
    serde_json::to_vec(msg).expect("control messages always serialise")
}

trait Versioned {
    fn version(&self) -> u8;
    fn validate(&self) -> Result<(), ControlError> {
        Ok(())
    }
}

fn check_time(at_ms: i64) -> Result<(), ControlError> {
    if (crate::block::MIN_TIME_MS..=crate::block::MAX_TIME_MS).contains(&at_ms) {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!("at_ms {at_ms} is outside 2000-01-01..2100-01-01")))
    }
}

/// Something that happened to a device, published on `…/{device}/events`.
///
/// The only control message that tolerates unknown fields: serde cannot refuse them on a
/// flattened enum, and the flat form is the easiest for third parties to produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEvent {
    pub v: u8,
    /// Per stream, increasing; the server de-duplicates events on (stream, id).
    pub id: u64,
    /// Gateway time of the event, Unix milliseconds UTC.
    pub at_ms: i64,
    /// Sequence number of the next sample of the stream when the event happened, so the event
    /// can be drawn at the right place on the trace.
    pub seq: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of device event. `active: true` starts a condition, `active: false` ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A channel reports "no value" (pen lift / sentinel) while the device keeps talking.
    SignalLoss { channel: Channel, active: bool },
    /// The device sent no bytes at all for `silent_ms`: cable, power or link problem.
    CableSilence { active: bool, silent_ms: u64 },
    /// The monitor's recorder is out of paper.
    PaperOut { active: bool },
    /// Transducer modes changed (for the Corometrics wire: HR mode and UA mode characters).
    ModeChange { hr_mode: String, ua_mode: String },
    /// Free text entered on the monitor.
    Annotation { text: String },
    /// The gateway gave up on these samples (its outbox was full and the policy dropped them).
    /// The server counts them as missing and moves its watermark past them.
    SamplesDropped { first_seq: u64, last_seq: u64, reason: String },
    /// The device's connection (serial port or BLE link) went down or came back.
    Link { up: bool, detail: String },
}

impl Versioned for DeviceEvent {
    fn version(&self) -> u8 {
        self.v
    }
    fn validate(&self) -> Result<(), ControlError> {
        check_time(self.at_ms)?;
        match &self.kind {
            EventKind::SamplesDropped { first_seq, last_seq, .. } if first_seq > last_seq => {
                Err(ControlError::Invalid(format!(
                    "samples_dropped: first_seq {first_seq} > last_seq {last_seq}"
                )))
            }
            EventKind::Annotation { text } if text.len() > 1024 => {
                Err(ControlError::Invalid("annotation longer than 1024 bytes".into()))
            }
            _ => Ok(()),
        }
    }
}

impl DeviceEvent {
    pub fn new(id: u64, at_ms: i64, seq: u64, kind: EventKind) -> Self {
        Self { v: WIRE_VERSION, id, at_ms, seq, kind }
    }
    pub fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
    pub fn decode(buf: &[u8]) -> Result<Self, ControlError> {
        decode_json(buf)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    Offline,
}

/// Retained on `ctg/v1/{site}/{gateway}/presence`: online on connect, offline as the last will
/// and before a clean stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    pub v: u8,
    pub state: PresenceState,
    /// When this state was declared (for the last will: when the connection was made).
    pub at_ms: i64,
    /// `"clean_stop"`, `"connection_lost"` (the last will) or empty when online.
    #[serde(default)]
    pub reason: String,
    /// Gateway software version.
    #[serde(default)]
    pub software: String,
    /// Devices configured on this gateway.
    #[serde(default)]
    pub devices: Vec<DeviceInfo>,
}

/// A device slot of a gateway, as announced in presence and heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    pub device: Label,
    /// Bed label from the gateway's configuration ("bed 3", "ambulance 2"). Not patient data.
    #[serde(default)]
    pub bed: String,
    /// Whether the device is currently delivering bytes.
    #[serde(default)]
    pub connected: bool,
    /// Sequence number the next sample will get.
    #[serde(default)]
    pub next_seq: u64,
}

impl Versioned for Presence {
    fn version(&self) -> u8 {
        self.v
    }
    fn validate(&self) -> Result<(), ControlError> {
        check_time(self.at_ms)
    }
}

impl Presence {
    pub fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
    pub fn decode(buf: &[u8]) -> Result<Self, ControlError> {
        decode_json(buf)
    }
}

/// Gateway health, every few seconds on `ctg/v1/{site}/{gateway}/heartbeat` (not retained).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub v: u8,
    pub at_ms: i64,
    pub uptime_s: u64,
    /// Blocks stored in the outbox and not yet acknowledged by the server.
    pub outbox_blocks: u64,
    pub outbox_bytes: u64,
    /// Age of the oldest unacknowledged block, milliseconds; 0 when empty.
    pub outbox_oldest_age_ms: u64,
    /// The outbox reached its size bound and its full policy is in effect.
    pub outbox_full: bool,
    #[serde(default)]
    pub devices: Vec<DeviceInfo>,
}

impl Versioned for Heartbeat {
    fn version(&self) -> u8 {
        self.v
    }
    fn validate(&self) -> Result<(), ControlError> {
        check_time(self.at_ms)
    }
}

impl Heartbeat {
    pub fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
    pub fn decode(buf: &[u8]) -> Result<Self, ControlError> {
        decode_json(buf)
    }
}

/// The server's acknowledgement watermark, retained on `…/{device}/ack`: every sample with a
/// sequence number ≤ `through_seq` is durably stored (or was declared dropped by the gateway).
/// Only then may the gateway delete those samples from its outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub v: u8,
    pub through_seq: u64,
    pub at_ms: i64,
}

impl Versioned for Ack {
    fn version(&self) -> u8 {
        self.v
    }
    fn validate(&self) -> Result<(), ControlError> {
        check_time(self.at_ms)
    }
}

impl Ack {
    pub fn new(through_seq: u64, at_ms: i64) -> Self {
        Self { v: WIRE_VERSION, through_seq, at_ms }
    }
    pub fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
    pub fn decode(buf: &[u8]) -> Result<Self, ControlError> {
        decode_json(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000_000;

    #[test]
    fn event_json_is_flat_and_round_trips() {
        let e = DeviceEvent::new(
            3,
            T0,
            480,
            EventKind::SignalLoss { channel: Channel::Fhr1, active: true },
        );
        let text = String::from_utf8(e.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"id":3,"at_ms":1790000000000,"seq":480,"kind":"signal_loss","channel":"fhr1","active":true}"#
        );
        assert_eq!(DeviceEvent::decode(text.as_bytes()).unwrap(), e);
    }

    #[test]
    fn bad_control_payloads_are_refused_with_reasons() {
        assert!(matches!(DeviceEvent::decode(b"{"), Err(ControlError::Json(_))));
        assert!(matches!(
            Ack::decode(br#"{"v":2,"through_seq":1,"at_ms":1790000000000}"#),
            Err(ControlError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            Ack::decode(br#"{"v":1,"through_seq":1,"at_ms":5}"#),
            Err(ControlError::Invalid(_))
        ));
        assert!(matches!(
            Ack::decode(br#"{"v":1,"through_seq":1,"at_ms":1790000000000,"extra":1}"#),
            Err(ControlError::Json(_))
        ));
        let big = vec![b' '; MAX_CONTROL_LEN + 1];
        assert!(matches!(Presence::decode(&big), Err(ControlError::TooLarge(_))));
        let dropped = DeviceEvent::new(
            1,
            T0,
            0,
            EventKind::SamplesDropped { first_seq: 9, last_seq: 3, reason: "full".into() },
        );
        assert!(matches!(DeviceEvent::decode(&dropped.encode()), Err(ControlError::Invalid(_))));
    }

    #[test]
    fn presence_and_heartbeat_round_trip() {
        let p = Presence {
            v: 1,
            state: PresenceState::Offline,
            at_ms: T0,
            reason: "connection_lost".into(),
            software: "0.1.0".into(),
            devices: vec![DeviceInfo {
                device: Label::new("dev0").unwrap(),
                bed: "3".into(),
                connected: true,
                next_seq: 12,
            }],
        };
        assert_eq!(Presence::decode(&p.encode()).unwrap(), p);
        let h = Heartbeat {
            v: 1,
            at_ms: T0,
            uptime_s: 5,
            outbox_blocks: 2,
            outbox_bytes: 100,
            outbox_oldest_age_ms: 250,
            outbox_full: false,
            devices: vec![],
        };
        assert_eq!(Heartbeat::decode(&h.encode()).unwrap(), h);
    }
}
