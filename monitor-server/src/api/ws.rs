//! The live feed: one WebSocket per viewer.
//!
//! Viewer → server: `{"t":"subscribe","beds":["1","2"]}` (replaces the set).
//! Server → viewer: `hello`, then per subscribed bed a `bed` message (its patient, as bound at
//! the server) and a `history` with the last 30 minutes (followed by the newest `analysis` and
//! the open `alarm`s, see [`crate::analysis`]), then live `samples`, `event`s, `analysis` and
//! `alarm` messages, and a `heartbeat` every second with each bed's data age and gateway state.
//! Frames may carry one message or a JSON array of them. A `bed` message with a new
//! `binding_id` means the bed's patient or stream changed: the page breaks the trace and starts
//! afresh.
//!
//! The page declares the connection lost when heartbeats stop, and a bed stale when its data age
//! passes `stale_after_ms`, so a frozen feed is never mistaken for a calm trace.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Caller, same_origin};
use crate::app::Core;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::live::{BedPulse, Columns, PatientStamp, ServerMsg, bed_view};
use crate::model::{AuditOutcome, StoredSample};
use crate::now_ms;
use crate::store::SampleQuery;

/// Frames a viewer must accept within this time, or it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages combined into one frame at most.
const MAX_BATCH: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum ClientMsg {
    Subscribe { beds: Vec<String> },
    Ping,
}

pub async fn live(
    State(core): State<Arc<Core>>,
    caller: Caller,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Cross-site WebSocket hijacking: the browser sends the cookie with any page's WebSocket,
    // so the origin must be ours.
    if !same_origin(&headers) {
        caller
            .audit(&core, "live.open", "live", AuditOutcome::Denied, "cross-origin WebSocket")
            .await
            .ok();
        return Err(ApiError::forbidden());
    }
    caller.require(&core, Permission::ViewPatients, "live.open", "live").await?;
    let ws = ws.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.audit(&core, "live.open", "live", AuditOutcome::Ok, "").await?;
    Ok(ws.max_message_size(64 * 1024).on_upgrade(move |socket| async move {
        let started = now_ms();
        let reason = viewer(core.clone(), caller.clone(), socket).await;
        let secs = (now_ms() - started) / 1000;
        caller
            .audit(
                &core,
                "live.close",
                "live",
                AuditOutcome::Ok,
                &format!("after {secs} s: {reason}"),
            )
            .await
            .ok();
    }))
}

/// What the viewer last saw of each bed, to notice changes.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    admission_id: Option<i64>,
    binding_id: Option<i64>,
}

struct Viewer {
    core: Arc<Core>,
    caller: Caller,
    beds: Vec<String>,
    seen: HashMap<String, Seen>,
}

async fn send(socket: &mut WebSocket, text: String) -> Result<(), String> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(Utf8Bytes::from(text))))
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("socket closed".into()),
        Err(_) => Err("viewer too slow to accept a frame".into()),
    }
}

