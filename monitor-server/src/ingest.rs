//! Ingest: MQTT in, validation, idempotent storage in batches, acknowledgement watermarks out.
//!
//! ```text
//! broker ──► mqtt loop: parse topic, validate payload ──► registry (dedupe, accounting)
//!                 │                                   └─► live hub (stamped with the binding)
//!                 └──► writer: batch ──► Store::write_batch (one transaction)
//!                                  └──► registry.commit ──► retained ack per stream
//! ```
//!
//! A bad payload is counted (globally and on its stream), logged with the stream, and dropped;
//! it never reaches storage and never stops the loop. The watermark is published only after the
//! transaction holding the samples has committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctg_wire::{
    Ack, DeviceEvent, EventKind, Heartbeat, Presence, SampleBlock, StreamId, Topic, TopicKind,
};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::Core;
use crate::live::{Columns, PatientStamp, ServerMsg};
use crate::model::{IngestBatch, Millis, SampleRun, StoredEvent, StoredSample, StreamDelta};
use crate::now_ms;
use crate::registry::Rejection;

/// Largest MQTT packet accepted or sent (a 1200-sample backlog block is about 12 KiB).
pub const MAX_PACKET: usize = 256 * 1024;

/// Ingest counters for operators.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub messages: AtomicU64,
    pub blocks_accepted: AtomicU64,
    pub samples_accepted: AtomicU64,
    pub events_accepted: AtomicU64,
    pub batches_written: AtomicU64,
    pub batch_failures: AtomicU64,
    pub acks_published: AtomicU64,
    pub connected: AtomicBool,
    /// The last storage write failed: history is unavailable to viewers until one succeeds
    /// (live monitoring is unaffected).
    pub storage_down: AtomicBool,
    /// Samples accepted and not yet stored (queued, or in the batch being written).
    pub samples_held: AtomicU64,
    /// Samples let go because the queue was full while storage was down.
    pub samples_shed: AtomicU64,
    /// Shed samples that came back from the gateways and were queued for storage.
    pub samples_reclaimed: AtomicU64,
    shed: Mutex<Shed>,
}

/// What the ingest let go while storage was down and its queue full, so that live monitoring
/// keeps reading the broker instead of stalling behind the database.
///
/// The registry has seen these sequence numbers, so it would refuse them as duplicates when the
/// gateways publish them again (they do: nothing was acknowledged, and a gateway republishes
/// what stays unacknowledged). Samples in these ranges are therefore passed straight to storage
/// when they come back. Counter increments of dropped work items wait here for the next batch,
/// so the accounting stays exact. In memory only: after a restart the registry is rebuilt from
/// what is stored and the ranges are simply missing.
#[derive(Debug, Default)]
struct Shed {
    ranges: HashMap<i64, Vec<(u64, u64)>>,
    deltas: HashMap<i64, StreamDelta>,
}

/// Adds `a..=b` to sorted, disjoint, non-adjacent ranges.
fn ranges_add(v: &mut Vec<(u64, u64)>, a: u64, b: u64) {
    let (mut a, mut b) = (a, b);
    v.retain(|&(x, y)| {
        let touches = x <= b.saturating_add(1) && a <= y.saturating_add(1);
        if touches {
            a = a.min(x);
            b = b.max(y);
        }
        !touches
    });
    let at = v.partition_point(|&(x, _)| x < a);
    v.insert(at, (a, b));
}

/// Removes and returns the parts of `v` inside `a..=b`.
fn ranges_take(v: &mut Vec<(u64, u64)>, a: u64, b: u64) -> Vec<(u64, u64)> {
    let mut taken = Vec::new();
    let mut kept = Vec::with_capacity(v.len() + 1);
    for &(x, y) in v.iter() {
        if y < a || x > b {
            kept.push((x, y));
            continue;
        }
        taken.push((x.max(a), y.min(b)));
        if x < a {
            kept.push((x, a - 1));
        }
        if y > b {
            kept.push((b + 1, y));
        }
    }
    *v = kept;
    taken
}

fn add_delta(into: &mut StreamDelta, d: &StreamDelta) {
    into.duplicates_rejected += d.duplicates_rejected;
    into.rejected_payloads += d.rejected_payloads;
    into.last_arrival_ms = into.last_arrival_ms.max(d.last_arrival_ms);
}

