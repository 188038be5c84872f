//! Wireless CTG probes speaking our open GATT profile (`hardware::ble::ctg_probe`).
//!
//! The radio sits behind [`ProbeLink`]: the real one is [`btleplug_link::BtleplugLink`] (BlueZ
//! through btleplug, feature `ble`); tests use a fake fed with the profile's real byte
//! sequences. Everything above the link ([`ProbePipeline`], [`run_probe`]) is the same for both.
//!
//! A samples notification carries several consecutive 4 Hz samples and the 16-bit sequence
//! number of the first, so the pipeline knows exactly how many samples a lost notification held
//! and fills them as "no value" to keep the time axis. Receive times: the last sample of a
//! notification arrived when the notification did; earlier ones 250 ms apart before it. The
//! pipeline keeps consecutive samples on a 4 Hz grid and lets it follow the receive times
//! slowly (connection-interval jitter would otherwise stamp samples out of order).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ctg_wire::{EventKind, SAMPLE_PERIOD_MS, Sample, SignalQuality};
use futures::future::BoxFuture;
use hardware::ble::ctg_probe::{Continuity, ProbeStatus, SamplePacket, SequenceTracker};

use crate::config::BleTarget;
use crate::device::{DeviceMetrics, DeviceOutput, SignalWatch, Stamper, wall_clock_ms};
use crate::sources::SourceCtx;

/// A lost-notification gap longer than this (one minute of samples) is taken as a probe
/// restart rather than filled with empty samples.
pub const MAX_FILL: u16 = 240;
/// How far the 4 Hz grid may be pulled toward the receive times per notification.
const GRID_NUDGE_MS: i64 = 10;
/// Receive times this far off the grid re-anchor it.
const GRID_BREAK_MS: i64 = 1000;
/// Reconnection delay grows up to this.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// Why a probe link failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

/// A notification from the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A value of the samples characteristic.
    Samples(Vec<u8>),
    /// A value of the status characteristic.
    Status(Vec<u8>),
}

/// The radio side of a probe. `next` returning `None` means the link is gone.
pub trait ProbeLink: Send + std::fmt::Debug {
    /// Finds the probe, connects, subscribes to samples and status, starts streaming. Returns a
    /// description for the `link` event.
    fn connect(&mut self) -> BoxFuture<'_, Result<String, LinkError>>;
    fn next(&mut self) -> BoxFuture<'_, Option<Notification>>;
    fn disconnect(&mut self) -> BoxFuture<'_, ()>;
}

/// Probe notifications → stamped samples and events.
#[derive(Debug)]
pub struct ProbePipeline {
    tracker: SequenceTracker,
    /// Receive time the next sample gets, on the 4 Hz grid.
    next_rx: Option<i64>,
    stamper: Stamper,
    signal: SignalWatch,
    status: Option<ProbeStatus>,
    last_rx: Instant,
    silent: bool,
    cable_silence: Duration,
    metrics: Arc<DeviceMetrics>,
    losses: Vec<(ctg_wire::Channel, bool)>,
}

impl ProbePipeline {
    pub fn new(
        now: Instant,
        stamper: Stamper,
        cable_silence: Duration,
        metrics: Arc<DeviceMetrics>,
    ) -> Self {
        Self {
            tracker: SequenceTracker::new(),
            next_rx: None,
            stamper,
            signal: SignalWatch::default(),
            status: None,
            last_rx: now,
            silent: false,
            cable_silence,
            metrics,
            losses: Vec::new(),
        }
    }

    pub fn link_up(&mut self, now: Instant, detail: String, out: &mut Vec<DeviceOutput>) {
        self.tracker.reset();
        self.last_rx = now;
        out.push(DeviceOutput::Event {
            kind: EventKind::Link { up: true, detail },
            at_ms: self.stamper.utc_ms(now),
        });
    }

    pub fn link_down(&mut self, now: Instant, detail: String, out: &mut Vec<DeviceOutput>) {
        self.metrics.link_losses.fetch_add(1, Ordering::Relaxed);
        self.tracker.reset();
        self.next_rx = None;
        if self.metrics.connected.swap(false, Ordering::Relaxed) {
            out.push(DeviceOutput::Connected(false));
        }
        out.push(DeviceOutput::Event {
            kind: EventKind::Link { up: false, detail },
            at_ms: self.stamper.utc_ms(now),
        });
    }