/// Runs one viewer until it leaves, falls behind, or the server stops. Returns why it ended.
async fn viewer(core: Arc<Core>, caller: Caller, mut socket: WebSocket) -> String {
    let mut handle = core.hub.register();
    let hello = ServerMsg::Hello {
        now_ms: now_ms(),
        username: &caller.staff.username,
        display_name: &caller.staff.display_name,
        role: caller.staff.role.as_str(),
        heartbeat_ms: core.config.live.heartbeat_ms,
        stale_after_ms: core.config.live.stale_after_ms,
        history_minutes: core.config.live.history_minutes,
    }
    .to_shared();
    let mut v = Viewer { core: core.clone(), caller, beds: Vec::new(), seen: HashMap::new() };
    let mut epoch = core.epoch.subscribe();
    let mut beat = tokio::time::interval(Duration::from_millis(core.config.live.heartbeat_ms));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = core.shutdown.clone();
    let result: Result<(), String> = async {
        send(&mut socket, hello.to_string()).await?;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = send(&mut socket, ServerMsg::Reset { reason: "server_shutdown" }.to_shared().to_string()).await;
                    return Err("server shutdown".into());
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(t))) => v.on_client(&mut socket, &handle, t.as_str()).await?,
                    Some(Ok(Message::Close(_))) | None => return Err("viewer closed".into()),
                    Some(Ok(_)) => {}
                    Some(Err(_)) => return Err("socket error".into()),
                },
                msg = handle.rx.recv() => match msg {
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match handle.rx.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                        let frame = if batch.len() == 1 {
                            batch[0].to_string()
                        } else {
                            format!("[{}]", batch.iter().map(|m| &**m).collect::<Vec<_>>().join(","))
                        };
                        send(&mut socket, frame).await?;
                    }
                    None => {
                        if handle.lagged.load(Ordering::SeqCst) {
                            let _ = send(&mut socket, ServerMsg::Reset { reason: "slow_consumer" }.to_shared().to_string()).await;
                            return Err("reset: fell behind the live feed".into());
                        }
                        return Err("feed closed".into());
                    }
                },
                changed = epoch.changed() => {
                    if changed.is_err() {
                        return Err("server shutdown".into());
                    }
                    v.refresh_beds(&mut socket).await?;
                }
                _ = beat.tick() => {
                    let pulse = v.heartbeat();
                    send(&mut socket, pulse).await?;
                }
            }
        }
    }
    .await;
    core.hub.unregister(handle.id);
    let _ = socket.send(Message::Close(None)).await;
    result.err().unwrap_or_default()
}