impl IngestStats {
    fn shed(&self) -> std::sync::MutexGuard<'_, Shed> {
        // The data is plain ranges and counters: a panic elsewhere cannot leave it inconsistent.
        self.shed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a work item go (queue full while storage is down); see [`Shed`].
    fn shed_item(&self, item: WriteItem) {
        let mut shed = self.shed();
        match item {
            WriteItem::Samples { key, samples, duplicates, arrived_ms } => {
                let n = samples.len() as u64;
                let ranges = shed.ranges.entry(key).or_default();
                for s in &samples {
                    ranges_add(ranges, s.seq, s.seq);
                }
                let d = shed.deltas.entry(key).or_default();
                add_delta(
                    d,
                    &StreamDelta {
                        duplicates_rejected: duplicates,
                        rejected_payloads: 0,
                        last_arrival_ms: arrived_ms,
                    },
                );
                self.samples_held.fetch_sub(n, Ordering::Relaxed);
                self.samples_shed.fetch_add(n, Ordering::Relaxed);
            }
            // Device events are published again by the gateway and stored idempotently.
            WriteItem::Event { .. } => {}
            WriteItem::Rejected { key } => {
                shed.deltas.entry(key).or_default().rejected_payloads += 1
            }
        }
    }

    /// Takes the shed ranges of a stream inside `a..=b` (they are being stored now).
    fn reclaim(&self, key: i64, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut shed = self.shed();
        let Some(v) = shed.ranges.get_mut(&key) else { return Vec::new() };
        let taken = ranges_take(v, a, b);
        if v.is_empty() {
            shed.ranges.remove(&key);
        }
        taken
    }

    fn take_shed_deltas(&self) -> HashMap<i64, StreamDelta> {
        std::mem::take(&mut self.shed().deltas)
    }
}

#[derive(Debug, Serialize)]
pub struct IngestStatsView {
    pub broker_connected: bool,
    pub messages: u64,
    pub blocks_accepted: u64,
    pub samples_accepted: u64,
    pub events_accepted: u64,
    pub batches_written: u64,
    pub batch_failures: u64,
    pub acks_published: u64,
    /// False while the database cannot be written: viewers see a "history unavailable" banner.
    pub storage_available: bool,
    pub samples_held: u64,
    pub samples_shed: u64,
    pub samples_reclaimed: u64,
}

impl IngestStats {
    pub fn view(&self) -> IngestStatsView {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IngestStatsView {
            broker_connected: self.connected.load(Ordering::Relaxed),
            messages: g(&self.messages),
            blocks_accepted: g(&self.blocks_accepted),
            samples_accepted: g(&self.samples_accepted),
            events_accepted: g(&self.events_accepted),
            batches_written: g(&self.batches_written),
            batch_failures: g(&self.batch_failures),
            acks_published: g(&self.acks_published),
            storage_available: !self.storage_down.load(Ordering::Relaxed),
            samples_held: g(&self.samples_held),
            samples_shed: g(&self.samples_shed),
            samples_reclaimed: g(&self.samples_reclaimed),
        }
    }
}

/// Work for the storage writer.
#[derive(Debug)]
enum WriteItem {
    Samples { key: i64, samples: Vec<StoredSample>, duplicates: u64, arrived_ms: Option<Millis> },
    Event { key: i64, event: DeviceEvent, arrived_ms: Millis },
    Rejected { key: i64 },
}

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct BrokerEndpoint {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub keep_alive: Duration,
}

/// The running ingest: its tasks end after `shutdown` is cancelled and the last batch is
/// stored and acknowledged.
#[derive(Debug)]
pub struct IngestTasks {
    pub mqtt: tokio::task::JoinHandle<()>,
    pub writer: tokio::task::JoinHandle<()>,
}

impl IngestTasks {
    pub async fn join(self) {
        let _ = self.mqtt.await;
        let _ = self.writer.await;
    }
}

pub fn start(
    core: Arc<Core>,
    endpoint: BrokerEndpoint,
    shutdown: CancellationToken,
) -> IngestTasks {
    let mut opts =
        MqttOptions::new(endpoint.client_id.clone(), endpoint.host.clone(), endpoint.port);
    opts.set_keep_alive(endpoint.keep_alive);
    // Persistent session: the broker queues QoS 1 messages while the server restarts.
    opts.set_clean_session(false);
    opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    opts.set_inflight(1000);
    if let Some((u, p)) = &endpoint.credentials {
        opts.set_credentials(u.clone(), p.clone());
    }
    let (client, eventloop) = AsyncClient::new(opts, 8192);
    let (tx, rx) = mpsc::channel(core.config.ingest.queue_blocks);
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(writer_loop(core.clone(), rx, client.clone(), writer_done.clone()));
    let mqtt = tokio::spawn(mqtt_loop(core, client, eventloop, tx, shutdown, writer_done));
    IngestTasks { mqtt, writer }
}

