//! Cuff import: renders the pairing flow, runs its effects on worker threads and stores bursts.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::Ctx;
use crate::ble::import::{self, status_problems};
use crate::ble::pairing::{Effect, ImportSummary, PairingEvent, PairingState};
use crate::ble::session::{self, WorkerEvent};
use crate::clinical::bp::{self, BpValues};
use crate::model::{Source, Symptoms};
use crate::{AppWindow, CuffAdapter, CuffDevice, Page};

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let adapter = ui.global::<CuffAdapter>();
    let c = ctx.clone();
    adapter.on_start_scan(move || handle(&c, PairingEvent::Scan));
    let c = ctx.clone();
    adapter.on_choose(move |i| {
        if let Ok(i) = usize::try_from(i) {
            handle(&c, PairingEvent::Choose(i));
        }
    });
    let c = ctx.clone();
    adapter.on_cancel(move || {
        handle(&c, PairingEvent::Cancel);
        c.back();
    });
    let c = ctx.clone();
    adapter.on_done(move || show_latest(&c));
}

pub(super) fn enter(ctx: &Rc<Ctx>) {
    if !ctx.pairing.borrow().is_busy() {
        // Each visit starts fresh; a running import keeps its screen.
        handle(ctx, PairingEvent::Cancel);
    }
    render(ctx);
}

/// Feeds an event to the flow, carries out its effect and redraws.
fn handle(ctx: &Rc<Ctx>, event: PairingEvent) {
    let effect = ctx.pairing.borrow_mut().handle(event);
    let starts_worker = matches!(effect, Some(Effect::StartScan | Effect::Import(_)));
    match effect {
        Some(Effect::StartScan) => {
            let report = worker_reporter(ctx);
            session::spawn_scan(ctx.links.clone(), report);
        }
        Some(Effect::Import(device)) => {
            let cancel = Arc::new(AtomicBool::new(false));
            *ctx.cancel.borrow_mut() = cancel.clone();
            ctx.burst.borrow_mut().0 = device.id.clone();
            if let Err(e) =
                ctx.store.borrow_mut().remember_cuff(&device.id, &device.name, ctx.clock.now())
            {
                ctx.report("remembering the cuff", &e);
            }
            session::spawn_import(
                ctx.links.clone(),
                device.id,
                ctx.clock.clone(),
                cancel,
                worker_reporter(ctx),
            );
        }
        Some(Effect::Store) => {
            let summary = store_burst(ctx);
            // Storing is synchronous: the flow moves on at once.
            return handle(ctx, PairingEvent::Stored(summary));
        }
        Some(Effect::Stop) => {
            ctx.cancel.borrow().store(true, Ordering::Relaxed);
            ctx.generation.set(ctx.generation.get() + 1);
        }
        None => {}
    }
    if starts_worker {
        ctx.generation.set(ctx.generation.get() + 1);
    }
    render(ctx);
}

/// A callback for the worker thread that forwards its events to the UI thread, dropping them if
/// she has since cancelled or started over.
fn worker_reporter(ctx: &Rc<Ctx>) -> impl Fn(WorkerEvent) + Send + 'static {
    // The generation the operation will run under (bumped right after the effect starts).
    let generation = ctx.generation.get() + 1;
    let app = ctx.id;
    move |event: WorkerEvent| {
        let delivered = slint::invoke_from_event_loop(move || {
            super::with_ctx(app, |ctx| on_worker_event(ctx, generation, event));
        });
        if let Err(e) = delivered {
            tracing::warn!("cuff worker event dropped: {e}");
        }
    }
}

/// Called on the UI thread with a worker's event (see `worker_reporter`).
fn on_worker_event(ctx: &Rc<Ctx>, generation: u64, event: WorkerEvent) {
    if generation != ctx.generation.get() {
        return;
    }
    let event = match event {
        WorkerEvent::ScanFinished(result) => PairingEvent::ScanFinished(result),
        WorkerEvent::Connected => PairingEvent::Connected,
        WorkerEvent::Received(n) => PairingEvent::Received(n),
        WorkerEvent::BurstEnded { values, error } => {
            let received = values.len();
            ctx.burst.borrow_mut().1 = values;
            PairingEvent::BurstEnded { received, error }
        }
    };
    handle(ctx, event);
}

