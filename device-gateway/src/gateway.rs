//! The gateway core: one task that owns the outbox and decides what is published when.
//!
//! ```text
//! device sources ──samples, events──► core ──append──► outbox (segment log, fsync group commit)
//!                                       │                  │
//!                                       │◄── durable ──────┘
//!                                       ├──► MQTT live topics (one sample per block)
//!                                       ├──► MQTT backlog topic (replay pass, paced)
//!                                       └◄── retained ack watermarks ──► outbox deletes
//! ```
//!
//! * Sequence numbers come from the outbox; a sample is appended before it is published, and
//!   with `sync = "always"` it is published only after the fsync that covers it.
//! * On every (re)connection: presence online (retained), subscribe to the ack topics, and once
//!   the retained watermarks have arrived, replay `[watermark + 1, first live sample)` of every
//!   stream on the backlog topic, paced, while new samples go live at once.
//! * If a watermark stops moving while samples are unacknowledged, the range is replayed
//!   again after `ack_timeout`, then after twice as long, and so on (the server or its broker
//!   session may have lost them).
//! * A fresh state directory first learns the retained watermarks and continues each stream at
//!   watermark + 1, so a reinstalled gateway never reuses a sequence number.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ctg_wire::block::{MAX_TIME_MS, MIN_TIME_MS};
use ctg_wire::control::DeviceInfo;
use ctg_wire::{
    ClockQuality, DeviceEvent, EventKind, Heartbeat, Label, Presence, PresenceState, SampleBlock,
    StreamId, Topic, TopicKind,
};
use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backlog::{BacklogItem, BacklogPass, ReplayRange};
use crate::config::{ClockSource, Config, SourceConfig, SyncPolicy};
use crate::device::{DeviceMetrics, DeviceOutput, wall_clock_ms};
use crate::metrics::{GatewayMetrics, StreamMetrics};
use crate::mqtt::{self, MqttEvent, MqttSetup, PubAcks, TlsError};
use crate::outbox::{Outbox, OutboxError, OutboxLimits, Recovery};
use crate::sources::{self, DeviceMsg, SourceCtx};

/// After the broker confirms the ack subscription, retained watermarks arrive at once; this
/// much quiet is taken to mean they all have.
const ACK_QUIET: Duration = Duration::from_millis(300);
/// Backlog blocks are only queued while fewer than this many publishes await a PUBACK, so
/// live samples never wait behind a long backlog.
const BACKLOG_MAX_INFLIGHT: u64 = 32;
/// Core timer: backlog pacing, heartbeats, gauges.
const CORE_TICK: Duration = Duration::from_millis(50);
/// How long a clean stop waits for the offline presence to be acknowledged by the broker.
const STOP_PUBACK_WAIT: Duration = Duration::from_secs(3);
/// Where systemd-timesyncd says the clock is synchronised.
const TIMESYNC_FLAG: &str = "/run/systemd/timesync/synchronized";

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("TLS setup: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr} for health and metrics: {source}")]
    Http { addr: SocketAddr, source: std::io::Error },
    #[error("device {device}: {message}")]
    Device { device: String, message: String },
}

/// A gateway ready to run: outbox recovered, endpoint bound. Lets a caller learn the endpoint's
/// address (port 0) and read metrics before and while it runs.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    outbox: Outbox,
    recovery: Recovery,
    metrics: Arc<GatewayMetrics>,
    listener: Option<tokio::net::TcpListener>,
    http_addr: Option<SocketAddr>,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    recordings: HashMap<usize, hardware::datasets::Recording>,
    probe_links: HashMap<usize, Box<dyn crate::ble::ProbeLink>>,
}

/// Runs a gateway until `shutdown` completes; a clean stop publishes the offline presence.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    Gateway::start(config).await?.run(shutdown).await
}