async fn mqtt_loop(
    core: Arc<Core>,
    client: AsyncClient,
    mut eventloop: EventLoop,
    writer: mpsc::Sender<WriteItem>,
    shutdown: CancellationToken,
    writer_done: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            ev = eventloop.poll() => ev,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(200);
                core.ingest_stats.connected.store(true, Ordering::Relaxed);
                tracing::info!("connected to the MQTT broker");
                let filters = ctg_wire::topic::SERVER_FILTERS
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce));
                if let Err(e) = client.try_subscribe_many(filters) {
                    tracing::error!("cannot subscribe: {e}");
                }
                // Retained watermarks may be gone with a broker restart: publish them again.
                let marks = core.registry().all_watermarks();
                for (stream, through) in marks {
                    publish_ack(&core, &client, &stream, through);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                core.ingest_stats.messages.fetch_add(1, Ordering::Relaxed);
                handle_publish(&core, &writer, &p.topic, &p.payload, now_ms()).await;
            }
            Ok(_) => {}
            Err(e) => {
                if core.ingest_stats.connected.swap(false, Ordering::Relaxed) {
                    tracing::warn!("MQTT connection lost: {e}");
                } else {
                    tracing::debug!("MQTT connection failed: {e}");
                }
                // Reconnection backoff (not a test wait): the event loop reconnects on the next poll.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Shutdown: stop taking messages, let the writer store and acknowledge what it has, and keep
    // the connection polled so those acknowledgements leave before disconnecting.
    drop(writer);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::select! {
            _ = writer_done.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => break,
            ev = eventloop.poll() => if ev.is_err() { tokio::time::sleep(Duration::from_millis(50)).await },
        }
    }
    let _ = client.try_disconnect();
    let flush_deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < flush_deadline {
        match tokio::time::timeout_at(flush_deadline, eventloop.poll()).await {
            Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
    core.ingest_stats.connected.store(false, Ordering::Relaxed);
}

/// Validates and dispatches one MQTT message. Never panics on any input.
async fn handle_publish(
    core: &Core,
    writer: &mpsc::Sender<WriteItem>,
    topic: &str,
    payload: &[u8],
    now: Millis,
) {
    let Some(parsed) = Topic::parse(topic) else {
        core.registry().reject(Rejection::Topic, None);
        tracing::warn!(topic = %topic.chars().take(200).collect::<String>(), "rejected: topic outside ctg/v1");
        return;
    };
    let site = match &parsed {
        Topic::Device { stream, .. } => &stream.site,
        Topic::Presence { site, .. } | Topic::Heartbeat { site, .. } => site,
    };
    if !core.config.ingest.sites.is_empty()
        && !core.config.ingest.sites.iter().any(|s| s == site.as_str())
    {
        core.registry().reject(Rejection::UnknownSite, None);
        tracing::warn!(%topic, "rejected: site {site} is not served here");
        return;
    }
    match parsed {
        Topic::Device { stream, kind: TopicKind::Samples | TopicKind::Backlog } => {
            handle_block(core, writer, &stream, payload, now).await;
        }
        Topic::Device { stream, kind: TopicKind::Events } => {
            handle_event(core, writer, &stream, payload, now).await
        }
        // Our own acknowledgements; not subscribed, ignored if a broker delivers them anyway.
        Topic::Device { kind: TopicKind::Ack, .. } => {}
        Topic::Presence { site, gateway } => match Presence::decode(payload) {
            Ok(p) => {
                tracing::info!(%site, %gateway, state = ?p.state, reason = %p.reason, "gateway presence");
                core.registry().presence(&site, &gateway, p, now);
            }
            Err(e) => {
                core.registry().reject(Rejection::InvalidPresence, None);
                tracing::warn!(%site, %gateway, "rejected presence: {e}");
            }
        },
        Topic::Heartbeat { site, gateway } => match Heartbeat::decode(payload) {
            Ok(h) => core.registry().heartbeat(&site, &gateway, h, now),
            Err(e) => {
                core.registry().reject(Rejection::InvalidHeartbeat, None);
                tracing::warn!(%site, %gateway, "rejected heartbeat: {e}");
            }
        },
    }
}

async fn reject_on_stream(
    core: &Core,
    writer: &mpsc::Sender<WriteItem>,
    stream: &StreamId,
    reason: Rejection,
    why: &str,
) {
    tracing::warn!(%stream, ?reason, "rejected payload: {why}");
    let key = {
        let mut r = core.registry();
        if r.reject(reason, Some(stream)) { r.stream_key(stream) } else { None }
    };
    if let Some(key) = key {
        enqueue(core, writer, WriteItem::Rejected { key }, stream).await;
    }
}

/// Returns the stream's key, registering it (in storage, then in memory) on first sight.
async fn stream_key(core: &Core, stream: &StreamId, now: Millis) -> Option<i64> {
    if let Some(k) = core.registry().stream_key(stream) {
        return Some(k);
    }
    match core.store.ensure_stream(stream, now).await {
        Ok(key) => {
            core.registry().add_stream(key, stream.clone());
            tracing::info!(%stream, "new stream");
            Some(key)
        }
        Err(e) => {
            tracing::error!(%stream, "cannot register stream: {e}");
            None
        }
    }
}

async fn handle_block(
    core: &Core,
    writer: &mpsc::Sender<WriteItem>,
    stream: &StreamId,
    payload: &[u8],
    now: Millis,
) {
    let block = match SampleBlock::decode(payload) {
        Ok(b) => b,
        Err(e) => {
            return reject_on_stream(core, writer, stream, Rejection::InvalidBlock, &e.to_string())
                .await;
        }
    };
    if i64::try_from(block.last_seq()).is_err() {
        return reject_on_stream(
            core,
            writer,
            stream,
            Rejection::SequenceRange,
            "sequence number above 2^63-1",
        )
        .await;
    }
    let Some(key) = stream_key(core, stream, now).await else { return };
    // Parts shed while storage was down go straight to storage; the rest through the registry.
    let reclaimed = core.ingest_stats.reclaim(key, block.first_seq, block.last_seq());
    let (accepted, assignment) = {
        let mut r = core.registry();
        r.heard_from(&stream.site, &stream.gateway, now);
        let acc = if reclaimed.is_empty() {
            r.accept_block(stream, &block, now)
        } else {
            let mut acc = crate::registry::Accepted::default();
            for (a, b) in uncovered(block.first_seq, block.last_seq(), &reclaimed) {
                let part = r.accept_block(stream, &sub_block(&block, a, b), now);
                acc.samples.extend(part.samples);
                acc.duplicates += part.duplicates;
                acc.advanced_head |= part.advanced_head;
            }
            acc
        };
        // Stamp with the binding that covers these samples right now; samples of an ended
        // binding are stored but never shown under whoever holds the bed now.
        let assignment = acc.samples.iter().find_map(|s| r.assignment_for_sample(stream, s.seq));
        (acc, assignment)
    };
    core.ingest_stats.blocks_accepted.fetch_add(1, Ordering::Relaxed);
    core.ingest_stats.samples_accepted.fetch_add(accepted.samples.len() as u64, Ordering::Relaxed);
    if let Some(a) = &assignment
        && let Some(binding) = &a.binding
    {
        let shown: Vec<&StoredSample> =
            accepted.samples.iter().filter(|s| binding.covers(s.seq)).collect();
        if !shown.is_empty() {
            let patient = PatientStamp::of(a, now);
            let stream_text = stream.to_string();
            let msg = ServerMsg::Samples {
                bed: &a.bed,
                binding_id: binding.binding_id,
                patient: &patient,
                stream: &stream_text,
                arrived_ms: now,
                backfill: block.backlog || !accepted.advanced_head,
                samples: Columns::from_samples(shown.iter().copied()),
            };
            core.hub.publish(&a.bed, msg.to_shared());
            // After the fan-out, and never waiting: analysis is off the latency path.
            let ga_weeks = PatientStamp::of(a, now).ga_weeks;
            let run: Vec<StoredSample> = shown.into_iter().copied().collect();
            core.analysis.feed(&a.bed, a.admission_id, ga_weeks, binding, run);
        }
    }
    let mut samples = accepted.samples;
    if !reclaimed.is_empty() {
        let before = samples.len();
        for &(a, b) in &reclaimed {
            let part = sub_block(&block, a, b);
            samples.extend(part.iter_seq().enumerate().map(|(i, (seq, rx_ms, s))| StoredSample {
                seq,
                rx_ms,
                device_ms: part.device_time_ms.map(|t| t + i as i64 * ctg_wire::SAMPLE_PERIOD_MS),
                clock: part.clock,
                arrived_ms: now,
                backlog: part.backlog,
                sample: *s,
            }));
        }
        core.ingest_stats
            .samples_reclaimed
            .fetch_add((samples.len() - before) as u64, Ordering::Relaxed);
        samples.sort_unstable_by_key(|s| s.seq);
    }
    if samples.is_empty() && accepted.duplicates == 0 {
        return;
    }
    let arrived_ms = accepted.advanced_head.then_some(now);
    let item = WriteItem::Samples { key, samples, duplicates: accepted.duplicates, arrived_ms };
    enqueue(core, writer, item, stream).await;
}

/// Hands work to the storage writer. When the queue is full, waits (back-pressure onto the
/// broker, which queues for us) while the database is up; lets the work go (see [`Shed`])
/// while it is down, so that live monitoring never stalls behind an unreachable database.
async fn enqueue(
    core: &Core,
    writer: &mpsc::Sender<WriteItem>,
    item: WriteItem,
    stream: &StreamId,
) {
    let stats = &core.ingest_stats;
    let n = match &item {
        WriteItem::Samples { samples, .. } => samples.len() as u64,
        _ => 0,
    };
    stats.samples_held.fetch_add(n, Ordering::Relaxed);
    let item = match writer.try_send(item) {
        Ok(()) => return,
        Err(TrySendError::Closed(_)) => {
            stats.samples_held.fetch_sub(n, Ordering::Relaxed);
            tracing::error!(%stream, "storage writer has stopped; not stored (the gateway keeps it)");
            return;
        }
        Err(TrySendError::Full(item)) => item,
    };
    if stats.storage_down.load(Ordering::Relaxed) {
        stats.shed_item(item);
        return;
    }
    if writer.send(item).await.is_err() {
        stats.samples_held.fetch_sub(n, Ordering::Relaxed);
        tracing::error!(%stream, "storage writer has stopped; not stored (the gateway keeps it)");
    }
}

/// The samples `a..=b` of a block, as a block of their own.
fn sub_block(block: &SampleBlock, a: u64, b: u64) -> SampleBlock {
    let (i, j) = ((a - block.first_seq) as usize, (b - block.first_seq) as usize);
    SampleBlock {
        first_seq: a,
        rx_utc_ms: block.sample_time_ms(i),
        device_time_ms: block.device_time_ms.map(|t| t + i as i64 * ctg_wire::SAMPLE_PERIOD_MS),
        clock: block.clock,
        backlog: block.backlog,
        samples: block.samples[i..=j].to_vec(),
    }
}

/// The parts of `a..=b` outside `taken` (sorted, disjoint, inside `a..=b`).
fn uncovered(a: u64, b: u64, taken: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = a;
    for &(x, y) in taken {
        if x > next {
            out.push((next, x - 1));
        }
        next = y + 1;
    }
    if next <= b {
        out.push((next, b));
    }
    out
}

async fn handle_event(
    core: &Core,
    writer: &mpsc::Sender<WriteItem>,
    stream: &StreamId,
    payload: &[u8],
    now: Millis,
) {
    let event = match DeviceEvent::decode(payload) {
        Ok(e) => e,
        Err(e) => {
            return reject_on_stream(core, writer, stream, Rejection::InvalidEvent, &e.to_string())
                .await;
        }
    };
    if i64::try_from(event.id).is_err() || i64::try_from(event.seq).is_err() {
        return reject_on_stream(
            core,
            writer,
            stream,
            Rejection::SequenceRange,
            "event id or seq above 2^63-1",
        )
        .await;
    }
    if let EventKind::SamplesDropped { last_seq, .. } = &event.kind
        && i64::try_from(*last_seq).is_err()
    {
        return reject_on_stream(
            core,
            writer,
            stream,
            Rejection::SequenceRange,
            "dropped range above 2^63-1",
        )
        .await;
    }
    let Some(key) = stream_key(core, stream, now).await else { return };
    // Conditions that need an operator are info; routine channel changes are debug.
    match &event.kind {
        EventKind::SignalLoss { .. }
        | EventKind::ModeChange { .. }
        | EventKind::Annotation { .. } => {
            tracing::debug!(%stream, id = event.id, kind = ?event.kind, "device event");
        }
        _ => tracing::info!(%stream, id = event.id, kind = ?event.kind, "device event"),
    }
    let assignment = {
        let mut r = core.registry();
        r.heard_from(&stream.site, &stream.gateway, now);
        r.assignment_for_sample(stream, event.seq)
    };
    core.ingest_stats.events_accepted.fetch_add(1, Ordering::Relaxed);
    if let Some(a) = &assignment
        && let Some(binding) = &a.binding
    {
        let patient = PatientStamp::of(a, now);
        let (kind, active, channel, text) = describe(&event.kind);
        let msg = ServerMsg::Event {
            bed: &a.bed,
            binding_id: binding.binding_id,
            patient: &patient,
            at_ms: event.at_ms,
            seq: event.seq,
            kind,
            active,
            channel,
            text,
        };
        core.hub.publish(&a.bed, msg.to_shared());
    }
    enqueue(core, writer, WriteItem::Event { key, event, arrived_ms: now }, stream).await;
}

fn describe(
    kind: &EventKind,
) -> (&'static str, Option<bool>, Option<ctg_wire::Channel>, Option<&str>) {
    match kind {
        EventKind::SignalLoss { channel, active } => {
            ("signal_loss", Some(*active), Some(*channel), None)
        }
        EventKind::CableSilence { active, .. } => ("cable_silence", Some(*active), None, None),
        EventKind::PaperOut { active } => ("paper_out", Some(*active), None, None),
        EventKind::ModeChange { .. } => ("mode_change", None, None, None),
        EventKind::Annotation { text } => ("annotation", None, None, Some(text.as_str())),
        EventKind::SamplesDropped { .. } => ("samples_dropped", None, None, None),
        EventKind::Link { up, .. } => ("link", Some(*up), None, None),
    }
}

/// Accumulates writer items into one storage batch.
#[derive(Default)]
struct BatchBuilder {
    batch: IngestBatch,
    /// (key, first, last) of each contiguous run, for the coverage bookkeeping after commit.
    runs: Vec<(i64, u64, u64)>,
    dropped: Vec<(i64, u64, u64)>,
    samples: usize,
}

impl BatchBuilder {
    fn delta(&mut self, key: i64) -> &mut StreamDelta {
        if let Some(i) = self.batch.deltas.iter().position(|(k, _)| *k == key) {
            return &mut self.batch.deltas[i].1;
        }
        self.batch.deltas.push((key, StreamDelta::default()));
        &mut self.batch.deltas.last_mut().expect("just pushed").1
    }

    fn add(&mut self, item: WriteItem) {
        match item {
            WriteItem::Samples { key, samples, duplicates, arrived_ms } => {
                let d = self.delta(key);
                d.duplicates_rejected += duplicates;
                if arrived_ms.is_some() {
                    d.last_arrival_ms = d.last_arrival_ms.max(arrived_ms);
                }
                // Split into contiguous runs (a block's fresh part can have holes).
                let mut start = 0;
                for i in 1..=samples.len() {
                    if i == samples.len() || samples[i].seq != samples[i - 1].seq + 1 {
                        self.runs.push((key, samples[start].seq, samples[i - 1].seq));
                        start = i;
                    }
                }
                self.samples += samples.len();
                if !samples.is_empty() {
                    self.batch.runs.push(SampleRun { stream_key: key, samples });
                }
            }
            WriteItem::Event { key, event, arrived_ms } => {
                if let EventKind::SamplesDropped { first_seq, last_seq, .. } = &event.kind {
                    self.dropped.push((key, *first_seq, *last_seq));
                }
                self.batch.events.push(StoredEvent { stream_key: key, event, arrived_ms });
            }
            WriteItem::Rejected { key } => self.delta(key).rejected_payloads += 1,
        }
    }
}

async fn writer_loop(
    core: Arc<Core>,
    mut rx: mpsc::Receiver<WriteItem>,
    client: AsyncClient,
    done: CancellationToken,
) {
    let max_samples = core.config.ingest.batch_max_samples;
    let max_delay = Duration::from_millis(core.config.ingest.batch_max_delay_ms);
    let mut ack_retry = tokio::time::interval(Duration::from_secs(1));
    ack_retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item {
                Some(i) => i,
                None => break,
            },
            _ = ack_retry.tick() => {
                let due = core.registry().acks_due();
                for (stream, through) in due {
                    publish_ack(&core, &client, &stream, through);
                }
                continue;
            }
        };
        let mut b = BatchBuilder::default();
        b.add(first);
        let deadline = Instant::now() + max_delay;
        while b.samples < max_samples {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(i)) => b.add(i),
                Ok(None) | Err(_) => break,
            }
        }
        // Counter increments of work let go while storage was down travel with this batch.
        for (key, d) in core.ingest_stats.take_shed_deltas() {
            add_delta(b.delta(key), &d);
        }
        if write_with_retry(&core, &b.batch, rx.is_closed()).await.is_none() {
            core.ingest_stats.samples_held.fetch_sub(b.samples as u64, Ordering::Relaxed);
            continue;
        }
        core.ingest_stats.samples_held.fetch_sub(b.samples as u64, Ordering::Relaxed);
        let due = core.registry().commit(&b.runs, &b.dropped);
        for (stream, through) in due {
            publish_ack(&core, &client, &stream, through);
        }
    }
    done.cancel();
}