impl Viewer {
    async fn on_client(
        &mut self,
        socket: &mut WebSocket,
        handle: &crate::live::ViewerHandle,
        text: &str,
    ) -> Result<(), String> {
        let msg: ClientMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(_) => {
                send(
                    socket,
                    ServerMsg::Error { message: "unknown message" }.to_shared().to_string(),
                )
                .await?;
                return Ok(());
            }
        };
        match msg {
            ClientMsg::Ping => Ok(()),
            ClientMsg::Subscribe { beds } => {
                let mut unique = std::collections::HashSet::new();
                let beds: Vec<String> =
                    beds.into_iter().filter(|b| unique.insert(b.clone())).collect();
                let max = self.core.config.live.max_beds_per_viewer;
                if beds.len() > max || beds.iter().any(|b| b.is_empty() || b.len() > 64) {
                    let m = format!("subscribe to 1-{max} beds with labels of at most 64 bytes");
                    send(socket, ServerMsg::Error { message: &m }.to_shared().to_string()).await?;
                    return Ok(());
                }
                // Subscribe first, then send history: a sample arriving in between is in the
                // queue (and possibly in the history too; the page drops repeated sequence numbers).
                let added = self.core.hub.set_beds(handle.id, &beds);
                self.beds = beds;
                self.seen.retain(|b, _| self.beds.contains(b));
                for bed in &added {
                    let target = match self.core.registry().admission_in_bed(bed) {
                        Some(a) => format!("patient:{} bed:{bed}", a.patient_id),
                        None => format!("bed:{bed}"),
                    };
                    self.caller
                        .audit(&self.core, "live.subscribe", &target, AuditOutcome::Ok, "")
                        .await
                        .map_err(|e| e.to_string())?;
                    self.send_bed(socket, bed).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends a bed's assignment and, when a stream is bound, its recent history.
    async fn send_bed(&mut self, socket: &mut WebSocket, bed: &str) -> Result<(), String> {
        let now = now_ms();
        let (view, assignment, key, head) = {
            let r = self.core.registry();
            let a = r.assignment(bed);
            let view = bed_view(bed, a.as_ref(), &r, now, self.core.gateway_timeout_ms());
            let stream = a.as_ref().and_then(|a| a.binding.as_ref()).map(|b| b.stream.clone());
            let key = stream.as_ref().and_then(|s| r.stream_key(s));
            let head = stream.as_ref().and_then(|s| r.stream(s)).and_then(|s| s.head_seq);
            (view, a, key, head)
        };
        self.seen.insert(
            bed.to_owned(),
            Seen {
                admission_id: assignment.as_ref().map(|a| a.admission_id),
                binding_id: view.binding_id,
            },
        );
        send(socket, ServerMsg::Bed(view).to_shared().to_string()).await?;
        let Some(a) = assignment else { return Ok(()) };
        let Some(binding) = a.binding.clone() else { return Ok(()) };
        // The last `history_minutes` by sequence number (immune to a wrong gateway clock), and
        // never before the binding began. A stream that never sent anything has no history.
        let span =
            u64::from(self.core.config.live.history_minutes) * 60 * ctg_wire::SAMPLE_RATE_HZ as u64;
        let from_seq =
            head.map_or(binding.from_seq, |h| (h + 1).saturating_sub(span).max(binding.from_seq));
        let mut samples: Vec<StoredSample> = match key {
            Some(key) => {
                let q = SampleQuery {
                    from_seq,
                    to_seq: binding.to_seq,
                    from_ms: i64::MIN,
                    to_ms: i64::MAX,
                    limit: u32::try_from(span).unwrap_or(u32::MAX),
                };
                self.core.store.samples(key, q).await.map_err(|e| e.to_string())?
            }
            None => Vec::new(),
        };
        // Samples accepted but not yet committed are still in memory.
        let recent = self
            .core
            .registry()
            .stream(&binding.stream)
            .map(|s| s.recent_since(from_seq))
            .unwrap_or_default();
        let last = samples.last().map(|s| s.seq);
        samples.extend(recent.into_iter().filter(|s| Some(s.seq) > last && binding.covers(s.seq)));
        let patient = PatientStamp::of(&a, now);
        let stream = binding.stream.to_string();
        let msg = ServerMsg::History {
            bed,
            binding_id: binding.binding_id,
            patient: &patient,
            stream: &stream,
            samples: Columns::from_samples(&samples),
        };
        send(socket, msg.to_shared().to_string()).await?;
        // The analysis so far and the open alarms of this binding.
        for m in self.core.analysis.snapshot(binding.binding_id, &patient) {
            send(socket, m.to_string()).await?;
        }
        Ok(())
    }

    /// After an assignment change: re-send every bed whose patient or binding changed.
    async fn refresh_beds(&mut self, socket: &mut WebSocket) -> Result<(), String> {
        let beds = self.beds.clone();
        for bed in beds {
            let now_seen = {
                let r = self.core.registry();
                let a = r.assignment(&bed);
                Seen {
                    admission_id: a.as_ref().map(|a| a.admission_id),
                    binding_id: a.as_ref().and_then(|a| a.binding.as_ref()).map(|b| b.binding_id),
                }
            };
            if self.seen.get(&bed) != Some(&now_seen) {
                self.send_bed(socket, &bed).await?;
            }
        }
        Ok(())
    }

    fn heartbeat(&self) -> String {
        let now = now_ms();
        let timeout = self.core.gateway_timeout_ms();
        let r = self.core.registry();
        let beds = self
            .beds
            .iter()
            .map(|bed| {
                let binding = r.assignment(bed).and_then(|a| a.binding);
                let stream = binding.as_ref().map(|b| &b.stream);
                let state = stream.and_then(|s| r.stream(s));
                BedPulse {
                    bed: bed.clone(),
                    binding_id: binding.as_ref().map(|b| b.binding_id),
                    // Data from before the binding is not this patient's: no age until hers arrives.
                    age_ms: state
                        .filter(|s| {
                            binding
                                .as_ref()
                                .is_some_and(|b| s.head_seq.is_some_and(|h| b.covers(h)))
                        })
                        .and_then(|s| s.head_arrival_ms)
                        .map(|t| (now - t).max(0)),
                    online: stream.is_some_and(|s| r.gateway_online(s, now, timeout)),
                    head_seq: state.and_then(|s| s.head_seq),
                }
            })
            .collect();
        drop(r);
        let history_available =
            !self.core.ingest_stats.storage_down.load(std::sync::atomic::Ordering::Relaxed);
        ServerMsg::Heartbeat { now_ms: now, beds, history_available }.to_shared().to_string()
    }
}
