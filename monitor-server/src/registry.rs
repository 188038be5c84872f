//! In-memory state of the installation: every stream's coverage and accounting, every gateway's
//! presence, and who is assigned to which bed and stream.
//!
//! Storage is the record; the registry is the fast index the ingest, the live feed and the API
//! consult on every message. It is pure bookkeeping (time is an argument), shared behind a
//! mutex, and rebuilt from the store when the server starts.

use std::collections::{BTreeMap, HashMap, VecDeque};

use ctg_wire::control::DeviceInfo;
use ctg_wire::{ClockQuality, Heartbeat, Label, Presence, PresenceState, SampleBlock, StreamId};
use serde::Serialize;

use crate::model::{Admission, Bed, Binding, GestationalAge, Millis, StoredSample, StreamRecord};
use crate::ranges::SeqRanges;

/// Samples kept in memory per stream so a viewer that subscribes gets what is still on its way
/// to the database (about 30 s at 4 Hz).
const RECENT_SAMPLES: usize = 120;

/// Why a payload was refused. Counted globally, and per stream when the stream is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Topic outside the `ctg/v1` scheme or with invalid identifiers.
    Topic,
    /// A site this server does not serve.
    UnknownSite,
    /// A sample block that fails the wire contract's validation.
    InvalidBlock,
    /// A sequence number above what storage can hold (2^63 − 1).
    SequenceRange,
    InvalidEvent,
    InvalidPresence,
    InvalidHeartbeat,
}

impl Rejection {
    pub const ALL: [Rejection; 7] = [
        Rejection::Topic,
        Rejection::UnknownSite,
        Rejection::InvalidBlock,
        Rejection::SequenceRange,
        Rejection::InvalidEvent,
        Rejection::InvalidPresence,
        Rejection::InvalidHeartbeat,
    ];
}

/// One stream's state.
#[derive(Debug, Clone)]
pub struct StreamState {
    pub key: i64,
    pub id: StreamId,
    /// Accepted sequence numbers: stored, or on their way to storage.
    seen: SeqRanges,
    stored: SeqRanges,
    dropped: SeqRanges,
    pub duplicates_rejected: u64,
    pub rejected_payloads: u64,
    /// Highest sequence number accepted.
    pub head_seq: Option<u64>,
    /// Server time at which the head last advanced: the age of the newest data. Backlog that
    /// fills older gaps does not refresh it, so a replay never makes a dead stream look live.
    pub head_arrival_ms: Option<Millis>,
    /// Gateway receive time of the head sample.
    pub head_rx_ms: Option<Millis>,
    pub clock: ClockQuality,
    /// Watermark last published.
    pub acked_through: Option<u64>,
    /// Watermark computed after a commit and not yet handed to the broker.
    pub ack_due: Option<u64>,
    recent: VecDeque<StoredSample>,
}

impl StreamState {
    fn new(key: i64, id: StreamId) -> Self {
        Self {
            key,
            id,
            seen: SeqRanges::new(),
            stored: SeqRanges::new(),
            dropped: SeqRanges::new(),
            duplicates_rejected: 0,
            rejected_payloads: 0,
            head_seq: None,
            head_arrival_ms: None,
            head_rx_ms: None,
            clock: ClockQuality::Unknown,
            acked_through: None,
            ack_due: None,
            recent: VecDeque::new(),
        }
    }

    pub fn stored_samples(&self) -> u64 {
        self.stored.count()
    }

    /// Sequence numbers below the highest stored (or declared dropped) one that are not stored:
    /// gaps, including samples the gateway gave up on.
    pub fn missing_samples(&self) -> u64 {
        let top = match (self.stored.max(), self.dropped.max()) {
            (None, None) => return 0,
            (a, b) => a.max(b).unwrap_or(0),
        };
        (top + 1).saturating_sub(self.stored.count())
    }

    /// Samples the gateway declared dropped and that never arrived after all.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
            .iter()
            .flat_map(|(a, b)| self.stored.uncovered(a, b))
            .map(|(a, b)| b - a + 1)
            .sum()
    }

    /// The acknowledgement watermark: every sample `0..=n` is stored or declared dropped.
    pub fn watermark(&self) -> Option<u64> {
        self.stored.union(&self.dropped).contiguous_from_zero()
    }

    /// Stored ranges (for tests and diagnostics).
    pub fn stored_ranges(&self) -> Vec<(u64, u64)> {
        self.stored.iter().collect()
    }

    /// The newest samples still in memory with sequence numbers in `from..`.
    pub fn recent_since(&self, from: u64) -> Vec<StoredSample> {
        self.recent.iter().filter(|s| s.seq >= from).copied().collect()
    }
}

