//! Agreement indices of the FHR morphology literature, and false-signal scoring. Defined here
//! from their published descriptions (Houzé de l'Aulnoit et al., Biomed Signal Process Control
//! 2019; the FHRMA dataset notes):
//!
//! * **MADI** (morphological analysis discordance index), over the scored samples `t` (FHR
//!   present, not in the last minute): `D(t) = (L_ref − L_method)²`; for each analysis `k`,
//!   `D_k(t) = sqrt(mean over the centred minute of (L_k − FHR)²) + 3 bpm` (the mean over the
//!   samples with FHR); `MADI = mean of D / (D_ref · D_method + D)`, in percent.
//! * **Baseline RMSD** (bpm) and the share of scored samples where the baselines differ by more
//!   than 15 bpm.
//! * **Events**: events with more than a third of their span missing are dropped first; a
//!   reference and a detected event match when they overlap by more than 5 s, one to one (pairs
//!   taken greedily by decreasing overlap). Sensitivity = matched / reference, PPV = matched /
//!   detected, F1 = 2 · matched / (reference + detected).
//! * **False signal**, per sample with an FHR value and an expert label: sensitivity, PPV and
//!   accuracy of the "false signal" answer.

use serde::Serialize;

/// Baseline agreement of one recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaselineAgreement {
    pub madi_pct: f64,
    pub rmsd_bpm: f64,
    pub over_15_bpm_pct: f64,
    /// Samples scored.
    pub scored: usize,
    /// Scored samples where the method gave no baseline (left out of the indices).
    pub method_missing: usize,
}

/// Compares two baselines over an FHR trace (all sample-aligned; the shortest length is used).
/// `None` when nothing can be scored.
pub fn baseline_agreement(
    fhr: &[Option<f32>],
    reference: &[f32],
    method: &[Option<f32>],
) -> Option<BaselineAgreement> {
    const MINUTE: usize = 240;
    let n = fhr.len().min(reference.len()).min(method.len());
    let present: Vec<bool> = fhr[..n].iter().map(Option::is_some).collect();
    // Running sums of squared residuals for the centred-minute means.
    let residual_sums = |l: &dyn Fn(usize) -> Option<f32>| {
        let mut s = vec![0f64; n + 1];
        let mut c = vec![0u32; n + 1];
        for i in 0..n {
            let (mut add, mut one) = (0.0, 0);
            if let (Some(f), Some(v)) = (fhr[i], l(i)) {
                add = f64::from(v - f).powi(2);
                one = 1;
            }
            s[i + 1] = s[i] + add;
            c[i + 1] = c[i] + one;
        }
        (s, c)
    };
    let (rs, rc) = residual_sums(&|i| Some(reference[i]));
    let (ms, mc) = residual_sums(&|i| method[i]);
    let dk = |s: &[f64], c: &[u32], t: usize| {
        let lo = t.saturating_sub(MINUTE / 2);
        let hi = (t + MINUTE / 2).min(n);
        let cnt = c[hi] - c[lo];
        if cnt == 0 { 3.0 } else { ((s[hi] - s[lo]) / f64::from(cnt)).sqrt() + 3.0 }
    };
    let (mut madi, mut sq, mut over, mut scored, mut missing) =
        (0.0f64, 0.0f64, 0usize, 0usize, 0usize);
    for t in 0..n.saturating_sub(MINUTE) {
        if !present[t] {
            continue;
        }
        let Some(lm) = method[t] else {
            missing += 1;
            continue;
        };
        let diff = f64::from(reference[t] - lm);
        let d = diff * diff;
        let denom = dk(&rs, &rc, t) * dk(&ms, &mc, t) + d;
        madi += d / denom;
        sq += d;
        over += usize::from(diff.abs() > 15.0);
        scored += 1;
    }
    (scored > 0).then(|| BaselineAgreement {
        madi_pct: 100.0 * madi / scored as f64,
        rmsd_bpm: (sq / scored as f64).sqrt(),
        over_15_bpm_pct: 100.0 * over as f64 / scored as f64,
        scored,
        method_missing: missing,
    })
}

/// Event agreement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EventCounts {
    pub matched: usize,
    pub reference: usize,
    pub detected: usize,
}

impl EventCounts {
    pub fn sensitivity(&self) -> Option<f64> {
        (self.reference > 0).then(|| self.matched as f64 / self.reference as f64)
    }

    pub fn ppv(&self) -> Option<f64> {
        (self.detected > 0).then(|| self.matched as f64 / self.detected as f64)
    }

    pub fn f1(&self) -> Option<f64> {
        let d = self.reference + self.detected;
        (d > 0).then(|| 2.0 * self.matched as f64 / d as f64)
    }

    pub fn add(&mut self, o: &EventCounts) {
        self.matched += o.matched;
        self.reference += o.reference;
        self.detected += o.detected;
    }
}

/// Share of an event's span `[start_s, end_s)` with no FHR.
fn missing_share(fhr: &[Option<f32>], start_s: f64, end_s: f64) -> f64 {
    let a = ((start_s * 4.0).round().max(0.0) as usize).min(fhr.len());
    let b = ((end_s * 4.0).round().max(0.0) as usize).min(fhr.len());
    if b <= a {
        return 1.0;
    }
    fhr[a..b].iter().filter(|v| v.is_none()).count() as f64 / (b - a) as f64
}

