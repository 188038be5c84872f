//! Device sources: thin I/O adapters that feed a pipeline and forward what it produces.
//!
//! * serial: a dedicated thread per port (the `serialport` crate is blocking), reopening the
//!   port by path whenever it fails: a USB adapter pulled out and plugged back, a pseudo-terminal
//!   whose other side went away and came back.
//! * simulator and replay: async tasks that encode frames on the Corometrics wire in real time
//!   (or faster) and push the bytes through the same pipeline as a serial monitor.
//! * BLE: see [`crate::ble`].

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardware::sim::{FrameSource, Replay, Scenario, Simulator, WireEncoder};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::device::{CorometricsPipeline, DeviceMetrics, DeviceOutput, Stamper, wall_clock_ms};

/// How long a serial read waits for bytes; also the timer resolution of a serial device.
const SERIAL_READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Delay between two attempts to open a serial port that is not there.
const SERIAL_REOPEN: Duration = Duration::from_millis(500);

/// One message from a device source to the core: which device slot, what happened.
pub type DeviceMsg = (usize, DeviceOutput);

/// What every source task gets.
#[derive(Debug, Clone)]
pub struct SourceCtx {
    pub index: usize,
    pub device: crate::config::DeviceConfig,
    pub tx: mpsc::Sender<DeviceMsg>,
    pub cancel: CancellationToken,
    pub metrics: Arc<DeviceMetrics>,
}

impl SourceCtx {
    fn pipeline(&self, now: Instant) -> CorometricsPipeline {
        CorometricsPipeline::new(
            now,
            Stamper::new(),
            self.device.cable_silence,
            self.metrics.clone(),
        )
    }

    /// Sends from a blocking thread; false when the core is gone.
    fn send_blocking(&self, out: &mut Vec<DeviceOutput>) -> bool {
        for o in out.drain(..) {
            if self.tx.blocking_send((self.index, o)).is_err() {
                return false;
            }
        }
        true
    }

    async fn send(&self, out: &mut Vec<DeviceOutput>) -> bool {
        for o in out.drain(..) {
            if self.tx.send((self.index, o)).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Reads a serial port until cancelled, reopening it whenever it fails. Runs on its own thread.
pub fn run_serial(ctx: SourceCtx, path: PathBuf, baud: u32) {
    let mut p = ctx.pipeline(Instant::now());
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    let mut last_open_error: Option<String> = None;
    let name = path.display().to_string();
    while !ctx.cancel.is_cancelled() {
        let port = serialport::new(name.as_str(), baud).timeout(SERIAL_READ_TIMEOUT).open_native();
        let mut port = match port {
            Ok(port) => port,
            Err(e) => {
                let msg = e.to_string();
                if last_open_error.as_deref() != Some(&msg) {
                    tracing::warn!(device = %ctx.device.id, port = %name, error = %msg, "cannot open serial port; retrying");
                    if last_open_error.is_none() {
                        p.link_down(Instant::now(), format!("cannot open {name}: {msg}"), &mut out);
                    }
                    last_open_error = Some(msg);
                }
                // Keep the timers running (cable silence) while waiting.
                let until = Instant::now() + SERIAL_REOPEN;
                while Instant::now() < until && !ctx.cancel.is_cancelled() {
                    std::thread::sleep(SERIAL_READ_TIMEOUT);
                    p.tick(Instant::now(), &mut out);
                    if !ctx.send_blocking(&mut out) {
                        return;
                    }
                }
                continue;
            }
        };
        tracing::info!(device = %ctx.device.id, port = %name, baud, "serial port open");
        p.link_up(Instant::now(), format!("opened {name} at {baud} baud"), &mut out);
        let reason = loop {
            if ctx.cancel.is_cancelled() {
                break None;
            }
            match port.read(&mut buf) {
                Ok(0) => break Some("port closed (end of file)".to_owned()),
                Ok(n) => p.bytes(&buf[..n], Instant::now(), &mut out),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => break Some(e.to_string()),
            }
            let now = Instant::now();
            p.tick(now, &mut out);
            p.check_clock(now, wall_clock_ms());
            if !ctx.send_blocking(&mut out) {
                return;
            }
        };
        drop(port);
        match reason {
            Some(why) => {
                tracing::warn!(device = %ctx.device.id, port = %name, reason = %why, "serial link lost; reopening");
                p.link_down(Instant::now(), format!("{name}: {why}"), &mut out);
                last_open_error = Some(why);
                if !ctx.send_blocking(&mut out) {
                    return;
                }
            }
            None => break,
        }
    }
}

/// Something that yields the Corometrics bytes of one 250 ms tick.
trait TickBytes: Send {
    /// Appends the bytes of the next tick; false when the source has ended.
    fn next_tick(&mut self, out: &mut Vec<u8>) -> bool;
}

struct SimBytes {
    sim: Simulator,
    wire: WireEncoder,
}

impl TickBytes for SimBytes {
    fn next_tick(&mut self, out: &mut Vec<u8>) -> bool {
        let frame = self.sim.next_frame();
        self.wire.encode_frame(&frame, out);
        true
    }
}

struct ReplayBytes {
    template: Replay,
    replay: Replay,
    wire: WireEncoder,
    repeat: bool,
}

impl TickBytes for ReplayBytes {
    fn next_tick(&mut self, out: &mut Vec<u8>) -> bool {
        if let Some(f) = self.replay.next_frame() {
            self.wire.encode_frame(&f, out);
            return true;
        }
        if !self.repeat || self.template.is_empty() {
            return false;
        }
        self.replay = self.template.clone();
        self.wire = WireEncoder::clean();
        self.replay.next_frame().is_some_and(|f| {
            self.wire.encode_frame(&f, out);
            true
        })
    }
}

/// The built-in simulator as a device: frames → Corometrics bytes (with the scenario's wire
/// faults) → the serial pipeline.
pub async fn run_simulator(ctx: SourceCtx, scenario: Scenario, seed: u64, speed: f64) {
    let source = SimBytes {
        sim: Simulator::new(scenario, seed),
        wire: WireEncoder::for_scenario(scenario, seed),
    };
    run_ticks(ctx, Box::new(source), speed, format!("simulator {scenario}, seed {seed}")).await;
}

/// A recording replayed through the serial pipeline.
pub async fn run_replay(
    ctx: SourceCtx,
    recording: hardware::datasets::Recording,
    speed: f64,
    repeat: bool,
) {
    let name = recording.name.clone();
    let template = Replay::new(recording);
    let source =
        ReplayBytes { replay: template.clone(), template, wire: WireEncoder::clean(), repeat };
    run_ticks(ctx, Box::new(source), speed, format!("replay of {name}")).await;
}

async fn run_ticks(ctx: SourceCtx, mut source: Box<dyn TickBytes>, speed: f64, detail: String) {
    let period = Duration::from_secs_f64(0.25 / speed);
    let mut interval = tokio::time::interval(period);
    // Keep the simulated monitor on its real-time schedule after a stall (as a monitor would).
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut p = ctx.pipeline(Instant::now());
    let mut out = Vec::new();
    let mut bytes = Vec::with_capacity(128);
    p.link_up(Instant::now(), detail, &mut out);
    let mut ended = false;
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        let now = Instant::now();
        if !ended {
            bytes.clear();
            if source.next_tick(&mut bytes) {
                p.bytes(&bytes, now, &mut out);
            } else {
                ended = true;
                p.link_down(now, "recording ended".into(), &mut out);
            }
        }
        p.tick(now, &mut out);
        p.check_clock(now, wall_clock_ms());
        if !ctx.send(&mut out).await {
            return;
        }
    }
}
