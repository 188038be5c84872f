//! Live fan-out to viewers, and the messages of the live feed.
//!
//! Each viewer has its own bounded queue. Publishing never waits: a message goes into every
//! subscribed viewer's queue with `try_send`, and a viewer whose queue is full is cut off (its
//! queue closes, it is told why, and its page reconnects). One slow or stuck browser therefore
//! costs the others nothing. Messages are serialised once and shared (`Arc<str>`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ctg_wire::{Channel, SignalQuality, StreamId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::model::{Millis, StoredSample};
use crate::registry::Assignment;

pub type ViewerId = u64;

/// A viewer's end of the hub.
#[derive(Debug)]
pub struct ViewerHandle {
    pub id: ViewerId,
    pub rx: mpsc::Receiver<Arc<str>>,
    /// Set when the hub cut the viewer off for falling behind.
    pub lagged: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Slot {
    tx: mpsc::Sender<Arc<str>>,
    beds: HashSet<String>,
    lagged: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct HubInner {
    viewers: HashMap<ViewerId, Slot>,
    by_bed: HashMap<String, HashSet<ViewerId>>,
}

/// Counters of the fan-out.
#[derive(Debug, Default, Serialize)]
pub struct HubStats {
    pub viewers: usize,
    pub messages_published: u64,
    pub viewers_reset: u64,
}

/// The fan-out hub.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<HubInner>,
    queue: usize,
    next_id: AtomicU64,
    published: AtomicU64,
    resets: AtomicU64,
}

impl Hub {
    pub fn new(queue: usize) -> Self {
        Self {
            inner: Mutex::new(HubInner::default()),
            queue,
            next_id: AtomicU64::new(1),
            published: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        // A panic while holding this lock leaves only subscription sets behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self) -> ViewerHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue);
        let lagged = Arc::new(AtomicBool::new(false));
        self.lock().viewers.insert(id, Slot { tx, beds: HashSet::new(), lagged: lagged.clone() });
        ViewerHandle { id, rx, lagged }
    }

    pub fn unregister(&self, id: ViewerId) {
        let mut g = self.lock();
        if let Some(slot) = g.viewers.remove(&id) {
            for bed in slot.beds {
                if let Some(set) = g.by_bed.get_mut(&bed) {
                    set.remove(&id);
                }
            }
        }
    }

    /// Replaces the beds a viewer receives. Returns the beds newly added.
    pub fn set_beds(&self, id: ViewerId, beds: &[String]) -> Vec<String> {
        let mut g = self.lock();
        let Some(old) = g.viewers.get(&id).map(|s| s.beds.clone()) else { return Vec::new() };
        let new: HashSet<String> = beds.iter().cloned().collect();
        for b in old.difference(&new) {
            if let Some(set) = g.by_bed.get_mut(b) {
                set.remove(&id);
            }
        }
        let added: Vec<String> = beds.iter().filter(|b| !old.contains(*b)).cloned().collect();
        for b in &added {
            g.by_bed.entry(b.clone()).or_default().insert(id);
        }
        if let Some(slot) = g.viewers.get_mut(&id) {
            slot.beds = new;
        }
        added
    }

    /// Delivers a message to every viewer of `bed` without waiting. Viewers whose queue is full
    /// are cut off.
    pub fn publish(&self, bed: &str, msg: Arc<str>) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        let Some(ids) = g.by_bed.get(bed) else { return };
        let mut cut = Vec::new();
        for id in ids {
            if let Some(slot) = g.viewers.get(id) {
                match slot.tx.try_send(msg.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => cut.push(*id),
                    // The viewer's task ended; it unregisters itself.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        for id in cut {
            if let Some(slot) = g.viewers.remove(&id) {
                slot.lagged.store(true, Ordering::SeqCst);
                self.resets.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(viewer = id, "viewer fell behind; resetting it");
                for b in slot.beds {
                    if let Some(set) = g.by_bed.get_mut(&b) {
                        set.remove(&id);
                    }
                }
                // Dropping `slot.tx` closes the queue: the viewer drains it, then learns why.
            }
        }
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            viewers: self.lock().viewers.len(),
            messages_published: self.published.load(Ordering::Relaxed),
            viewers_reset: self.resets.load(Ordering::Relaxed),
        }
    }
}

// --- messages ----------------------------------------------------------------------------------

/// The patient identity every trace message carries, as bound at the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PatientStamp {
    pub admission_id: i64,
    pub patient_id: String,
    pub name: String,
    pub ga_weeks: u8,
    pub ga_days: u8,
}

impl PatientStamp {
    pub fn of(a: &Assignment, now: Millis) -> Self {
        let ga = a.gestational_age.after(now - a.ga_recorded_ms);
        Self {
            admission_id: a.admission_id,
            patient_id: a.patient_id.clone(),
            name: a.name.clone(),
            ga_weeks: ga.weeks,
            ga_days: ga.days,
        }
    }
}

/// Samples in columns (compact JSON). Heart rates in bpm (0.25 resolution), `null` = no value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Columns {
    pub seq: Vec<u64>,
    /// Gateway receive time, Unix ms.
    pub rx: Vec<Millis>,
    pub fhr1: Vec<Option<f32>>,
    pub fhr2: Vec<Option<f32>>,
    pub mhr: Vec<Option<f32>>,
    pub toco: Vec<Option<u8>>,
    /// 1 = event mark.
    pub mark: Vec<u8>,
    /// FHR1 signal quality: 0 unknown, 1 none, 2 poor, 3 good.
    pub q: Vec<u8>,
}

