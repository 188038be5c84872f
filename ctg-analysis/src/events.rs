//! Accelerations and decelerations: excursions of the FHR away from the baseline.
//!
//! Definitions (FIGO 2015, NICHD 2008, JSOG 2002): an acceleration rises ≥ 15 bpm above the
//! baseline for ≥ 15 s (10 bpm for 10 s before 32 weeks); a deceleration falls ≥ 15 bpm below
//! it for ≥ 15 s.
//!
//! Detection:
//! 1. A *core* is a stretch where the smoothed FHR (three cascaded 19-s moving averages, about a
//!    1 cycle/min low-pass) lies more than 5 bpm beyond the baseline: slow, sustained excursions,
//!    not beat-to-beat noise.
//! 2. Inside a core, each stretch where the FHR (short gaps interpolated) stays beyond the
//!    baseline is a candidate; it is an event when it lasts at least the minimum duration and
//!    reaches at least the minimum amplitude.
//!
//! An event is final once its core has ended; an event still in progress at the newest sample
//! is reported as provisional.

use serde::Serialize;

/// A core needs the smoothed FHR at least this far beyond the baseline, bpm.
pub const CORE_BPM: f32 = 5.0;
/// Half-width (samples) of each of the three cascaded moving averages of the core signal.
pub const CORE_SMOOTH: usize = 38;
/// Gaps up to this long (samples, 1 min) are bridged by interpolation when measuring events.
pub const MAX_INTERP_GAP: usize = 240;

/// An excursion as detected, in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawEvent {
    pub start: usize,
    /// Exclusive.
    pub end: usize,
    /// Sample of the largest deviation from the baseline.
    pub extreme: usize,
    /// FHR at the extreme, bpm.
    pub extreme_bpm: f32,
    /// Largest deviation from the baseline, bpm (positive).
    pub amplitude: f32,
    /// Share of the event's samples with no usable FHR (bridged by interpolation).
    pub missing_fraction: f32,
    /// Area between the FHR and the baseline, in beats (gained or lost).
    pub beats: f32,
}

/// Direction of an excursion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
}

/// Scan position of an event detector.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScanState {
    pos: usize,
    open: Option<usize>,
}

impl ScanState {
    /// Every event starting before this sample is known.
    pub fn frontier(&self) -> usize {
        self.open.unwrap_or(self.pos)
    }
}

/// Inputs of event detection, all sample-aligned.
pub(crate) struct EventInputs<'a> {
    /// Usable FHR (NaN where missing).
    pub used: &'a [f32],
    /// Usable FHR with short gaps interpolated.
    pub filled: &'a [f32],
    /// Smoothed FHR for cores.
    pub smooth: &'a [f32],
    pub baseline: &'a [f32],
}

/// Detection thresholds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub amplitude: f32,
    pub duration_samples: usize,
}

/// Scans `[state.pos, limit)`; `eod` closes a core still open at `limit`. Appends events.
pub(crate) fn scan(
    state: &mut ScanState,
    dir: Direction,
    th: Thresholds,
    input: &EventInputs<'_>,
    limit: usize,
    eod: bool,
    events: &mut Vec<RawEvent>,
) {
    let sign = match dir {
        Direction::Up => 1.0,
        Direction::Down => -1.0,
    };
    while state.pos < limit {
        let i = state.pos;
        let d = sign * (input.smooth[i] - input.baseline[i]);
        let in_core = d > CORE_BPM;
        match (state.open, in_core) {
            (None, true) => state.open = Some(i),
            (Some(start), false) => {
                emit(start, i, sign, th, input, events);
                state.open = None;
            }
            _ => {}
        }
        state.pos += 1;
    }
    if eod && let Some(start) = state.open.take() {
        emit(start, limit, sign, th, input, events);
    }
}

fn emit(
    core_start: usize,
    core_end: usize,
    sign: f32,
    th: Thresholds,
    input: &EventInputs<'_>,
    out: &mut Vec<RawEvent>,
) {
    let dev = |i: usize| sign * (input.filled[i] - input.baseline[i]);
    let mut i = core_start;
    while i < core_end {
        let d = dev(i);
        // NaN (no signal) is not beyond the baseline either.
        if d.is_nan() || d <= 0.0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < core_end && dev(i) > 0.0 {
            i += 1;
        }
        let end = i;
        if end - start < th.duration_samples {
            continue;
        }
        let (mut extreme, mut amplitude) = (start, 0.0f32);
        let (mut missing, mut beats) = (0usize, 0.0f32);
        for k in start..end {
            let d = dev(k);
            if d > amplitude {
                amplitude = d;
                extreme = k;
            }
            if input.used[k].is_nan() {
                missing += 1;
            }
            beats += d / (60.0 * crate::SAMPLE_RATE_HZ as f32);
        }
        if amplitude >= th.amplitude {
            out.push(RawEvent {
                start,
                end,
                extreme,
                extreme_bpm: input.filled[extreme],
                amplitude,
                missing_fraction: missing as f32 / (end - start) as f32,
                beats,
            });
        }
    }
}