impl Gateway {
    /// Opens the outbox (recovering what a previous run left), binds the HTTP endpoint, loads
    /// TLS material and replay recordings. Nothing is read or published yet.
    pub async fn start(config: Config) -> Result<Gateway, GatewayError> {
        let limits = OutboxLimits {
            max_bytes: config.outbox.max_bytes,
            segment_bytes: config.outbox.segment_bytes,
        };
        let dir = config.gateway.state_dir.clone();
        let (outbox, recovery) = tokio::task::spawn_blocking(move || Outbox::open(&dir, limits))
            .await
            .map_err(|e| {
                GatewayError::Outbox(OutboxError::Io {
                    op: "open",
                    path: config.gateway.state_dir.clone(),
                    source: std::io::Error::other(e),
                })
            })??;
        if recovery.truncated_bytes > 0 {
            for note in &recovery.notes {
                tracing::warn!(%note, "outbox recovery");
            }
        }
        tracing::info!(
            segments = recovery.segments,
            records = recovery.records,
            blocks = recovery.blocks,
            "outbox opened"
        );
        let tls = config.broker.tls.as_ref().map(mqtt::tls_config).transpose()?;
        let mut recordings = HashMap::new();
        for (i, d) in config.devices.iter().enumerate() {
            if let SourceConfig::Replay { path, .. } = &d.source {
                let path = path.clone();
                let rec =
                    tokio::task::spawn_blocking(move || hardware::datasets::read_recording(&path))
                        .await
                        .map_err(|e| GatewayError::Device {
                            device: d.id.to_string(),
                            message: e.to_string(),
                        })?
                        .map_err(|e| GatewayError::Device {
                            device: d.id.to_string(),
                            message: e.to_string(),
                        })?;
                recordings.insert(i, rec);
            }
        }
        let devices = config
            .devices
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    Arc::new(DeviceMetrics::default()),
                    Arc::new(StreamMetrics::default()),
                )
            })
            .collect();
        let metrics = Arc::new(GatewayMetrics::new(devices));
        let (listener, http_addr) = match config.http.listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| GatewayError::Http { addr, source })?;
                let local = l.local_addr().map_err(|source| GatewayError::Http { addr, source })?;
                tracing::info!(%local, "health and metrics endpoint");
                (Some(l), Some(local))
            }
            None => (None, None),
        };
        Ok(Gateway {
            config,
            outbox,
            recovery,
            metrics,
            listener,
            http_addr,
            tls,
            recordings,
            probe_links: HashMap::new(),
        })
    }

    /// The bound address of the health and metrics endpoint, when enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    pub fn metrics(&self) -> Arc<GatewayMetrics> {
        self.metrics.clone()
    }

    /// Uses `link` instead of the Bluetooth adapter for BLE device `device` (another radio
    /// stack, or a fake probe in tests).
    pub fn set_probe_link(
        &mut self,
        device: &str,
        link: Box<dyn crate::ble::ProbeLink>,
    ) -> Result<(), GatewayError> {
        let index = self
            .config
            .devices
            .iter()
            .position(|d| d.id.as_str() == device && matches!(d.source, SourceConfig::Ble { .. }))
            .ok_or_else(|| GatewayError::Device {
                device: device.to_owned(),
                message: "no BLE device with this id".into(),
            })?;
        self.probe_links.insert(index, link);
        Ok(())
    }

    /// What outbox recovery found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), GatewayError> {
        let Gateway {
            config, outbox, metrics, listener, tls, mut recordings, mut probe_links, ..
        } = self;
        if !cfg!(feature = "ble")
            && let Some((_, d)) = config.devices.iter().enumerate().find(|(i, d)| {
                matches!(d.source, SourceConfig::Ble { .. }) && !probe_links.contains_key(i)
            })
        {
            return Err(GatewayError::Device {
                device: d.id.to_string(),
                message: "this build has no Bluetooth support (built without the `ble` feature)"
                    .into(),
            });
        }
        let http_stop = CancellationToken::new();
        let http_task =
            listener.map(|l| {
                let stop = http_stop.clone();
                tokio::spawn(crate::http::serve(l, metrics.clone(), async move {
                    stop.cancelled().await
                }))
            });

        let presence_devices: Arc<Mutex<Vec<DeviceInfo>>> = Arc::new(Mutex::new(Vec::new()));
        let will_devices = presence_devices.clone();
        let setup = MqttSetup {
            broker: config.broker.clone(),
            tls,
            site: config.gateway.site.clone(),
            gateway: config.gateway.id.clone(),
            will: Arc::new(move || {
                Presence {
                    v: ctg_wire::WIRE_VERSION,
                    state: PresenceState::Offline,
                    at_ms: clamp_time(wall_clock_ms()).0,
                    reason: "connection_lost".into(),
                    software: env!("CARGO_PKG_VERSION").into(),
                    devices: will_devices.lock().map(|d| d.clone()).unwrap_or_default(),
                }
                .encode()
            }),
        };
        let (mqtt_tx, mut mqtt_rx) = mpsc::channel(1024);
        let mqtt_stop = CancellationToken::new();
        let mqtt_task = tokio::spawn(mqtt::run_connection(setup, mqtt_tx, mqtt_stop.clone()));

        let mut core = Core::new(config, outbox, metrics.clone(), presence_devices);
        let mut shutdown = std::pin::pin!(shutdown);

        let fresh: Vec<Label> = core
            .cfg
            .devices
            .iter()
            .map(|d| d.id.clone())
            .filter(|l| core.outbox.stream(l).is_none())
            .collect();
        let mut started = true;
        if !fresh.is_empty() {
            metrics.set_state("waiting_for_ack_sync");
            started = core.ack_sync(&fresh, &mut mqtt_rx, &mut shutdown).await?;
        }

        let dev_cancel = CancellationToken::new();
        let mut threads = Vec::new();
        let mut tasks = Vec::new();
        let (dev_tx, mut dev_rx) = mpsc::channel::<DeviceMsg>(4096);
        if started {
            for (index, device) in core.cfg.devices.iter().enumerate() {
                let ctx = SourceCtx {
                    index,
                    device: device.clone(),
                    tx: dev_tx.clone(),
                    cancel: dev_cancel.clone(),
                    metrics: metrics.devices[index].1.clone(),
                };
                match &device.source {
                    SourceConfig::Serial { path, baud, .. } => {
                        let (path, baud) = (path.clone(), *baud);
                        let handle = std::thread::Builder::new()
                            .name(format!("serial-{}", device.id))
                            .spawn(move || sources::run_serial(ctx, path, baud))
                            .map_err(|e| GatewayError::Device {
                                device: device.id.to_string(),
                                message: e.to_string(),
                            })?;
                        threads.push(handle);
                    }
                    SourceConfig::Simulator { scenario, seed, speed } => {
                        tasks.push(tokio::spawn(sources::run_simulator(
                            ctx, *scenario, *seed, *speed,
                        )));
                    }
                    SourceConfig::Replay { speed, repeat, .. } => {
                        let rec = recordings.remove(&index).expect("recording loaded at start");
                        tasks.push(tokio::spawn(sources::run_replay(ctx, rec, *speed, *repeat)));
                    }
                    SourceConfig::Ble { target, adapter } => match probe_links.remove(&index) {
                        Some(link) => tasks.push(tokio::spawn(crate::ble::run_probe(ctx, link))),
                        None => tasks.push(tokio::spawn(crate::ble::run_btleplug(
                            ctx,
                            target.clone(),
                            adapter.clone(),
                        ))),
                    },
                }
            }
            metrics.set_state("running");
            tracing::info!(devices = core.cfg.devices.len(), "gateway running");
        }
        drop(dev_tx);

        let mut sync_task: Option<JoinHandle<std::io::Result<()>>> = None;
        let mut ticker = tokio::time::interval(CORE_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while started {
            tokio::select! {
                biased;
                _ = &mut shutdown => started = false,
                res = wait_sync(&mut sync_task) => {
                    sync_task = None;
                    core.on_synced(res);
                }
                Some(msg) = dev_rx.recv() => core.on_device(msg),
                Some(ev) = mqtt_rx.recv() => core.on_mqtt(ev),
                _ = ticker.tick() => core.on_tick(),
            }
            if sync_task.is_none() {
                sync_task = core.start_sync();
            }
        }

        // Clean stop: take in what the devices already produced, make it durable, say goodbye.
        metrics.set_state("stopping");
        dev_cancel.cancel();
        let drain_until = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            tokio::select! {
                m = dev_rx.recv() => match m {
                    Some(m) => core.on_device(m),
                    None => break,
                },
                _ = tokio::time::sleep_until(drain_until) => break,
            }
        }
        for t in tasks {
            t.abort();
        }
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        if let Some(t) = sync_task.take() {
            let res = t.await;
            core.on_synced(res);
        }
        core.final_sync();
        core.clean_stop(&mut mqtt_rx).await;
        mqtt_stop.cancel();
        let _ = mqtt_task.await;
        http_stop.cancel();
        if let Some(t) = http_task {
            let _ = t.await;
        }
        tracing::info!("gateway stopped");
        Ok(())
    }
}