/// Gateway presence as last heard.
#[derive(Debug, Clone)]
pub struct GatewayState {
    pub site: Label,
    pub gateway: Label,
    pub presence: Option<PresenceState>,
    pub presence_reason: String,
    pub software: String,
    /// Server time of the last valid message of any kind from this gateway.
    pub last_heard_ms: Millis,
    pub devices: Vec<DeviceInfo>,
    pub last_heartbeat: Option<Heartbeat>,
}

impl GatewayState {
    /// Online means: it said so, and it has been heard within the timeout (the contract's 15 s),
    /// because a dead gateway's last will may never arrive.
    pub fn online(&self, now: Millis, timeout_ms: Millis) -> bool {
        self.presence == Some(PresenceState::Online) && now - self.last_heard_ms <= timeout_ms
    }
}

/// A bed's current assignment, as the live feed stamps it on every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub bed: String,
    pub admission_id: i64,
    pub patient_id: String,
    pub name: String,
    pub gestational_age: GestationalAge,
    pub ga_recorded_ms: Millis,
    /// The bound stream, when one is bound.
    pub binding: Option<Binding>,
}

/// Accepted part of a sample block.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    /// New samples, in sequence order (duplicates removed).
    pub samples: Vec<StoredSample>,
    pub duplicates: u64,
    /// Whether the head advanced (live data) rather than only filling older gaps.
    pub advanced_head: bool,
}

/// All of the installation's in-memory state.
#[derive(Debug, Default)]
pub struct Registry {
    streams: HashMap<StreamId, StreamState>,
    /// Stream key → id.
    by_key: HashMap<i64, StreamId>,
    gateways: HashMap<(Label, Label), GatewayState>,
    rejections: BTreeMap<Rejection, u64>,
    beds: Vec<Bed>,
    /// Active admissions by bed.
    admissions: HashMap<String, Admission>,
    /// Active bindings by stream.
    bindings: HashMap<StreamId, Binding>,
    /// Indexes of the two maps above: admission id → bed, admission id → bound stream.
    bed_of_admission: HashMap<i64, String>,
    stream_of_admission: HashMap<i64, StreamId>,
    /// Bumped on every change of beds, admissions or bindings.
    pub assignment_epoch: u64,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads persisted streams at start-up.
    pub fn load_streams(&mut self, records: Vec<StreamRecord>) {
        for r in records {
            let mut s = StreamState::new(r.key, r.stream.clone());
            for (a, b) in r.stored {
                s.stored.insert(a, b);
                s.seen.insert(a, b);
            }
            for (a, b) in r.dropped {
                s.dropped.insert(a, b);
            }
            s.duplicates_rejected = r.duplicates_rejected;
            s.rejected_payloads = r.rejected_payloads;
            s.head_seq = s.seen.max();
            // The age of loaded data is unknown until something new arrives: stale, not live.
            s.head_arrival_ms = r.last_arrival_ms;
            s.ack_due = s.watermark();
            self.by_key.insert(r.key, r.stream.clone());
            self.streams.insert(r.stream, s);
        }
    }

    pub fn stream(&self, id: &StreamId) -> Option<&StreamState> {
        self.streams.get(id)
    }

    pub fn stream_key(&self, id: &StreamId) -> Option<i64> {
        self.streams.get(id).map(|s| s.key)
    }

    pub fn add_stream(&mut self, key: i64, id: StreamId) {
        self.by_key.entry(key).or_insert_with(|| id.clone());
        self.streams.entry(id.clone()).or_insert_with(|| StreamState::new(key, id));
    }

    pub fn streams(&self) -> impl Iterator<Item = &StreamState> {
        self.streams.values()
    }

    /// Counts a refused payload; `stream` when the topic named a known stream. Returns whether
    /// it was attributed to a stream (so the caller persists the per-stream counter).
    pub fn reject(&mut self, reason: Rejection, stream: Option<&StreamId>) -> bool {
        *self.rejections.entry(reason).or_default() += 1;
        match stream.and_then(|s| self.streams.get_mut(s)) {
            Some(s) => {
                s.rejected_payloads += 1;
                true
            }
            None => false,
        }
    }

    pub fn rejections(&self) -> BTreeMap<Rejection, u64> {
        let mut all: BTreeMap<Rejection, u64> = Rejection::ALL.iter().map(|r| (*r, 0)).collect();
        all.extend(self.rejections.iter().map(|(k, v)| (*k, *v)));
        all
    }

