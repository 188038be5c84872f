//! Features of the false-signal model, computed per 4-s chunk from running sums so that each
//! chunk costs a constant amount of work.
//!
//! Level 1 describes the chunk and its neighbourhood: the FHR and MHR levels and their
//! coincidence over several spans (also allowing a 2-s lag), how present each channel is, how
//! the FHR sits against a robust reference of the fetal level (upper quartile of 30-s medians over
//! the preceding 10 min; also quartiles over 30 min and centiles over the whole recording so far),
//! the contiguous segment the chunk belongs to (length, position, the gap and jump into it and
//! out of it; its level, variability, maternal presence and coincidence as a whole, and its level
//! against the segments before and after it: fetal and maternal rates rarely swap without a gap),
//! short-term variability, uterine activity and the labour stage. Level 2 adds the level-1
//! probabilities of the surrounding chunks (centred, past, future, over the segment and over the
//! neighbouring segments) and the FHR against the levels of the chunks judged fetal and false,
//! which lets a segment be judged as a whole.

use super::{CHUNK, SEGMENT_REACH};
use crate::signal::Prefix;

/// A run of samples `[start, end)`, when there is one.
type Span = Option<(usize, usize)>;

pub const L1_NAMES: [&str; 59] = [
    "f",
    "m",
    "f_minus_m",
    "close_2s",
    "close_10s",
    "close_30s",
    "close_2min",
    "lag_close_10s",
    "mhr_present_10s",
    "mhr_present_2min",
    "fhr_present_10s",
    "fhr_present_2min",
    "kept",
    "f_minus_mean_10s",
    "f_minus_mean_2min",
    "m_minus_mean_2min",
    "absdf_2s",
    "absdf_10s",
    "absdm_10s",
    "ref",
    "f_minus_ref",
    "f_over_ref",
    "m_minus_ref",
    "seg_len",
    "seg_pos",
    "gap_before",
    "jump_in",
    "gap_after",
    "jump_out",
    "toco",
    "stage2",
    "f_minus_2m",
    "twice_f_minus_m",
    "corr_f_toco_2min",
    "corr_f_toco_4min",
    "corr_f_m_30s",
    "corr_f_m_2min",
    "sd_f_30s",
    "sd_m_30s",
    "ref_long",
    "f_minus_ref_long",
    "ref_long_spread",
    "f_minus_ref_long_low",
    "seg_mean_minus_f",
    "seg_mean_minus_ref",
    "seg_mean_minus_ref_long",
    "seg_since",
    "seg_mhr_present",
    "seg_close",
    "seg_sd",
    "seg_absdf",
    "prev_seg_minus_seg",
    "prev_seg_gap",
    "prev_seg_minus_ref_long",
    "next_seg_minus_seg",
    "next_seg_gap",
    "f_minus_past_q50",
    "f_minus_past_q90",
    "past_q90_minus_q10",
];

pub const L2_EXTRA: [&str; 22] = [
    "p1",
    "p1_2s",
    "p1_10s",
    "p1_30s",
    "p1_2min",
    "p1_past_30s",
    "p1_past_2min",
    "p1_next_30s",
    "p1_next_2min",
    "p1_segment",
    "f_minus_fetal_track_2min",
    "f_minus_fetal_track_10min",
    "f_minus_false_track_2min",
    "p1_5min",
    "p1_10min",
    "p1_past_10min",
    "p1_next_10min",
    "f_minus_fetal_track_30min",
    "f_minus_fetal_track_all",
    "f_minus_false_track_10min",
    "p1_prev_segment",
    "p1_next_segment",
];

pub(crate) const N_L1: usize = L1_NAMES.len();
pub(crate) const N_L2: usize = N_L1 + L2_EXTRA.len();

pub(crate) fn l2_names() -> Vec<&'static str> {
    L1_NAMES.iter().chain(L2_EXTRA.iter()).copied().collect()
}

/// Coincidence tolerance between FHR and MHR, bpm.
const CLOSE_BPM: f32 = 5.0;
/// Units (either side) over which the lagged coincidence looks for the maternal rate.
pub(crate) const LAG_UNITS: usize = 2;
/// Samples per reference block (30 s).
pub(crate) const REF_BLOCK: usize = 120;
/// Reference blocks looked back and ahead.
const REF_BACK: usize = 20;
/// Reference blocks looked back by the long reference (30 min): a stretch of maternal rate
/// can last longer than the short reference reaches.
const REF_BACK_LONG: usize = 60;
/// How far back (samples, 30 min) the segment features look: a segment's level is judged over
/// its whole length, not just the last minutes.
const SEGMENT_BACK: usize = 7200;
/// How far ahead (samples, 4 min) the segment features look: within the level-1 reach.
const SEGMENT_AHEAD: usize = 960;
pub(crate) const REF_AHEAD: usize = 2;
/// Value used where a feature has no meaning (no MHR, no neighbour).
const NONE: f32 = -999.0;