async fn wait_sync(
    task: &mut Option<JoinHandle<std::io::Result<()>>>,
) -> Result<std::io::Result<()>, tokio::task::JoinError> {
    match task {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

/// Keeps receive times inside the wire contract's 2000–2100 range (a board without a real-time
/// clock can boot in 1970); a clamped time is flagged unsynchronised.
fn clamp_time(ms: i64) -> (i64, bool) {
    if ms < MIN_TIME_MS {
        (MIN_TIME_MS, true)
    } else if ms > MAX_TIME_MS {
        (MAX_TIME_MS, true)
    } else {
        (ms, false)
    }
}

/// Something appended and waiting to be published.
#[derive(Debug)]
enum Out {
    Block { stream: Label, seq: u64, payload: Vec<u8> },
    Event { stream: Label, id: u64, payload: Vec<u8> },
}

/// Where live publishing began on the current connection, per stream: everything before it is
/// backlog.
#[derive(Debug, Default, Clone, Copy)]
struct LiveMark {
    from_seq: Option<u64>,
    from_event: Option<u64>,
}

#[derive(Debug)]
struct Conn {
    generation: u64,
    client: AsyncClient,
    pubacks: Arc<PubAcks>,
    pubacks_counted: u64,
    sent: u64,
    subscribed_at: Option<Instant>,
    ready: bool,
    live: HashMap<Label, LiveMark>,
}

impl Conn {
    fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.pubacks.get())
    }

    fn publish(&mut self, topic: String, retain: bool, payload: Vec<u8>) -> bool {
        match self.client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            Ok(()) => {
                self.sent += 1;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "publish not queued (connection busy); it goes out with the backlog");
                false
            }
        }
    }
}

#[derive(Debug)]
struct Stall {
    since: Instant,
    factor: u32,
}

#[derive(Debug)]
struct DeviceSlot {
    label: Label,
    bed: String,
    connected: bool,
}

struct Core {
    cfg: Config,
    outbox: Outbox,
    metrics: Arc<GatewayMetrics>,
    devices: Vec<DeviceSlot>,
    index: HashMap<Label, usize>,
    conn: Option<Conn>,
    pending_sync: Vec<Out>,
    syncing: Vec<Out>,
    dirty_since: Option<Instant>,
    pass: Option<BacklogPass>,
    next_pass: BTreeMap<Label, ReplayRange>,
    tokens: f64,
    last_refill: Instant,
    stalls: HashMap<Label, Stall>,
    clock: ClockQuality,
    clock_checked: Option<Instant>,
    last_heartbeat: Instant,
    last_gauges: Instant,
    full_alarm: bool,
    presence_devices: Arc<Mutex<Vec<DeviceInfo>>>,
    write_errors_logged: Option<Instant>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("gateway", &self.cfg.gateway.id).finish_non_exhaustive()
    }
}

