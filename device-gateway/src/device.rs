//! From device bytes to stamped 4 Hz samples and device events.
//!
//! A Corometrics monitor (serial, or the simulator and replay, which speak the same wire) goes
//! through [`CorometricsPipeline`]: `Decoder` (bytes → messages, resynchronising on garbage) →
//! `Framer` (messages → 4 Hz samples, UA at 8/s folded with max so no contraction peak is lost)
//! → stamping (receive time of the sample's first message, UTC derived from the monotonic
//! clock). The pipeline also watches for signal loss (the monitor keeps sending sentinels) and
//! cable silence (no bytes at all), which are different conditions and different events.
//!
//! Pipelines take time as an argument; the source tasks in [`crate::sources`] read the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ctg_wire::{Channel, EventKind, Sample};
use hardware::corometrics::{Decoder, Framer, FramerOutput};

/// A sample with no value on a channel that had one for this long raises `signal_loss`.
pub const SIGNAL_LOSS_AFTER: Duration = Duration::from_secs(5);
/// Values back on a lost channel for this long clear it.
pub const SIGNAL_BACK_AFTER: Duration = Duration::from_secs(1);
/// A wall clock that disagrees with the monotonic estimate by more than this was stepped.
const CLOCK_STEP_MS: i64 = 1000;

/// What a device source reports to the gateway core.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceOutput {
    Sample {
        sample: Sample,
        rx_utc_ms: i64,
        device_time_ms: Option<i64>,
    },
    Event {
        kind: EventKind,
        at_ms: i64,
    },
    /// The device is (not) delivering bytes: shown as `connected` in presence.
    Connected(bool),
}

/// Counters of one device, exported as metrics.
#[derive(Debug, Default)]
pub struct DeviceMetrics {
    pub bytes_read: AtomicU64,
    pub samples_read: AtomicU64,
    pub messages_decoded: AtomicU64,
    pub frames_rejected: AtomicU64,
    pub bytes_discarded: AtomicU64,
    pub values_out_of_range: AtomicU64,
    pub link_losses: AtomicU64,
    pub connected: AtomicBool,
}

/// Receive times: UTC milliseconds derived from the monotonic clock, anchored to the wall clock
/// and re-anchored only when the wall clock is stepped (NTP's first sync, a manual change), so
/// consecutive samples are never stamped out of order by small clock adjustments.
#[derive(Debug, Clone)]
pub struct Stamper {
    anchor: Instant,
    anchor_utc_ms: i64,
}

/// The wall clock now, Unix milliseconds.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Default for Stamper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stamper {
    pub fn new() -> Self {
        Self { anchor: Instant::now(), anchor_utc_ms: wall_clock_ms() }
    }

    /// An anchor given explicitly (tests).
    pub fn anchored(anchor: Instant, anchor_utc_ms: i64) -> Self {
        Self { anchor, anchor_utc_ms }
    }

    /// UTC milliseconds of monotonic instant `t`.
    pub fn utc_ms(&self, t: Instant) -> i64 {
        if t >= self.anchor {
            self.anchor_utc_ms + t.duration_since(self.anchor).as_millis() as i64
        } else {
            self.anchor_utc_ms - self.anchor.duration_since(t).as_millis() as i64
        }
    }

    /// Compares with the wall clock at `now`; re-anchors and returns the step (ms) when it moved.
    pub fn check(&mut self, now: Instant, wall_ms: i64) -> Option<i64> {
        let step = wall_ms - self.utc_ms(now);
        if step.abs() > CLOCK_STEP_MS {
            self.anchor = now;
            self.anchor_utc_ms = wall_ms;
            Some(step)
        } else {
            None
        }
    }
}

/// Per-channel signal-loss state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChannelState {
    /// Never had a value (a second transducer that is not fitted is not "lost").
    #[default]
    Unused,
    Ok,
    /// No value since this instant, not yet long enough to call it lost.
    Missing(Instant),
    Lost,
    /// Values since this instant after a loss, not yet long enough to clear it.
    Returning(Instant),
}

