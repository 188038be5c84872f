//! Ground truth: what the simulator put into a trace, for tests and for checking analysis.
//!
//! Times are tick indices (tick n starts at n × 250 ms). Spans are half-open: `[start, end)`.

use serde::Serialize;

/// Milliseconds per tick.
pub const TICK_MS: i64 = ctg_wire::SAMPLE_PERIOD_MS;

/// Converts seconds to the nearest tick count.
pub fn ticks(seconds: f64) -> u64 {
    (seconds * 4.0).round().max(0.0) as u64
}

/// A half-open span of ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn new(start: u64, end: u64) -> Self {
        Self { start, end: end.max(start) }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    pub fn contains(&self, tick: u64) -> bool {
        (self.start..self.end).contains(&tick)
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One uterine contraction as generated (before noise, artefacts and re-zeroing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Contraction {
    pub onset: u64,
    pub peak: u64,
    pub end: u64,
    /// Amplitude above the resting tone at the peak, TOCO units.
    pub amplitude: f32,
}

/// Deceleration types (FIGO/NICHD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecelKind {
    Early,
    Late,
    Variable,
    Prolonged,
}

/// One deceleration as generated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Deceleration {
    pub kind: DecelKind,
    pub onset: u64,
    pub nadir: u64,
    pub end: u64,
    /// Fall below the baseline at the nadir, bpm.
    pub depth_bpm: f32,
    /// Index into [`GroundTruth::contractions`] of the contraction that provoked it.
    pub contraction: Option<usize>,
    /// Variable decelerations: brief rises just before and after.
    pub shoulders: bool,
}

/// One acceleration as generated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Acceleration {
    pub onset: u64,
    pub peak: u64,
    pub end: u64,
    pub amplitude_bpm: f32,
}

/// A period where the baseline itself is abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaselineEpisode {
    /// Includes the transitions in and out.
    pub span: Span,
    /// The baseline reached, bpm.
    pub level_bpm: f32,
}

/// Byte-level faults injected on the Corometrics wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WireFaultKind {
    /// Random bytes (line noise) inserted between two messages.
    Garbage { bytes: u32 },
    /// The last message of a tick cut short; its ETX and part of its data never arrive.
    Truncated,
    /// One message sent without its ETX.
    MissingEtx,
    /// The monitor restarts in the middle of a message, is silent while it boots, then starts
    /// again with its mode message.
    Reboot { silent_ticks: u64 },
    /// The cable is pulled out: nothing at all arrives.
    Unplugged { silent_ticks: u64 },
    /// The monitor's heart rate or UA mode changes (transducer swapped).
    ModeChange { hr_mode: u8, ua_mode: u8 },
}

/// A wire fault at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct WireFault {
    pub tick: u64,
    #[serde(flatten)]
    pub kind: WireFaultKind,
}

/// Everything the simulator planned. Events are listed in onset order; a run may plan a few
/// minutes past the last frame produced ([`GroundTruth::until`] trims).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroundTruth {
    pub contractions: Vec<Contraction>,
    pub decelerations: Vec<Deceleration>,
    pub accelerations: Vec<Acceleration>,
    /// FHR1 has no value (pen lift).
    pub signal_loss: Vec<Span>,
    /// The FHR channel shows the maternal heart rate.
    pub mhr_as_fhr: Vec<Span>,
    /// Maternal movement: artefacts on FHR and TOCO.
    pub maternal_movements: Vec<Span>,
    /// Fetal movement detector active.
    pub fetal_movements: Vec<Span>,
    /// Event-mark presses.
    pub marks: Vec<u64>,
    /// The TOCO was re-zeroed (the reading steps to the reference level).
    pub toco_rezero: Vec<u64>,
    pub tachycardia: Vec<BaselineEpisode>,
    pub bradycardia: Vec<BaselineEpisode>,
    /// The FHR is sinusoidal.
    pub sinusoidal: Vec<Span>,
}

impl GroundTruth {
    /// Only what starts before tick `end`.
    pub fn until(&self, end: u64) -> GroundTruth {
        let spans = |v: &[Span]| v.iter().copied().filter(|s| s.start < end).collect::<Vec<_>>();
        let n_contractions = self.contractions.iter().filter(|c| c.onset < end).count();
        GroundTruth {
            contractions: self.contractions[..n_contractions].to_vec(),
            decelerations: self
                .decelerations
                .iter()
                .copied()
                .filter(|d| d.onset < end)
                .map(|d| Deceleration {
                    contraction: d.contraction.filter(|&i| i < n_contractions),
                    ..d
                })
                .collect(),
            accelerations: self.accelerations.iter().copied().filter(|a| a.onset < end).collect(),
            signal_loss: spans(&self.signal_loss),
            mhr_as_fhr: spans(&self.mhr_as_fhr),
            maternal_movements: spans(&self.maternal_movements),
            fetal_movements: spans(&self.fetal_movements),
            marks: self.marks.iter().copied().filter(|&t| t < end).collect(),
            toco_rezero: self.toco_rezero.iter().copied().filter(|&t| t < end).collect(),
            tachycardia: self.tachycardia.iter().copied().filter(|e| e.span.start < end).collect(),
            bradycardia: self.bradycardia.iter().copied().filter(|e| e.span.start < end).collect(),
            sinusoidal: spans(&self.sinusoidal),
        }
    }
}
