//! FHR baseline: a cascade of weighted medians over 6-second blocks.
//!
//! The baseline is what the FHR returns to between accelerations and decelerations. Medians
//! ignore excursions that cover less than half of their window, which makes them the natural
//! tool; the weighted median method of Boudet et al. (Comput Biol Med 2019) showed that weighting
//! each sample by how likely it is to belong to the baseline and refining over several passes
//! reaches the agreement of experts. Our method follows that idea with our own, streaming
//! formulation:
//!
//! 1. The usable FHR (cleaned, false signal removed) is cut into blocks of 6 s. For each block
//!    we keep its number of samples and, for every pass, the mean FHR over the block widened by
//!    that pass's smoothing half-width.
//! 2. A block is likely to be baseline when the FHR is steady there: its prior weight falls
//!    logistically with the slope of the most smoothed signal (bpm/min).
//! 3. Pass 1 takes, at every block, the weighted median of the blocks within ±20 min, with a
//!    triangular taper over distance.
//! 4. Each further pass re-weights every block by a logistic function of its distance to the
//!    previous pass's baseline (far-away blocks are accelerations or decelerations), sharpens the
//!    taper (power 2, 4, 8, 16, 16: the window narrows so the baseline can follow real changes)
//!    and uses less smoothed block means.
//! 5. The baseline of a sample is interpolated linearly between block centres.
//!
//! Every block value depends on inputs within a bounded distance, so each pass has a frontier
//! behind which its values are final; see [`latency_s`] for how far behind the newest sample the
//! baseline becomes final. Provisional values beyond use the data available, windows clipped at
//! the end (exactly what a batch run does at the end of a recording).
//!
//! The parameters were chosen on the FHRMA training recordings against the WMFB reference
//! (see README.md); they are constants here, in one place.

use crate::signal::{Prefix, SlidingWindow};

/// Samples per base block (6 s).
pub const BLOCK: usize = 24;
/// Half-width of the pass windows, seconds (±20 min).
const HALF_WINDOW_S: usize = 1200;
/// Taper weights below this are treated as zero (they bound each pass's reach).
const TAPER_FLOOR: f64 = 1e-2;

/// One refinement pass.
#[derive(Debug, Clone, Copy)]
struct Pass {
    /// Exponent of the triangular taper.
    power: i32,
    /// Half-width (samples) by which the block is widened for its mean.
    smooth: usize,
    /// Logistic offset of the distance weight; `None` for the first pass (no previous baseline).
    offset: Option<f32>,
    /// Share of the reach the window extends into the future (1 = symmetric). Less look-ahead
    /// makes the baseline final sooner.
    ahead: f32,
    /// Base blocks per block of this pass: wide passes work on coarser blocks (the answer of a
    /// ±20 min median does not need 6-s resolution), narrow ones on finer.
    merge: usize,
}

const PASSES: [Pass; 6] = [
    Pass { power: 1, smooth: 60, offset: None, ahead: 0.5, merge: 5 },
    Pass { power: 2, smooth: 60, offset: Some(3.2), ahead: 0.5, merge: 5 },
    Pass { power: 4, smooth: 30, offset: Some(2.5), ahead: 0.5, merge: 4 },
    Pass { power: 8, smooth: 15, offset: Some(2.0), ahead: 1.0, merge: 2 },
    Pass { power: 16, smooth: 8, offset: Some(1.5), ahead: 1.0, merge: 1 },
    Pass { power: 16, smooth: 8, offset: Some(1.0), ahead: 1.0, merge: 1 },
];
const NPASS: usize = PASSES.len();
/// Slope of the distance weight, per bpm.
const DISTANCE_SLOPE: f32 = 0.19;
/// Prior weight = logistic(PRIOR_OFFSET - PRIOR_SLOPE * |slope in bpm/min|).
const PRIOR_OFFSET: f32 = 2.5;
const PRIOR_SLOPE: f32 = 0.05;
/// Largest smoothing half-width of any pass, samples.
const MAX_SMOOTH: usize = 60;

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Half-window of a pass in its own blocks.
fn half_window(pass: &Pass) -> usize {
    HALF_WINDOW_S * crate::SAMPLE_RATE_HZ as usize / (BLOCK * pass.merge)
}

/// Reach (in the pass's blocks): beyond it the taper is below [`TAPER_FLOOR`].
fn reach(pass: &Pass) -> usize {
    let h = half_window(pass);
    let r = (h + 1) as f64 * (1.0 - TAPER_FLOOR.powf(1.0 / f64::from(pass.power)));
    (r.floor() as usize).min(h)
}

/// Blocks (of the pass) its window reaches into the future.
fn reach_ahead(pass: &Pass) -> usize {
    (reach(pass) as f32 * pass.ahead).ceil() as usize
}

