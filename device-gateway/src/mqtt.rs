//! The MQTT side: one rumqttc connection at a time, MQTT 3.1.1, QoS 1, TLS through rustls with
//! the ring provider (no aws-lc build).
//!
//! Every connection attempt gets a fresh `AsyncClient` + `EventLoop` with `clean_session = true`:
//! whatever rumqttc held in memory for the previous connection is dropped with it. Nothing is
//! lost by that: the outbox holds every block until the server's watermark covers it, and after
//! a reconnect the gateway replays the unacknowledged range on the backlog topic. Re-sending
//! rumqttc's in-memory queue instead would put stale samples on the live topic, and a persistent
//! broker session would only queue retained acknowledgements we get again on subscribe anyway.
//! A fresh client per connection also lets the last will carry the time of its connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ctg_wire::{Ack, Label, Topic, TopicKind};
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport,
};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerConfig, TlsConfig};

/// Largest MQTT packet sent or accepted: a full backlog block is about 11 KiB.
pub const MAX_PACKET: usize = 64 * 1024;
/// Requests rumqttc may queue between the gateway and the socket.
pub const REQUEST_CAPACITY: usize = 1024;
/// Reconnect delay grows from the first to the second value.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(5));

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: String },
    #[error("{path}: no PEM private key found")]
    NoKey { path: String },
    #[error("{path}: {source}")]
    Rustls { path: String, source: rustls::Error },
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|source| TlsError::Read { path: path.display().to_string(), source })
}

/// Builds the rustls client configuration: the site CA as the only trust anchor and, for mutual
/// TLS, the gateway's certificate and key.
pub fn tls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let ca_name = tls.ca.display().to_string();
    let mut roots = rustls::RootCertStore::empty();
    let mut found = false;
    for cert in rustls_pemfile::certs(&mut read_pem(&tls.ca)?.as_slice()) {
        let cert = cert.map_err(|source| TlsError::Read { path: ca_name.clone(), source })?;
        roots.add(cert).map_err(|source| TlsError::Rustls { path: ca_name.clone(), source })?;
        found = true;
    }
    if !found {
        return Err(TlsError::NoCertificate { path: ca_name });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls { path: ca_name.clone(), source })?
        .with_root_certificates(roots);
    let config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let cert_name = cert_path.display().to_string();
            let key_name = key_path.display().to_string();
            let chain = rustls_pemfile::certs(&mut read_pem(cert_path)?.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| TlsError::Read { path: cert_name.clone(), source })?;
            if chain.is_empty() {
                return Err(TlsError::NoCertificate { path: cert_name });
            }
            let key = rustls_pemfile::private_key(&mut read_pem(key_path)?.as_slice())
                .map_err(|source| TlsError::Read { path: key_name.clone(), source })?
                .ok_or(TlsError::NoKey { path: key_name.clone() })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::Rustls { path: key_name, source })?
        }
    };
    Ok(Arc::new(config))
}

/// PUBACKs counted for one connection; the gateway compares them with what it queued to pace
/// the backlog and to know its offline presence reached the broker.
#[derive(Debug, Default)]
pub struct PubAcks(AtomicU64);

impl PubAcks {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the connection task reports.
#[derive(Debug)]
pub enum MqttEvent {
    /// CONNACK received; `client` publishes on this connection only.
    Connected { generation: u64, client: AsyncClient, pubacks: Arc<PubAcks> },
    /// The broker confirmed the subscription to our acknowledgement topics; retained
    /// watermarks follow immediately.
    Subscribed { generation: u64 },
    /// A watermark for one of our devices.
    Ack { device: Label, ack: Ack },
    /// A message on our ack topics that does not follow the contract.
    BadAck { topic: String, error: String },
    /// The connection ended (error, broker gone, or our clean disconnect).
    Disconnected { generation: u64, error: String },
    /// A connection attempt failed.
    ConnectFailed { error: String },
}

/// Everything the connection task needs.
#[derive(Clone)]
pub struct MqttSetup {
    pub broker: BrokerConfig,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub site: Label,
    pub gateway: Label,
    /// Builds the last-will payload at each connection (offline presence, connection time).
    pub will: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
}

impl std::fmt::Debug for MqttSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSetup")
            .field("broker", &self.broker)
            .field("site", &self.site)
            .field("gateway", &self.gateway)
            .finish()
    }
}