    /// Takes the new samples of a valid block: duplicates (QoS 1 redelivery, replays) are
    /// counted and left out. The stream must be registered.
    pub fn accept_block(&mut self, id: &StreamId, block: &SampleBlock, now: Millis) -> Accepted {
        let Some(s) = self.streams.get_mut(id) else {
            return Accepted::default();
        };
        let last = block.last_seq();
        let fresh = s.seen.uncovered(block.first_seq, last);
        let fresh_count: u64 = fresh.iter().map(|(a, b)| b - a + 1).sum();
        let duplicates = block.samples.len() as u64 - fresh_count;
        s.duplicates_rejected += duplicates;
        let mut out = Accepted { duplicates, ..Default::default() };
        if fresh.is_empty() {
            return out;
        }
        for &(a, b) in &fresh {
            s.seen.insert(a, b);
            for seq in a..=b {
                let i = (seq - block.first_seq) as usize;
                out.samples.push(StoredSample {
                    seq,
                    rx_ms: block.sample_time_ms(i),
                    device_ms: block
                        .device_time_ms
                        .map(|t| t + i as i64 * ctg_wire::SAMPLE_PERIOD_MS),
                    clock: block.clock,
                    arrived_ms: now,
                    backlog: block.backlog,
                    sample: block.samples[i],
                });
            }
        }
        let new_top = out.samples.last().map(|x| x.seq);
        if new_top > s.head_seq || s.head_seq.is_none() {
            out.advanced_head = true;
            s.head_seq = new_top;
            s.head_arrival_ms = Some(now);
            s.head_rx_ms = out.samples.last().map(|x| x.rx_ms);
            s.clock = block.clock;
        }
        for x in &out.samples {
            // Keep `recent` ordered and short; backfill older than the window is not kept.
            if s.recent.back().is_none_or(|b| b.seq < x.seq) {
                s.recent.push_back(*x);
            }
        }
        while s.recent.len() > RECENT_SAMPLES {
            s.recent.pop_front();
        }
        out
    }