/// Turns per-sample presence of values into debounced `signal_loss` events.
#[derive(Debug, Clone, Default)]
pub struct SignalWatch {
    channels: [ChannelState; 4],
}

const WATCHED: [Channel; 4] = [Channel::Fhr1, Channel::Fhr2, Channel::Mhr, Channel::Toco];

impl SignalWatch {
    pub fn observe(&mut self, sample: &Sample, at: Instant, out: &mut Vec<(Channel, bool)>) {
        let present = [
            sample.fhr1.is_some(),
            sample.fhr2.is_some(),
            sample.mhr.is_some(),
            sample.toco.is_some(),
        ];
        for ((state, has), channel) in self.channels.iter_mut().zip(present).zip(WATCHED) {
            *state = match (*state, has) {
                (ChannelState::Unused, false) => ChannelState::Unused,
                (ChannelState::Unused | ChannelState::Ok | ChannelState::Missing(_), true) => {
                    ChannelState::Ok
                }
                (ChannelState::Ok, false) => ChannelState::Missing(at),
                (ChannelState::Missing(since), false)
                    if at.duration_since(since) >= SIGNAL_LOSS_AFTER =>
                {
                    out.push((channel, true));
                    ChannelState::Lost
                }
                (s @ ChannelState::Missing(_), false) => s,
                (ChannelState::Lost | ChannelState::Returning(_), false) => ChannelState::Lost,
                (ChannelState::Lost, true) => ChannelState::Returning(at),
                (ChannelState::Returning(since), true)
                    if at.duration_since(since) >= SIGNAL_BACK_AFTER =>
                {
                    out.push((channel, false));
                    ChannelState::Ok
                }
                (s @ ChannelState::Returning(_), true) => s,
            };
        }
    }
}

/// Corometrics 115 bytes → stamped samples and events, for one device.
#[derive(Debug)]
pub struct CorometricsPipeline {
    decoder: Decoder,
    framer: Framer,
    /// The framer's clock: milliseconds since this instant.
    origin: Instant,
    stamper: Stamper,
    signal: SignalWatch,
    last_byte: Instant,
    silent: bool,
    cable_silence: Duration,
    link_up: bool,
    metrics: Arc<DeviceMetrics>,
    losses: Vec<(Channel, bool)>,
}

impl CorometricsPipeline {
    pub fn new(
        now: Instant,
        stamper: Stamper,
        cable_silence: Duration,
        metrics: Arc<DeviceMetrics>,
    ) -> Self {
        Self {
            decoder: Decoder::new(),
            framer: Framer::new(),
            origin: now,
            stamper,
            signal: SignalWatch::default(),
            last_byte: now,
            silent: false,
            cable_silence,
            link_up: false,
            metrics,
            losses: Vec::new(),
        }
    }