/// Writes a batch, retrying while the database is unavailable. Gives up only during shutdown:
/// unacknowledged samples stay in the gateways' outboxes and come back.
async fn write_with_retry(
    core: &Core,
    batch: &IngestBatch,
    closing: bool,
) -> Option<crate::model::BatchOutcome> {
    let mut delay = Duration::from_millis(100);
    for attempt in 1.. {
        match core.store.write_batch(batch).await {
            Ok(o) => {
                core.ingest_stats.batches_written.fetch_add(1, Ordering::Relaxed);
                if core.ingest_stats.storage_down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        shed = core.ingest_stats.samples_shed.load(Ordering::Relaxed),
                        "storage is available again: writing what was held; history is back"
                    );
                }
                return Some(o);
            }
            Err(e) => {
                core.ingest_stats.batch_failures.fetch_add(1, Ordering::Relaxed);
                if !core.ingest_stats.storage_down.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "storage unavailable ({e}): live monitoring continues, history is \
                         unavailable, samples are held (up to ingest.queue_blocks blocks, then \
                         left in the gateways' outboxes) and written when the database returns"
                    );
                }
                tracing::warn!(
                    attempt,
                    samples = batch.sample_count(),
                    held = core.ingest_stats.samples_held.load(Ordering::Relaxed),
                    "storing a batch failed: {e}"
                );
                if closing && attempt >= 3 {
                    return None;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    None
}