    /// Whether the link has been silent so long it should be dropped and re-established.
    pub fn dead(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_rx) >= self.cable_silence * 2
    }

    pub fn notification(&mut self, n: &Notification, now: Instant, out: &mut Vec<DeviceOutput>) {
        let bytes = match n {
            Notification::Samples(b) | Notification::Status(b) => b,
        };
        self.metrics.bytes_read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.silent {
            self.silent = false;
            let silent_ms = now.duration_since(self.last_rx).as_millis() as u64;
            out.push(DeviceOutput::Event {
                kind: EventKind::CableSilence { active: false, silent_ms },
                at_ms: self.stamper.utc_ms(now),
            });
        }
        self.last_rx = now;
        if !self.metrics.connected.swap(true, Ordering::Relaxed) {
            out.push(DeviceOutput::Connected(true));
        }
        match n {
            Notification::Samples(b) => match SamplePacket::decode(b) {
                Ok(p) => {
                    self.metrics.messages_decoded.fetch_add(1, Ordering::Relaxed);
                    self.packet(&p, now, out);
                }
                Err(e) => {
                    self.metrics.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    self.metrics.bytes_discarded.fetch_add(b.len() as u64, Ordering::Relaxed);
                    tracing::debug!(error = %e, "bad samples notification");
                }
            },
            Notification::Status(b) => match ProbeStatus::decode(b) {
                Ok(s) => {
                    self.metrics.messages_decoded.fetch_add(1, Ordering::Relaxed);
                    if self.status != Some(s) {
                        tracing::info!(status = ?s, "probe status");
                        self.status = Some(s);
                    }
                }
                Err(e) => {
                    self.metrics.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    self.metrics.bytes_discarded.fetch_add(b.len() as u64, Ordering::Relaxed);
                    tracing::debug!(error = %e, "bad status notification");
                }
            },
        }
    }

    fn packet(&mut self, p: &SamplePacket, now: Instant, out: &mut Vec<DeviceOutput>) {
        let n = p.samples.len() as i64;
        let arrived = self.stamper.utc_ms(now);
        let fill = match self.tracker.observe(p) {
            Continuity::First | Continuity::Contiguous => 0,
            Continuity::Gap(d) if d <= MAX_FILL => d,
            Continuity::Gap(_) | Continuity::Restart => {
                self.next_rx = None;
                0
            }
        };
        // Where the first sample of this notification belongs, judged from its arrival.
        let measured_first = arrived - (n - 1) * SAMPLE_PERIOD_MS;
        let first_filled = measured_first - i64::from(fill) * SAMPLE_PERIOD_MS;
        let mut t = match self.next_rx {
            Some(expected) if (first_filled - expected).abs() < GRID_BREAK_MS => {
                expected + (first_filled - expected).clamp(-GRID_NUDGE_MS, GRID_NUDGE_MS)
            }
            _ => first_filled,
        };
        let lost = Sample {
            quality: ctg_wire::sample::Qualities {
                fhr1: SignalQuality::NoSignal,
                toco: SignalQuality::NoSignal,
                ..Default::default()
            },
            ..Sample::EMPTY
        };
        let samples = std::iter::repeat_n(lost, usize::from(fill))
            .chain(p.samples.iter().map(|s| s.to_wire()));
        for sample in samples {
            self.metrics.samples_read.fetch_add(1, Ordering::Relaxed);
            out.push(DeviceOutput::Sample { sample, rx_utc_ms: t, device_time_ms: None });
            // The signal watch runs on the sample's own time line.
            let at =
                now.checked_sub(Duration::from_millis((arrived - t).max(0) as u64)).unwrap_or(now);
            self.signal.observe(&sample, at, &mut self.losses);
            for (channel, active) in self.losses.drain(..) {
                out.push(DeviceOutput::Event {
                    kind: EventKind::SignalLoss { channel, active },
                    at_ms: t,
                });
            }
            t += SAMPLE_PERIOD_MS;
        }
        self.next_rx = Some(t);
    }

    /// Timer: raises cable silence (no notifications at all).
    pub fn tick(&mut self, now: Instant, out: &mut Vec<DeviceOutput>) {
        let silent_for = now.saturating_duration_since(self.last_rx);
        if !self.silent && silent_for >= self.cable_silence {
            self.silent = true;
            out.push(DeviceOutput::Event {
                kind: EventKind::CableSilence {
                    active: true,
                    silent_ms: silent_for.as_millis() as u64,
                },
                at_ms: self.stamper.utc_ms(now),
            });
            if self.metrics.connected.swap(false, Ordering::Relaxed) {
                out.push(DeviceOutput::Connected(false));
            }
        }
    }

    /// Compares the stamping clock with the wall clock read by the caller; follows a step.
    pub fn check_clock(&mut self, now: Instant, wall_ms: i64) {
        if let Some(step) = self.stamper.check(now, wall_ms) {
            tracing::warn!(
                step_ms = step,
                "wall clock stepped; receive times follow it from now on"
            );
            self.next_rx = None;
        }
    }
}