/// How long after a sample its baseline is final, seconds.
pub fn latency_s() -> f64 {
    let samples: usize =
        PASSES.iter().map(|p| (reach_ahead(p) + 2) * p.merge * BLOCK).sum::<usize>()
            + 3 * BLOCK
            + MAX_SMOOTH;
    samples as f64 / crate::SAMPLE_RATE_HZ as f64
}

#[derive(Debug, Clone, Copy)]
struct BlockFeatures {
    /// Usable samples in the block.
    count: f32,
    /// Prior probability of belonging to the baseline.
    prior: f32,
    /// Widened block mean for each pass.
    mean: [f32; NPASS],
}

/// The arrays of one pass. Lengths are the number of blocks computed; the `*_final` counts say
/// how many are final.
#[derive(Debug, Clone, Default)]
struct PassState {
    /// Base-block weight (count × prior × distance to the previous pass) and value.
    weight: Vec<f32>,
    value: Vec<f32>,
    /// The pass's own (merged) blocks: summed weight and weighted mean value.
    merged_weight: Vec<f32>,
    merged_value: Vec<f32>,
    merged_final: usize,
    /// The pass's answer per merged block.
    out: Vec<f32>,
    out_final: usize,
    /// The blocks of the current median window, kept sorted by value (at the last final
    /// output, and as advanced by the provisional run).
    window: SlidingWindow,
    window_final: SlidingWindow,
    /// The answer interpolated back to base blocks (what the next pass and the samples read).
    fine: Vec<f32>,
    fine_final: usize,
    taper: Vec<f32>,
}

/// The streaming baseline estimator.
#[derive(Debug, Clone)]
pub(crate) struct BaselineStage {
    prefix: Prefix,
    features: Vec<BlockFeatures>,
    /// Number of blocks whose features are final.
    features_final: usize,
    passes: [PassState; NPASS],
    /// Samples whose baseline is final.
    pub frontier: usize,
}

impl Default for BaselineStage {
    fn default() -> Self {
        let passes = std::array::from_fn(|k| {
            let p = &PASSES[k];
            let h = half_window(p);
            PassState {
                taper: (0..=reach(p))
                    .map(|d| (1.0 - d as f64 / (h + 1) as f64).powi(p.power) as f32)
                    .collect(),
                ..PassState::default()
            }
        });
        Self {
            prefix: Prefix::default(),
            features: Vec::new(),
            features_final: 0,
            passes,
            frontier: 0,
        }
    }
}

impl BaselineStage {
    /// Makes room for `more` samples.
    pub fn reserve(&mut self, more: usize) {
        self.prefix.reserve(more);
        let blocks = more / BLOCK + 1;
        self.features.reserve(blocks);
        for (p, pass) in self.passes.iter_mut().zip(&PASSES) {
            for v in [&mut p.weight, &mut p.value, &mut p.fine] {
                v.reserve(blocks);
            }
            for v in [&mut p.merged_weight, &mut p.merged_value, &mut p.out] {
                v.reserve(blocks / pass.merge + 1);
            }
        }
    }

    /// Finalises what `used[..used_final]` (final usable FHR) allows. Writes `out[frontier..]`.
    pub fn advance(&mut self, used: &[f32], used_final: usize, out: &mut Vec<f32>) {
        self.prefix.extend_to(used, used_final);
        // Block j's features read samples up to (j + 2) * BLOCK + MAX_SMOOTH (the prior looks at
        // the next block's mean).
        let nb = (used_final.saturating_sub(MAX_SMOOTH) / BLOCK).saturating_sub(1);
        self.compute_features(nb, usize::MAX);
        self.features_final = self.features.len();
        let mut avail = self.features_final;
        for k in 0..NPASS {
            self.compute_pass(k, avail, false);
            let p = &mut self.passes[k];
            p.merged_final = p.merged_value.len();
            p.out_final = p.out.len();
            p.fine_final = p.fine.len();
            avail = p.fine_final;
        }
        // A sample needs the two block centres around it.
        out.truncate(self.frontier);
        let mut i = self.frontier;
        while block_position(i).0 + 1 < avail as i64 {
            out.push(self.sample_value(i, avail));
            i += 1;
        }
        self.frontier = i;
    }

