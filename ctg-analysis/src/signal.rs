//! Streaming building blocks shared by the stages: append-only prefix sums and centred moving
//! averages that skip missing samples (NaN).
//!
//! Every stage of the analysis keeps a *frontier*: outputs before it are final (they will never
//! change however much signal follows); outputs after it are provisional and recomputed on
//! demand. A centred window of half-width `h` is final at `i` once its inputs are final up to
//! `i + h`; at the end of the data the window is clipped, exactly as a batch run clips it.

/// Append-only prefix sums of the present values of a series and of their count. Sums are `f64`
/// so that hours of 0.25-bpm values add up exactly.
#[derive(Debug, Clone)]
pub(crate) struct Prefix {
    /// `(sum, count)` over the first `k` values at index `k`; one vector so that a push is one
    /// append (this is on the per-sample path of several stages).
    acc: Vec<(f64, u32)>,
}

impl Default for Prefix {
    fn default() -> Self {
        Self { acc: vec![(0.0, 0)] }
    }
}

impl Prefix {
    /// Number of values covered.
    pub fn len(&self) -> usize {
        self.acc.len() - 1
    }

    /// Makes room for `more` values.
    pub fn reserve(&mut self, more: usize) {
        self.acc.reserve(more);
    }

    pub fn push(&mut self, v: f32) {
        let (s, c) = self.acc[self.acc.len() - 1];
        self.acc.push(if v.is_nan() { (s, c) } else { (s + f64::from(v), c + 1) });
    }

    /// Extends the sums over `values[self.len()..upto]`.
    pub fn extend_to(&mut self, values: &[f32], upto: usize) {
        let from = self.len().min(upto);
        self.acc.reserve(upto - from);
        let (mut s, mut c) = self.acc[self.acc.len() - 1];
        for &v in &values[from..upto] {
            if !v.is_nan() {
                s += f64::from(v);
                c += 1;
            }
            self.acc.push((s, c));
        }
    }

    /// Forgets everything after the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        self.acc.truncate(n + 1);
    }

    /// Present values in `[lo, hi)` (clipped to the covered range).
    pub fn count(&self, lo: usize, hi: usize) -> u32 {
        let hi = hi.min(self.len());
        let lo = lo.min(hi);
        self.acc[hi].1 - self.acc[lo].1
    }

    /// Mean of the present values in `[lo, hi)`, NaN when there are none.
    pub fn mean(&self, lo: usize, hi: usize) -> f32 {
        let hi = hi.min(self.len());
        let lo = lo.min(hi);
        let c = self.acc[hi].1 - self.acc[lo].1;
        if c == 0 { f32::NAN } else { ((self.acc[hi].0 - self.acc[lo].0) / f64::from(c)) as f32 }
    }
}

/// `u.floor() as i64` for finite `u` well inside the `i64` range, without a call into libm
/// (the baseline's interpolations do this once per sample or block).
pub(crate) fn floor_i64(u: f64) -> i64 {
    let t = u as i64; // truncates towards zero
    if (t as f64) > u { t - 1 } else { t }
}

/// A centred moving average of half-width `h` over the present samples of its input.
#[derive(Debug, Clone)]
pub(crate) struct MovingAverage {
    h: usize,
    prefix: Prefix,
    /// Outputs before this index are final.
    pub frontier: usize,
}

impl MovingAverage {
    pub fn new(h: usize) -> Self {
        Self { h, prefix: Prefix::default(), frontier: 0 }
    }

    /// Makes room for `more` input samples.
    pub fn reserve(&mut self, more: usize) {
        self.prefix.reserve(more);
    }

    /// Computes the outputs that became final now that `input` is final up to `input_final`.
    pub fn advance(&mut self, input: &[f32], input_final: usize, out: &mut Vec<f32>) {
        self.prefix.extend_to(input, input_final);
        let upto = input_final.saturating_sub(self.h);
        self.fill(out, upto, usize::MAX);
        self.frontier = self.frontier.max(upto);
    }

    /// Computes the provisional outputs from the frontier to the end of `input` (all of it
    /// available, the end treated as the end of the data). The final state is left unchanged.
    pub fn provisional(&mut self, input: &[f32], input_final: usize, out: &mut Vec<f32>) {
        let n = input.len();
        self.prefix.extend_to(input, n);
        self.fill(out, n, n);
        self.prefix.truncate(input_final);
    }

