//! Uterine contractions from the TOCO channel.
//!
//! 1. The TOCO is smoothed (9-s moving average) to remove breathing and spikes.
//! 2. The resting tone is the lower envelope: the minimum over ±1 min of 4-s block minima,
//!    averaged over ±2 min.
//! 3. A contraction is a stretch where the smoothed TOCO stays more than 5 units above the tone,
//!    reaches at least 12 units above it and lasts at least 30 s. Two peaks separated by a valley
//!    that falls below half of the smaller peak are two contractions.
//!
//! External TOCO is in arbitrary units, so only the rise above the tone is used. Tachysystole
//! (FIGO/NICHD): more than 5 contractions per 10 min, averaged over 30 min.

use serde::Serialize;

use crate::signal::MovingAverage;

/// Smoothing half-width, samples (±4 s).
const SMOOTH: usize = 16;
/// Samples per tone block (4 s).
const TONE_BLOCK: usize = 16;
/// Erosion half-width, blocks (±1 min).
const EROSION: usize = 15;
/// Tone averaging half-width, blocks (±2 min).
const TONE_MEAN: usize = 30;
/// A contraction stays above the tone by more than this, TOCO units.
pub const LOW_UNITS: f32 = 5.0;
/// And peaks at least this far above it.
pub const PEAK_UNITS: f32 = 12.0;
/// Shortest contraction, samples (30 s).
const MIN_DURATION: usize = 120;

/// A uterine contraction, times in seconds from the start of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contraction {
    pub start_s: f64,
    pub peak_s: f64,
    pub end_s: f64,
    /// Rise above the resting tone at the peak, TOCO units.
    pub amplitude: f32,
    pub provisional: bool,
}

/// A contraction in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawContraction {
    pub start: usize,
    pub peak: usize,
    pub end: usize,
    pub amplitude: f32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    pos: usize,
    open: Option<usize>,
}

/// The streaming contraction detector.
#[derive(Debug, Clone)]
pub(crate) struct TocoStage {
    smooth: MovingAverage,
    /// Smoothed TOCO per sample.
    pub smoothed: Vec<f32>,
    block_min: Vec<f32>,
    block_min_final: usize,
    eroded: Vec<f32>,
    eroded_final: usize,
    tone_blocks: Vec<f32>,
    tone_blocks_final: usize,
    /// Resting tone per sample.
    pub tone: Vec<f32>,
    tone_frontier: usize,
    scan: Scan,
    /// Final contractions.
    pub done: Vec<RawContraction>,
}

impl Default for TocoStage {
    fn default() -> Self {
        Self {
            smooth: MovingAverage::new(SMOOTH),
            smoothed: Vec::new(),
            block_min: Vec::new(),
            block_min_final: 0,
            eroded: Vec::new(),
            eroded_final: 0,
            tone_blocks: Vec::new(),
            tone_blocks_final: 0,
            tone: Vec::new(),
            tone_frontier: 0,
            scan: Scan::default(),
            done: Vec::new(),
        }
    }
}

impl TocoStage {
    /// Every contraction starting before this sample is final.
    pub fn frontier(&self) -> usize {
        self.scan.open.unwrap_or(self.scan.pos)
    }

    /// Makes room for `more` samples.
    pub fn reserve(&mut self, more: usize) {
        self.smooth.reserve(more);
        self.smoothed.reserve(more);
        self.tone.reserve(more);
    }

    /// Finalises what `toco[..n]` allows (the input channel is final as it arrives).
    pub fn advance(&mut self, toco: &[f32]) {
        let n = toco.len();
        self.smooth.advance(toco, n, &mut self.smoothed);
        let sf = self.smooth.frontier;
        self.block_min_final = self.blocks(sf / TONE_BLOCK, sf);
        self.eroded_final =
            self.erode(self.block_min_final.saturating_sub(EROSION), self.block_min_final);
        self.tone_blocks_final =
            self.tone_mean(self.eroded_final.saturating_sub(TONE_MEAN), self.eroded_final);
        self.tone_frontier =
            self.tone_samples(self.tone_frontier, self.tone_blocks_final, false, sf);
        let limit = self.tone_frontier;
        let mut scan = self.scan;
        scan_contractions(&mut scan, &self.smoothed, &self.tone, limit, false, &mut self.done);
        self.scan = scan;
    }