/// Deceleration types (FIGO 2015, NICHD 2008, JSOG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecelerationKind {
    /// Gradual, nadir with the contraction peak.
    Early,
    /// Gradual, nadir after the contraction peak.
    Late,
    /// Abrupt (< 30 s to the nadir), or gradual with no contraction to relate it to.
    Variable,
    /// Lasting 2 min or more (and less than 10 min; longer is a baseline change).
    Prolonged,
    /// Gradual, but the uterine activity around it is missing: early or late cannot be told.
    Unclassified,
}

/// JSOG severity of a deceleration ([U] criteria, see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Mild,
    Severe,
}

/// An acceleration, times in seconds from the start of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Acceleration {
    pub start_s: f64,
    pub end_s: f64,
    pub peak_s: f64,
    pub peak_bpm: f32,
    /// Rise above the baseline at the peak, bpm.
    pub amplitude_bpm: f32,
    /// Share of the span with no usable FHR.
    pub missing_fraction: f32,
    /// Still in progress or not yet final (may change as signal arrives).
    pub provisional: bool,
}

/// A deceleration, times in seconds from the start of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deceleration {
    /// Detected span: where the FHR is below the baseline within the excursion.
    pub start_s: f64,
    pub end_s: f64,
    /// Where the fall began (the FHR last at the baseline before the nadir): the onset that
    /// onset-to-nadir times (abrupt < 30 s, gradual ≥ 30 s) are measured from.
    pub onset_s: f64,
    pub kind: DecelerationKind,
    pub severity: Severity,
    pub nadir_s: f64,
    pub nadir_bpm: f32,
    /// Fall below the baseline at the nadir, bpm.
    pub depth_bpm: f32,
    /// Beats lost against the baseline (Dawes–Redman use this size measure).
    pub lost_beats: f32,
    /// Index into the contractions of the contraction it is related to, if any.
    pub contraction: Option<usize>,
    /// Nadir time minus the related contraction's peak time, s.
    pub lag_s: Option<f64>,
    pub missing_fraction: f32,
    pub provisional: bool,
}

impl Deceleration {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dip_inside_a_core_is_one_deceleration() {
        let n = 400;
        let baseline = vec![140.0f32; n];
        let filled: Vec<f32> = (0..n)
            .map(|i| {
                if (100..220).contains(&i) {
                    140.0 - 30.0 * ((i - 100) as f32 / 120.0 * std::f32::consts::PI).sin()
                } else {
                    141.0
                }
            })
            .collect();
        let smooth = filled.clone();
        let input =
            EventInputs { used: &filled, filled: &filled, smooth: &smooth, baseline: &baseline };
        let mut st = ScanState::default();
        let mut ev = Vec::new();
        let th = Thresholds { amplitude: 15.0, duration_samples: 60 };
        scan(&mut st, Direction::Down, th, &input, n, true, &mut ev);
        assert_eq!(ev.len(), 1);
        let e = ev[0];
        assert!(e.start >= 100 && e.end <= 220, "{e:?}");
        assert!((e.amplitude - 30.0).abs() < 0.5);
        assert!((158..=162).contains(&e.extreme));
        // 30 s at an average of ~19 bpm below the baseline is ~10 lost beats.
        assert!(e.beats > 8.0 && e.beats < 11.0, "{}", e.beats);
        let mut up = Vec::new();
        scan(&mut ScanState::default(), Direction::Up, th, &input, n, true, &mut up);
        assert!(up.is_empty());
    }

    #[test]
    fn an_open_core_waits_for_its_end_unless_at_the_end_of_data() {
        let n = 200;
        let baseline = vec![140.0f32; n];
        let filled: Vec<f32> = (0..n).map(|i| if i > 100 { 110.0 } else { 140.0 }).collect();
        let input =
            EventInputs { used: &filled, filled: &filled, smooth: &filled, baseline: &baseline };
        let th = Thresholds { amplitude: 15.0, duration_samples: 60 };
        let mut st = ScanState::default();
        let mut ev = Vec::new();
        scan(&mut st, Direction::Down, th, &input, n, false, &mut ev);
        assert!(ev.is_empty());
        assert_eq!(st.frontier(), 101);
        let mut view = st;
        scan(&mut view, Direction::Down, th, &input, n, true, &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].start, ev[0].end), (101, 200));
    }
}
