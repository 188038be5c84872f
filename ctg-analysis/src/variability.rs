//! Per-minute variability: amplitude class, short-term variation (STV), long-term range, and
//! sinusoidal rhythm.
//!
//! * **Amplitude** (FIGO/NICHD/JSOG): peak-to-trough of the FHR around its baseline within the
//!   minute, on 1-s means, outside accelerations and decelerations; at least 30 s of signal.
//!   Classes: absent ≤ 2 bpm (undetectable), minimal/reduced ≤ 5, moderate 6–25, marked > 25.
//! * **STV** (our definition, in the style of Dawes–Redman): the minute is cut into 16 epochs of
//!   3.75 s; each epoch with at least 8 usable samples gets its mean pulse interval
//!   `60000 / mean FHR` (ms). The minute's STV is the mean absolute difference between
//!   consecutive epochs (at least 8 pairs), leaving out epochs inside decelerations. The
//!   record's STV is the mean of its minutes' STV.
//! * **Range** (long-term variation): max − min of the minute's epoch pulse intervals, ms (at
//!   least 12 epochs). A minute of *high variation* has a range ≥ 32 ms, of *low variation*
//!   < 30 ms (the Dawes–Redman thresholds).
//! * **Sinusoidal**: over the 4 min centred on the minute, the FHR minus its baseline (1-s means,
//!   ≥ 90 % present; points beyond three times the median deviation dropped as artefacts) has
//!   a strong autocorrelation peak (≥ 0.55) at a period of 10–30 s
//!   (2–6 cycles/min), repeated at twice the period (≥ 0.3), with a peak-to-trough of 5–35 bpm
//!   (JSOG 2002).

use serde::Serialize;

/// Samples per minute.
pub const MINUTE: usize = 240;
const EPOCH: usize = 15;
/// The sinusoidal test looks this far (samples) before the minute start and after its end.
pub const SINUS_MARGIN: usize = 360;

/// FHR variability class by peak-to-trough amplitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VariabilityClass {
    /// Undetectable, ≤ 2 bpm.
    Absent,
    /// ≤ 5 bpm (NICHD minimal, FIGO/JSOG reduced).
    Minimal,
    /// 6–25 bpm (normal).
    Moderate,
    /// > 25 bpm (FIGO increased, JSOG ≥ 26).
    Marked,
}

impl VariabilityClass {
    pub fn from_amplitude(bpm: f32) -> Self {
        if bpm <= 2.0 {
            VariabilityClass::Absent
        } else if bpm <= 5.0 {
            VariabilityClass::Minimal
        } else if bpm <= 25.0 {
            VariabilityClass::Moderate
        } else {
            VariabilityClass::Marked
        }
    }
}

/// What one minute of trace shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minute {
    pub start_s: f64,
    /// Share of the minute with usable FHR.
    pub valid_fraction: f32,
    /// Peak-to-trough amplitude around the baseline outside events, bpm.
    pub amplitude_bpm: Option<f32>,
    pub variability: Option<VariabilityClass>,
    /// Short-term variation, ms.
    pub stv_ms: Option<f32>,
    /// Range of the epoch pulse intervals, ms.
    pub range_ms: Option<f32>,
    /// Part of a deceleration falls in this minute.
    pub in_deceleration: bool,
    pub sinusoidal: bool,
    /// The TOCO channel carries a usable signal in this minute.
    pub toco_usable: bool,
    /// Samples with the fetal movement detector firing.
    pub movement_samples: u32,
}

/// Inputs of the per-minute measures, all sample-aligned.
pub(crate) struct MinuteInputs<'a> {
    pub used: &'a [f32],
    pub filled: &'a [f32],
    pub baseline: &'a [f32],
    pub toco: &'a [f32],
    pub movement: &'a [bool],
    /// Marks samples inside an acceleration or deceleration (1 = acc, 2 = dec).
    pub event_mask: &'a [u8],
}