/// Runs a probe over `link` until cancelled: connect (retrying with a growing delay), read,
/// reconnect when the link is lost or silent for twice the cable-silence time.
pub async fn run_probe(ctx: SourceCtx, mut link: Box<dyn ProbeLink>) {
    let mut p = ProbePipeline::new(
        Instant::now(),
        Stamper::new(),
        ctx.device.cable_silence,
        ctx.metrics.clone(),
    );
    let mut out = Vec::new();
    let mut delay = Duration::from_millis(500);
    let mut reported_down = false;
    let mut timer = tokio::time::interval(Duration::from_millis(250));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let connected = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            r = link.connect() => r,
        };
        match connected {
            Ok(detail) => {
                delay = Duration::from_millis(500);
                tracing::info!(device = %ctx.device.id, %detail, "probe connected");
                p.link_up(Instant::now(), detail, &mut out);
            }
            Err(e) => {
                if !reported_down {
                    tracing::warn!(device = %ctx.device.id, error = %e, "cannot connect to the probe; retrying");
                    p.link_down(Instant::now(), format!("cannot connect: {e}"), &mut out);
                    reported_down = true;
                }
                let until = tokio::time::Instant::now() + delay;
                loop {
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(until) => break,
                        _ = timer.tick() => p.tick(Instant::now(), &mut out),
                    }
                    if !send(&ctx, &mut out).await {
                        return;
                    }
                }
                if !send(&ctx, &mut out).await {
                    return;
                }
                delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                continue;
            }
        }
        if !send(&ctx, &mut out).await {
            return;
        }
        let why = loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => {
                    link.disconnect().await;
                    return;
                }
                n = link.next() => match n {
                    Some(n) => p.notification(&n, Instant::now(), &mut out),
                    None => break "link lost".to_owned(),
                },
                _ = timer.tick() => {
                    let now = Instant::now();
                    p.tick(now, &mut out);
                    p.check_clock(now, wall_clock_ms());
                    if p.dead(now) {
                        break "no notifications; reconnecting".to_owned();
                    }
                }
            }
            if !send(&ctx, &mut out).await {
                return;
            }
        };
        tracing::warn!(device = %ctx.device.id, reason = %why, "probe link down");
        link.disconnect().await;
        p.link_down(Instant::now(), why, &mut out);
        reported_down = true;
        if !send(&ctx, &mut out).await {
            return;
        }
    }
}

async fn send(ctx: &SourceCtx, out: &mut Vec<DeviceOutput>) -> bool {
    for o in out.drain(..) {
        if ctx.tx.send((ctx.index, o)).await.is_err() {
            return false;
        }
    }
    true
}

/// The device task for a `kind = "ble"` device: btleplug when built with the `ble` feature.
pub async fn run_btleplug(ctx: SourceCtx, target: BleTarget, adapter: Option<String>) {
    #[cfg(feature = "ble")]
    {
        run_probe(ctx, Box::new(btleplug_link::BtleplugLink::new(target, adapter))).await;
    }
    #[cfg(not(feature = "ble"))]
    {
        let _ = (target, adapter);
        tracing::error!(device = %ctx.device.id, "this build has no Bluetooth support");
        ctx.cancel.cancelled().await;
    }
}

/// The real radio: BlueZ through btleplug.
///
/// Pairing and bonding are the operating system's business (`bluetoothctl`); btleplug has no
/// API for them. On connection the adapter scans for the profile's service, picks the probe by
/// address or advertised name, subscribes to the samples and status characteristics and writes
/// "start streaming" to the control point.
#[cfg(feature = "ble")]
pub mod btleplug_link {
    use std::pin::Pin;
    use std::time::Duration;

    use btleplug::api::{
        Central as _, Characteristic, Manager as _, Peripheral as _, ScanFilter, ValueNotification,
        WriteType,
    };
    use btleplug::platform::{Adapter, Manager, Peripheral};
    use futures::future::BoxFuture;
    use futures::{FutureExt as _, Stream, StreamExt as _};
    use hardware::ble::ctg_probe::{
        CONTROL_POINT_UUID, ControlRequest, SAMPLES_UUID, SERVICE_UUID, STATUS_UUID,
    };
    use uuid::Uuid;

    use super::{LinkError, Notification, ProbeLink};
    use crate::config::BleTarget;

    /// How long a scan looks for the probe before the attempt fails (and is retried).
    const SCAN_TIME: Duration = Duration::from_secs(10);