impl Core {
    fn new(
        cfg: Config,
        outbox: Outbox,
        metrics: Arc<GatewayMetrics>,
        presence_devices: Arc<Mutex<Vec<DeviceInfo>>>,
    ) -> Self {
        let devices: Vec<DeviceSlot> = cfg
            .devices
            .iter()
            .map(|d| DeviceSlot { label: d.id.clone(), bed: d.bed.clone(), connected: false })
            .collect();
        let index = devices.iter().enumerate().map(|(i, d)| (d.label.clone(), i)).collect();
        let now = Instant::now();
        let mut core = Self {
            cfg,
            outbox,
            metrics,
            devices,
            index,
            conn: None,
            pending_sync: Vec::new(),
            syncing: Vec::new(),
            dirty_since: None,
            pass: None,
            next_pass: BTreeMap::new(),
            tokens: 0.0,
            last_refill: now,
            stalls: HashMap::new(),
            clock: ClockQuality::Unknown,
            clock_checked: None,
            last_heartbeat: now,
            last_gauges: now - Duration::from_secs(10),
            full_alarm: false,
            presence_devices,
            write_errors_logged: None,
        };
        core.check_clock(now);
        core.update_gauges(now);
        core
    }

    fn stream_id(&self, device: &Label) -> StreamId {
        StreamId::new(self.cfg.gateway.site.clone(), self.cfg.gateway.id.clone(), device.clone())
    }

    fn topic(&self, device: &Label, kind: TopicKind) -> String {
        Topic::device(&self.stream_id(device), kind)
    }

    fn device_infos(&self) -> Vec<DeviceInfo> {
        self.devices
            .iter()
            .map(|d| DeviceInfo {
                device: d.label.clone(),
                bed: d.bed.clone(),
                connected: d.connected,
                next_seq: self.outbox.stream(&d.label).map_or(0, |s| s.next_seq),
            })
            .collect()
    }

    fn presence(&self, state: PresenceState, reason: &str) -> Vec<u8> {
        Presence {
            v: ctg_wire::WIRE_VERSION,
            state,
            at_ms: clamp_time(wall_clock_ms()).0,
            reason: reason.into(),
            software: env!("CARGO_PKG_VERSION").into(),
            devices: self.device_infos(),
        }
        .encode()
    }

