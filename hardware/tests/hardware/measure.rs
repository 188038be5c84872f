//! A small, independent CTG measurement kit for the simulator tests: smoothing, baseline,
//! contractions from the TOCO and decelerations from the FHR, computed from samples only (never
//! from the simulator's ground truth).

use hardware::sim::Frame;

pub const TPS: usize = 4;

pub fn fhr1(frames: &[Frame]) -> Vec<Option<f32>> {
    frames.iter().map(|f| f.sample.fhr1.map(|b| b.as_f32())).collect()
}

pub fn mhr(frames: &[Frame]) -> Vec<Option<f32>> {
    frames.iter().map(|f| f.sample.mhr.map(|b| b.as_f32())).collect()
}

pub fn toco(frames: &[Frame]) -> Vec<Option<f32>> {
    frames.iter().map(|f| f.sample.toco.map(|t| f32::from(t.value()))).collect()
}

/// Centred moving median over ±`half` samples of the values present.
pub fn median_filter(v: &[Option<f32>], half: usize) -> Vec<Option<f32>> {
    let mut out = Vec::with_capacity(v.len());
    let mut window = Vec::with_capacity(2 * half + 1);
    for i in 0..v.len() {
        if v[i].is_none() {
            out.push(None);
            continue;
        }
        window.clear();
        window.extend(v[i.saturating_sub(half)..(i + half + 1).min(v.len())].iter().flatten());
        window.sort_by(f32::total_cmp);
        out.push(Some(window[window.len() / 2]));
    }
    out
}

/// Centred moving mean over ±`half` samples of the values present.
pub fn mean_filter(v: &[Option<f32>], half: usize) -> Vec<Option<f32>> {
    (0..v.len())
        .map(|i| {
            v[i]?;
            let w: Vec<f32> = v[i.saturating_sub(half)..(i + half + 1).min(v.len())]
                .iter()
                .flatten()
                .copied()
                .collect();
            Some(w.iter().sum::<f32>() / w.len() as f32)
        })
        .collect()
}

/// FHR smoothed against beat noise and artefacts (5 s median, then 3 s mean).
pub fn smooth_fhr(v: &[Option<f32>]) -> Vec<Option<f32>> {
    mean_filter(&median_filter(v, 10), 6)
}

/// The baseline around each sample: the most frequent value (2 bpm bins) of the smoothed FHR in
/// a centred window of ±`half_min` minutes, as in the classic histogram method. Robust to
/// decelerations and accelerations occupying less than half the window.
pub fn baseline(smoothed: &[Option<f32>], half_min: usize) -> Vec<f32> {
    let step = TPS * 15; // recompute every 15 s; the baseline moves slowly
    let half = half_min * 60 * TPS;
    let mut out = vec![f32::NAN; smoothed.len()];
    let mut i = 0;
    while i < smoothed.len() {
        let lo = i.saturating_sub(half);
        let hi = (i + half).min(smoothed.len());
        let mut hist = [0u32; 128];
        for v in smoothed[lo..hi].iter().flatten() {
            let bin = ((v / 2.0) as usize).min(127);
            hist[bin] += 1;
        }
        // Mode of a 3-bin running sum, for a stable peak.
        let best = (1..127).max_by_key(|&b| hist[b - 1] + hist[b] + hist[b + 1]).unwrap_or(0);
        let value = best as f32 * 2.0 + 1.0;
        for o in out.iter_mut().skip(i).take(step) {
            *o = value;
        }
        i += step;
    }
    out
}

/// Median of a slice (NaN-free).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { f64::NAN } else { s[s.len() / 2] }
}

/// A contraction found on the TOCO.
#[derive(Debug, Clone, Copy)]
pub struct MeasuredContraction {
    pub onset: usize,
    pub peak: usize,
    pub end: usize,
}