    fn fill(&self, out: &mut Vec<f32>, upto: usize, n: usize) {
        out.truncate(self.frontier);
        for i in self.frontier..upto {
            let lo = i.saturating_sub(self.h);
            let hi = (i + self.h + 1).min(n);
            out.push(self.prefix.mean(lo, hi));
        }
    }
}

/// Fills gaps of at most `max_gap` samples by linear interpolation between the present values on
/// either side; longer gaps (and gaps at either end) stay missing. A gap's fate is known once its
/// next value arrives or once it has grown past `max_gap`.
#[derive(Debug, Clone)]
pub(crate) struct GapFiller {
    max_gap: usize,
    /// Outputs before this index are final.
    pub frontier: usize,
    last: Option<(usize, f32)>,
}

impl GapFiller {
    pub fn new(max_gap: usize) -> Self {
        Self { max_gap, frontier: 0, last: None }
    }

    /// Processes `input[..limit]`; `eod`: `limit` is the end of the data.
    pub fn run(&mut self, input: &[f32], limit: usize, eod: bool, out: &mut Vec<f32>) {
        out.truncate(self.frontier);
        let mut pos = self.frontier;
        while pos < limit {
            let v = input[pos];
            if !v.is_nan() {
                out.push(v);
                self.last = Some((pos, v));
                pos += 1;
                continue;
            }
            let next = (pos..limit).find(|&k| !input[k].is_nan());
            match (self.last, next) {
                (Some((p, a)), Some(q)) if q - p - 1 <= self.max_gap => {
                    let b = input[q];
                    let span = (q - p) as f32;
                    for k in pos..q {
                        out.push(a + (b - a) * (k - p) as f32 / span);
                    }
                    pos = q;
                }
                (_, Some(q)) => {
                    out.extend(std::iter::repeat_n(f32::NAN, q - pos));
                    pos = q;
                }
                (last, None) => {
                    // No next value yet: the gap is known to be long once it exceeds max_gap.
                    let known_long = match last {
                        Some((p, _)) => limit - p - 1 > self.max_gap,
                        None => true,
                    };
                    if known_long || eod {
                        out.extend(std::iter::repeat_n(f32::NAN, limit - pos));
                        pos = limit;
                    } else {
                        break;
                    }
                }
            }
        }
        self.frontier = pos;
    }
}

/// A mean over a sliding set of values, missing ones (NaN) skipped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunningMean {
    sum: f64,
    n: u32,
}

impl RunningMean {
    pub fn add(&mut self, v: f32) {
        if !v.is_nan() {
            self.sum += f64::from(v);
            self.n += 1;
        }
    }

    pub fn remove(&mut self, v: f32) {
        if !v.is_nan() {
            self.sum -= f64::from(v);
            self.n -= 1;
        }
    }

    pub fn mean(&self) -> f32 {
        if self.n == 0 { f32::NAN } else { (self.sum / f64::from(self.n)) as f32 }
    }
}

/// Mean of the present (non-NaN) values, NaN when none.
pub(crate) fn nan_mean(values: &[f32]) -> f32 {
    let (s, c) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0f64, 0u32), |(s, c), &v| (s + f64::from(v), c + 1));
    if c == 0 { f32::NAN } else { (s / f64::from(c)) as f32 }
}

/// A sliding window of block indices kept sorted by value, for tapered weighted medians whose
/// window moves one block at a time: each step inserts and removes a few blocks (binary search
/// and a short memmove) instead of selecting among all of them again.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlidingWindow {
    lo: usize,
    hi: usize,
    /// (value, index) of the blocks in `[lo, hi)` with positive weight, sorted.
    sorted: Vec<(f32, u32)>,
}

impl SlidingWindow {
    /// Moves the window to `[lo, hi)` (both ends never move backwards).
    pub fn slide(&mut self, lo: usize, hi: usize, values: &[f32], weights: &[f32]) {
        let key = |v: f32, i: usize| (v, i as u32);
        let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        for i in self.lo..lo.min(self.hi) {
            if weights[i] > 0.0 {
                let k = key(values[i], i);
                if let Ok(pos) = self.sorted.binary_search_by(|e| cmp(e, &k)) {
                    self.sorted.remove(pos);
                }
            }
        }
        for i in self.hi.max(lo)..hi {
            if weights[i] > 0.0 {
                let k = key(values[i], i);
                let pos = self.sorted.binary_search_by(|e| cmp(e, &k)).unwrap_or_else(|p| p);
                self.sorted.insert(pos, k);
            }
        }
        self.lo = lo;
        self.hi = hi.max(lo);
    }