/// Samples per unit: the features sum per-sample quantities over 1-s units.
pub(crate) const UNIT: usize = 4;
/// The widest feature window reaches this many units beyond its chunk.
pub(crate) const MAX_WINDOW_UNITS: usize = 240;

// Quantities summed per unit.
const F_N: usize = 0;
const F_S: usize = 1;
const F_SS: usize = 2;
const M_N: usize = 3;
const M_S: usize = 4;
const M_SS: usize = 5;
const B_N: usize = 6;
const B_SF: usize = 7;
const B_SM: usize = 8;
const B_SFF: usize = 9;
const B_SMM: usize = 10;
const B_SFM: usize = 11;
const CLOSE_N: usize = 12;
const LAG_N: usize = 13;
const KEPT_N: usize = 14;
const DF_N: usize = 15;
const DF_S: usize = 16;
const DM_N: usize = 17;
const DM_S: usize = 18;
const T_N: usize = 19;
const T_S: usize = 20;
const FT_N: usize = 21;
const FT_SF: usize = 22;
const FT_ST: usize = 23;
const FT_SFF: usize = 24;
const FT_STT: usize = 25;
const FT_SFT: usize = 26;
const NQ: usize = 27;

/// Cumulative sums per unit of the quantities the features use, plus the per-sample FHR sums
/// (chunk means and segment edges need sample resolution).
#[derive(Debug, Clone)]
pub(crate) struct UnitSums {
    /// `cum[u * NQ + q]`: sum of quantity `q` over units `[0, u)`.
    cum: Vec<f64>,
    pub f_samples: Prefix,
}

impl Default for UnitSums {
    fn default() -> Self {
        Self { cum: vec![0.0; NQ], f_samples: Prefix::default() }
    }
}

impl UnitSums {
    /// Units summed.
    pub fn units(&self) -> usize {
        self.cum.len() / NQ - 1
    }

    /// Makes room for `more` samples.
    pub fn reserve(&mut self, more: usize) {
        self.cum.reserve((more / UNIT + 1) * NQ);
        self.f_samples.reserve(more);
    }

    /// Keeps the first `units` units and the samples they cover.
    pub fn truncate(&mut self, units: usize) {
        self.cum.truncate((units + 1) * NQ);
        self.f_samples.truncate(units * UNIT);
    }

