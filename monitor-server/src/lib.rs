//! The central CTG monitor server.
//!
//! * [`ingest`]: MQTT in (rumqttc), validation against the wire contract, idempotent batched
//!   storage, acknowledgement watermarks out, presence and heartbeats.
//! * [`store`]: storage behind one trait; SQLite embedded by default.
//! * [`registry`]: in-memory accounting of streams, gateways and assignments.
//! * [`live`]: per-viewer bounded fan-out and the live feed's messages.
//! * [`api`]: the page, the JSON API and the WebSocket (`router`, `run`).
//! * [`auth`]: staff accounts, argon2 password hashes, sessions, roles.
//! * [`broker`]: the embedded MQTT broker of the all-in-one default.
//! * [`analysis`]: live CTG analysis per stream and the alarm engine.
//! * [`demo`]: the one-command demo (`monitor-server demo`).
//! * [`phr`]: the mothers' PHR API, the clinicians' view of consented mothers, FHIR R4 reads.
//!
//! Safety, by design: every trace message carries the patient identity the server bound its
//! stream to (never inferred by the browser); samples belong to a patient by sequence-number
//! range, so a re-binding breaks the trace; data age is measured from the server's receive time
//! of the newest sample and a backlog replay never refreshes it.

pub mod analysis;
pub mod api;
pub mod app;
pub mod auth;
pub mod broker;
pub mod config;
pub mod demo;
pub mod error;
pub mod ingest;
pub mod live;
pub mod model;
pub mod phr;
pub mod ranges;
pub mod registry;
pub mod relay;
pub mod store;

pub use api::{router, run};
pub use app::{App, Core, StartError};
pub use config::Config;

/// The wall clock in Unix milliseconds. Only I/O adapters call it; pure code takes time as an
/// argument.
pub fn now_ms() -> model::Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
