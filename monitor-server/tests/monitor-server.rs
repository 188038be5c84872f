//! Integration tests of the monitor server (one test binary; modules under `monitor-server/`).
//!
//! Real parts: a real mosquitto (installed by `cargo xtask setup`) or the embedded broker, a
//! real SQLite file per test (and a fresh TimescaleDB database per test when TEST_DATABASE_URL is
//! set), real HTTP and WebSocket connections on port 0, the real
//! `device-gateway` with its simulator.

#[path = "monitor-server/alarms.rs"]
mod alarms;
#[path = "monitor-server/api.rs"]
mod api;
#[path = "monitor-server/common.rs"]
mod common;
#[path = "monitor-server/e2e.rs"]
mod e2e;
#[path = "monitor-server/ingest.rs"]
mod ingest;
#[path = "monitor-server/live.rs"]
mod live;
#[path = "monitor-server/openapi.rs"]
mod openapi;
#[path = "monitor-server/outage.rs"]
mod outage;
#[path = "monitor-server/phr_api.rs"]
mod phr_api;
#[path = "monitor-server/phr_store.rs"]
mod phr_store;
#[path = "monitor-server/postgres.rs"]
mod postgres;
#[path = "monitor-server/store_suite.rs"]
mod store_suite;
