//! Integration tests of the device gateway against a real mosquitto broker (started by
//! `test_support::Mosquitto` on a free port), pseudo-terminal serial devices fed by the real
//! `ctg-sim` binary or by `hardware::sim` in-process, and a small acknowledging receiver.
//!
//! Every delivery test ends with exact accounting: each stream's sequence numbers arrive
//! without a gap, a number never carries two different samples, every payload is valid.

#[path = "device-gateway/ble.rs"]
mod ble;
#[path = "device-gateway/cli.rs"]
mod cli;
#[path = "device-gateway/crash.rs"]
mod crash;
#[path = "device-gateway/delivery.rs"]
mod delivery;
#[path = "device-gateway/full.rs"]
mod full;
#[path = "device-gateway/outage.rs"]
mod outage;
#[path = "device-gateway/receiver.rs"]
mod receiver;
#[path = "device-gateway/serial.rs"]
mod serial;
#[path = "device-gateway/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use device_gateway::metrics::GatewayMetrics;
use device_gateway::{Config, Gateway, GatewayError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SITE: &str = "test-site";

/// A gateway running in this process.
#[derive(Debug)]
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), GatewayError>>,
    pub http: Option<SocketAddr>,
    pub metrics: Arc<GatewayMetrics>,
}

impl Running {
    pub async fn start(config: Config) -> Running {
        Self::start_with(Gateway::start(config).await.expect("gateway starts")).await
    }

    pub async fn start_with(gateway: Gateway) -> Running {
        let http = gateway.http_addr();
        let metrics = gateway.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.run(async move {
            let _ = rx.await;
        }));
        Running { stop: Some(tx), task, http, metrics }
    }

    /// Clean stop; the gateway must finish without error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let r = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("gateway stops within 30 s");
        r.expect("gateway task").expect("gateway ran without error");
    }
}

/// A configuration file's text for a gateway on the test broker.
pub fn config_text(
    port: u16,
    gateway: &str,
    state_dir: &Path,
    extra: &str,
    devices: &str,
) -> String {
    format!(
        r#"
[gateway]
id = "{gateway}"
site = "{SITE}"
state_dir = "{state}"
heartbeat_s = 1

[broker]
url = "mqtt://127.0.0.1:{port}"
keep_alive_s = 5

[http]
listen = "127.0.0.1:0"

{extra}

{devices}
"#,
        state = state_dir.display()
    )
}

/// `[[device]]` tables for simulated beds `bed-1..=n`.
pub fn sim_devices(n: usize, scenario: &str, speed: f64) -> String {
    (1..=n)
        .map(|i| format!("[[device]]\nid = \"bed-{i}\"\nbed = \"{i}\"\nkind = \"simulator\"\nscenario = \"{scenario}\"\nseed = {i}\nspeed = {speed}\n"))
        .collect()
}

pub fn parse(text: &str) -> Config {
    Config::from_toml_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub fn mosquitto() -> test_support::Mosquitto {
    test_support::Mosquitto::start().expect("mosquitto must be installed: run `cargo xtask setup`")
}

/// GET a path on the gateway's HTTP endpoint; (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to the endpoint");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

/// One metric's value from Prometheus text (`name{labels}` exactly as rendered).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits until at most `max` samples are unacknowledged in the gateway's outbox (the
/// receiver has everything but the last moments); returns whether that happened in time.
pub async fn wait_acked(http: SocketAddr, max: f64, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let (_, m) = http_get(http, "/metrics").await;
        if metric(&m, "ctg_gateway_outbox_samples").is_some_and(|v| v <= max) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Asserts the receiver's log of `device` holds exactly `0..n` (or `0..` when `n` is None) with
/// no conflicting duplicates, and returns how many samples it holds.
pub fn assert_exact(log: &receiver::StreamLog, device: &str, n: Option<u64>) -> u64 {
    assert!(
        log.conflicts.is_empty(),
        "{device}: sequence numbers reused with different samples: {:?}",
        log.conflicts
    );
    let seqs = log.seqs();
    let count = seqs.len() as u64;
    assert!(count > 0, "{device}: no samples");
    let expected: Vec<u64> = (0..n.unwrap_or(count)).collect();
    if seqs != expected {
        let missing: Vec<u64> =
            expected.iter().copied().filter(|s| !log.samples.contains_key(s)).take(20).collect();
        let extra: Vec<u64> =
            seqs.iter().copied().filter(|s| !expected.contains(s)).take(20).collect();
        panic!(
            "{device}: {count} samples, expected {}; missing {missing:?}, unexpected {extra:?}",
            expected.len()
        );
    }
    count
}