    /// Provisional baseline from the frontier to the end of `used` (treated as the end of the
    /// data); the committed state is unchanged. Writes `out[frontier..used.len()]`.
    pub fn provisional(&mut self, used: &[f32], used_final: usize, out: &mut Vec<f32>) {
        let n = used.len();
        self.prefix.extend_to(used, n);
        let nb = n.div_ceil(BLOCK);
        self.features.truncate(self.features_final);
        self.compute_features(nb, n);
        self.restore();
        for k in 0..NPASS {
            self.compute_pass(k, nb, true);
        }
        out.truncate(self.frontier);
        for i in self.frontier..n {
            out.push(self.sample_value(i, nb));
        }
        self.prefix.truncate(used_final);
        self.features.truncate(self.features_final);
        self.restore();
    }

    /// Drops everything provisional.
    fn restore(&mut self) {
        let mut inputs_final = self.features_final;
        for p in &mut self.passes {
            p.weight.truncate(inputs_final);
            p.value.truncate(inputs_final);
            p.merged_weight.truncate(p.merged_final);
            p.merged_value.truncate(p.merged_final);
            p.out.truncate(p.out_final);
            p.fine.truncate(p.fine_final);
            inputs_final = p.fine_final;
        }
    }

    /// Block features up to block `nb` (exclusive); windows are clipped at sample `n`.
    fn compute_features(&mut self, nb: usize, n: usize) {
        // Means of the first pass for j - 1 and j + 1 are needed by the prior of j.
        let mean0 = |prefix: &Prefix, j: usize| {
            let lo = (j * BLOCK).saturating_sub(PASSES[0].smooth);
            prefix.mean(lo, ((j + 1) * BLOCK + PASSES[0].smooth).min(n))
        };
        let block_min = BLOCK as f32 / (crate::SAMPLE_RATE_HZ as f32 * 60.0);
        for j in self.features.len()..nb {
            let lo = j * BLOCK;
            let hi = ((j + 1) * BLOCK).min(n);
            let count = self.prefix.count(lo, hi) as f32;
            let mean = std::array::from_fn(|k| {
                let s = PASSES[k].smooth;
                self.prefix.mean(lo.saturating_sub(s), (hi + s).min(n))
            });
            let here = mean0(&self.prefix, j);
            let before = if j > 0 { mean0(&self.prefix, j - 1) } else { f32::NAN };
            let after = if (j + 1) * BLOCK < n { mean0(&self.prefix, j + 1) } else { f32::NAN };
            let slope = match (before.is_nan(), after.is_nan()) {
                (false, false) => (after - before).abs() / (2.0 * block_min),
                (true, false) => (after - here).abs() / block_min,
                (false, true) => (here - before).abs() / block_min,
                (true, true) => 0.0,
            };
            let slope = if slope.is_nan() { 0.0 } else { slope };
            let prior = logistic(PRIOR_OFFSET - PRIOR_SLOPE * slope);
            self.features.push(BlockFeatures { count, prior, mean });
        }
    }

    /// Runs pass `k` over the base blocks available to it (`avail` features for the first
    /// pass; the previous pass's base-block answers otherwise). `eod`: the inputs end here.
    fn compute_pass(&mut self, k: usize, avail_features: usize, eod: bool) {
        let pass = PASSES[k];
        let m = pass.merge;
        let (before, rest) = self.passes.split_at_mut(k);
        let p = &mut rest[0];
        let prev = before.last();
        let avail = match prev {
            Some(q) => q.fine.len(),
            None => avail_features.min(self.features.len()),
        };
        // Base-block weights depend only on the block (and the previous pass there).
        for j in p.weight.len()..avail {
            let f = &self.features[j];
            let x = f.mean[k];
            let mut w = if f.count <= 0.0 || x.is_nan() { 0.0 } else { f.count * f.prior };
            if let (Some(offset), Some(q)) = (pass.offset, prev) {
                let b = q.fine[j];
                if !b.is_nan() && w > 0.0 {
                    w *= logistic(offset - DISTANCE_SLOPE * (x - b).abs());
                }
            }
            p.weight.push(w);
            p.value.push(x);
        }
        // Merged blocks: summed weight, weighted mean value.
        let n_merged = if eod { avail.div_ceil(m) } else { avail / m };
        for jm in p.merged_value.len()..n_merged {
            let (lo, hi) = (jm * m, ((jm + 1) * m).min(avail));
            let (mut ws, mut xs) = (0f32, 0f32);
            for j in lo..hi {
                if p.weight[j] > 0.0 {
                    ws += p.weight[j];
                    xs += p.weight[j] * p.value[j];
                }
            }
            p.merged_weight.push(ws);
            p.merged_value.push(if ws > 0.0 { xs / ws } else { f32::NAN });
        }
        // Weighted medians over the tapered window.
        let r = reach(&pass);
        let ra = reach_ahead(&pass);
        let upto = if eod { n_merged } else { n_merged.saturating_sub(ra) };
        if p.out.len() == p.out_final {
            p.window = p.window_final.clone();
        }
        for jm in p.out.len()..upto {
            let lo = jm.saturating_sub(r);
            let hi = (jm + ra + 1).min(n_merged);
            p.window.slide(lo, hi, &p.merged_value, &p.merged_weight);
            let fallback =
                prev.and_then(|q| q.fine.get(jm * m + m / 2).copied()).unwrap_or(f32::NAN);
            let v = p.window.weighted_median(jm, &p.merged_weight, &p.taper).unwrap_or(fallback);
            p.out.push(v);
        }
        if !eod {
            p.window_final = p.window.clone();
        }
        // Back to base blocks, interpolating between merged block centres.
        let n_out = p.out.len();
        for j in p.fine.len()..avail {
            let u = (j as f64 + 0.5) / m as f64 - 0.5;
            let j0 = crate::signal::floor_i64(u);
            if !eod && j0 + 1 >= n_out as i64 {
                break;
            }
            if n_out == 0 {
                p.fine.push(f32::NAN);
                continue;
            }
            let frac = (u - j0 as f64) as f32;
            let at = |i: i64| p.out[i.clamp(0, n_out as i64 - 1) as usize];
            let (a, b) = (at(j0), at(j0 + 1));
            p.fine.push(match (a.is_nan(), b.is_nan()) {
                (false, false) => a + (b - a) * frac,
                (false, true) => a,
                (true, false) => b,
                (true, true) => f32::NAN,
            });
        }
    }