    /// Sums units up to the one containing sample `upto - 1`: whole units only unless `eod`
    /// (then a final partial unit too). The lagged coincidence of a sample reads the maternal
    /// rate [`LAG_UNITS`] units ahead, clipped at `n_inputs`.
    pub fn extend(
        &mut self,
        inp: &super::FalseSignalInputs<'_>,
        upto: usize,
        n_inputs: usize,
        eod: bool,
    ) {
        let units = if eod { upto.div_ceil(UNIT) } else { upto / UNIT };
        let m_mean = |v: usize| {
            let (lo, hi) = ((v * UNIT).min(n_inputs), ((v + 1) * UNIT).min(n_inputs));
            crate::signal::nan_mean(&inp.mhr[lo..hi])
        };
        let near = |u: usize, k: usize| {
            let v = u + k;
            if v < LAG_UNITS { f32::NAN } else { m_mean(v - LAG_UNITS) }
        };
        // The maternal means around unit u, slid by one unit per step (one new mean per unit).
        let first = self.units();
        // One allocation per call instead of doubling as units are appended.
        self.cum.reserve(units.saturating_sub(first) * NQ);
        self.f_samples.reserve(upto.saturating_sub(first * UNIT));
        let mut near_m: [f32; 2 * LAG_UNITS + 1] = std::array::from_fn(|k| near(first, k));
        for u in first..units {
            if u > first {
                near_m.copy_within(1.., 0);
                near_m[2 * LAG_UNITS] = near(u, 2 * LAG_UNITS);
            }
            let mut q = [0f64; NQ];
            let (lo, hi) = (u * UNIT, ((u + 1) * UNIT).min(upto));
            for i in lo..hi {
                let f = inp.raw[i];
                let m = inp.mhr[i];
                let t = inp.toco[i];
                self.f_samples.push(f);
                let (fd, md, td) = (f64::from(f), f64::from(m), f64::from(t));
                if !f.is_nan() {
                    q[F_N] += 1.0;
                    q[F_S] += fd;
                    q[F_SS] += fd * fd;
                    if near_m.iter().any(|&x| (f - x).abs() < CLOSE_BPM - 1.0) {
                        q[LAG_N] += 1.0;
                    }
                }
                if !m.is_nan() {
                    q[M_N] += 1.0;
                    q[M_S] += md;
                    q[M_SS] += md * md;
                }
                if !f.is_nan() && !m.is_nan() {
                    q[B_N] += 1.0;
                    q[B_SF] += fd;
                    q[B_SM] += md;
                    q[B_SFF] += fd * fd;
                    q[B_SMM] += md * md;
                    q[B_SFM] += fd * md;
                    if (f - m).abs() < CLOSE_BPM {
                        q[CLOSE_N] += 1.0;
                    }
                }
                if !inp.clean[i].is_nan() {
                    q[KEPT_N] += 1.0;
                }
                if i > 0 {
                    let df = (f - inp.raw[i - 1]).abs();
                    if !df.is_nan() {
                        q[DF_N] += 1.0;
                        q[DF_S] += f64::from(df);
                    }
                    let dm = (m - inp.mhr[i - 1]).abs();
                    if !dm.is_nan() {
                        q[DM_N] += 1.0;
                        q[DM_S] += f64::from(dm);
                    }
                }
                if !t.is_nan() {
                    q[T_N] += 1.0;
                    q[T_S] += td;
                    if !f.is_nan() {
                        q[FT_N] += 1.0;
                        q[FT_SF] += fd;
                        q[FT_ST] += td;
                        q[FT_SFF] += fd * fd;
                        q[FT_STT] += td * td;
                        q[FT_SFT] += fd * td;
                    }
                }
            }
            let base = self.cum.len() - NQ;
            let mut row = [0f64; NQ];
            for ((r, prev), v) in row.iter_mut().zip(&self.cum[base..]).zip(&q) {
                *r = prev + v;
            }
            self.cum.extend_from_slice(&row);
        }
    }

    /// Sum of quantity `q` over units `[lo, hi)` (clipped to the units summed).
    fn sum(&self, q: usize, lo: usize, hi: usize) -> f64 {
        let n = self.units();
        let (lo, hi) = (lo.min(n), hi.min(n));
        self.cum[hi * NQ + q] - self.cum[lo.min(hi) * NQ + q]
    }

    fn mean(&self, s: usize, n: usize, lo: usize, hi: usize) -> f32 {
        let c = self.sum(n, lo, hi);
        if c <= 0.0 { f32::NAN } else { (self.sum(s, lo, hi) / c) as f32 }
    }

    fn ratio(&self, a: usize, b: usize, lo: usize, hi: usize) -> f32 {
        let d = self.sum(b, lo, hi);
        if d <= 0.0 { -1.0 } else { (self.sum(a, lo, hi) / d) as f32 }
    }

    /// Pearson correlation from (n, sx, sy, sxx, syy, sxy) sums, [`NONE`] when undefined.
    fn corr(&self, q: [usize; 6], lo: usize, hi: usize) -> f32 {
        let n = self.sum(q[0], lo, hi);
        if n < 20.0 {
            return NONE;
        }
        let (mx, my) = (self.sum(q[1], lo, hi) / n, self.sum(q[2], lo, hi) / n);
        let vx = (self.sum(q[3], lo, hi) / n - mx * mx).max(0.0);
        let vy = (self.sum(q[4], lo, hi) / n - my * my).max(0.0);
        let c = self.sum(q[5], lo, hi) / n - mx * my;
        if vx > 1e-6 && vy > 1e-6 { (c / (vx * vy).sqrt()) as f32 } else { NONE }
    }

    fn sd(&self, nq: usize, s: usize, ss: usize, lo: usize, hi: usize) -> f32 {
        let n = self.sum(nq, lo, hi);
        if n < 20.0 {
            return NONE;
        }
        let m = self.sum(s, lo, hi) / n;
        ((self.sum(ss, lo, hi) / n - m * m).max(0.0).sqrt()) as f32
    }
}

/// Contiguous runs of present FHR, found as the input arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    /// Closed runs `[start, end)`.
    pub closed: Vec<(usize, usize)>,
    pub open: Option<usize>,
    pub scanned: usize,
}

impl Runs {
    pub fn extend(&mut self, raw: &[f32], upto: usize) {
        for (i, v) in raw.iter().enumerate().take(upto).skip(self.scanned) {
            match (self.open, v.is_nan()) {
                (None, false) => self.open = Some(i),
                (Some(s), true) => {
                    self.closed.push((s, i));
                    self.open = None;
                }
                _ => {}
            }
        }
        self.scanned = self.scanned.max(upto);
    }