    /// Provisional contractions from the frontier to the end of `toco`, appended to `out`; the
    /// committed state is unchanged except for provisional values written past the frontiers.
    pub fn provisional(&mut self, toco: &[f32], out: &mut Vec<RawContraction>) {
        let n = toco.len();
        self.smooth.provisional(toco, n, &mut self.smoothed);
        let nb = n.div_ceil(TONE_BLOCK);
        self.block_min.truncate(self.block_min_final);
        self.blocks(nb, n);
        self.eroded.truncate(self.eroded_final);
        self.erode(nb, nb);
        self.tone_blocks.truncate(self.tone_blocks_final);
        self.tone_mean(nb, nb);
        self.tone_samples(self.tone_frontier, nb, true, n);
        let mut scan = self.scan;
        scan_contractions(&mut scan, &self.smoothed, &self.tone, n, true, out);
        self.block_min.truncate(self.block_min_final);
        self.eroded.truncate(self.eroded_final);
        self.tone_blocks.truncate(self.tone_blocks_final);
    }

    fn blocks(&mut self, upto: usize, n: usize) -> usize {
        for j in self.block_min.len()..upto {
            let hi = ((j + 1) * TONE_BLOCK).min(n);
            // `f32::min` ignores a NaN operand, so missing samples drop out by themselves.
            let m = self.smoothed[j * TONE_BLOCK..hi].iter().copied().fold(f32::NAN, f32::min);
            self.block_min.push(m);
        }
        self.block_min.len()
    }

    fn erode(&mut self, upto: usize, avail: usize) -> usize {
        for j in self.eroded.len()..upto {
            let lo = j.saturating_sub(EROSION);
            let hi = (j + EROSION + 1).min(avail);
            let m = self.block_min[lo..hi].iter().copied().fold(f32::NAN, f32::min);
            self.eroded.push(m);
        }
        self.eroded.len()
    }

    fn tone_mean(&mut self, upto: usize, avail: usize) -> usize {
        for j in self.tone_blocks.len()..upto {
            let lo = j.saturating_sub(TONE_MEAN);
            let hi = (j + TONE_MEAN + 1).min(avail);
            self.tone_blocks.push(crate::signal::nan_mean(&self.eroded[lo..hi]));
        }
        self.tone_blocks.len()
    }

    /// Per-sample tone, interpolated between block centres, from `from`; returns the new end.
    fn tone_samples(&mut self, from: usize, blocks: usize, eod: bool, n: usize) -> usize {
        self.tone.truncate(from);
        let mut i = from;
        while i < n {
            let u = (i as f64 + 0.5) / TONE_BLOCK as f64 - 0.5;
            let j0 = crate::signal::floor_i64(u);
            if !eod && j0 + 1 >= blocks as i64 {
                break;
            }
            let at = |j: i64| self.tone_blocks[j.clamp(0, blocks as i64 - 1) as usize];
            let (a, b) = (at(j0), at(j0 + 1));
            let frac = (u - j0 as f64) as f32;
            self.tone.push(match (a.is_nan(), b.is_nan()) {
                (false, false) => a + (b - a) * frac,
                (false, true) => a,
                (true, false) => b,
                (true, true) => f32::NAN,
            });
            i += 1;
        }
        i
    }
}

fn scan_contractions(
    scan: &mut Scan,
    smoothed: &[f32],
    tone: &[f32],
    limit: usize,
    eod: bool,
    out: &mut Vec<RawContraction>,
) {
    while scan.pos < limit {
        let i = scan.pos;
        let above = smoothed[i] - tone[i] > LOW_UNITS;
        match (scan.open, above) {
            (None, true) => scan.open = Some(i),
            (Some(start), false) => {
                split_and_emit(start, i, smoothed, tone, out);
                scan.open = None;
            }
            _ => {}
        }
        scan.pos += 1;
    }
    if eod && let Some(start) = scan.open.take() {
        split_and_emit(start, limit, smoothed, tone, out);
    }
}