/// Hands a retained watermark to the MQTT client without waiting (the caller may be the loop
/// that drives the client). If the client's queue is full it stays due and is retried.
fn publish_ack(core: &Core, client: &AsyncClient, stream: &StreamId, through: u64) {
    let topic = Topic::device(stream, TopicKind::Ack);
    let payload = Ack::new(through, now_ms()).encode();
    match client.try_publish(topic, QoS::AtLeastOnce, true, payload) {
        Ok(()) => {
            core.registry().ack_published(stream, through);
            core.ingest_stats.acks_published.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(%stream, through, "watermark not published yet: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ranges_add, ranges_take, uncovered};

    #[test]
    fn shed_ranges_merge_and_are_taken_back_exactly() {
        let mut v = Vec::new();
        for (a, b) in [(10, 12), (20, 20), (13, 15), (30, 40), (19, 19), (0, 0)] {
            ranges_add(&mut v, a, b);
        }
        assert_eq!(v, vec![(0, 0), (10, 15), (19, 20), (30, 40)]);
        // A replayed block 12..=33 gets back exactly the shed parts inside it.
        assert_eq!(ranges_take(&mut v, 12, 33), vec![(12, 15), (19, 20), (30, 33)]);
        assert_eq!(v, vec![(0, 0), (10, 11), (34, 40)]);
        assert!(ranges_take(&mut v, 1, 9).is_empty());
        assert_eq!(ranges_take(&mut v, 0, u64::MAX), vec![(0, 0), (10, 11), (34, 40)]);
        assert!(v.is_empty());
    }

    #[test]
    fn the_rest_of_a_block_goes_through_the_registry() {
        assert_eq!(
            uncovered(10, 40, &[(12, 15), (19, 20), (30, 40)]),
            vec![(10, 11), (16, 18), (21, 29)]
        );
        assert_eq!(uncovered(10, 40, &[(10, 40)]), vec![]);
        assert_eq!(uncovered(10, 40, &[]), vec![(10, 40)]);
    }
}