    /// The run holding the sample `t` of chunk `c` and the runs before and after it, as chunk
    /// ranges clipped to `reach` chunks either side of `c` (open runs end at `limit`; a
    /// neighbour wholly outside is `None`).
    pub fn chunk_segments(
        &self,
        c: usize,
        t: usize,
        limit: usize,
        reach: usize,
    ) -> ((usize, usize), Span, Span) {
        let (lo, hi) = (c.saturating_sub(reach), c + reach + 1);
        let clip = |(s, e): (usize, usize)| {
            let (s, e) = ((s / CHUNK).max(lo), e.div_ceil(CHUNK).min(hi));
            (s < e).then_some((s, e))
        };
        let (here, before, after) = self.around(t, limit);
        let here = here.and_then(clip).unwrap_or((c, c + 1));
        (here, before.and_then(clip), after.and_then(clip))
    }

    /// The run containing sample `t` (its end is `limit` when still open), and the runs before
    /// and after it.
    fn around(&self, t: usize, limit: usize) -> (Span, Span, Span) {
        let k = self.closed.partition_point(|r| r.1 <= t);
        let all = |j: usize| -> Option<(usize, usize)> {
            if j < self.closed.len() {
                Some(self.closed[j])
            } else if j == self.closed.len() {
                self.open.map(|s| (s, limit))
            } else {
                None
            }
        };
        let here = all(k).filter(|r| r.0 <= t && t < r.1);
        let before = if k > 0 { all(k - 1) } else { None };
        let after = if here.is_some() { all(k + 1) } else { all(k) };
        (here, before, after.filter(|r| r.0 > t))
    }
}

/// Median of the present FHR of each 30-s block, and the reference level per block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reference {
    medians: Vec<f32>,
    pub levels: Vec<f32>,
    /// Upper and lower quartiles of the block medians over the long span.
    pub long_hi: Vec<f32>,
    pub long_lo: Vec<f32>,
    /// 10th, 50th and 90th centiles of all the block medians from the start of the recording.
    pub past: Vec<[f32; 3]>,
    /// Histogram (1-bpm bins) of the first `hist_count` block medians.
    hist: Vec<u32>,
    hist_count: usize,
    scratch: Vec<f32>,
}

/// Histogram bins of the whole-past reference, 1 bpm each from [`HIST_MIN`].
const HIST_BINS: usize = 171;
const HIST_MIN: f32 = 50.0;

fn hist_bin(v: f32) -> usize {
    ((v - HIST_MIN).round().max(0.0) as usize).min(HIST_BINS - 1)
}

impl Reference {
    pub fn truncate(&mut self, medians: usize, levels: usize) {
        self.levels.truncate(levels);
        self.long_hi.truncate(levels);
        self.long_lo.truncate(levels);
        self.past.truncate(levels);
        // The histogram goes back to what the last kept level had counted.
        let keep = if levels == 0 { 0 } else { (levels + REF_AHEAD).min(medians) };
        for k in keep..self.hist_count {
            let v = self.medians[k];
            if !v.is_nan() {
                self.hist[hist_bin(v)] -= 1;
            }
        }
        self.hist_count = self.hist_count.min(keep);
        self.medians.truncate(medians);
    }

    /// Block medians up to block `upto` (samples clipped at `n`).
    pub fn extend_medians(&mut self, raw: &[f32], upto: usize, n: usize) {
        for b in self.medians.len()..upto {
            let hi = ((b + 1) * REF_BLOCK).min(n);
            self.scratch.clear();
            self.scratch
                .extend(raw[(b * REF_BLOCK).min(hi)..hi].iter().copied().filter(|v| !v.is_nan()));
            let med = if self.scratch.len() * 4 >= REF_BLOCK {
                let k = self.scratch.len() / 2;
                *self.scratch.select_nth_unstable_by(k, f32::total_cmp).1
            } else {
                f32::NAN
            };
            self.medians.push(med);
        }
    }