    fn ms(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.origin).as_millis() as i64
    }

    fn event(&self, kind: EventKind, at: Instant, out: &mut Vec<DeviceOutput>) {
        out.push(DeviceOutput::Event { kind, at_ms: self.stamper.utc_ms(at) });
    }

    /// The port (or link) opened.
    pub fn link_up(&mut self, now: Instant, detail: String, out: &mut Vec<DeviceOutput>) {
        self.link_up = true;
        self.event(EventKind::Link { up: true, detail }, now, out);
    }

    /// The port (or link) closed: the unfinished message is given up and the open sample
    /// finished.
    pub fn link_down(&mut self, now: Instant, detail: String, out: &mut Vec<DeviceOutput>) {
        if self.link_up {
            self.metrics.link_losses.fetch_add(1, Ordering::Relaxed);
        }
        self.link_up = false;
        self.decoder.discard_pending();
        let outputs = self.framer.flush(self.ms(now));
        self.framed(outputs, now, out);
        self.set_connected(false, out);
        self.event(EventKind::Link { up: false, detail }, now, out);
        self.export_stats();
    }

    fn set_connected(&mut self, connected: bool, out: &mut Vec<DeviceOutput>) {
        if self.metrics.connected.swap(connected, Ordering::Relaxed) != connected {
            out.push(DeviceOutput::Connected(connected));
        }
    }

    /// Bytes read at `now`.
    pub fn bytes(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<DeviceOutput>) {
        if bytes.is_empty() {
            return;
        }
        self.metrics.bytes_read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.silent {
            self.silent = false;
            let silent_ms = now.duration_since(self.last_byte).as_millis() as u64;
            self.event(EventKind::CableSilence { active: false, silent_ms }, now, out);
        }
        self.last_byte = now;
        self.set_connected(true, out);
        self.decoder.push(bytes);
        let t = self.ms(now);
        while let Some(msg) = self.decoder.next_message() {
            let outputs = self.framer.push(msg, t);
            self.framed(outputs, now, out);
        }
        self.export_stats();
    }

    /// Timer (every ~100 ms): finishes a sample whose tick is over, raises cable silence.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<DeviceOutput>) {
        let outputs = self.framer.poll(self.ms(now));
        self.framed(outputs, now, out);
        let silent_for = now.saturating_duration_since(self.last_byte);
        if !self.silent && silent_for >= self.cable_silence {
            self.silent = true;
            self.event(
                EventKind::CableSilence { active: true, silent_ms: silent_for.as_millis() as u64 },
                now,
                out,
            );
            self.set_connected(false, out);
        }
    }

    /// Compares the stamping clock with the wall clock read by the caller; follows a step.
    pub fn check_clock(&mut self, now: Instant, wall_ms: i64) {
        if let Some(step) = self.stamper.check(now, wall_ms) {
            tracing::warn!(
                step_ms = step,
                "wall clock stepped; receive times follow it from now on"
            );
        }
    }

    fn framed(&mut self, outputs: Vec<FramerOutput>, now: Instant, out: &mut Vec<DeviceOutput>) {
        for o in outputs {
            match o {
                FramerOutput::Sample { sample, opened_ms } => {
                    let opened = self.origin + Duration::from_millis(opened_ms.max(0) as u64);
                    self.metrics.samples_read.fetch_add(1, Ordering::Relaxed);
                    out.push(DeviceOutput::Sample {
                        sample,
                        rx_utc_ms: self.stamper.utc_ms(opened),
                        device_time_ms: None,
                    });
                    self.signal.observe(&sample, opened, &mut self.losses);
                    for (channel, active) in self.losses.drain(..) {
                        out.push(DeviceOutput::Event {
                            kind: EventKind::SignalLoss { channel, active },
                            at_ms: self.stamper.utc_ms(opened),
                        });
                    }
                }
                FramerOutput::Modes { hr, ua } => self.event(
                    EventKind::ModeChange {
                        hr_mode: char::from(hr).to_string(),
                        ua_mode: char::from(ua).to_string(),
                    },
                    now,
                    out,
                ),
                FramerOutput::PaperOut(active) => {
                    self.event(EventKind::PaperOut { active }, now, out)
                }
                FramerOutput::Annotation(text) => {
                    self.event(EventKind::Annotation { text }, now, out)
                }
            }
        }
    }

    fn export_stats(&self) {
        let d = self.decoder.stats();
        let m = &self.metrics;
        m.messages_decoded.store(d.messages, Ordering::Relaxed);
        m.frames_rejected.store(d.frames_rejected, Ordering::Relaxed);
        m.bytes_discarded.store(d.bytes_discarded, Ordering::Relaxed);
        m.values_out_of_range.store(self.framer.stats().out_of_range, Ordering::Relaxed);
    }

    /// The decoder's last rejected frame, for logs.
    pub fn last_rejection(&self) -> Option<hardware::corometrics::Rejection> {
        self.decoder.last_rejection()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardware::corometrics::{MonitorEncoder, MonitorMode, MovementReport, Tick};

    const T0: i64 = 1_790_000_000_000;
    const TICK: Duration = Duration::from_millis(250);

    fn pipeline(now: Instant) -> (CorometricsPipeline, Arc<DeviceMetrics>) {
        let m = Arc::new(DeviceMetrics::default());
        (
            CorometricsPipeline::new(
                now,
                Stamper::anchored(now, T0),
                Duration::from_secs(3),
                m.clone(),
            ),
            m,
        )
    }

    fn samples(out: &[DeviceOutput]) -> Vec<(Sample, i64)> {
        out.iter()
            .filter_map(|o| match o {
                DeviceOutput::Sample { sample, rx_utc_ms, .. } => Some((*sample, *rx_utc_ms)),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[DeviceOutput]) -> Vec<EventKind> {
        out.iter()
            .filter_map(|o| match o {
                DeviceOutput::Event { kind, .. } => Some(kind.clone()),
                _ => None,
            })
            .collect()
    }

    fn tick(hr: Option<u16>, ua: [Option<u8>; 2]) -> Tick {
        Tick { hr1: hr, ua, movement: MovementReport::NotFitted, ..Tick::default() }
    }

    /// Feeds ticks 250 ms apart, with a timer between them, as a source task would.
    fn feed(
        p: &mut CorometricsPipeline,
        start: Instant,
        ticks: &[Tick],
        out: &mut Vec<DeviceOutput>,
    ) -> Instant {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut now = start;
        for (i, t) in ticks.iter().enumerate() {
            let mut bytes = Vec::new();
            enc.encode_tick(i as u64, t, &mut bytes);
            p.bytes(&bytes, now, out);
            p.tick(now + Duration::from_millis(100), out);
            now += TICK;
        }
        now
    }

    #[test]
    fn samples_are_stamped_at_their_first_message_on_a_4_hz_grid() {
        let start = Instant::now();
        let (mut p, m) = pipeline(start);
        let mut out = Vec::new();
        let ticks: Vec<Tick> = (0..8).map(|i| tick(Some(130 + i), [Some(10), Some(12)])).collect();
        let end = feed(&mut p, start, &ticks, &mut out);
        // The last sample finishes when its next HR1 is overdue.
        p.tick(end + Duration::from_millis(500), &mut out);
        let s = samples(&out);
        assert_eq!(s.len(), 8);
        for (i, (sample, rx)) in s.iter().enumerate() {
            assert_eq!(*rx, T0 + i as i64 * 250, "sample {i}");
            assert_eq!(sample.fhr1.unwrap().as_f32(), 130.0 + i as f32);
        }
        assert_eq!(m.samples_read.load(Ordering::Relaxed), 8);
        assert_eq!(
            events(&out),
            vec![EventKind::ModeChange { hr_mode: "U".into(), ua_mode: "T".into() }]
        );
    }

    #[test]
    fn ua_peak_between_two_samples_survives_folding_to_4_hz() {
        let start = Instant::now();
        let (mut p, _) = pipeline(start);
        let mut out = Vec::new();
        // The contraction peak (87) is only in the second 8 Hz reading of one tick.
        let ticks = [
            tick(Some(140), [Some(40), Some(41)]),
            tick(Some(140), [Some(42), Some(87)]),
            tick(Some(140), [Some(43), Some(40)]),
        ];
        let end = feed(&mut p, start, &ticks, &mut out);
        p.tick(end + Duration::from_secs(1), &mut out);
        let toco: Vec<u8> = samples(&out).iter().map(|(s, _)| s.toco.unwrap().value()).collect();
        assert_eq!(toco, vec![41, 87, 43]);
    }

    #[test]
    fn garbage_is_counted_and_the_stream_continues() {
        let start = Instant::now();
        let (mut p, m) = pipeline(start);
        let mut out = Vec::new();
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut now = start;
        for i in 0..20u64 {
            let mut bytes = Vec::new();
            if i == 5 {
                bytes.extend_from_slice(b"\xff\x00garbage9\x609\x03\x03");
            }
            enc.encode_tick(i, &tick(Some(140), [Some(10), Some(10)]), &mut bytes);
            p.bytes(&bytes, now, &mut out);
            now += TICK;
        }
        p.tick(now + Duration::from_secs(1), &mut out);
        assert_eq!(samples(&out).len(), 20);
        assert!(m.bytes_discarded.load(Ordering::Relaxed) >= 10);
    }

    #[test]
    fn cable_silence_and_its_end_are_events() {
        let start = Instant::now();
        let (mut p, m) = pipeline(start);
        let mut out = Vec::new();
        let now = feed(&mut p, start, &[tick(Some(140), [Some(1), Some(1)])], &mut out);
        assert!(m.connected.load(Ordering::Relaxed));
        out.clear();
        p.tick(now + Duration::from_secs(2), &mut out);
        assert!(events(&out).is_empty(), "2 s of silence is below the threshold");
        p.tick(now + Duration::from_secs(3), &mut out);
        assert!(
            matches!(events(&out).as_slice(), [EventKind::CableSilence { active: true, silent_ms }] if *silent_ms >= 3000),
            "{out:?}"
        );
        assert!(out.contains(&DeviceOutput::Connected(false)));
        out.clear();
        feed(
            &mut p,
            now + Duration::from_secs(10),
            &[tick(Some(140), [Some(1), Some(1)])],
            &mut out,
        );
        assert!(events(&out).iter().any(|e| matches!(e, EventKind::CableSilence { active: false, silent_ms } if *silent_ms >= 10_000)));
        assert!(out.contains(&DeviceOutput::Connected(true)));
    }

    #[test]
    fn signal_loss_is_debounced_and_ignores_unused_channels() {
        let start = Instant::now();
        let (mut p, _) = pipeline(start);
        let mut out = Vec::new();
        let mut ticks: Vec<Tick> = (0..40).map(|_| tick(Some(140), [Some(10), Some(10)])).collect();
        ticks.extend((0..4).map(|_| tick(None, [Some(10), Some(10)]))); // a 1 s pen lift: no event
        ticks.extend((0..4).map(|_| tick(Some(140), [Some(10), Some(10)])));
        ticks.extend((0..28).map(|_| tick(None, [Some(10), Some(10)]))); // 7 s: lost
        ticks.extend((0..8).map(|_| tick(Some(141), [Some(10), Some(10)]))); // back
        let end = feed(&mut p, start, &ticks, &mut out);
        p.tick(end + Duration::from_secs(1), &mut out);
        let losses: Vec<EventKind> = events(&out)
            .into_iter()
            .filter(|e| matches!(e, EventKind::SignalLoss { .. }))
            .collect();
        assert_eq!(
            losses,
            vec![
                EventKind::SignalLoss { channel: Channel::Fhr1, active: true },
                EventKind::SignalLoss { channel: Channel::Fhr1, active: false }
            ],
            "HR2 never had a value, so it is not reported lost"
        );
    }

    #[test]
    fn link_loss_mid_frame_gives_up_the_partial_message() {
        let start = Instant::now();
        let (mut p, m) = pipeline(start);
        let mut out = Vec::new();
        p.link_up(start, "opened".into(), &mut out);
        p.bytes(b"9`0140\x039a012\x039`01", start, &mut out);
        p.link_down(start + TICK, "unplugged".into(), &mut out);
        assert_eq!(samples(&out).len(), 1, "the complete sample is kept");
        assert_eq!(m.frames_rejected.load(Ordering::Relaxed), 1);
        assert_eq!(m.link_losses.load(Ordering::Relaxed), 1);
        assert!(events(&out).contains(&EventKind::Link { up: false, detail: "unplugged".into() }));
    }

    #[test]
    fn stamper_follows_monotonic_time_and_re_anchors_on_clock_steps() {
        let t = Instant::now();
        let mut s = Stamper::anchored(t, T0);
        assert_eq!(s.utc_ms(t + Duration::from_millis(1250)), T0 + 1250);
        assert_eq!(
            s.check(t + Duration::from_secs(10), T0 + 10_300),
            None,
            "small drift is ignored"
        );
        assert_eq!(s.check(t + Duration::from_secs(20), T0 + 80_000), Some(60_000));
        assert_eq!(s.utc_ms(t + Duration::from_secs(21)), T0 + 81_000);
    }
}
