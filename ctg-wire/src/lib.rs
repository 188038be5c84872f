//! The vocabulary of a CTG stream and the versioned MQTT wire contract.
//!
//! Gateways (`device-gateway`), the server (`monitor-server`) and the device simulator
//! (`hardware`) all speak this contract, so it lives in its own small crate with no I/O and no
//! dependencies beyond serde: a change to the wire is a change to this crate, reviewed once.
//!
//! * [`ids`]: stream identity (site, gateway, device); topic-safe labels, never patient data.
//! * [`sample`]: one 4 Hz sample frame: FHR1, FHR2, MHR (0.25 bpm), TOCO, movement, mark,
//!   per-channel signal quality.
//! * [`block`]: a run of consecutive samples of one stream with gap-free sequence numbers and
//!   their timestamps, in a compact binary encoding (version 1).
//! * [`control`]: the low-rate JSON messages: device events, gateway presence and heartbeat,
//!   and the server's acknowledgement watermark.
//! * [`topic`]: the topic scheme `ctg/v1/{site}/{gateway}/{device}/{kind}`.
//!
//! The byte-level description a third party can implement from is `ctg-wire/PROTOCOL.md`.
//!
//! Everything here is pure: functions take time as an argument and never read a clock.

pub mod block;
pub mod control;
pub mod ids;
pub mod sample;
pub mod topic;

pub use block::{ClockQuality, SampleBlock, WireError};
pub use control::{Ack, ControlError, DeviceEvent, EventKind, Heartbeat, Presence, PresenceState};
pub use ids::{IdError, Label, StreamId};
pub use sample::{Bpm, Channel, Movement, Sample, SignalQuality, Toco};
pub use topic::{Topic, TopicKind};

/// Samples per second on every stream (FIGO/archives use 4 Hz).
pub const SAMPLE_RATE_HZ: u32 = 4;
/// Nominal time between two consecutive samples, in milliseconds.
pub const SAMPLE_PERIOD_MS: i64 = 250;
/// Version of the wire contract (binary header byte and JSON `"v"` field).
pub const WIRE_VERSION: u8 = 1;