    /// Levels up to block `upto`, reading medians below `avail`.
    pub fn extend_levels(&mut self, upto: usize, avail: usize) {
        for b in self.levels.len()..upto {
            let lo = b.saturating_sub(REF_BACK);
            let hi = (b + REF_AHEAD + 1).min(avail);
            self.scratch.clear();
            self.scratch.extend(self.medians[lo..hi].iter().copied().filter(|v| !v.is_nan()));
            let level = if self.scratch.len() >= 2 {
                let k = (self.scratch.len() * 3 / 4).min(self.scratch.len() - 1);
                *self.scratch.select_nth_unstable_by(k, f32::total_cmp).1
            } else {
                f32::NAN
            };
            self.levels.push(level);
            let lo = b.saturating_sub(REF_BACK_LONG);
            self.scratch.clear();
            self.scratch.extend(self.medians[lo..hi].iter().copied().filter(|v| !v.is_nan()));
            let (q_hi, q_lo) = if self.scratch.len() >= 4 {
                let n = self.scratch.len();
                let h =
                    *self.scratch.select_nth_unstable_by((n * 3 / 4).min(n - 1), f32::total_cmp).1;
                let l = *self.scratch.select_nth_unstable_by(n / 4, f32::total_cmp).1;
                (h, l)
            } else {
                (f32::NAN, f32::NAN)
            };
            self.long_hi.push(q_hi);
            self.long_lo.push(q_lo);
            if self.hist.is_empty() {
                self.hist = vec![0; HIST_BINS];
            }
            for &v in &self.medians[self.hist_count.min(hi)..hi] {
                if !v.is_nan() {
                    self.hist[hist_bin(v)] += 1;
                }
            }
            self.hist_count = self.hist_count.max(hi);
            self.past.push(quantiles(&self.hist));
        }
    }
}

/// The 10th, 50th and 90th centiles of a histogram (bin centres), NaN when it holds fewer than 4.
fn quantiles(hist: &[u32]) -> [f32; 3] {
    let n: u32 = hist.iter().sum();
    if n < 4 {
        return [f32::NAN; 3];
    }
    let ranks = [n / 10, n / 2, n * 9 / 10];
    let mut out = [f32::NAN; 3];
    let (mut seen, mut k) = (0u32, 0usize);
    for (b, &c) in hist.iter().enumerate() {
        seen += c;
        while k < 3 && seen > ranks[k] {
            out[k] = HIST_MIN + b as f32;
            k += 1;
        }
        if k == 3 {
            break;
        }
    }
    out
}

/// Everything level-1 features read.
pub(crate) struct L1Context<'a> {
    pub inp: &'a super::FalseSignalInputs<'a>,
    pub sums: &'a UnitSums,
    pub runs: &'a Runs,
    pub reference: &'a Reference,
    pub stage2_start: Option<usize>,
    /// End of the data visible (windows clip here).
    pub limit: usize,
}

fn or_none(v: f32) -> f32 {
    if v.is_nan() { NONE } else { v }
}