/// Emits the contractions of the stretch `[start, end)` above the tone, split at deep valleys.
fn split_and_emit(
    start: usize,
    end: usize,
    smoothed: &[f32],
    tone: &[f32],
    out: &mut Vec<RawContraction>,
) {
    let r = |i: usize| smoothed[i] - tone[i];
    // Walk the stretch at 2-s steps, tracking the current peak and the valley after it.
    const STEP: usize = 8;
    let mut seg_start = start;
    let mut peak = start;
    let mut valley: Option<usize> = None;
    let mut i = start;
    while i < end {
        let v = r(i);
        match valley {
            None => {
                if v >= r(peak) {
                    peak = i;
                } else if v < r(peak) {
                    valley = Some(i);
                }
            }
            Some(vy) => {
                if v < r(vy) {
                    valley = Some(i);
                } else if v > r(vy) {
                    // Rising again: is the valley deep enough to split here?
                    let smaller = r(peak).min(v);
                    if v >= PEAK_UNITS && r(peak) >= PEAK_UNITS && r(vy) < 0.5 * smaller {
                        push_contraction(seg_start, vy, peak, smoothed, tone, out);
                        seg_start = vy;
                        peak = i;
                        valley = None;
                    } else if v > r(peak) {
                        peak = i;
                        valley = None;
                    }
                }
            }
        }
        i += STEP;
    }
    push_contraction(seg_start, end, peak, smoothed, tone, out);
}

fn push_contraction(
    start: usize,
    end: usize,
    rough_peak: usize,
    smoothed: &[f32],
    tone: &[f32],
    out: &mut Vec<RawContraction>,
) {
    if end - start < MIN_DURATION {
        return;
    }
    // Refine the peak at full resolution near the rough one.
    let lo = rough_peak.saturating_sub(8).max(start);
    let hi = (rough_peak + 8).min(end);
    let (mut peak, mut amp) = (rough_peak, smoothed[rough_peak] - tone[rough_peak]);
    for i in lo..hi {
        let v = smoothed[i] - tone[i];
        if v > amp {
            amp = v;
            peak = i;
        }
    }
    if amp >= PEAK_UNITS {
        out.push(RawContraction { start, peak, end, amplitude: amp });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize, every: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i % every;
                let bump = if t < 280 {
                    40.0 * (std::f32::consts::PI * t as f32 / 280.0).sin().powi(2)
                } else {
                    0.0
                };
                10.0 + bump + ((i * 7919) % 13) as f32 * 0.1
            })
            .collect()
    }

    fn detect(toco: &[f32]) -> Vec<RawContraction> {
        let mut s = TocoStage::default();
        s.advance(toco);
        let mut all = s.done.clone();
        s.provisional(toco, &mut all);
        all
    }

    #[test]
    fn regular_contractions_are_found_with_their_peaks() {
        let toco = synthetic(4 * 60 * 30, 4 * 180);
        let c = detect(&toco);
        assert_eq!(c.len(), 10, "{c:?}");
        for k in &c {
            let phase = k.peak % 720;
            assert!((130..=150).contains(&phase), "{k:?}");
            assert!(k.amplitude > 30.0 && k.amplitude < 45.0, "{k:?}");
        }
    }

    #[test]
    fn flat_or_missing_toco_has_no_contractions() {
        assert!(detect(&vec![12.0; 4800]).is_empty());
        assert!(detect(&vec![f32::NAN; 4800]).is_empty());
    }

    #[test]
    fn streaming_gives_the_batch_contractions() {
        let toco = synthetic(4 * 60 * 40, 4 * 100);
        let batch = detect(&toco);
        let mut s = TocoStage::default();
        let mut n = 0;
        while n < toco.len() {
            n = (n + 333).min(toco.len());
            s.advance(&toco[..n]);
            let mut view = s.done.clone();
            s.provisional(&toco[..n], &mut view);
        }
        let mut all = s.done.clone();
        s.provisional(&toco, &mut all);
        assert_eq!(all, batch);
    }
}