impl MqttSetup {
    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(&self.broker.client_id, &self.broker.host, self.broker.port);
        o.set_keep_alive(self.broker.keep_alive);
        o.set_clean_session(true);
        o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        o.set_inflight(100);
        o.set_last_will(LastWill::new(
            Topic::presence(&self.site, &self.gateway),
            (self.will)(),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(tls) = &self.tls {
            o.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        o
    }
}

/// Runs connections until `stop` is cancelled or the receiver of `tx` is gone. Reconnects with
/// a growing delay; each connection reports [`MqttEvent::Connected`] and, when it ends,
/// [`MqttEvent::Disconnected`].
pub async fn run_connection(
    setup: MqttSetup,
    tx: mpsc::Sender<MqttEvent>,
    stop: CancellationToken,
) {
    let mut generation = 0u64;
    let mut backoff = BACKOFF.0;
    let ack_filter = Topic::ack_filter(&setup.site, &setup.gateway);
    while !stop.is_cancelled() {
        generation += 1;
        let (client, mut eventloop) = AsyncClient::new(setup.options(), REQUEST_CAPACITY);
        eventloop.network_options.set_connection_timeout(5);
        let pubacks = Arc::new(PubAcks::default());
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = drive(&setup, generation, &client, &mut eventloop, &pubacks, &ack_filter, &tx, &stop) => r,
        };
        match outcome {
            Drive::ReceiverGone | Drive::Stopped => return,
            Drive::Failed { was_connected: true } => backoff = BACKOFF.0,
            Drive::Failed { was_connected: false } => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

enum Drive {
    ReceiverGone,
    Stopped,
    Failed { was_connected: bool },
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    setup: &MqttSetup,
    generation: u64,
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    pubacks: &Arc<PubAcks>,
    ack_filter: &str,
    tx: &mpsc::Sender<MqttEvent>,
    stop: &CancellationToken,
) -> Drive {
    let mut connected = false;
    loop {
        let event = eventloop.poll().await;
        let report = match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                if let Err(e) = client.try_subscribe(ack_filter, QoS::AtLeastOnce) {
                    tracing::warn!(error = %e, "cannot queue the ack subscription");
                }
                tracing::info!(broker = %setup.broker.url, generation, "connected to broker");
                Some(MqttEvent::Connected {
                    generation,
                    client: client.clone(),
                    pubacks: pubacks.clone(),
                })
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => Some(MqttEvent::Subscribed { generation }),
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                pubacks.0.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(Event::Incoming(Packet::Publish(p))) => parse_ack(setup, &p.topic, &p.payload),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                let _ = tx
                    .send(MqttEvent::Disconnected { generation, error: "clean disconnect".into() })
                    .await;
                return Drive::Stopped;
            }
            Ok(_) => None,
            Err(e) => {
                let error = e.to_string();
                let report = if connected {
                    tracing::warn!(%error, generation, "broker connection lost");
                    MqttEvent::Disconnected { generation, error }
                } else {
                    tracing::debug!(%error, "broker connection attempt failed");
                    MqttEvent::ConnectFailed { error }
                };
                if tx.send(report).await.is_err() {
                    return Drive::ReceiverGone;
                }
                return if stop.is_cancelled() {
                    Drive::Stopped
                } else {
                    Drive::Failed { was_connected: connected }
                };
            }
        };
        if let Some(r) = report
            && tx.send(r).await.is_err()
        {
            return Drive::ReceiverGone;
        }
    }
}

fn parse_ack(setup: &MqttSetup, topic: &str, payload: &[u8]) -> Option<MqttEvent> {
    // An empty retained payload clears a retained message; nothing to apply.
    if payload.is_empty() {
        return None;
    }
    match Topic::parse(topic) {
        Some(Topic::Device { stream, kind: TopicKind::Ack })
            if stream.site == setup.site && stream.gateway == setup.gateway =>
        {
            match Ack::decode(payload) {
                Ok(ack) => Some(MqttEvent::Ack { device: stream.device, ack }),
                Err(e) => Some(MqttEvent::BadAck { topic: topic.to_owned(), error: e.to_string() }),
            }
        }
        _ => Some(MqttEvent::BadAck {
            topic: topic.to_owned(),
            error: "not an acknowledgement topic of this gateway".into(),
        }),
    }
}