/// Level-1 features of chunk `c`; `false` when the chunk has no FHR.
pub(crate) fn l1(c: usize, ctx: &L1Context<'_>, out: &mut [f32; N_L1]) -> bool {
    let s = &ctx.sums;
    let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(ctx.limit));
    let f = s.f_samples.mean(a, b);
    if f.is_nan() {
        return false;
    }
    let t = (a..b).find(|&i| !ctx.inp.raw[i].is_nan()).unwrap_or(a);
    // Windows in units around the chunk's units, clipped to the data.
    let units = ctx.limit.div_ceil(UNIT);
    let (ua, ub) = (a / UNIT, b.div_ceil(UNIT));
    let win = |h: usize| (ua.saturating_sub(h), (ub + h).min(units));
    let (w2, w10, w15, w30, w120, w240) = (win(2), win(10), win(15), win(30), win(120), win(240));
    let m = s.mean(M_S, M_N, ua, ub);
    let present = |q: usize, (lo, hi): (usize, usize)| {
        let samples = ((hi * UNIT).min(ctx.limit) - lo * UNIT).max(1);
        (s.sum(q, lo, hi) / samples as f64) as f32
    };
    let level = |v: &[f32]| v.get(t / REF_BLOCK).copied().unwrap_or(f32::NAN);
    let reference = level(&ctx.reference.levels);
    let (ref_long, ref_long_lo) = (level(&ctx.reference.long_hi), level(&ctx.reference.long_lo));
    let past = ctx.reference.past.get(t / REF_BLOCK).copied().unwrap_or([f32::NAN; 3]);
    let (here, before, after) = ctx.runs.around(t, ctx.limit);
    let (seg_start, seg_end) = here.unwrap_or((t, t + 1));
    let back = (t - seg_start).min(SEGMENT_REACH);
    let fwd_end = seg_end.min(t + SEGMENT_REACH);
    let edge_mean = |lo: usize, hi: usize| s.f_samples.mean(lo, hi);
    let (gap_before, jump_in) = match before {
        Some((ps, pe)) if back < SEGMENT_REACH && seg_start - pe <= SEGMENT_REACH => {
            let first = edge_mean(seg_start, (seg_start + 8).min(seg_end));
            let last = edge_mean(pe.saturating_sub(8).max(ps), pe);
            ((seg_start - pe) as f32, first - last)
        }
        _ => (SEGMENT_REACH as f32, 0.0),
    };
    let (gap_after, jump_out) = match after {
        Some((ns, ne)) if seg_end < t + SEGMENT_REACH && ns < t + SEGMENT_REACH => {
            let first = edge_mean(ns, (ns + 8).min(ne));
            let last = edge_mean(seg_end.saturating_sub(8).max(seg_start), seg_end);
            ((ns - seg_end) as f32, first - last)
        }
        _ => ((t + SEGMENT_REACH).saturating_sub(fwd_end) as f32, 0.0),
    };
    let stage2 = ctx.stage2_start.is_some_and(|s2| t >= s2);
    let close = |(lo, hi): (usize, usize)| s.ratio(CLOSE_N, B_N, lo, hi);
    let fm = [B_N, B_SF, B_SM, B_SFF, B_SMM, B_SFM];
    // The segment as a whole (clipped to the reach), and the segments before and after it:
    // fetal and maternal rates rarely swap without a gap.
    let (sa, sb) = (seg_start.max(t.saturating_sub(SEGMENT_BACK)), seg_end.min(t + SEGMENT_AHEAD));
    let seg_mean = s.f_samples.mean(sa, sb);
    let seg_units = (sa / UNIT, sb.div_ceil(UNIT).min(units));
    let prev = before.filter(|&(_, pe)| seg_start - pe <= SEGMENT_BACK).map(|(ps, pe)| {
        let m = s.f_samples.mean(ps.max(pe.saturating_sub(SEGMENT_REACH)), pe);
        (m, (seg_start - pe) as f32)
    });
    let next = after.filter(|&(ns, _)| ns + 8 <= t + SEGMENT_AHEAD).map(|(ns, ne)| {
        let m = s.f_samples.mean(ns, ne.min(t + SEGMENT_AHEAD));
        (m, (ns - seg_end) as f32)
    });
    let ft = [FT_N, FT_SF, FT_ST, FT_SFF, FT_STT, FT_SFT];
    *out = [
        f,
        or_none(m),
        or_none(f - m),
        close(w2),
        close(w10),
        close(w30),
        close(w120),
        s.ratio(LAG_N, F_N, w10.0, w10.1),
        present(M_N, w10),
        present(M_N, w120),
        present(F_N, w10),
        present(F_N, w120),
        (s.sum(KEPT_N, ua, ub) / ((ub - ua) * UNIT) as f64) as f32,
        f - s.mean(F_S, F_N, w10.0, w10.1),
        f - s.mean(F_S, F_N, w120.0, w120.1),
        or_none(m - s.mean(M_S, M_N, w120.0, w120.1)),
        or_none(s.mean(DF_S, DF_N, w2.0, w2.1)),
        or_none(s.mean(DF_S, DF_N, w10.0, w10.1)),
        or_none(s.mean(DM_S, DM_N, w10.0, w10.1)),
        or_none(reference),
        or_none(f - reference),
        if reference.is_nan() { NONE } else { f / reference },
        or_none(m - reference),
        (back + fwd_end - t) as f32,
        back as f32,
        gap_before,
        or_none(jump_in),
        gap_after,
        or_none(jump_out),
        or_none(s.mean(T_S, T_N, ua, ub)),
        if stage2 { 1.0 } else { 0.0 },
        or_none((f - 2.0 * m).abs()),
        or_none((2.0 * f - m).abs()),
        s.corr(ft, w120.0, w120.1),
        s.corr(ft, w240.0, w240.1),
        s.corr(fm, w15.0, w15.1),
        s.corr(fm, w120.0, w120.1),
        s.sd(F_N, F_S, F_SS, w15.0, w15.1),
        s.sd(M_N, M_S, M_SS, w15.0, w15.1),
        or_none(ref_long),
        or_none(f - ref_long),
        or_none(ref_long - ref_long_lo),
        or_none(f - ref_long_lo),
        or_none(seg_mean - f),
        or_none(seg_mean - reference),
        or_none(seg_mean - ref_long),
        (t - sa) as f32,
        present(M_N, seg_units),
        close(seg_units),
        s.sd(F_N, F_S, F_SS, seg_units.0, seg_units.1),
        or_none(s.mean(DF_S, DF_N, seg_units.0, seg_units.1)),
        prev.map_or(NONE, |(m, _)| or_none(m - seg_mean)),
        prev.map_or(NONE, |(_, g)| g),
        prev.map_or(NONE, |(m, _)| or_none(m - ref_long)),
        next.map_or(NONE, |(m, _)| or_none(m - seg_mean)),
        next.map_or(NONE, |(_, g)| g),
        or_none(f - past[1]),
        or_none(f - past[2]),
        or_none(past[2] - past[0]),
    ];
    true
}

