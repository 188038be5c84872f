//! The embedded MQTT broker (rumqttd) that makes one process a complete small installation.
//!
//! rumqttd runs on its own threads and has no shutdown call: it lives as long as the process.
//! It has no persistence, so retained watermarks are republished by the ingest on every
//! connection, and gateways keep unacknowledged data in their own outboxes.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::ingest::MAX_PACKET;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("embedded broker: cannot use {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("embedded broker did not accept connections on {0} within 10 s")]
    NotReady(SocketAddr),
    #[error("embedded broker: {0}")]
    Start(String),
}

/// A running embedded broker.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts the broker on `listen` (port 0 picks a free port) and waits until it accepts
    /// connections.
    pub fn start(listen: SocketAddr, max_connections: usize) -> Result<Self, BrokerError> {
        // rumqttd binds by itself and reports a failed bind only in its log; probe first so a
        // busy port is a clear error, and resolve port 0 to a concrete free port.
        let addr = TcpListener::bind(listen)
            .and_then(|l| l.local_addr())
            .map_err(|source| BrokerError::Bind { addr: listen, source })?;
        let connections = ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: MAX_PACKET,
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        };
        let server = ServerSettings {
            name: "embedded-v4".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections,
                max_outgoing_packet_count: 10_000,
                // rumqttd keeps each subscription filter's messages in memory segments. The
                // server reads them within milliseconds; 8 × 1 MiB per filter bounds memory (about
                // 20 s of 1,000 beds), and should the server ever fall that far behind, what it
                // missed is unacknowledged and the gateways' outboxes send it again.
                max_segment_size: 1024 * 1024,
                max_segment_count: 8,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([("1".to_owned(), server)])),
            v5: None,
            ws: None,
            cluster: None,
            console: None,
            bridge: None,
            prometheus: None,
            metrics: None,
        };
        let mut broker = Broker::new(config);
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!("embedded broker stopped: {e}");
                }
            })
            .map_err(|e| BrokerError::Start(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if mqtt_ping(addr) {
                tracing::info!(%addr, "embedded MQTT broker listening");
                return Ok(Self { addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(BrokerError::NotReady(addr))
    }

    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

/// Whether an MQTT 3.1.1 broker answers a CONNECT with an accepting CONNACK. A CONNECT exchange
/// rather than a bare TCP probe, which the broker would log as an error.
fn mqtt_ping(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let id = b"monitor-probe";
    let mut connect =
        vec![0x10, (10 + 2 + id.len()) as u8, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10];
    connect.extend_from_slice(&(id.len() as u16).to_be_bytes());
    connect.extend_from_slice(id);
    let mut ack = [0u8; 4];
    let ok = s.write_all(&connect).is_ok()
        && s.read_exact(&mut ack).is_ok()
        && ack == [0x20, 0x02, 0x00, 0x00];
    // Closed without a DISCONNECT packet: rumqttd handles a DISCONNECT followed by the close as
    // two disconnections and logs the second as an error.
    ok
}