    /// Records a committed batch: marks stored ranges, stored dropped declarations, and computes
    /// the watermarks to publish. Returns the streams whose watermark advanced.
    pub fn commit(
        &mut self,
        stored_runs: &[(i64, u64, u64)],
        dropped: &[(i64, u64, u64)],
    ) -> Vec<(StreamId, u64)> {
        let by_key = &self.by_key;
        let mut touched = Vec::new();
        for &(key, a, b) in stored_runs {
            if let Some(s) = by_key.get(&key).and_then(|id| self.streams.get_mut(id)) {
                s.stored.insert(a, b);
                touched.push(key);
            }
        }
        for &(key, a, b) in dropped {
            if let Some(s) = by_key.get(&key).and_then(|id| self.streams.get_mut(id)) {
                s.dropped.insert(a, b);
                touched.push(key);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut due = Vec::new();
        for key in touched {
            let Some(s) = by_key.get(&key).and_then(|id| self.streams.get_mut(id)) else {
                continue;
            };
            let w = s.watermark();
            if w.is_some() && w > s.acked_through.max(s.ack_due) {
                s.ack_due = w;
            }
            if let Some(w) = s.ack_due.filter(|&w| Some(w) > s.acked_through) {
                due.push((s.id.clone(), w));
            }
        }
        due
    }

    /// Every watermark not yet published (after a failed publish, or at start-up).
    pub fn acks_due(&self) -> Vec<(StreamId, u64)> {
        self.streams
            .values()
            .filter_map(|s| {
                s.ack_due.filter(|&w| Some(w) > s.acked_through).map(|w| (s.id.clone(), w))
            })
            .collect()
    }

    /// Every stream's current watermark (republished when the broker connection is made, so a
    /// reinstalled gateway finds it retained).
    pub fn all_watermarks(&self) -> Vec<(StreamId, u64)> {
        self.streams.values().filter_map(|s| s.watermark().map(|w| (s.id.clone(), w))).collect()
    }

    pub fn ack_published(&mut self, id: &StreamId, through: u64) {
        if let Some(s) = self.streams.get_mut(id) {
            s.acked_through = s.acked_through.max(Some(through));
        }
    }

    // --- gateways ------------------------------------------------------------------------

    fn gateway_mut(&mut self, site: &Label, gateway: &Label, now: Millis) -> &mut GatewayState {
        self.gateways.entry((site.clone(), gateway.clone())).or_insert_with(|| GatewayState {
            site: site.clone(),
            gateway: gateway.clone(),
            presence: None,
            presence_reason: String::new(),
            software: String::new(),
            last_heard_ms: now,
            devices: Vec::new(),
            last_heartbeat: None,
        })
    }

    /// A valid message from a gateway proves it is alive.
    pub fn heard_from(&mut self, site: &Label, gateway: &Label, now: Millis) {
        let g = self.gateway_mut(site, gateway, now);
        g.last_heard_ms = g.last_heard_ms.max(now);
        // Data without a presence message (e.g. retained presence lost with a broker restart)
        // still means the gateway is talking.
        if g.presence.is_none() {
            g.presence = Some(PresenceState::Online);
        }
    }

    pub fn presence(&mut self, site: &Label, gateway: &Label, p: Presence, now: Millis) {
        let g = self.gateway_mut(site, gateway, now);
        g.presence = Some(p.state);
        g.presence_reason = p.reason;
        g.software = p.software;
        if !p.devices.is_empty() {
            g.devices = p.devices;
        }
        if p.state == PresenceState::Online {
            g.last_heard_ms = now;
        }
    }

    pub fn heartbeat(&mut self, site: &Label, gateway: &Label, h: Heartbeat, now: Millis) {
        let g = self.gateway_mut(site, gateway, now);
        g.last_heard_ms = now;
        // A heartbeat is only sent by a running gateway: it is online even if its presence
        // message was lost.
        g.presence = Some(PresenceState::Online);
        g.presence_reason.clear();
        if !h.devices.is_empty() {
            g.devices = h.devices.clone();
        }
        g.last_heartbeat = Some(h);
    }

    pub fn gateway(&self, site: &Label, gateway: &Label) -> Option<&GatewayState> {
        self.gateways.get(&(site.clone(), gateway.clone()))
    }

    pub fn gateways(&self) -> impl Iterator<Item = &GatewayState> {
        self.gateways.values()
    }

    pub fn gateway_online(&self, stream: &StreamId, now: Millis, timeout_ms: Millis) -> bool {
        self.gateway(&stream.site, &stream.gateway).is_some_and(|g| g.online(now, timeout_ms))
    }

    /// The bed label a gateway announces for a device (configuration, not patient data).
    pub fn device_bed_label(&self, stream: &StreamId) -> Option<String> {
        self.gateway(&stream.site, &stream.gateway)?
            .devices
            .iter()
            .find(|d| d.device == stream.device)
            .map(|d| d.bed.clone())
            .filter(|b| !b.is_empty())
    }

    /// The first sequence number a binding made now would cover: past everything accepted and
    /// everything the gateway says it has already numbered, so samples taken before the
    /// binding never appear under the new patient.
    pub fn binding_frontier(&self, stream: &StreamId) -> u64 {
        let accepted = self.streams.get(stream).and_then(|s| s.head_seq).map_or(0, |h| h + 1);
        let announced = self
            .gateway(&stream.site, &stream.gateway)
            .and_then(|g| g.devices.iter().find(|d| d.device == stream.device))
            .map_or(0, |d| d.next_seq);
        accepted.max(announced)
    }

    // --- beds and assignments --------------------------------------------------------------

    /// Replaces the assignment tables (after any change, from the store).
    pub fn set_assignments(
        &mut self,
        beds: Vec<Bed>,
        admissions: Vec<Admission>,
        bindings: Vec<Binding>,
    ) {
        self.beds = beds;
        self.bed_of_admission =
            admissions.iter().map(|a| (a.admission_id, a.bed.clone())).collect();
        self.stream_of_admission =
            bindings.iter().map(|b| (b.admission_id, b.stream.clone())).collect();
        self.admissions = admissions.into_iter().map(|a| (a.bed.clone(), a)).collect();
        self.bindings = bindings.into_iter().map(|b| (b.stream.clone(), b)).collect();
        self.assignment_epoch += 1;
    }

    pub fn beds(&self) -> &[Bed] {
        &self.beds
    }

    pub fn admission_in_bed(&self, bed: &str) -> Option<&Admission> {
        self.admissions.get(bed)
    }

    pub fn active_admission(&self, admission_id: i64) -> Option<&Admission> {
        self.admissions.get(self.bed_of_admission.get(&admission_id)?)
    }

    pub fn binding_of_stream(&self, stream: &StreamId) -> Option<&Binding> {
        self.bindings.get(stream)
    }

    pub fn binding_of_admission(&self, admission_id: i64) -> Option<&Binding> {
        self.bindings.get(self.stream_of_admission.get(&admission_id)?)
    }

    /// The bed's current patient and bound stream.
    pub fn assignment(&self, bed: &str) -> Option<Assignment> {
        let a = self.admissions.get(bed)?;
        Some(Assignment {
            bed: bed.to_owned(),
            admission_id: a.admission_id,
            patient_id: a.patient_id.clone(),
            name: a.name.clone(),
            gestational_age: a.gestational_age,
            ga_recorded_ms: a.ga_recorded_ms,
            binding: self.binding_of_admission(a.admission_id).cloned(),
        })
    }

    /// The assignment a sample of `stream` with sequence number `seq` belongs to right now:
    /// only the active binding, and only the sequence numbers it covers.
    pub fn assignment_for_sample(&self, stream: &StreamId, seq: u64) -> Option<Assignment> {
        let b = self.bindings.get(stream).filter(|b| b.covers(seq))?;
        self.assignment(self.bed_of_admission.get(&b.admission_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctg_wire::{Bpm, Sample};

    const T0: Millis = 1_790_000_000_000;

    fn block(first: u64, n: usize, backlog: bool) -> SampleBlock {
        SampleBlock {
            first_seq: first,
            rx_utc_ms: T0 + first as i64 * 250,
            backlog,
            samples: vec![Sample { fhr1: Bpm::from_whole(140), ..Sample::EMPTY }; n],
            ..Default::default()
        }
    }

    fn reg() -> (Registry, StreamId) {
        let mut r = Registry::new();
        let id: StreamId = "s/g/d".parse().unwrap();
        r.add_stream(1, id.clone());
        (r, id)
    }

    #[test]
    fn duplicates_are_counted_and_left_out() {
        let (mut r, id) = reg();
        let a = r.accept_block(&id, &block(0, 4, false), T0);
        assert_eq!((a.samples.len(), a.duplicates), (4, 0));
        let a = r.accept_block(&id, &block(2, 4, false), T0);
        assert_eq!(a.samples.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(a.duplicates, 2);
        assert_eq!(r.stream(&id).unwrap().duplicates_rejected, 2);
    }

    #[test]
    fn backfill_does_not_refresh_data_age() {
        let (mut r, id) = reg();
        r.accept_block(&id, &block(100, 1, false), T0);
        let a = r.accept_block(&id, &block(0, 50, true), T0 + 10_000);
        assert!(!a.advanced_head);
        assert_eq!(r.stream(&id).unwrap().head_arrival_ms, Some(T0));
        let a = r.accept_block(&id, &block(101, 1, false), T0 + 20_000);
        assert!(a.advanced_head);
        assert_eq!(r.stream(&id).unwrap().head_arrival_ms, Some(T0 + 20_000));
    }

    #[test]
    fn watermark_needs_everything_from_zero_and_honours_dropped_ranges() {
        let (mut r, id) = reg();
        assert!(r.commit(&[(1, 5, 9)], &[]).is_empty());
        assert_eq!(r.stream(&id).unwrap().missing_samples(), 5);
        assert_eq!(r.commit(&[(1, 0, 2)], &[]), vec![(id.clone(), 2)]);
        r.ack_published(&id, 2);
        // 3 and 4 declared dropped by the gateway: the watermark moves past them.
        assert_eq!(r.commit(&[], &[(1, 3, 4)]), vec![(id.clone(), 9)]);
        let s = r.stream(&id).unwrap();
        assert_eq!(s.missing_samples(), 2);
        assert_eq!(s.stored_samples(), 8);
        r.ack_published(&id, 9);
        assert!(r.acks_due().is_empty());
    }

    #[test]
    fn gateway_goes_offline_after_the_timeout_without_a_last_will() {
        let mut r = Registry::new();
        let (site, gw) = (Label::new("s").unwrap(), Label::new("g").unwrap());
        let p = Presence {
            v: 1,
            state: PresenceState::Online,
            at_ms: T0,
            reason: String::new(),
            software: String::new(),
            devices: vec![],
        };
        r.presence(&site, &gw, p, T0);
        let g = r.gateway(&site, &gw).unwrap();
        assert!(g.online(T0 + 15_000, 15_000));
        assert!(!g.online(T0 + 15_001, 15_000));
        r.heard_from(&site, &gw, T0 + 15_001);
        assert!(r.gateway(&site, &gw).unwrap().online(T0 + 20_000, 15_000));
    }
}