/// Decodes the received burst, assesses each reading against the one before it, stores them
/// (duplicates skipped) and returns the summary.
fn store_burst(ctx: &Rc<Ctx>) -> ImportSummary {
    let (device_id, values) = std::mem::take(&mut *ctx.burst.borrow_mut());
    let decoded = import::decode_burst(&device_id, &values);
    let mut summary = ImportSummary {
        received: values.len(),
        clock_untrusted: decoded.clock_untrusted,
        rejected: decoded.rejected.len(),
        guests: decoded.guests,
        ..Default::default()
    };
    for (i, why) in &decoded.rejected {
        tracing::warn!("cuff {device_id}: value {i} left out: {why:?}");
    }
    let mut readings = decoded.readings;
    readings.sort_by_key(|r| r.measured_at);
    let cfg = &ctx.config.blood_pressure;
    let mut store = ctx.store.borrow_mut();
    let mut prior = readings
        .first()
        .and_then(|r| store.reading_before(r.measured_at).ok().flatten())
        .map(|r| super::bp::prior_of(&r));
    let mut batch = Vec::with_capacity(readings.len());
    for r in readings {
        let values = BpValues { systolic: r.systolic, diastolic: r.diastolic, pulse: r.pulse };
        let a = bp::assess(values, Symptoms::none(), r.measured_at, prior, cfg);
        prior = Some(bp::Prior { measured_at: r.measured_at, values });
        batch.push((r, a.tier().unwrap_or_default(), a.is_confirmed()));
    }
    let now = ctx.clock.now();
    match store.import_readings(&batch, now) {
        Ok(outcome) => {
            summary.inserted = outcome.inserted;
            summary.duplicates = outcome.duplicates;
        }
        Err(e) => {
            drop(store);
            ctx.report("saving imported readings", &e);
            return summary;
        }
    }
    if let Err(e) = store.record_cuff_import(&device_id, now) {
        tracing::error!("recording the import time: {e}");
    }
    summary
}

/// "See what it means": the result page for the newest imported reading.
fn show_latest(ctx: &Rc<Ctx>) {
    let device = match ctx.pairing.borrow().state() {
        PairingState::Done { device, .. } => device.clone(),
        _ => return ctx.navigate(Page::Home),
    };
    let latest = {
        let store = ctx.store.borrow();
        store.latest_readings(1).ok().and_then(|mut v| v.pop()).map(|r| {
            let prior = store.reading_before(r.data.measured_at).ok().flatten();
            (r, prior)
        })
    };
    let Some((reading, prior)) = latest else { return ctx.navigate(Page::Home) };
    let d = &reading.data;
    let values = BpValues { systolic: d.systolic, diastolic: d.diastolic, pulse: d.pulse };
    let assessment = bp::assess(
        values,
        d.symptoms,
        d.measured_at,
        prior.as_ref().map(super::bp::prior_of),
        &ctx.config.blood_pressure,
    );
    let (problems, name) = match &d.source {
        Source::Cuff { status, .. } => {
            (status.map(status_problems).unwrap_or_default(), device.name.clone())
        }
        Source::Manual => (Vec::new(), String::new()),
    };
    super::bp::show_result(
        ctx,
        &assessment,
        values,
        d.measured_at,
        true,
        Some(&name).filter(|n| !n.is_empty()).map(|n| n.as_str()),
        &problems,
    );
    handle(ctx, PairingEvent::Cancel);
    ctx.navigate(Page::BpResult);
}

/// Pushes the flow's state into the adapter.
pub(super) fn render(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let a = ui.global::<CuffAdapter>();
    let paired = ctx.store.borrow().paired_cuffs().unwrap_or_default();
    a.set_paired_names(ModelRc::new(VecModel::from(
        paired.iter().map(|c| SharedString::from(c.name.as_str())).collect::<Vec<_>>(),
    )));
    let flow = ctx.pairing.borrow();
    let summary = |s: &ImportSummary| {
        a.set_received(s.received as i32);
        a.set_imported(s.inserted as i32);
        a.set_duplicates(s.duplicates as i32);
        a.set_clock_fixed(s.clock_untrusted as i32);
        a.set_rejected((s.rejected + s.guests) as i32);
    };
    match flow.state() {
        PairingState::Ready => a.set_state(0),
        PairingState::Scanning => a.set_state(1),
        PairingState::Choosing(found) => {
            let devices: Vec<CuffDevice> = found
                .iter()
                .map(|d| CuffDevice {
                    id: d.id.as_str().into(),
                    name: d.name.as_str().into(),
                    rssi: d.rssi.map(i32::from).unwrap_or(0),
                    paired: paired.iter().any(|p| p.device_id == d.id),
                })
                .collect();
            a.set_devices(ModelRc::new(VecModel::from(devices)));
            a.set_state(2);
        }
        PairingState::Connecting(device) => {
            a.set_device_name(device.name.as_str().into());
            a.set_received(0);
            a.set_state(3);
        }
        PairingState::Receiving { device, received }
        | PairingState::Storing { device, received, .. } => {
            a.set_device_name(device.name.as_str().into());
            a.set_received(*received as i32);
            a.set_state(4);
        }
        PairingState::Done { device, summary: s } => {
            a.set_device_name(device.name.as_str().into());
            summary(s);
            a.set_state(5);
        }
        PairingState::Failed { failure, detail, summary: s } => {
            a.set_failure(failure.index());
            let mut text = detail.clone();
            if let Some(s) = s {
                summary(s);
                let saved = format!("{} / {}", s.inserted, s.received);
                text = if text.is_empty() { saved } else { format!("{text} ({saved})") };
            }
            a.set_failure_detail(text.into());
            a.set_state(6);
        }
        PairingState::Unavailable(why) => {
            a.set_failure_detail(why.as_str().into());
            a.set_state(7);
        }
    }
}
