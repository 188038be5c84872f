//! A small acknowledging receiver, standing in for monitor-server: it subscribes to one
//! gateway's topics on the real broker, validates every payload against the wire contract,
//! stores samples idempotently by (stream, sequence), checks that a sequence number never
//! carries two different samples, and publishes the retained watermark per stream.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ctg_wire::{
    Ack, DeviceEvent, EventKind, Heartbeat, Label, Presence, PresenceState, Sample, SampleBlock,
    StreamId, Topic, TopicKind,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

/// What the receiver saw of one stream.
#[derive(Debug, Default, Clone)]
pub struct StreamLog {
    /// Stored samples by sequence number, with their receive time.
    pub samples: BTreeMap<u64, (Sample, i64)>,
    /// Sample deliveries (live + backlog), duplicates included.
    pub deliveries: u64,
    /// Sequence numbers delivered again with a different sample: must stay empty.
    pub conflicts: Vec<u64>,
    /// First sequence number of every backlog block, in arrival order.
    pub backlog_blocks: Vec<(u64, usize)>,
    pub live_samples: u64,
    /// Sequence numbers delivered on the live topic, in arrival order.
    pub live_seqs: Vec<u64>,
    /// For live samples: arrival here minus the gateway's receive time, ms.
    pub live_latency_ms: Vec<i64>,
    pub backlog_samples: u64,
    /// Events by id (de-duplicated), with how often each arrived.
    pub events: BTreeMap<u64, (DeviceEvent, u32, Instant)>,
    /// Samples the gateway declared dropped.
    pub dropped: BTreeSet<u64>,
    /// The watermark published.
    pub acked: Option<u64>,
}

impl StreamLog {
    /// Highest N such that every sample 0..=N (from `first`) is stored or declared dropped.
    pub fn contiguous_from(&self, first: u64) -> Option<u64> {
        let mut n = first;
        while self.samples.contains_key(&n) || self.dropped.contains(&n) {
            n += 1;
        }
        (n > first).then(|| n - 1)
    }

    pub fn seqs(&self) -> Vec<u64> {
        self.samples.keys().copied().collect()
    }

    pub fn event_kinds(&self) -> Vec<EventKind> {
        self.events.values().map(|(e, _, _)| e.kind.clone()).collect()
    }
}

#[derive(Debug, Default)]
pub struct ReceiverState {
    pub streams: BTreeMap<String, StreamLog>,
    /// Presence messages in arrival order (retained ones included).
    pub presence: Vec<Presence>,
    pub heartbeats: Vec<Heartbeat>,
    /// Payloads that broke the wire contract: must stay empty.
    pub invalid: Vec<String>,
    pub connects: u32,
}

