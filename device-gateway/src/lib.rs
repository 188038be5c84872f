//! The device gateway: reads CTG monitors (serial Corometrics 115, BLE CTG probes, the built-in
//! simulator, recordings) and streams them to the central monitor over MQTT without losing a
//! sample, whatever the network does.
//!
//! * [`config`]: the typed, validated TOML configuration ([`Config`]).
//! * [`device`]: bytes → 4 Hz stamped samples and device events (signal loss, cable silence).
//! * [`sources`], [`ble`]: the I/O adapters of each device kind.
//! * [`outbox`]: the durable segment log and per-stream sequence state.
//! * [`backlog`]: replay of unacknowledged samples in blocks of up to 1200.
//! * [`mqtt`]: the broker connection (MQTT 3.1.1, QoS 1, rustls with ring).
//! * [`gateway`]: the core that ties them together ([`run`], [`Gateway`]).
//! * [`metrics`], [`http`]: Prometheus metrics and health on a local HTTP endpoint.
//!
//! The wire contract is `ctg-wire/PROTOCOL.md`; the README explains installation and the
//! delivery guarantees.

pub mod backlog;
pub mod ble;
pub mod config;
pub mod device;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod outbox;
pub mod sources;

pub use config::{Config, ConfigError, SimulatedBed};
pub use gateway::{Gateway, GatewayError, run};
