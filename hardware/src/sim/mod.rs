//! A deterministic CTG simulator with named clinical scenarios, its ground truth, replay of
//! recorded traces, and the Corometrics wire with injected faults.
//!
//! ```
//! use hardware::sim::{Scenario, Simulator};
//!
//! let mut sim = Simulator::new(Scenario::LateDecelerations, 7);
//! let frame = sim.next_frame(); // tick 0, t = 0 ms
//! assert_eq!(frame.t_ms(), 0);
//! assert_eq!(sim.next_frame().t_ms(), 250);
//! ```
//!
//! Same scenario, options and seed give the same frames (and the same wire bytes) on every
//! machine and with every dependency version: the random generator is [`rng::Rng`], written
//! here. Frames are indexed by tick (tick n is at n × 250 ms); nothing reads a clock. A frame
//! carries the [`ctg_wire::Sample`], the two 8 Hz uterine activity values of its 250 ms (the
//! Corometrics wire sends UA at 8/s) and, from the simulator, what the trace really is
//! ([`FrameTruth`]); [`GroundTruth`] lists the planned events.

mod engine;
pub mod json;
mod replay;
pub mod rng;
mod scenario;
mod truth;
pub mod wire;

use ctg_wire::Sample;

pub use engine::Simulator;
pub use json::JsonSample;
pub use replay::Replay;
pub use scenario::{Scenario, VariabilityClass};
pub use truth::{
    Acceleration, BaselineEpisode, Contraction, DecelKind, Deceleration, GroundTruth, Span,
    TICK_MS, WireFault, WireFaultKind, ticks,
};
pub use wire::WireEncoder;

/// Why a simulation could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("unknown scenario '{0}' (see `ctg-sim list`)")]
    UnknownScenario(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("bad duration '{0}': expected a number with a unit, e.g. 90s, 20m, 2h or 1h30m")]
    BadDuration(String),
}

/// Options that change a scenario's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimOptions {
    /// Share of FHR samples lost to pen lifts, 0.0–0.9 (the `signal-loss` scenario defaults to
    /// 0.15, the clinical ones to 0.01). Exact over every 5 minutes.
    pub signal_loss: Option<f64>,
    /// Twins: a second fetus on FHR2, with its own baseline (8–18 bpm apart) and variability,
    /// decelerating with the same contractions.
    pub twins: bool,
}

/// Where the value on the FHR channel really came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FhrSource {
    Fetal,
    /// The transducer picked up the maternal pulse.
    Maternal,
    /// Noise tracked during maternal movement (often half or double the true rate).
    Artefact,
    /// No value (signal loss).
    None,
}

/// What a simulated frame really is, beneath the noise.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FrameTruth {
    /// The fetal baseline, bpm (drift and baseline episodes included).
    pub baseline_bpm: f32,
    /// The fetal heart rate before signal loss, artefacts or maternal capture, bpm.
    pub fetal_bpm: f32,
    pub fhr_source: FhrSource,
    /// Contraction pressure above the resting tone, TOCO units.
    pub contraction: f32,
    /// The deceleration in progress, if any.
    pub deceleration: Option<DecelKind>,
}

/// One 250 ms frame of a CTG source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Tick index: the frame covers [tick × 250 ms, (tick + 1) × 250 ms).
    pub tick: u64,
    pub sample: Sample,
    /// Uterine activity at 8 Hz: the values at the start and the middle of the tick.
    /// `sample.toco` is the larger of the two, as the Corometrics framer folds them, so that a
    /// sample read back from the wire equals the one sent.
    pub ua: [Option<ctg_wire::Toco>; 2],
    /// Present for simulated frames, absent for replayed ones.
    pub truth: Option<FrameTruth>,
}

impl Frame {
    /// Start of the frame, ms from the start of the run.
    pub fn t_ms(&self) -> i64 {
        self.tick as i64 * TICK_MS
    }
}

/// Anything that yields frames in tick order: the simulator (endless) or a replay (ends).
pub trait FrameSource {
    fn next_frame(&mut self) -> Option<Frame>;
}

/// A finished run: its frames and what was planned within them.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub scenario: Scenario,
    pub seed: u64,
    pub frames: Vec<Frame>,
    pub truth: GroundTruth,
}

impl Simulation {
    /// The samples alone.
    pub fn samples(&self) -> Vec<Sample> {
        self.frames.iter().map(|f| f.sample).collect()
    }
}

/// Runs `scenario` for `n_ticks` frames.
pub fn simulate(
    scenario: Scenario,
    seed: u64,
    n_ticks: u64,
    options: &SimOptions,
) -> Result<Simulation, SimError> {
    let mut sim = Simulator::with_options(scenario, seed, options)?;
    let frames = (0..n_ticks).map(|_| sim.next_frame()).collect();
    Ok(Simulation { scenario, seed, frames, truth: sim.truth().until(n_ticks) })
}

/// Parses a duration such as `90s`, `20m`, `2h`, `1h30m` or `500ms` into whole ticks
/// (250 ms), rounding down. Zero is an error.
pub fn parse_duration(text: &str) -> Result<u64, SimError> {
    let bad = || SimError::BadDuration(text.to_owned());
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms).ok_or_else(bad)?).ok_or_else(bad)?;
    }
    let n_ticks = total_ms / TICK_MS as u128;
    if n_ticks == 0 || n_ticks > u128::from(u32::MAX) {
        return Err(bad());
    }
    Ok(n_ticks as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s").unwrap(), 360);
        assert_eq!(parse_duration("20m").unwrap(), 4_800);
        assert_eq!(parse_duration("2h").unwrap(), 28_800);
        assert_eq!(parse_duration("1h30m").unwrap(), 21_600);
        assert_eq!(parse_duration("750ms").unwrap(), 3);
        for bad in ["", "20", "m", "20x", "-5m", "0s", "100ms", "1.5m", "99999999999999999999999h"]
        {
            let e = parse_duration(bad).unwrap_err();
            assert!(matches!(e, SimError::BadDuration(_)), "{bad}: {e}");
        }
    }
}