impl Columns {
    pub fn from_samples<'a>(samples: impl IntoIterator<Item = &'a StoredSample>) -> Self {
        let mut c = Columns::default();
        for s in samples {
            c.seq.push(s.seq);
            c.rx.push(s.rx_ms);
            c.fhr1.push(s.sample.fhr1.map(|b| b.as_f32()));
            c.fhr2.push(s.sample.fhr2.map(|b| b.as_f32()));
            c.mhr.push(s.sample.mhr.map(|b| b.as_f32()));
            c.toco.push(s.sample.toco.map(|t| t.value()));
            c.mark.push(u8::from(s.sample.mark));
            c.q.push(match s.sample.quality.fhr1 {
                SignalQuality::Unknown => 0,
                SignalQuality::NoSignal => 1,
                SignalQuality::Poor => 2,
                SignalQuality::Good => 3,
            });
        }
        c
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }
}

/// A bed as the viewer should show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BedView {
    pub bed: String,
    pub patient: Option<PatientStamp>,
    pub binding_id: Option<i64>,
    pub stream: Option<String>,
    pub gateway_online: bool,
    /// Age of the newest sample of the bound stream, server clock.
    pub age_ms: Option<Millis>,
}

/// Per-bed pulse in the heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BedPulse {
    pub bed: String,
    pub binding_id: Option<i64>,
    pub age_ms: Option<Millis>,
    pub online: bool,
    pub head_seq: Option<u64>,
}

/// Server → viewer messages (`t` names the type).
#[derive(Debug, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerMsg<'a> {
    Hello {
        now_ms: Millis,
        username: &'a str,
        display_name: &'a str,
        role: &'a str,
        heartbeat_ms: u64,
        stale_after_ms: u64,
        history_minutes: u32,
    },
    /// A bed's assignment; a different `binding_id` means: break the trace, start afresh.
    Bed(BedView),
    /// Stored samples of the current binding (the last `history_minutes`).
    History {
        bed: &'a str,
        binding_id: i64,
        patient: &'a PatientStamp,
        stream: &'a str,
        samples: Columns,
    },
    Samples {
        bed: &'a str,
        binding_id: i64,
        patient: &'a PatientStamp,
        stream: &'a str,
        /// Server receive time.
        arrived_ms: Millis,
        /// Older samples arriving after an outage (they fill gaps; they do not make a bed live).
        backfill: bool,
        samples: Columns,
    },
    /// A device event on a bound stream (signal loss, cable silence, ...).
    Event {
        bed: &'a str,
        binding_id: i64,
        patient: &'a PatientStamp,
        at_ms: Millis,
        seq: u64,
        kind: &'a str,
        active: Option<bool>,
        channel: Option<Channel>,
        text: Option<&'a str>,
    },
    Heartbeat {
        now_ms: Millis,
        beds: Vec<BedPulse>,
        /// False while the database is unreachable: live data flows, stored history does not.
        history_available: bool,
    },
    /// The server cut this viewer off; the page reconnects.
    Reset {
        reason: &'a str,
    },
    Error {
        message: &'a str,
    },
}