/// Computes minute `m`; windows are clipped at the end of the inputs.
pub(crate) fn minute(m: usize, input: &MinuteInputs<'_>) -> Minute {
    let n = input.used.len();
    let lo = m * MINUTE;
    let hi = ((m + 1) * MINUTE).min(n);
    let used = &input.used[lo..hi];
    let valid = used.iter().filter(|v| !v.is_nan()).count();
    let valid_fraction = valid as f32 / MINUTE as f32;

    // Amplitude on 1-s means outside events.
    let (mut lo_dev, mut hi_dev, mut seconds) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    let mut s = lo;
    while s + 4 <= hi {
        let (mut sum, mut c) = (0.0f32, 0u32);
        for i in s..s + 4 {
            if !input.used[i].is_nan() && !input.baseline[i].is_nan() && input.event_mask[i] == 0 {
                sum += input.used[i] - input.baseline[i];
                c += 1;
            }
        }
        if c >= 3 {
            let d = sum / c as f32;
            lo_dev = lo_dev.min(d);
            hi_dev = hi_dev.max(d);
            seconds += 1;
        }
        s += 4;
    }
    let amplitude_bpm = (seconds >= 30).then_some(hi_dev - lo_dev);

    // Epoch pulse intervals (at most 16 per minute; no allocation).
    let mut epochs = [f32::NAN; MINUTE / EPOCH];
    let mut n_epochs = 0usize;
    let mut e = lo;
    while e + EPOCH <= hi {
        let (mut sum, mut c, mut in_dec) = (0.0f32, 0u32, false);
        for i in e..e + EPOCH {
            in_dec |= input.event_mask[i] == 2;
            if !input.used[i].is_nan() {
                sum += input.used[i];
                c += 1;
            }
        }
        if c >= 8 && !in_dec {
            epochs[n_epochs] = 60_000.0 / (sum / c as f32);
        }
        n_epochs += 1;
        e += EPOCH;
    }
    let epochs = &epochs[..n_epochs];
    let (mut diff_sum, mut diffs) = (0.0f32, 0usize);
    for w in epochs.windows(2) {
        let d = (w[1] - w[0]).abs();
        if !d.is_nan() {
            diff_sum += d;
            diffs += 1;
        }
    }
    let stv_ms = (diffs >= 8).then(|| diff_sum / diffs as f32);
    let (mut pmin, mut pmax, mut present) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    for &p in epochs.iter().filter(|p| !p.is_nan()) {
        pmin = pmin.min(p);
        pmax = pmax.max(p);
        present += 1;
    }
    let range_ms = (present >= 12).then_some(pmax - pmin);

    let (mut tmin, mut tmax, mut tn) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    for &t in input.toco[lo..hi].iter().filter(|t| !t.is_nan()) {
        tmin = tmin.min(t);
        tmax = tmax.max(t);
        tn += 1;
    }
    let toco_usable = tn * 2 >= MINUTE && tmax - tmin >= 1.0;

    Minute {
        start_s: lo as f64 / crate::SAMPLE_RATE_HZ as f64,
        valid_fraction,
        amplitude_bpm,
        variability: amplitude_bpm.map(VariabilityClass::from_amplitude),
        stv_ms,
        range_ms,
        in_deceleration: input.event_mask[lo..hi].contains(&2),
        sinusoidal: sinusoidal(lo, hi, input),
        toco_usable,
        movement_samples: input.movement[lo..hi].iter().filter(|m| **m).count() as u32,
    }
}

/// Residuals beyond this (bpm) are artefacts in the sinusoid test (a sinusoid is at most 35 bpm
/// peak to trough).
const SINUS_CLIP: f32 = 18.0;
/// Points of the sinusoid test: 2-s means.
const SINUS_STEP: usize = 8;
const SINUS_POINTS: usize = (MINUTE + 2 * SINUS_MARGIN) / SINUS_STEP;