    /// The weighted median at `centre`: each block weighs `weights[i] * taper[|i - centre|]`;
    /// the answer is the smallest value at which the cumulative weight reaches half the total.
    /// `None` when the total is not positive.
    pub fn weighted_median(&self, centre: usize, weights: &[f32], taper: &[f32]) -> Option<f32> {
        let w = |i: usize| weights[i] * taper[i.abs_diff(centre)];
        let total: f32 = (self.lo..self.hi).map(w).sum();
        if total <= 0.0 {
            return None;
        }
        let half = total / 2.0;
        let mut acc = 0.0f32;
        for &(v, i) in &self.sorted {
            acc += w(i as usize);
            if acc >= half {
                return Some(v);
            }
        }
        self.sorted.last().map(|e| e.0)
    }
}

/// The weighted median of `(value, weight)` pairs: the smallest value at which the cumulative
/// weight of the values at or below it reaches half the total. Expected linear time (weighted
/// quickselect); the slice is reordered. `None` when the total weight is not positive.
#[cfg(test)]
pub(crate) fn weighted_median(pairs: &mut [(f32, f32)]) -> Option<f32> {
    let total: f64 = pairs.iter().map(|p| f64::from(p.1)).sum();
    if total <= 0.0 || pairs.is_empty() {
        return None;
    }
    let half = total / 2.0;
    let (mut lo, mut hi) = (0usize, pairs.len());
    let mut below = 0.0f64;
    loop {
        let part = &mut pairs[lo..hi];
        if part.len() <= 16 {
            part.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let mut acc = below;
            for p in part.iter() {
                acc += f64::from(p.1);
                if acc >= half {
                    return Some(p.0);
                }
            }
            return part.last().map(|p| p.0);
        }
        // Median of three as the pivot keeps the expected cost linear on sorted inputs too.
        let (a, b, c) = (part[0].0, part[part.len() / 2].0, part[part.len() - 1].0);
        let pivot = a.max(b.min(c)).min(b.max(c));
        // Three-way partition: [< pivot | == pivot | > pivot].
        let (mut lt, mut i, mut gt) = (0usize, 0usize, part.len());
        let (mut w_lt, mut w_eq) = (0.0f64, 0.0f64);
        while i < gt {
            let v = part[i].0;
            if v < pivot {
                w_lt += f64::from(part[i].1);
                part.swap(lt, i);
                lt += 1;
                i += 1;
            } else if v > pivot {
                gt -= 1;
                part.swap(i, gt);
            } else {
                w_eq += f64::from(part[i].1);
                i += 1;
            }
        }
        if below + w_lt >= half {
            hi = lo + lt;
        } else if below + w_lt + w_eq >= half {
            return Some(pivot);
        } else {
            below += w_lt + w_eq;
            lo += gt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floor_i64_is_floor() {
        for u in [-0.5, -0.49, -1.0, -1.5, 0.0, -0.0, 0.25, 1.0, 2.999, 1e12 + 0.5, -1e12 - 0.5] {
            assert_eq!(floor_i64(u), u.floor() as i64, "{u}");
        }
        for i in 0..10_000usize {
            for m in [1usize, 2, 4, 5, 24, 120] {
                let u = (i as f64 + 0.5) / m as f64 - 0.5;
                assert_eq!(floor_i64(u), u.floor() as i64, "{i} / {m}");
            }
        }
    }

    fn naive_weighted_median(pairs: &[(f32, f32)]) -> Option<f32> {
        let mut v = pairs.to_vec();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = v.iter().map(|p| f64::from(p.1)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut acc = 0.0;
        for p in &v {
            acc += f64::from(p.1);
            if acc >= total / 2.0 {
                return Some(p.0);
            }
        }
        None
    }

    proptest! {
        #[test]
        fn weighted_median_matches_the_sorted_definition(
            pairs in proptest::collection::vec((50u16..220, 0u16..100), 1..400)
        ) {
            let mut p: Vec<(f32, f32)> = pairs.iter().map(|&(v, w)| (f32::from(v), f32::from(w) / 10.0)).collect();
            let expected = naive_weighted_median(&p);
            prop_assert_eq!(weighted_median(&mut p), expected);
        }

        #[test]
        fn sliding_window_median_matches_the_direct_one(
            blocks in proptest::collection::vec((100u16..180, 0u16..20), 5..200),
            r in 1usize..20,
        ) {
            let values: Vec<f32> = blocks.iter().map(|b| f32::from(b.0)).collect();
            let weights: Vec<f32> = blocks.iter().map(|b| f32::from(b.1) / 4.0).collect();
            let taper: Vec<f32> = (0..=r).map(|d| 1.0 - d as f32 / (r + 1) as f32).collect();
            let mut win = SlidingWindow::default();
            for j in 0..values.len() {
                let (lo, hi) = (j.saturating_sub(r), (j + r + 1).min(values.len()));
                win.slide(lo, hi, &values, &weights);
                let mut pairs: Vec<(f32, f32)> = (lo..hi)
                    .map(|i| (values[i], weights[i] * taper[i.abs_diff(j)]))
                    .filter(|p| p.1 > 0.0)
                    .collect();
                let direct = weighted_median(&mut pairs);
                let sliding = win.weighted_median(j, &weights, &taper);
                match (direct, sliding) {
                    (None, None) => {}
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) => {
                        // Only a tie at exactly half (within rounding) may pick a neighbour.
                        pairs.sort_by(|x, y| x.0.total_cmp(&y.0));
                        let total: f64 = pairs.iter().map(|p| f64::from(p.1)).sum();
                        let below: f64 = pairs.iter().filter(|p| p.0 <= a.min(b)).map(|p| f64::from(p.1)).sum();
                        prop_assert!((below - total / 2.0).abs() < 1e-4 * total, "{a} vs {b}");
                    }
                    other => prop_assert!(false, "{other:?}"),
                }
            }
        }

        #[test]
        fn moving_average_is_the_same_streamed_or_at_once(
            values in proptest::collection::vec(proptest::option::of(100.0f32..180.0), 1..300),
            cuts in proptest::collection::vec(1usize..40, 1..20),
        ) {
            let x: Vec<f32> = values.iter().map(|v| v.unwrap_or(f32::NAN)).collect();
            let mut once = MovingAverage::new(5);
            let mut out_once = Vec::new();
            once.advance(&x, x.len(), &mut out_once);
            once.provisional(&x, x.len(), &mut out_once);

            let mut streamed = MovingAverage::new(5);
            let mut out = Vec::new();
            let mut avail = 0;
            for c in cuts.iter().cycle() {
                avail = (avail + c).min(x.len());
                streamed.advance(&x[..avail], avail, &mut out);
                // A provisional view in between must not disturb the final state.
                streamed.provisional(&x[..avail], avail, &mut out);
                if avail == x.len() { break; }
            }
            prop_assert_eq!(out.len(), x.len());
            for (a, b) in out.iter().zip(&out_once) {
                prop_assert!(a.to_bits() == b.to_bits(), "{a} != {b}");
            }
        }
    }

    #[test]
    fn short_gaps_are_interpolated_and_long_ones_left_missing() {
        let nan = f32::NAN;
        let x = [100.0, nan, nan, 103.0, nan, nan, nan, nan, 110.0, nan];
        let mut g = GapFiller::new(3);
        let mut out = Vec::new();
        g.run(&x, x.len(), false, &mut out);
        assert_eq!(g.frontier, 9, "the trailing gap may still be short");
        g.run(&x, x.len(), true, &mut out);
        assert_eq!(&out[..4], &[100.0, 101.0, 102.0, 103.0]);
        assert!(out[4..8].iter().all(|v| v.is_nan()));
        assert_eq!(out[8], 110.0);
        assert!(out[9].is_nan());
    }

    #[test]
    fn prefix_mean_skips_missing_values() {
        let mut p = Prefix::default();
        for v in [1.0, f32::NAN, 3.0] {
            p.push(v);
        }
        assert_eq!(p.mean(0, 3), 2.0);
        assert_eq!(p.count(0, 3), 2);
        assert!(p.mean(1, 2).is_nan());
        p.truncate(1);
        assert_eq!(p.len(), 1);
    }
}