impl ServerMsg<'_> {
    pub fn to_shared(&self) -> Arc<str> {
        // Serialising these types cannot fail: no maps with non-string keys, no custom impls.
        Arc::from(serde_json::to_string(self).unwrap_or_else(|_| "{\"t\":\"error\"}".into()))
    }
}

/// The bed view of an assignment, with the stream's live status.
pub fn bed_view(
    bed: &str,
    a: Option<&Assignment>,
    registry: &crate::registry::Registry,
    now: Millis,
    gateway_timeout_ms: Millis,
) -> BedView {
    let patient = a.map(|a| PatientStamp::of(a, now));
    let binding = a.and_then(|a| a.binding.as_ref());
    let stream: Option<&StreamId> = binding.map(|b| &b.stream);
    BedView {
        bed: bed.to_owned(),
        patient,
        binding_id: binding.map(|b| b.binding_id),
        stream: stream.map(|s| s.to_string()),
        gateway_online: stream.is_some_and(|s| registry.gateway_online(s, now, gateway_timeout_ms)),
        // Data from before the binding is not this patient's: no age until hers arrives.
        age_ms: stream
            .and_then(|s| registry.stream(s))
            .filter(|s| binding.is_some_and(|b| s.head_seq.is_some_and(|h| b.covers(h))))
            .and_then(|s| s.head_arrival_ms)
            .map(|t| (now - t).max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_viewer_is_cut_off_and_others_keep_receiving() {
        let hub = Hub::new(4);
        let mut slow = hub.register();
        let mut fast = hub.register();
        hub.set_beds(slow.id, &["1".into()]);
        hub.set_beds(fast.id, &["1".into(), "2".into()]);
        for i in 0..10 {
            hub.publish("1", Arc::from(format!("m{i}")));
            // The fast viewer keeps up.
            assert_eq!(&*fast.rx.try_recv().unwrap(), format!("m{i}"));
        }
        assert!(slow.lagged.load(Ordering::SeqCst));
        assert!(!fast.lagged.load(Ordering::SeqCst));
        // The slow viewer drains what it had, then finds its queue closed.
        let mut got = 0;
        while let Ok(_m) = slow.rx.try_recv() {
            got += 1;
        }
        assert_eq!(got, 4);
        assert!(matches!(slow.rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
        assert_eq!(hub.stats().viewers_reset, 1);
        hub.publish("2", Arc::from("x"));
        assert_eq!(&*fast.rx.try_recv().unwrap(), "x");
    }

    #[test]
    fn subscriptions_are_per_bed() {
        let hub = Hub::new(8);
        let mut v = hub.register();
        assert_eq!(
            hub.set_beds(v.id, &["1".into(), "2".into()]),
            vec!["1".to_string(), "2".into()]
        );
        assert_eq!(hub.set_beds(v.id, &["2".into(), "3".into()]), vec!["3".to_string()]);
        hub.publish("1", Arc::from("no"));
        hub.publish("3", Arc::from("yes"));
        assert_eq!(&*v.rx.try_recv().unwrap(), "yes");
        assert!(v.rx.try_recv().is_err());
        hub.unregister(v.id);
        hub.publish("3", Arc::from("gone"));
        assert!(v.rx.try_recv().is_err());
    }
}