/// The receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    pub state: Arc<Mutex<ReceiverState>>,
    stop: CancellationToken,
    /// Acknowledge at all (false: a broker without a server).
    pub acking: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Receiver {
    /// Starts receiving for gateway `site/gateway` on the broker at `port`.
    pub fn start(port: u16, site: &str, gateway: &str) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let stop = CancellationToken::new();
        let acking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (site, gateway) = (Label::new(site).unwrap(), Label::new(gateway).unwrap());
        tokio::spawn(run(port, site, gateway, state.clone(), stop.clone(), acking.clone()));
        Receiver { state, stop, acking }
    }

    pub fn snapshot(&self) -> ReceiverState {
        let s = self.state.lock().unwrap();
        ReceiverState {
            streams: s.streams.clone(),
            presence: s.presence.clone(),
            heartbeats: s.heartbeats.clone(),
            invalid: s.invalid.clone(),
            connects: s.connects,
        }
    }

    pub fn stream(&self, device: &str) -> StreamLog {
        self.state.lock().unwrap().streams.get(device).cloned().unwrap_or_default()
    }

    /// Waits (polling, with a deadline) until `cond` holds; returns whether it did.
    /// Waits for the explicit offline presence of a clean stop (it crosses the broker after
    /// the stop returns) and returns it.
    pub async fn wait_offline(&self) -> Presence {
        let offline = self
            .wait_for(Duration::from_secs(10), |s| {
                s.presence.last().is_some_and(|p| p.state == PresenceState::Offline)
            })
            .await;
        assert!(offline, "no offline presence after a clean stop");
        self.state.lock().unwrap().presence.last().cloned().expect("presence")
    }

    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&ReceiverState) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.state.lock().unwrap()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn run(
    port: u16,
    site: Label,
    gateway: Label,
    state: Arc<Mutex<ReceiverState>>,
    stop: CancellationToken,
    acking: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut opts = MqttOptions::new(format!("test-receiver-{site}-{gateway}"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut ack_timer = tokio::time::interval(Duration::from_millis(200));
    let mut published: BTreeMap<Label, u64> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ack_timer.tick() => {
                if !acking.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                // The watermark: every sample up to it is stored (or declared dropped).
                let marks: Vec<(Label, u64)> = {
                    let mut s = state.lock().unwrap();
                    s.streams.iter_mut().filter_map(|(l, log)| {
                        let w = log.contiguous_from(0)?;
                        log.acked = Some(w);
                        Some((Label::new(l.as_str()).ok()?, w))
                    }).collect()
                };
                for (label, w) in marks {
                    if published.get(&label) == Some(&w) {
                        continue;
                    }
                    let topic = Topic::device(&StreamId::new(site.clone(), gateway.clone(), label.clone()), TopicKind::Ack);
                    let ack = Ack::new(w, wall_ms());
                    if client.try_publish(topic, QoS::AtLeastOnce, true, ack.encode()).is_ok() {
                        published.insert(label, w);
                    }
                }
            }
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    state.lock().unwrap().connects += 1;
                    // Re-publish every watermark on a new connection (the broker keeps no
                    // retained messages across its restart in the tests).
                    published.clear();
                    for kind in ["samples", "backlog", "events"] {
                        let _ = client.try_subscribe(format!("ctg/v1/{site}/{gateway}/+/{kind}"), QoS::AtLeastOnce);
                    }
                    let _ = client.try_subscribe(format!("ctg/v1/{site}/{gateway}/presence"), QoS::AtLeastOnce);
                    let _ = client.try_subscribe(format!("ctg/v1/{site}/{gateway}/heartbeat"), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => handle(&state, &p.topic, &p.payload),
                Ok(_) => {}
                Err(_) => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        }
    }
}

pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn handle(state: &Mutex<ReceiverState>, topic: &str, payload: &[u8]) {
    let mut s = state.lock().unwrap();
    match Topic::parse(topic) {
        Some(Topic::Device { stream, kind: kind @ (TopicKind::Samples | TopicKind::Backlog) }) => {
            let block = match SampleBlock::decode(payload) {
                Ok(b) => b,
                Err(e) => {
                    s.invalid.push(format!("{topic}: {e}"));
                    return;
                }
            };
            let backlog = kind == TopicKind::Backlog;
            if block.backlog != backlog {
                s.invalid
                    .push(format!("{topic}: backlog flag {} on the {kind} topic", block.backlog));
            }
            if !backlog && block.samples.len() != 1 {
                s.invalid.push(format!("{topic}: live block of {} samples", block.samples.len()));
            }
            let log = s.streams.entry(stream.device.to_string()).or_default();
            if backlog {
                log.backlog_blocks.push((block.first_seq, block.samples.len()));
                log.backlog_samples += block.samples.len() as u64;
            } else {
                log.live_samples += 1;
                log.live_seqs.push(block.first_seq);
                log.live_latency_ms.push(wall_ms() - block.rx_utc_ms);
            }
            for (seq, t, sample) in block.iter_seq() {
                log.deliveries += 1;
                match log.samples.get(&seq) {
                    Some((old, _)) if old != sample => log.conflicts.push(seq),
                    Some(_) => {}
                    None => {
                        log.samples.insert(seq, (*sample, t));
                    }
                }
            }
        }
        Some(Topic::Device { stream, kind: TopicKind::Events }) => {
            match DeviceEvent::decode(payload) {
                Ok(e) => {
                    let log = s.streams.entry(stream.device.to_string()).or_default();
                    if let EventKind::SamplesDropped { first_seq, last_seq, .. } = &e.kind {
                        log.dropped.extend(*first_seq..=*last_seq);
                    }
                    log.events.entry(e.id).or_insert_with(|| (e, 0, Instant::now())).1 += 1;
                }
                Err(err) => s.invalid.push(format!("{topic}: {err}")),
            }
        }
        Some(Topic::Presence { .. }) => match Presence::decode(payload) {
            Ok(p) => s.presence.push(p),
            Err(e) => s.invalid.push(format!("{topic}: {e}")),
        },
        Some(Topic::Heartbeat { .. }) => match Heartbeat::decode(payload) {
            Ok(h) => s.heartbeats.push(h),
            Err(e) => s.invalid.push(format!("{topic}: {e}")),
        },
        _ => s.invalid.push(format!("unexpected topic {topic}")),
    }
}