/// Running sums over chunks of the level-1 probability and of the FHR weighted by it (the
/// FHR of the chunks judged true and of those judged false).
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkSums {
    pub p1: Prefix,
    fetal_w: Vec<f64>,
    fetal_fw: Vec<f64>,
    false_w: Vec<f64>,
    false_fw: Vec<f64>,
}

impl ChunkSums {
    pub fn len(&self) -> usize {
        self.p1.len()
    }

    /// Appends chunk probabilities `p1[self.len()..upto]` with their FHR `f` (NaN: none).
    pub fn extend(&mut self, p1: &[f32], f: &dyn Fn(usize) -> f32, upto: usize) {
        if self.fetal_w.is_empty() {
            for v in [&mut self.fetal_w, &mut self.fetal_fw, &mut self.false_w, &mut self.false_fw]
            {
                v.push(0.0);
            }
        }
        for (c, &p) in p1.iter().enumerate().take(upto).skip(self.len()) {
            self.p1.push(p);
            let k = self.fetal_w.len() - 1;
            let (mut a, mut b, mut x, mut y) =
                (self.fetal_w[k], self.fetal_fw[k], self.false_w[k], self.false_fw[k]);
            let fc = f(c);
            if !p.is_nan() && !fc.is_nan() {
                let (p, fc) = (f64::from(p), f64::from(fc));
                a += 1.0 - p;
                b += (1.0 - p) * fc;
                x += p;
                y += p * fc;
            }
            self.fetal_w.push(a);
            self.fetal_fw.push(b);
            self.false_w.push(x);
            self.false_fw.push(y);
        }
    }

    /// Makes room for `more` chunks.
    pub fn reserve(&mut self, more: usize) {
        self.p1.reserve(more);
        for v in [&mut self.fetal_w, &mut self.fetal_fw, &mut self.false_w, &mut self.false_fw] {
            v.reserve(more);
        }
    }

    pub fn truncate(&mut self, n: usize) {
        self.p1.truncate(n);
        for v in [&mut self.fetal_w, &mut self.fetal_fw, &mut self.false_w, &mut self.false_fw] {
            v.truncate(n + 1);
        }
    }

    fn track(w: &[f64], fw: &[f64], lo: usize, hi: usize) -> f32 {
        let hi = hi.min(w.len() - 1);
        let lo = lo.min(hi);
        let ws = w[hi] - w[lo];
        if ws < 5.0 { f32::NAN } else { ((fw[hi] - fw[lo]) / ws) as f32 }
    }
}