/// Autocorrelation test for a sinusoidal rhythm around the minute `[lo, hi)`, on 2-s means of
/// the FHR minus its baseline (periods of 10–30 s are lags of 5–15 points).
fn sinusoidal(lo: usize, hi: usize, input: &MinuteInputs<'_>) -> bool {
    let n = input.filled.len();
    let a = lo.saturating_sub(SINUS_MARGIN);
    let b = (hi + SINUS_MARGIN).min(n);
    let points = ((b - a) / SINUS_STEP).min(SINUS_POINTS);
    if points < 60 {
        return false;
    }
    let mut r = [0f32; SINUS_POINTS];
    let mut missing = 0usize;
    for (s, slot) in r.iter_mut().enumerate().take(points) {
        let i = a + SINUS_STEP * s;
        let (mut sum, mut c) = (0.0f32, 0u32);
        for k in i..i + SINUS_STEP {
            let d = input.filled[k] - input.baseline[k];
            if !d.is_nan() {
                sum += d;
                c += 1;
            }
        }
        if c == 0 {
            missing += 1;
        } else {
            *slot = sum / c as f32;
        }
    }
    if missing * 10 > points {
        return false;
    }
    let r = &mut r[..points];
    let mean = r.iter().sum::<f32>() / points as f32;
    r.iter_mut().for_each(|v| *v -= mean);
    // Points far beyond the typical deviation (three times the median absolute one, and the
    // 35-bpm ceiling of a sinusoid) are artefacts, such as a halved rate during maternal
    // movement: zeroed, so that a few seconds cannot swamp the rhythm of four minutes.
    let mut abs = [0f32; SINUS_POINTS];
    for (a, v) in abs.iter_mut().zip(r.iter()) {
        *a = v.abs();
    }
    let abs = &mut abs[..points];
    let mad = *abs.select_nth_unstable_by(points / 2, f32::total_cmp).1;
    let limit = (3.0 * mad).min(SINUS_CLIP);
    let mut outliers = 0usize;
    for v in r.iter_mut() {
        if v.abs() > limit {
            *v = 0.0;
            outliers += 1;
        }
    }
    if (missing + outliers) * 5 > points {
        return false;
    }
    let energy: f32 = r.iter().map(|v| v * v).sum();
    if energy <= 0.0 {
        return false;
    }
    let rho = |lag: usize| r.iter().zip(&r[lag..]).map(|(x, y)| x * y).sum::<f32>() / energy;
    let (mut best, mut best_lag) = (f32::NEG_INFINITY, 0usize);
    for lag in 5..=15 {
        let v = rho(lag);
        if v > best {
            best = v;
            best_lag = lag;
        }
    }
    let sd = (energy / points as f32).sqrt();
    let peak_to_trough = 2.0 * std::f32::consts::SQRT_2 * sd;
    best >= 0.55
        && 2 * best_lag < points
        && rho(2 * best_lag) >= 0.3
        && (5.0..=35.0).contains(&peak_to_trough)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(fhr: &[f32], baseline: f32) -> (Vec<f32>, Vec<f32>, Vec<bool>, Vec<u8>) {
        (
            vec![baseline; fhr.len()],
            vec![20.0; fhr.len()],
            vec![false; fhr.len()],
            vec![0; fhr.len()],
        )
    }

    #[test]
    fn classes_follow_the_guideline_thresholds() {
        use VariabilityClass::*;
        assert_eq!(VariabilityClass::from_amplitude(1.0), Absent);
        assert_eq!(VariabilityClass::from_amplitude(5.0), Minimal);
        assert_eq!(VariabilityClass::from_amplitude(6.0), Moderate);
        assert_eq!(VariabilityClass::from_amplitude(25.0), Moderate);
        assert_eq!(VariabilityClass::from_amplitude(26.0), Marked);
    }

    #[test]
    fn amplitude_stv_and_sinusoid() {
        // A 15-s period sine of 10 bpm peak-to-trough around 140 for 10 minutes.
        let fhr: Vec<f32> = (0..2400)
            .map(|i| 140.0 + 5.0 * (i as f32 * std::f32::consts::TAU / 60.0).sin())
            .collect();
        let (bl, toco, mv, mask) = inputs(&fhr, 140.0);
        let input = MinuteInputs {
            used: &fhr,
            filled: &fhr,
            baseline: &bl,
            toco: &toco,
            movement: &mv,
            event_mask: &mask,
        };
        let m = minute(5, &input);
        let amp = m.amplitude_bpm.unwrap();
        assert!((amp - 10.0).abs() < 0.6, "{amp}");
        assert_eq!(m.variability, Some(VariabilityClass::Moderate));
        assert!(m.sinusoidal);
        assert!(m.stv_ms.unwrap() > 5.0);
        assert!(!m.toco_usable, "a flat TOCO carries no information");

        // Irregular variability of similar size is not sinusoidal.
        let mut x = 12345u32;
        let noisy: Vec<f32> = (0..2400)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                140.0 + ((x >> 16) % 11) as f32 - 5.0
            })
            .collect();
        let input = MinuteInputs {
            used: &noisy,
            filled: &noisy,
            baseline: &bl,
            toco: &toco,
            movement: &mv,
            event_mask: &mask,
        };
        assert!(!minute(5, &input).sinusoidal);
    }

    #[test]
    fn a_flat_trace_has_absent_variability_and_tiny_stv() {
        let fhr = vec![140.0f32; 480];
        let (bl, toco, mv, mask) = inputs(&fhr, 140.0);
        let input = MinuteInputs {
            used: &fhr,
            filled: &fhr,
            baseline: &bl,
            toco: &toco,
            movement: &mv,
            event_mask: &mask,
        };
        let m = minute(0, &input);
        assert_eq!(m.variability, Some(VariabilityClass::Absent));
        assert_eq!(m.stv_ms, Some(0.0));
        assert_eq!(m.range_ms, Some(0.0));
    }
}