    /// Fresh streams: learn the retained watermarks before numbering anything.
    async fn ack_sync(
        &mut self,
        fresh: &[Label],
        mqtt_rx: &mut mpsc::Receiver<MqttEvent>,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<bool, GatewayError> {
        tracing::info!(
            streams = ?fresh.iter().map(Label::as_str).collect::<Vec<_>>(),
            "no local state for these streams: reading their acknowledgement watermarks from the broker first"
        );
        let mut reminder = tokio::time::interval(Duration::from_secs(30));
        reminder.tick().await;
        loop {
            let quiet_until =
                self.conn.as_ref().and_then(|c| c.subscribed_at).map(|t| t + ACK_QUIET);
            let quiet = async {
                match quiet_until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut *shutdown => return Ok(false),
                ev = mqtt_rx.recv() => match ev {
                    Some(ev) => self.on_mqtt(ev),
                    None => return Ok(false),
                },
                _ = quiet => break,
                _ = reminder.tick() => tracing::warn!(broker = %self.cfg.broker.url, "still waiting for the broker to learn acknowledgement watermarks; devices are not read until then"),
            }
        }
        // Event ids of a fresh stream start from the clock (×1024), above any id an earlier
        // installation can have used, since the server de-duplicates events on their id.
        let first_event_id = (clamp_time(wall_clock_ms()).0 as u64) << 10;
        for label in fresh {
            let next_seq = self.outbox.stream(label).map_or(0, |s| s.next_seq);
            self.outbox.init_stream(label, next_seq, first_event_id)?;
            tracing::info!(device = %label, next_seq, "stream starts");
        }
        self.outbox.sync()?;
        Ok(true)
    }

    fn on_device(&mut self, (index, out): DeviceMsg) {
        let Some(label) = self.devices.get(index).map(|d| d.label.clone()) else { return };
        match out {
            DeviceOutput::Sample { sample, rx_utc_ms, device_time_ms } => {
                let (rx, clamped) = clamp_time(rx_utc_ms);
                if clamped {
                    self.metrics.clock_out_of_range.fetch_add(1, Ordering::Relaxed);
                }
                let seq = self.outbox.stream(&label).map_or(0, |s| s.next_seq);
                let block = SampleBlock {
                    first_seq: seq,
                    rx_utc_ms: rx,
                    device_time_ms,
                    clock: if clamped { ClockQuality::Unsynchronised } else { self.clock },
                    backlog: false,
                    samples: vec![sample],
                };
                if let Err(e) = self.outbox.append_block(&label, &block) {
                    self.write_error(&e);
                    self.outbox.advance_unwritten(&label, seq + 1, None);
                }
                if let Some(m) = self.metrics.stream(index) {
                    m.next_seq.store(seq + 1, Ordering::Relaxed);
                }
                self.after_write(Out::Block { stream: label, seq, payload: block.encode() });
                self.maintain();
            }
            DeviceOutput::Event { kind, at_ms } => self.record_event(&label, kind, at_ms),
            DeviceOutput::Connected(c) => {
                self.devices[index].connected = c;
            }
        }
    }

    fn record_event(&mut self, stream: &Label, kind: EventKind, at_ms: i64) {
        let Some(st) = self.outbox.stream(stream).copied() else { return };
        match &kind {
            EventKind::Link { .. }
            | EventKind::CableSilence { .. }
            | EventKind::PaperOut { .. } => {
                tracing::info!(device = %stream, event = ?kind, "device event");
            }
            EventKind::SamplesDropped { .. } => {
                tracing::error!(device = %stream, event = ?kind, "device event")
            }
            _ => tracing::debug!(device = %stream, event = ?kind, "device event"),
        }
        let event = DeviceEvent::new(st.next_event_id, clamp_time(at_ms).0, st.next_seq, kind);
        if let Err(e) = self.outbox.append_event(stream, &event) {
            self.write_error(&e);
            self.outbox.advance_unwritten(stream, st.next_seq, Some(event.id + 1));
        }
        if let Some(m) = self.index.get(stream).and_then(|&i| self.metrics.stream(i)) {
            m.events.fetch_add(1, Ordering::Relaxed);
        }
        self.after_write(Out::Event {
            stream: stream.clone(),
            id: event.id,
            payload: event.encode(),
        });
    }

    fn write_error(&mut self, e: &OutboxError) {
        self.metrics.outbox_write_errors.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if self.write_errors_logged.is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
        {
            self.write_errors_logged = Some(now);
            tracing::error!(error = %e, "outbox write failed; publishing without durability");
        }
    }

    /// Rotation and the size bound; announces what the bound gave up.
    fn maintain(&mut self) {
        match self.outbox.maintain() {
            Ok(dropped) => {
                for d in dropped {
                    let n = d.last_seq - d.first_seq + 1;
                    if let Some(m) = self.index.get(&d.stream).and_then(|&i| self.metrics.stream(i))
                    {
                        m.dropped.fetch_add(n, Ordering::Relaxed);
                    }
                    let kind = EventKind::SamplesDropped {
                        first_seq: d.first_seq,
                        last_seq: d.last_seq,
                        reason: "outbox_full".into(),
                    };
                    self.record_event(&d.stream, kind, wall_clock_ms());
                }
            }
            Err(e) => self.write_error(&e),
        }
    }

    fn after_write(&mut self, out: Out) {
        match self.cfg.outbox.sync {
            SyncPolicy::Always => self.pending_sync.push(out),
            SyncPolicy::Periodic(_) => {
                self.dirty_since.get_or_insert_with(Instant::now);
                self.publish_out(out);
            }
        }
    }

    /// Starts a group commit when records wait for one (or the periodic interval is over).
    fn start_sync(&mut self) -> Option<JoinHandle<std::io::Result<()>>> {
        let due = match self.cfg.outbox.sync {
            SyncPolicy::Always => !self.pending_sync.is_empty(),
            SyncPolicy::Periodic(every) => self.dirty_since.is_some_and(|t| t.elapsed() >= every),
        };
        if !due {
            return None;
        }
        match self.outbox.sync_handle() {
            Ok(file) => {
                self.syncing = std::mem::take(&mut self.pending_sync);
                self.dirty_since = None;
                Some(tokio::task::spawn_blocking(move || file.sync_data()))
            }
            Err(e) => {
                self.write_error(&e);
                for out in std::mem::take(&mut self.pending_sync) {
                    self.publish_out(out);
                }
                None
            }
        }
    }

    fn on_synced(&mut self, res: Result<std::io::Result<()>, tokio::task::JoinError>) {
        self.metrics.outbox_fsyncs.fetch_add(1, Ordering::Relaxed);
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let e =
                    OutboxError::Io { op: "fsync", path: self.outbox.dir().to_owned(), source: e };
                self.write_error(&e);
            }
            Err(e) => tracing::error!(error = %e, "fsync task failed"),
        }
        for out in std::mem::take(&mut self.syncing) {
            self.publish_out(out);
        }
    }

    /// At stop: everything appended is made durable and, if connected, published.
    fn final_sync(&mut self) {
        if let Err(e) = self.outbox.sync() {
            self.write_error(&e);
        }
        for out in std::mem::take(&mut self.syncing)
            .into_iter()
            .chain(std::mem::take(&mut self.pending_sync))
        {
            self.publish_out(out);
        }
    }

    /// Publishes a durable record live, unless it belongs to the backlog of this connection.
    fn publish_out(&mut self, out: Out) {
        let (stream, topic_kind) = match &out {
            Out::Block { stream, .. } => (stream.clone(), TopicKind::Samples),
            Out::Event { stream, .. } => (stream.clone(), TopicKind::Events),
        };
        let topic = self.topic(&stream, topic_kind);
        let index = self.index.get(&stream).copied();
        let Some(conn) = self.conn.as_mut() else { return };
        let mark = conn.live.entry(stream.clone()).or_default();
        match out {
            Out::Block { seq, payload, .. } => {
                match mark.from_seq {
                    Some(from) if seq < from => return,
                    Some(_) => {}
                    None => mark.from_seq = Some(seq),
                }
                if conn.publish(topic, false, payload) {
                    if let Some(m) = index.and_then(|i| self.metrics.stream(i)) {
                        m.published_live.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    let r = ReplayRange { seqs: vec![(seq, seq + 1)], events_below: 0 };
                    self.next_pass.entry(stream).or_default().merge(&r);
                }
            }
            Out::Event { id, payload, .. } => {
                match mark.from_event {
                    Some(from) if id < from => return,
                    Some(_) => {}
                    None => mark.from_event = Some(id),
                }
                if !conn.publish(topic, false, payload) {
                    let r = ReplayRange { seqs: vec![], events_below: id + 1 };
                    self.next_pass.entry(stream).or_default().merge(&r);
                }
            }
        }
    }

    fn on_mqtt(&mut self, ev: MqttEvent) {
        match ev {
            MqttEvent::Connected { generation, client, pubacks } => {
                self.metrics.mqtt_connected.store(true, Ordering::Relaxed);
                self.metrics.mqtt_connects.fetch_add(1, Ordering::Relaxed);
                let mut conn = Conn {
                    generation,
                    client,
                    pubacks,
                    pubacks_counted: 0,
                    sent: 0,
                    subscribed_at: None,
                    ready: false,
                    live: HashMap::new(),
                };
                // Everything numbered before this connection is backlog; from here on, live.
                for (label, st) in self.outbox.streams() {
                    conn.live.insert(
                        label.clone(),
                        LiveMark {
                            from_seq: Some(st.next_seq),
                            from_event: Some(st.next_event_id),
                        },
                    );
                }
                let presence = self.presence(PresenceState::Online, "");
                conn.publish(
                    Topic::presence(&self.cfg.gateway.site, &self.cfg.gateway.id),
                    true,
                    presence,
                );
                self.conn = Some(conn);
                self.pass = None;
                self.next_pass.clear();
            }
            MqttEvent::Subscribed { generation } => {
                if let Some(c) = self.conn.as_mut().filter(|c| c.generation == generation) {
                    c.subscribed_at = Some(Instant::now());
                }
            }
            MqttEvent::Ack { device, ack } => self.on_ack(&device, ack.through_seq),
            MqttEvent::BadAck { topic, error } => {
                self.metrics.bad_acks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%topic, %error, "ignoring a bad acknowledgement message");
            }
            MqttEvent::Disconnected { generation, error } => {
                if self.conn.as_ref().is_some_and(|c| c.generation == generation) {
                    tracing::warn!(%error, "broker connection lost; the outbox keeps everything until it is back");
                    self.count_pubacks();
                    self.conn = None;
                    self.pass = None;
                    self.next_pass.clear();
                    self.metrics.mqtt_connected.store(false, Ordering::Relaxed);
                }
            }
            MqttEvent::ConnectFailed { error } => {
                tracing::debug!(%error, "broker not reachable");
            }
        }
    }

    fn on_ack(&mut self, device: &Label, through: u64) {
        // Retained watermarks of devices this gateway neither has nor had are someone else's
        // history (a removed device); adopting them would only add state.
        if !self.index.contains_key(device) && self.outbox.stream(device).is_none() {
            return;
        }
        match self.outbox.ack(device, through) {
            Ok(out) => {
                if let Some((from, to)) = out.jumped {
                    tracing::warn!(
                        device = %device,
                        from,
                        to,
                        "the server has samples this gateway had not numbered (reinstalled, or state lost); numbering continues after them"
                    );
                }
                if out.newly_acked > 0 || out.jumped.is_some() {
                    self.stalls.insert(device.clone(), Stall { since: Instant::now(), factor: 1 });
                }
                if let Some(m) = self.index.get(device).and_then(|&i| self.metrics.stream(i)) {
                    m.acknowledged.fetch_add(out.newly_acked, Ordering::Relaxed);
                    m.watermark_next.store(through + 1, Ordering::Relaxed);
                    if let Some(st) = self.outbox.stream(device) {
                        m.next_seq.store(st.next_seq, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => self.write_error(&e),
        }
    }

    /// The retained watermarks have arrived: everything before the first live sample of this
    /// connection is backlog.
    fn on_ready(&mut self) {
        if let Err(e) = self.outbox.sync() {
            self.write_error(&e);
        }
        let Some(conn) = self.conn.as_mut() else { return };
        let mut ranges = BTreeMap::new();
        for (label, st) in self.outbox.streams() {
            let mark = conn.live.entry(label.clone()).or_default();
            let to = *mark.from_seq.get_or_insert(st.next_seq);
            let events_below = *mark.from_event.get_or_insert(st.next_event_id);
            let from = st.watermark.map_or(0, |w| w + 1);
            let seqs = if from < to { vec![(from, to)] } else { vec![] };
            if !seqs.is_empty() {
                tracing::info!(device = %label, from, to, "replaying backlog");
            }
            ranges.insert(label.clone(), ReplayRange { seqs, events_below });
        }
        for (label, r) in std::mem::take(&mut self.next_pass) {
            ranges.entry(label).or_default().merge(&r);
        }
        self.pass = BacklogPass::new(&self.outbox, ranges);
        // Ranges the size bound gave up are announced again on every connection until the
        // watermark passes them: the first announcement may itself have been given up.
        let unannounced: Vec<(Label, u64, u64)> = self
            .outbox
            .streams()
            .filter_map(|(label, st)| {
                let first = st.watermark.map_or(0, |w| w + 1);
                st.dropped_through.filter(|&d| d >= first).map(|d| (label.clone(), first, d))
            })
            .collect();
        for (label, first_seq, last_seq) in unannounced {
            let kind =
                EventKind::SamplesDropped { first_seq, last_seq, reason: "outbox_full".into() };
            self.record_event(&label, kind, wall_clock_ms());
        }
        let now = Instant::now();
        for (label, _) in self.outbox.streams() {
            self.stalls.insert(label.clone(), Stall { since: now, factor: 1 });
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if let Some(c) = self.conn.as_mut()
            && !c.ready
            && c.subscribed_at.is_some_and(|t| now.duration_since(t) >= ACK_QUIET)
        {
            c.ready = true;
            self.on_ready();
        }
        self.pump_backlog(now);
        if now.duration_since(self.last_heartbeat) >= self.cfg.gateway.heartbeat_interval {
            self.last_heartbeat = now;
            self.heartbeat();
        }
        if now.duration_since(self.last_gauges) >= Duration::from_secs(1) {
            self.last_gauges = now;
            self.update_gauges(now);
            self.check_stalls(now);
            self.check_clock(now);
        }
    }

    fn pump_backlog(&mut self, now: Instant) {
        let rate = f64::from(self.cfg.outbox.backlog_blocks_per_s);
        self.tokens = (self.tokens + now.duration_since(self.last_refill).as_secs_f64() * rate)
            .min(rate.max(4.0) / 4.0);
        self.last_refill = now;
        let Some(conn) = self.conn.as_mut().filter(|c| c.ready) else { return };
        if self.pass.is_none() && !self.next_pass.is_empty() {
            self.pass = BacklogPass::new(&self.outbox, std::mem::take(&mut self.next_pass));
        }
        let Some(pass) = self.pass.as_mut() else { return };
        while self.tokens >= 1.0 && conn.in_flight() < BACKLOG_MAX_INFLIGHT {
            let item = match pass.next(&self.outbox) {
                Ok(Some(item)) => item,
                Ok(None) => {
                    self.pass = None;
                    tracing::info!("backlog replay pass complete");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox for backlog replay");
                    self.pass = None;
                    return;
                }
            };
            let (stream, kind, payload, samples) = match &item {
                BacklogItem::Block { stream, block } => {
                    (stream.clone(), TopicKind::Backlog, block.encode(), block.samples.len() as u64)
                }
                BacklogItem::Event { stream, event } => {
                    (stream.clone(), TopicKind::Events, event.encode(), 0)
                }
            };
            let topic = Topic::device(
                &StreamId::new(
                    self.cfg.gateway.site.clone(),
                    self.cfg.gateway.id.clone(),
                    stream.clone(),
                ),
                kind,
            );
            if !conn.publish(topic, false, payload) {
                pass.unpop(item);
                return;
            }
            self.tokens -= 1.0;
            if samples > 0 {
                self.metrics.backlog_blocks.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = self.index.get(&stream).and_then(|&i| self.metrics.stream(i)) {
                    m.published_backlog.fetch_add(samples, Ordering::Relaxed);
                }
            }
        }
    }

    /// Watermarks that stopped moving: publish the unacknowledged range again, backing off.
    fn check_stalls(&mut self, now: Instant) {
        if !self.conn.as_ref().is_some_and(|c| c.ready) {
            return;
        }
        let timeout = self.cfg.outbox.ack_timeout;
        let mut due = Vec::new();
        for (label, st) in self.outbox.streams() {
            let stall = self.stalls.entry(label.clone()).or_insert(Stall { since: now, factor: 1 });
            if st.unacked() == 0 {
                stall.since = now;
                stall.factor = 1;
                continue;
            }
            if now.duration_since(stall.since) >= timeout * stall.factor {
                due.push((label.clone(), *st));
                stall.since = now;
                stall.factor = (stall.factor * 2).min(16);
            }
        }
        for (label, st) in due {
            let from = st.watermark.map_or(0, |w| w + 1);
            tracing::warn!(
                device = %label,
                from,
                to = st.next_seq,
                "watermark has not moved; publishing the unacknowledged range again on the backlog topic"
            );
            let r = ReplayRange { seqs: vec![(from, st.next_seq)], events_below: st.next_event_id };
            self.next_pass.entry(label).or_default().merge(&r);
        }
    }

    fn heartbeat(&mut self) {
        let d = self.outbox.depth();
        let now_ms = clamp_time(wall_clock_ms()).0;
        let hb = Heartbeat {
            v: ctg_wire::WIRE_VERSION,
            at_ms: now_ms,
            uptime_s: self.metrics.started.elapsed().as_secs(),
            outbox_blocks: d.samples,
            outbox_bytes: d.bytes,
            outbox_oldest_age_ms: d.oldest_rx_ms.map_or(0, |t| (now_ms - t).max(0) as u64),
            outbox_full: d.full,
            devices: self.device_infos(),
        };
        let topic = Topic::heartbeat(&self.cfg.gateway.site, &self.cfg.gateway.id);
        if let Some(c) = self.conn.as_mut() {
            c.publish(topic, false, hb.encode());
        }
    }

    fn count_pubacks(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            let n = c.pubacks.get();
            self.metrics.mqtt_pubacks.fetch_add(n - c.pubacks_counted, Ordering::Relaxed);
            c.pubacks_counted = n;
        }
    }

    fn update_gauges(&mut self, _now: Instant) {
        self.count_pubacks();
        let d = self.outbox.depth();
        let m = &self.metrics;
        m.outbox_samples.store(d.samples, Ordering::Relaxed);
        m.outbox_bytes.store(d.bytes, Ordering::Relaxed);
        m.outbox_segments.store(d.segments as u64, Ordering::Relaxed);
        let age = d.oldest_rx_ms.map_or(0, |t| (wall_clock_ms() - t).max(0) as u64);
        m.outbox_oldest_age_ms.store(age, Ordering::Relaxed);
        m.outbox_full.store(d.full, Ordering::Relaxed);
        if d.full != self.full_alarm {
            self.full_alarm = d.full;
            if d.full {
                tracing::error!(
                    bytes = d.bytes,
                    max = self.cfg.outbox.max_bytes,
                    "ALARM: outbox full: the oldest unacknowledged samples are being given up (samples_dropped events)"
                );
            } else {
                tracing::info!("outbox below its bound again");
            }
        }
        for (i, slot) in self.devices.iter().enumerate() {
            if let (Some(m), Some(st)) = (self.metrics.stream(i), self.outbox.stream(&slot.label)) {
                m.next_seq.store(st.next_seq, Ordering::Relaxed);
                m.watermark_next.store(st.watermark.map_or(0, |w| w + 1), Ordering::Relaxed);
            }
        }
        let infos = self.device_infos();
        if let Ok(mut p) = self.presence_devices.lock() {
            *p = infos;
        }
    }

    fn check_clock(&mut self, now: Instant) {
        if self.clock_checked.is_some_and(|t| now.duration_since(t) < Duration::from_secs(60)) {
            return;
        }
        self.clock_checked = Some(now);
        self.clock = match self.cfg.gateway.clock {
            ClockSource::Synchronised => ClockQuality::Synchronised,
            ClockSource::Unsynchronised => ClockQuality::Unsynchronised,
            ClockSource::Unknown => ClockQuality::Unknown,
            ClockSource::Auto => {
                if std::path::Path::new(TIMESYNC_FLAG).exists() {
                    ClockQuality::Synchronised
                } else {
                    ClockQuality::Unknown
                }
            }
        };
    }

    /// Offline presence (retained), wait for the broker to take it, disconnect.
    async fn clean_stop(&mut self, mqtt_rx: &mut mpsc::Receiver<MqttEvent>) {
        let presence = self.presence(PresenceState::Offline, "clean_stop");
        let Some(conn) = self.conn.as_mut() else { return };
        let topic = Topic::presence(&self.cfg.gateway.site, &self.cfg.gateway.id);
        if !conn.publish(topic, true, presence) {
            tracing::warn!("could not queue the offline presence");
        }
        let deadline = tokio::time::Instant::now() + STOP_PUBACK_WAIT;
        while conn.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::select! {
                ev = mqtt_rx.recv() => match ev {
                    Some(MqttEvent::Disconnected { .. }) | None => break,
                    Some(_) => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        if conn.in_flight() > 0 {
            tracing::warn!(
                unacknowledged = conn.in_flight(),
                "stopping with publishes the broker has not acknowledged (the outbox keeps the samples)"
            );
        }
        let _ = conn.client.try_disconnect();
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            tokio::select! {
                ev = mqtt_rx.recv() => match ev {
                    Some(MqttEvent::Disconnected { .. }) | None => break,
                    Some(_) => {}
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        self.count_pubacks();
        self.conn = None;
        self.metrics.mqtt_connected.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// `run` is spawned by embedding programs (the server's demo): its future must be `Send`.
    #[test]
    fn the_run_future_can_be_spawned() {
        let beds = [crate::SimulatedBed {
            device: "bed-1".into(),
            bed: "1".into(),
            scenario: "normal-labour".into(),
            seed: 1,
        }];
        let config = Config::simulated(
            "s",
            "g",
            "mqtt://127.0.0.1:1",
            &beds,
            std::path::Path::new("/nonexistent"),
        )
        .unwrap();
        let fut = run(config, async {});
        assert_send(&fut);
        drop(fut);
    }

    #[test]
    fn clock_is_clamped_into_the_contract() {
        assert_eq!(clamp_time(0), (MIN_TIME_MS, true));
        assert_eq!(clamp_time(1_790_000_000_000), (1_790_000_000_000, false));
        assert_eq!(clamp_time(i64::MAX), (MAX_TIME_MS, true));
    }
}