/// Level-2 features of chunk `c` from its level-1 features and the running sums of the level-1
/// probabilities (NaN for chunks without FHR); `seg`, `prev_seg` and `next_seg` are the chunk
/// ranges of its segment and the neighbouring ones.
#[allow(clippy::too_many_arguments)] // one call per chunk in the hot loop; a struct adds nothing
pub(crate) fn l2(
    c: usize,
    l1: &[f32; N_L1],
    sums: &ChunkSums,
    seg: (usize, usize),
    prev_seg: Option<(usize, usize)>,
    next_seg: Option<(usize, usize)>,
    n_chunks: usize,
    out: &mut [f32; N_L2],
) {
    let p1 = &sums.p1;
    out[..N_L1].copy_from_slice(l1);
    let centred = |h: usize| or_none(p1.mean(c.saturating_sub(h), (c + h + 1).min(n_chunks)));
    let past = |h: usize| or_none(p1.mean(c.saturating_sub(h), c));
    let next = |h: usize| or_none(p1.mean(c + 1, (c + h + 1).min(n_chunks)));
    // Spans are given in seconds and converted to chunks.
    let k = |secs: usize| (secs * crate::SAMPLE_RATE_HZ as usize).div_ceil(CHUNK);
    out[N_L1] = or_none(p1.mean(c, c + 1));
    out[N_L1 + 1] = centred(k(2));
    out[N_L1 + 2] = centred(k(10));
    out[N_L1 + 3] = centred(k(30));
    out[N_L1 + 4] = centred(k(120));
    out[N_L1 + 5] = past(k(30));
    out[N_L1 + 6] = past(k(120));
    out[N_L1 + 7] = next(k(30));
    out[N_L1 + 8] = next(k(120));
    out[N_L1 + 9] = or_none(p1.mean(seg.0, seg.1.min(n_chunks)));
    let f = l1[0];
    let end = |h: usize| (c + h + 1).min(n_chunks);
    let fetal = |back: usize| {
        ChunkSums::track(&sums.fetal_w, &sums.fetal_fw, c.saturating_sub(k(back)), end(k(120)))
    };
    out[N_L1 + 10] = or_none(f - fetal(120));
    out[N_L1 + 11] = or_none(f - fetal(600));
    out[N_L1 + 12] = or_none(
        f - ChunkSums::track(&sums.false_w, &sums.false_fw, c.saturating_sub(k(120)), end(k(120))),
    );
    out[N_L1 + 13] = centred(k(300));
    out[N_L1 + 14] = centred(k(600));
    out[N_L1 + 15] = past(k(600));
    out[N_L1 + 16] = next(k(600));
    out[N_L1 + 17] = or_none(f - fetal(1800));
    out[N_L1 + 18] = or_none(f - ChunkSums::track(&sums.fetal_w, &sums.fetal_fw, 0, end(k(120))));
    out[N_L1 + 19] = or_none(
        f - ChunkSums::track(&sums.false_w, &sums.false_fw, c.saturating_sub(k(600)), end(k(120))),
    );
    // The answers over the neighbouring segments (up to 2 min of each, next to this one).
    out[N_L1 + 20] = match prev_seg {
        Some((s, e)) => or_none(p1.mean(s.max(e.saturating_sub(k(120))), e)),
        None => NONE,
    };
    out[N_L1 + 21] = match next_seg {
        Some((s, e)) => or_none(p1.mean(s, e.min(s + k(120)))),
        None => NONE,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_read_the_histogram_at_the_10th_50th_and_90th_centiles() {
        let mut hist = vec![0u32; HIST_BINS];
        for v in 0..100u32 {
            hist[hist_bin(100.0 + (v / 10) as f32)] += 1;
        }
        assert_eq!(quantiles(&hist), [101.0, 105.0, 109.0]);
        let mut few = vec![0u32; HIST_BINS];
        few[hist_bin(140.0)] = 3;
        assert!(quantiles(&few).iter().all(|q| q.is_nan()));
        // Values outside the bins are counted at the ends.
        assert_eq!(hist_bin(20.0), 0);
        assert_eq!(hist_bin(400.0), HIST_BINS - 1);
    }

    /// The streaming stage computes levels provisionally and truncates them; what it keeps must
    /// equal what a batch run computes, the whole-recording histogram included.
    #[test]
    fn reference_truncated_and_extended_again_equals_a_batch_run() {
        let n = 40 * REF_BLOCK + 37;
        let raw: Vec<f32> = (0..n)
            .map(|i| match i / REF_BLOCK {
                b if b % 7 == 3 => f32::NAN,
                b if b >= 20 => 120.0 + (i % 13) as f32,
                _ => 145.0 + (i % 9) as f32,
            })
            .collect();
        let blocks = n.div_ceil(REF_BLOCK);
        let mut batch = Reference::default();
        batch.extend_medians(&raw, blocks, n);
        batch.extend_levels(blocks, blocks);

        let mut stream = Reference::default();
        for upto in [5 * REF_BLOCK, 18 * REF_BLOCK + 11, 31 * REF_BLOCK, n] {
            let final_blocks = upto / REF_BLOCK;
            stream.extend_medians(&raw, final_blocks, upto);
            stream.extend_levels(final_blocks.saturating_sub(REF_AHEAD), final_blocks);
            let (medians, levels) = (stream.medians.len(), stream.levels.len());
            // Provisional to the end of what has arrived, then back to the final state.
            let all = upto.div_ceil(REF_BLOCK);
            stream.extend_medians(&raw, all, upto);
            stream.extend_levels(all, all);
            stream.truncate(medians, levels);
        }
        stream.extend_medians(&raw, blocks, n);
        stream.extend_levels(blocks, blocks);
        assert_eq!(stream.levels.len(), batch.levels.len());
        for (a, b) in stream.past.iter().zip(&batch.past) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        for (a, b) in stream.long_hi.iter().zip(&batch.long_hi) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        // The whole-recording centiles see both levels once the second one has lasted.
        let last = batch.past.last().unwrap();
        assert!(last[0] < 135.0 && last[2] > 140.0, "{last:?}");
    }
}