/// Contractions: rises of the smoothed TOCO more than 12 units above the resting tone (20th
/// percentile over ±5 min) for at least 30 s. Onset and end are where the rise crosses 10 % of
/// its amplitude.
pub fn contractions(toco: &[Option<f32>]) -> Vec<MeasuredContraction> {
    let s = mean_filter(toco, 4 * TPS);
    let half = 5 * 60 * TPS;
    let tone: Vec<f32> = (0..s.len())
        .map(|i| {
            let mut w: Vec<f32> = s[i.saturating_sub(half)..(i + half).min(s.len())]
                .iter()
                .flatten()
                .copied()
                .collect();
            if w.is_empty() {
                return 0.0;
            }
            w.sort_by(f32::total_cmp);
            w[w.len() / 5]
        })
        .collect();
    let above = |i: usize| s[i].is_some_and(|v| v - tone[i] > 12.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if !above(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && above(i) {
            i += 1;
        }
        if i - start < 30 * TPS {
            continue;
        }
        let peak = (start..i)
            .max_by(|&a, &b| s[a].unwrap_or(0.0).total_cmp(&s[b].unwrap_or(0.0)))
            .unwrap_or(start);
        let amp = s[peak].unwrap_or(0.0) - tone[peak];
        let level = |k: usize| s[k].map_or(0.0, |v| v - tone[peak]);
        let mut onset = peak;
        while onset > 0 && level(onset) > 0.1 * amp {
            onset -= 1;
        }
        let mut end = peak;
        while end + 1 < s.len() && level(end) > 0.1 * amp {
            end += 1;
        }
        out.push(MeasuredContraction { onset, peak, end });
    }
    out
}

/// A deceleration found on the FHR.
#[derive(Debug, Clone, Copy)]
pub struct MeasuredDecel {
    /// Where the FHR left the baseline (last point within 3 bpm of it before the fall).
    pub onset: usize,
    /// Lowest point.
    pub nadir: usize,
    /// Back within 3 bpm of the baseline.
    pub end: usize,
    pub depth: f32,
    /// From the onset to the first point at 80 % of the depth.
    pub fall_s: f64,
    /// From the onset to the nadir.
    pub to_nadir_s: f64,
}

/// Decelerations: the smoothed FHR at least 8 bpm below the baseline for 15 s or more,
/// reaching at least 12 bpm below it.
pub fn decelerations(fhr: &[Option<f32>]) -> Vec<MeasuredDecel> {
    let s = smooth_fhr(fhr);
    let slow = mean_filter(&s, 5 * TPS);
    let base = baseline(&s, 5);
    let below = |i: usize, by: f32| s[i].is_some_and(|v| base[i] - v > by);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if !below(i, 8.0) {
            i += 1;
            continue;
        }
        let start = i;
        // Short gaps do not end a deceleration.
        let mut last_below = i;
        while i < s.len() && (below(i, 8.0) || (s[i].is_none() && i - last_below < 10 * TPS)) {
            if below(i, 8.0) {
                last_below = i;
            }
            i += 1;
        }
        let stop = last_below + 1;
        if stop - start < 15 * TPS {
            continue;
        }
        let nadir = (start..stop)
            .filter(|&k| s[k].is_some())
            .min_by(|&a, &b| s[a].unwrap_or(f32::MAX).total_cmp(&s[b].unwrap_or(f32::MAX)))
            .unwrap_or(start);
        let depth = base[nadir] - s[nadir].unwrap_or(base[nadir]);
        if depth < 12.0 {
            continue;
        }
        // The onset is searched on a further smoothed trace, so that one upward wiggle of
        // moderate variability during the fall is not taken for the start.
        let mut onset = start;
        while onset > 0 && !slow[onset].is_some_and(|v| base[onset] - v <= 3.0) {
            onset -= 1;
        }
        let mut end = stop.min(s.len() - 1);
        while end + 1 < s.len() && !s[end].is_some_and(|v| base[end] - v <= 3.0) {
            end += 1;
        }
        let deep = (onset..=nadir)
            .find(|&k| s[k].is_some_and(|v| base[nadir] - v >= 0.8 * depth))
            .unwrap_or(nadir);
        out.push(MeasuredDecel {
            onset,
            nadir,
            end,
            depth,
            fall_s: (deep - onset) as f64 / TPS as f64,
            to_nadir_s: (nadir - onset) as f64 / TPS as f64,
        });
    }
    out
}

/// Accelerations: the smoothed FHR at least 15 bpm above the baseline for 15 s or more.
pub fn accelerations(fhr: &[Option<f32>]) -> Vec<(usize, usize)> {
    let s = smooth_fhr(fhr);
    let base = baseline(&s, 5);
    let above = |i: usize| s[i].is_some_and(|v| v - base[i] >= 15.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if !above(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && above(i) {
            i += 1;
        }
        if i - start >= 15 * TPS {
            out.push((start, i));
        }
    }
    out
}

/// Peak-to-trough amplitude of each whole minute of raw FHR, skipping minutes that overlap
/// the given spans or miss more than a quarter of their samples.
pub fn minute_ranges(fhr: &[Option<f32>], skip: &[(usize, usize)]) -> Vec<f32> {
    let m = 60 * TPS;
    (0..fhr.len() / m)
        .filter(|k| !skip.iter().any(|&(a, b)| a < (k + 1) * m && k * m < b))
        .filter_map(|k| {
            let w: Vec<f32> = fhr[k * m..(k + 1) * m].iter().flatten().copied().collect();
            if w.len() < m * 3 / 4 {
                return None;
            }
            let (lo, hi) =
                w.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            Some(hi - lo)
        })
        .collect()
}