    fn err(what: &str) -> impl FnOnce(btleplug::Error) -> LinkError + '_ {
        move |e| LinkError(format!("{what}: {e}"))
    }

    /// btleplug-backed [`ProbeLink`].
    pub struct BtleplugLink {
        target: BleTarget,
        adapter_name: Option<String>,
        peripheral: Option<Peripheral>,
        notifications: Option<Pin<Box<dyn Stream<Item = ValueNotification> + Send>>>,
    }

    impl std::fmt::Debug for BtleplugLink {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("BtleplugLink")
                .field("target", &self.target)
                .field("adapter", &self.adapter_name)
                .finish()
        }
    }

    impl BtleplugLink {
        pub fn new(target: BleTarget, adapter_name: Option<String>) -> Self {
            Self { target, adapter_name, peripheral: None, notifications: None }
        }

        async fn adapter(adapter_name: Option<String>) -> Result<Adapter, LinkError> {
            let manager = Manager::new().await.map_err(err("Bluetooth manager"))?;
            let adapters = manager.adapters().await.map_err(err("listing Bluetooth adapters"))?;
            for a in adapters {
                let info = a.adapter_info().await.unwrap_or_default();
                match &adapter_name {
                    Some(name) if !info.contains(name.as_str()) => continue,
                    _ => return Ok(a),
                }
            }
            Err(LinkError(match &adapter_name {
                Some(n) => format!("no Bluetooth adapter named {n}"),
                None => "no Bluetooth adapter".into(),
            }))
        }

        async fn matches(p: &Peripheral, target: &BleTarget) -> bool {
            match target {
                BleTarget::Address(a) => p.address().to_string().eq_ignore_ascii_case(a),
                BleTarget::Name(n) => {
                    let props = p.properties().await.ok().flatten();
                    props.as_ref().and_then(|pr| pr.local_name.as_deref()) == Some(n.as_str())
                }
            }
        }

        async fn find(adapter: &Adapter, target: BleTarget) -> Result<Peripheral, LinkError> {
            adapter
                .start_scan(ScanFilter { services: vec![Uuid::from_u128(SERVICE_UUID)] })
                .await
                .map_err(err("starting a scan"))?;
            let deadline = tokio::time::Instant::now() + SCAN_TIME;
            let mut found = None;
            'scan: loop {
                for p in adapter.peripherals().await.map_err(err("listing peripherals"))? {
                    if Self::matches(&p, &target).await {
                        found = Some(p);
                        break 'scan;
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let _ = adapter.stop_scan().await;
            found.ok_or_else(|| {
                LinkError(format!("probe {target:?} not found within {} s", SCAN_TIME.as_secs()))
            })
        }

        async fn open(&mut self) -> Result<String, LinkError> {
            let adapter = Self::adapter(self.adapter_name.clone()).await?;
            let p = Self::find(&adapter, self.target.clone()).await?;
            if !p.is_connected().await.unwrap_or(false) {
                p.connect().await.map_err(err("connecting"))?;
            }
            p.discover_services().await.map_err(err("discovering services"))?;
            let chars = p.characteristics();
            let by_uuid = |u: u128| -> Option<Characteristic> {
                chars.iter().find(|c| c.uuid.as_u128() == u).cloned()
            };
            let samples = by_uuid(SAMPLES_UUID)
                .ok_or_else(|| LinkError("the probe has no samples characteristic".into()))?;
            p.subscribe(&samples).await.map_err(err("subscribing to samples"))?;
            if let Some(status) = by_uuid(STATUS_UUID) {
                p.subscribe(&status).await.map_err(err("subscribing to status"))?;
            }
            let stream = p.notifications().await.map_err(err("notification stream"))?;
            if let Some(cp) = by_uuid(CONTROL_POINT_UUID) {
                p.write(&cp, &ControlRequest::StartStreaming.encode(), WriteType::WithResponse)
                    .await
                    .map_err(err("starting the stream"))?;
            }
            let detail = format!("BLE probe {}", p.address());
            self.peripheral = Some(p);
            self.notifications = Some(stream);
            Ok(detail)
        }
    }

    impl ProbeLink for BtleplugLink {
        fn connect(&mut self) -> BoxFuture<'_, Result<String, LinkError>> {
            self.open().boxed()
        }

        fn next(&mut self) -> BoxFuture<'_, Option<Notification>> {
            async move {
                let stream = self.notifications.as_mut()?;
                loop {
                    let n = stream.next().await?;
                    match n.uuid.as_u128() {
                        SAMPLES_UUID => return Some(Notification::Samples(n.value)),
                        STATUS_UUID => return Some(Notification::Status(n.value)),
                        _ => continue,
                    }
                }
            }
            .boxed()
        }

        fn disconnect(&mut self) -> BoxFuture<'_, ()> {
            async move {
                self.notifications = None;
                if let Some(p) = self.peripheral.take() {
                    let _ = p.disconnect().await;
                }
            }
            .boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctg_wire::{Bpm, Toco};
    use hardware::ble::ctg_probe::ProbeSample;

    const T0: i64 = 1_790_000_000_000;

    fn packet(first_seq: u16, n: usize) -> Vec<u8> {
        let samples = (0..n)
            .map(|i| ProbeSample {
                fhr: Bpm::from_whole(130 + ((first_seq as usize + i) % 20) as u16),
                fhr_quality: SignalQuality::Good,
                toco: Toco::new(20),
                toco_quality: SignalQuality::Good,
                movement: None,
                mark: false,
            })
            .collect();
        SamplePacket { first_seq, samples }.encode().unwrap()
    }

    fn samples(out: &[DeviceOutput]) -> Vec<(Sample, i64)> {
        out.iter()
            .filter_map(|o| match o {
                DeviceOutput::Sample { sample, rx_utc_ms, .. } => Some((*sample, *rx_utc_ms)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn notifications_become_samples_on_a_4_hz_grid_and_lost_ones_are_filled() {
        let start = Instant::now();
        let m = Arc::new(DeviceMetrics::default());
        let mut p = ProbePipeline::new(
            start,
            Stamper::anchored(start, T0),
            Duration::from_secs(3),
            m.clone(),
        );
        let mut out = Vec::new();
        // 4 samples per notification, one per second; arrival jitter of up to 40 ms.
        let jitter = [0u64, 40, 5, 30, 12, 0];
        for (k, j) in jitter.iter().enumerate() {
            if k == 3 {
                continue; // this notification is lost
            }
            let now = start + Duration::from_millis(750 + 1000 * k as u64 + j);
            p.notification(&Notification::Samples(packet((4 * k) as u16, 4)), now, &mut out);
        }
        let s = samples(&out);
        assert_eq!(s.len(), 24, "20 received + 4 filled");
        for w in s.windows(2) {
            assert!(w[1].1 - w[0].1 >= 240 && w[1].1 - w[0].1 <= 260, "{:?}", (w[0].1, w[1].1));
        }
        assert_eq!(s[0].1, T0);
        for (i, (sample, _)) in s.iter().enumerate() {
            if (12..16).contains(&i) {
                assert_eq!(sample.fhr1, None, "filled");
                assert_eq!(sample.quality.fhr1, SignalQuality::NoSignal);
            } else {
                assert_eq!(sample.fhr1, Bpm::from_whole(130 + (i % 20) as u16));
            }
        }
        assert_eq!(m.samples_read.load(Ordering::Relaxed), 24);
    }

    #[test]
    fn bad_notifications_are_counted_not_fatal() {
        let start = Instant::now();
        let m = Arc::new(DeviceMetrics::default());
        let mut p = ProbePipeline::new(
            start,
            Stamper::anchored(start, T0),
            Duration::from_secs(3),
            m.clone(),
        );
        let mut out = Vec::new();
        for junk in [vec![], vec![9, 9, 9], vec![1, 0, 0, 200], packet(0, 4)[..7].to_vec()] {
            p.notification(&Notification::Samples(junk), start, &mut out);
        }
        p.notification(&Notification::Status(vec![0xff, 0xff, 0]), start, &mut out);
        assert_eq!(m.frames_rejected.load(Ordering::Relaxed), 5);
        assert!(samples(&out).is_empty());
        p.notification(&Notification::Samples(packet(0, 4)), start, &mut out);
        assert_eq!(samples(&out).len(), 4);
    }

    #[test]
    fn silence_is_reported_and_a_dead_link_is_recognised() {
        let start = Instant::now();
        let m = Arc::new(DeviceMetrics::default());
        let mut p =
            ProbePipeline::new(start, Stamper::anchored(start, T0), Duration::from_secs(3), m);
        let mut out = Vec::new();
        p.notification(&Notification::Samples(packet(0, 4)), start, &mut out);
        out.clear();
        p.tick(start + Duration::from_secs(3), &mut out);
        assert!(out.iter().any(|o| matches!(
            o,
            DeviceOutput::Event { kind: EventKind::CableSilence { active: true, .. }, .. }
        )));
        assert!(!p.dead(start + Duration::from_secs(5)));
        assert!(p.dead(start + Duration::from_secs(6)));
    }
}