    fn sample_value(&self, i: usize, nb: usize) -> f32 {
        let last = &self.passes[NPASS - 1].fine;
        let nb = nb.min(last.len());
        if nb == 0 {
            return f32::NAN;
        }
        let (j0, frac) = block_position(i);
        let at = |j: i64| last[j.clamp(0, nb as i64 - 1) as usize];
        let (a, b) = (at(j0), at(j0 + 1));
        match (a.is_nan(), b.is_nan()) {
            (false, false) => a + (b - a) * frac,
            (false, true) => a,
            (true, false) => b,
            (true, true) => f32::NAN,
        }
    }
}

/// The block whose centre is at or before sample `i`, and the fraction of the way to the next.
fn block_position(i: usize) -> (i64, f32) {
    let u = (i as f64 + 0.5) / BLOCK as f64 - 0.5;
    let j0 = crate::signal::floor_i64(u);
    (j0, (u - j0 as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_batch(x: &[f32]) -> Vec<f32> {
        let mut s = BaselineStage::default();
        let mut out = Vec::new();
        s.advance(x, x.len(), &mut out);
        s.provisional(x, x.len(), &mut out);
        out
    }

    #[test]
    fn flat_trace_with_decelerations_keeps_its_level() {
        // 140 bpm for an hour with a 40-bpm, 60-s deceleration every 3 min.
        let x: Vec<f32> = (0..14_400)
            .map(|i| {
                let t = i % 720;
                if (100..340).contains(&t) { 100.0 } else { 140.0 + ((i % 7) as f32 - 3.0) }
            })
            .collect();
        let bl = run_batch(&x);
        assert_eq!(bl.len(), x.len());
        for (i, v) in bl.iter().enumerate().step_by(97) {
            assert!((v - 140.0).abs() < 2.0, "sample {i}: {v}");
        }
    }

    #[test]
    fn the_baseline_follows_a_lasting_change() {
        // 30 min at 130, then 30 min at 165 (a tachycardia).
        let x: Vec<f32> = (0..14_400).map(|i| if i < 7_200 { 130.0 } else { 165.0 }).collect();
        let bl = run_batch(&x);
        assert!((bl[3_000] - 130.0).abs() < 1.0, "{}", bl[3_000]);
        assert!((bl[12_000] - 165.0).abs() < 1.0, "{}", bl[12_000]);
    }

    #[test]
    fn streaming_gives_the_batch_values() {
        let x: Vec<f32> = (0..9_000)
            .map(|i| {
                if (2_000..2_600).contains(&i) {
                    f32::NAN
                } else {
                    140.0
                        + 10.0 * ((i as f32) / 500.0).sin()
                        + if i % 900 < 200 { -30.0 } else { 0.0 }
                }
            })
            .collect();
        let batch = run_batch(&x);
        let mut s = BaselineStage::default();
        let mut out = Vec::new();
        let mut avail = 0;
        while avail < x.len() {
            avail = (avail + 777).min(x.len());
            s.advance(&x[..avail], avail, &mut out);
            s.provisional(&x[..avail], avail, &mut out);
            assert_eq!(out.len(), avail);
        }
        assert!(batch.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn latency_is_bounded() {
        let l = latency_s();
        assert!(l > 600.0 && l < 5_400.0, "{l}");
    }
}