/// Matches detected events (seconds) against reference events.
pub fn match_events(
    reference: &[(f64, f64)],
    detected: &[(f64, f64)],
    fhr: &[Option<f32>],
) -> EventCounts {
    let keep = |v: &[(f64, f64)]| -> Vec<(f64, f64)> {
        v.iter().copied().filter(|&(s, e)| missing_share(fhr, s, e) <= 1.0 / 3.0).collect()
    };
    let r = keep(reference);
    let d = keep(detected);
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, a) in r.iter().enumerate() {
        for (j, b) in d.iter().enumerate() {
            let overlap = a.1.min(b.1) - a.0.max(b.0);
            if overlap > 5.0 {
                pairs.push((overlap, i, j));
            }
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let (mut ur, mut ud) = (vec![false; r.len()], vec![false; d.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !ur[i] && !ud[j] {
            ur[i] = true;
            ud[j] = true;
            matched += 1;
        }
    }
    EventCounts { matched, reference: r.len(), detected: d.len() }
}

/// Per-sample confusion counts of false-signal detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub false_negative: usize,
    pub true_negative: usize,
}

impl Confusion {
    pub fn add(&mut self, o: &Confusion) {
        self.true_positive += o.true_positive;
        self.false_positive += o.false_positive;
        self.false_negative += o.false_negative;
        self.true_negative += o.true_negative;
    }

    pub fn sensitivity(&self) -> Option<f64> {
        let d = self.true_positive + self.false_negative;
        (d > 0).then(|| self.true_positive as f64 / d as f64)
    }

    pub fn ppv(&self) -> Option<f64> {
        let d = self.true_positive + self.false_positive;
        (d > 0).then(|| self.true_positive as f64 / d as f64)
    }

    pub fn accuracy(&self) -> Option<f64> {
        let d = self.true_positive + self.false_positive + self.false_negative + self.true_negative;
        (d > 0).then(|| (self.true_positive + self.true_negative) as f64 / d as f64)
    }
}

/// Scores per-sample false-signal flags. `labels`: `Some(true)` false signal, `Some(false)`
/// true signal, `None` unlabelled (ignored); samples without FHR are ignored.
pub fn score_false_signal(
    flags: &[bool],
    fhr_present: &[bool],
    labels: &[Option<bool>],
) -> Confusion {
    let mut c = Confusion::default();
    for ((&f, &p), l) in flags.iter().zip(fhr_present).zip(labels) {
        let Some(truth) = *l else { continue };
        if !p {
            continue;
        }
        match (truth, f) {
            (true, true) => c.true_positive += 1,
            (false, true) => c.false_positive += 1,
            (true, false) => c.false_negative += 1,
            (false, false) => c.true_negative += 1,
        }
    }
    c
}

/// Median of the present values.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let k = v.len();
    Some(if k % 2 == 1 { v[k / 2] } else { (v[k / 2 - 1] + v[k / 2]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_baselines_have_zero_discordance() {
        let fhr: Vec<Option<f32>> = (0..2000).map(|i| Some(140.0 + (i % 9) as f32)).collect();
        let bl = vec![142.0f32; 2000];
        let m: Vec<Option<f32>> = bl.iter().map(|&v| Some(v)).collect();
        let a = baseline_agreement(&fhr, &bl, &m).unwrap();
        assert_eq!(a.madi_pct, 0.0);
        assert_eq!(a.rmsd_bpm, 0.0);
        assert_eq!(a.scored, 2000 - 240, "the last minute is not scored");
    }

    #[test]
    fn a_constant_offset_gives_the_expected_madi() {
        // FHR equal to the reference: D_ref = 3, D_method = |offset| + 3.
        let fhr: Vec<Option<f32>> = vec![Some(140.0); 1000];
        let reference = vec![140.0f32; 1000];
        let m: Vec<Option<f32>> = vec![Some(146.0); 1000];
        let a = baseline_agreement(&fhr, &reference, &m).unwrap();
        let expected = 100.0 * 36.0 / (3.0 * 9.0 + 36.0);
        assert!((a.madi_pct - expected).abs() < 1e-9, "{}", a.madi_pct);
        assert!((a.rmsd_bpm - 6.0).abs() < 1e-9);
        assert_eq!(a.over_15_bpm_pct, 0.0);
    }

    #[test]
    fn events_match_one_to_one_with_more_than_5_s_overlap() {
        let fhr = vec![Some(140.0f32); 4 * 600];
        let r = [(10.0, 40.0), (100.0, 130.0), (200.0, 230.0)];
        // One long detection covers the first two: only one may match. The third overlaps 4 s.
        let d = [(20.0, 120.0), (226.0, 260.0)];
        let c = match_events(&r, &d, &fhr);
        assert_eq!(c, EventCounts { matched: 1, reference: 3, detected: 2 });
        assert_eq!(c.f1(), Some(0.4));
    }

    #[test]
    fn mostly_missing_events_are_dropped() {
        let mut fhr = vec![Some(140.0f32); 4 * 100];
        fhr[40..100].iter_mut().for_each(|v| *v = None); // 15 of 20 s missing
        let c = match_events(&[(10.0, 30.0)], &[(10.0, 30.0)], &fhr);
        assert_eq!(c, EventCounts::default());
    }

    #[test]
    fn false_signal_scoring_ignores_unlabelled_and_missing() {
        let flags = [true, true, false, false, true];
        let present = [true, true, true, true, false];
        let labels = [Some(true), Some(false), Some(true), None, Some(true)];
        let c = score_false_signal(&flags, &present, &labels);
        assert_eq!(
            c,
            Confusion { true_positive: 1, false_positive: 1, false_negative: 1, true_negative: 0 }
        );
        assert_eq!(c.sensitivity(), Some(0.5));
        assert_eq!(median([3.0, 1.0, 2.0, f64::NAN]), Some(2.0));
    }
}
