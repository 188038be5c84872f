//! The incremental analyzer: push samples as they arrive, read results at any time.
//!
//! Each stage keeps a frontier behind which its results are final; [`Analyzer::push`] advances
//! every frontier as far as the new samples allow, in time proportional to the new samples.
//! [`Analyzer::refresh`] computes the provisional results between the frontiers and the newest
//! sample (the same code a batch run uses at the end of a recording, so a batch analysis and a
//! stream of pushes give identical results). Its cost is bounded by the latency of the slowest
//! stage (the baseline), not by the length of the trace.
//!
//! Latency (how long after a sample its results stop changing): cleaning ≤ 2.6 min, false
//! signal ≤ [`crate::false_signal::latency_s`] (about 14 min), the baseline
//! [`crate::baseline::latency_s`] (about 49 min: its first pass weighs ±20 min and each
//! refinement looks further; provisional values at the newest sample are within 1.4 bpm of the
//! final ones at the median, see README.md), events until the excursion ends and the
//! baseline under it is final, windows once all of the above are final for their span.

use crate::baseline::BaselineStage;
use crate::classify::{Window, WindowInputs, classify};
use crate::clean::Cleaner;
use crate::config::Config;
use crate::contractions::{Contraction, RawContraction, TocoStage};
use crate::events::{
    Acceleration, Deceleration, DecelerationKind, Direction, EventInputs, MAX_INTERP_GAP, RawEvent,
    ScanState, Severity, Thresholds, scan,
};
use crate::false_signal::{
    FalseSignalInputs, FalseSignalPeriod, FalseSignalStage, Models, periods,
};
use crate::sample::{Sample, from_nan, to_nan};
use crate::signal::{GapFiller, MovingAverage, RunningMean};
use crate::variability::{MINUTE, Minute, MinuteInputs, SINUS_MARGIN, minute};
use crate::{Error, SAMPLE_RATE_HZ, antenatal};

const HZ: f64 = SAMPLE_RATE_HZ as f64;

/// A deceleration whose onset-to-nadir time is below this (s) is abrupt (variable): FIGO,
/// NICHD and JSOG use 30 s.
const ABRUPT_S: f64 = 30.0;
/// A deceleration of at least this duration (s) is prolonged (NICHD, JSOG: 2 min).
const PROLONGED_S: f64 = 120.0;
/// A nadir at least this long (s) after the contraction peak makes a gradual deceleration late.
const LATE_LAG_S: f64 = 15.0;
/// A contraction relates to a deceleration when its peak is within this span (s) of the nadir:
/// at most 30 s after it or 90 s before it.
const RELATE_BEFORE_S: f64 = 90.0;
const RELATE_AFTER_S: f64 = 30.0;

/// Everything the analysis found, for a whole trace or the trace so far.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Analysis {
    pub sample_rate_hz: u32,
    /// Number of input samples.
    pub samples: usize,
    /// Results before this time (s) are final.
    pub final_until_s: f64,
    /// Baseline per input sample, bpm; `None` where it cannot be determined.
    pub baseline_bpm: Vec<Option<f32>>,
    pub accelerations: Vec<Acceleration>,
    pub decelerations: Vec<Deceleration>,
    pub contractions: Vec<Contraction>,
    pub false_signal: Vec<FalseSignalPeriod>,
    pub minutes: Vec<Minute>,
    pub windows: Vec<Window>,
    /// Dawes–Redman-style summary of the first hour (antenatal use).
    pub antenatal: antenatal::AntenatalSummary,
}

/// The streaming analyzer. See the module documentation.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: Config,
    acc_th: Thresholds,
    dec_th: Thresholds,
    raw: Vec<f32>,
    mhr: Vec<f32>,
    toco: Vec<f32>,
    movement: Vec<bool>,
    cleaner: Cleaner,
    clean: Vec<f32>,
    fs: FalseSignalStage,
    fs_flag: Vec<bool>,
    used: Vec<f32>,
    used_final: usize,
    filler: GapFiller,
    filled: Vec<f32>,
    ma: [MovingAverage; 3],
    smooth: [Vec<f32>; 3],
    baseline: BaselineStage,
    bl: Vec<f32>,
    acc_scan: ScanState,
    dec_scan: ScanState,
    acc_raw: Vec<RawEvent>,
    dec_raw: Vec<RawEvent>,
    /// Provisional events (after the last refresh).
    acc_tail: Vec<RawEvent>,
    dec_tail: Vec<RawEvent>,
    mask: Vec<u8>,
    mask_final: usize,
    toco_stage: TocoStage,
    contractions_tail: Vec<RawContraction>,
    minutes: Vec<Minute>,
    minutes_final: usize,
    decels: Vec<Deceleration>,
    decels_final: usize,
    windows: Vec<Window>,
    windows_final: usize,
    /// Provisional results are up to date with the samples.
    fresh: bool,
}

/// A raised cosine reaches 90 % of its depth at this fraction of its descent.
const U90: f32 = 0.795;

/// The candidate descents of [`Analyzer::descent`]: for each duration (4-60 s by 2 s), the
/// raised-cosine fall as a share of the depth, from the sample that reaches 90 % of the depth
/// backwards to the onset. Computed once: the fit then needs no trigonometry.
fn descent_models() -> &'static [(f32, Vec<f32>)] {
    static MODELS: std::sync::OnceLock<Vec<(f32, Vec<f32>)>> = std::sync::OnceLock::new();
    MODELS.get_or_init(|| {
        (0..N_DESCENTS)
            .map(|i| {
                let t = 4.0 + 2.0 * i as f32;
                let samples = t * SAMPLE_RATE_HZ as f32;
                let fall = (0..)
                    .map(|before| U90 - before as f32 / samples)
                    .take_while(|&u| u > 0.0)
                    .map(|u| 0.5 - 0.5 * (std::f32::consts::PI * u.min(1.0)).cos())
                    .collect();
                (t, fall)
            })
            .collect()
    })
}

/// Number of candidate descent durations.
const N_DESCENTS: usize = 29;

/// [`descent_models`] step by step: the shape of every candidate at each sample before the 90 %
/// point, so that the fit accumulates all candidates together.
struct DescentSteps {
    /// Per step: the candidates still falling there are `first..` (the falls lengthen with the
    /// duration), and their shapes (unused entries 0).
    steps: Vec<(usize, [f32; N_DESCENTS])>,
    /// Length of each candidate's fall.
    lens: [usize; N_DESCENTS],
    durations: [f32; N_DESCENTS],
}

fn descent_steps() -> &'static DescentSteps {
    static STEPS: std::sync::OnceLock<DescentSteps> = std::sync::OnceLock::new();
    STEPS.get_or_init(|| {
        let models = descent_models();
        let lens: [usize; N_DESCENTS] = std::array::from_fn(|i| models[i].1.len());
        let longest = lens.iter().copied().max().unwrap_or(0);
        let steps = (0..longest)
            .map(|s| {
                // The first candidate from which every fall is longer than `s`.
                let first = lens.iter().rposition(|&l| l <= s).map_or(0, |i| i + 1);
                let shapes = std::array::from_fn(|i| models[i].1.get(s).copied().unwrap_or(0.0));
                (first, shapes)
            })
            .collect();
        DescentSteps { steps, lens, durations: std::array::from_fn(|i| models[i].0) }
    })
}

/// The duration of the candidate descent that fits best: `dev[..len]` is the FHR below the
/// baseline up to the 90 % point (NaN: none), `sq` its prefix sums of squares. The squared
/// errors of all candidates are accumulated together, one sample at a time (independent sums,
/// where one candidate after another would wait on each addition); each candidate's sum adds
/// the same terms in the same order as on its own, so the answer is the same to the bit.
fn fit_descent(dev: &[f32], len: usize, sq: &[f32], depth: f32) -> f32 {
    let table = descent_steps();
    let mut sse = [0f32; N_DESCENTS];
    for (s, (first, shapes)) in table.steps.iter().enumerate().take(len) {
        let d = dev[len - 1 - s];
        if d.is_nan() {
            continue;
        }
        for (e, &shape) in sse[*first..].iter_mut().zip(&shapes[*first..]) {
            let model = depth * shape;
            *e += (d - model) * (d - model);
        }
    }
    let (mut best_t, mut best_sse) = (ABRUPT_S as f32, f32::INFINITY);
    for ((&e, &l), &t) in sse.iter().zip(&table.lens).zip(&table.durations) {
        // Before the modelled fall the model is 0: that part is a prefix sum of squares.
        let e = e + sq[len - len.min(l)];
        if e < best_sse {
            best_sse = e;
            best_t = t;
        }
    }
    best_t
}

impl Analyzer {
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let models = Models::compiled().map_err(Error::Model)?;
        let (acc_amp, acc_dur) = config.acceleration_threshold();
        let acc_th = Thresholds {
            amplitude: acc_amp,
            duration_samples: (acc_dur * SAMPLE_RATE_HZ as f32) as usize,
        };
        let dec_th = Thresholds { amplitude: 15.0, duration_samples: 15 * SAMPLE_RATE_HZ as usize };
        let h = crate::events::CORE_SMOOTH;
        Ok(Self {
            fs: FalseSignalStage::new(models, config.second_stage_start_sample()),
            config,
            acc_th,
            dec_th,
            raw: Vec::new(),
            mhr: Vec::new(),
            toco: Vec::new(),
            movement: Vec::new(),
            cleaner: Cleaner::default(),
            clean: Vec::new(),
            fs_flag: Vec::new(),
            used: Vec::new(),
            used_final: 0,
            filler: GapFiller::new(MAX_INTERP_GAP),
            filled: Vec::new(),
            ma: [MovingAverage::new(h), MovingAverage::new(h), MovingAverage::new(h)],
            smooth: Default::default(),
            baseline: BaselineStage::default(),
            bl: Vec::new(),
            acc_scan: ScanState::default(),
            dec_scan: ScanState::default(),
            acc_raw: Vec::new(),
            dec_raw: Vec::new(),
            acc_tail: Vec::new(),
            dec_tail: Vec::new(),
            mask: Vec::new(),
            mask_final: 0,
            toco_stage: TocoStage::default(),
            contractions_tail: Vec::new(),
            minutes: Vec::new(),
            minutes_final: 0,
            decels: Vec::new(),
            decels_final: 0,
            windows: Vec::new(),
            windows_final: 0,
            fresh: true,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of samples pushed.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Appends samples (4 Hz, in order) and advances every final result they allow.
    pub fn push(&mut self, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        // Growing by the whole push at once keeps batch runs from reallocating repeatedly.
        for v in [&mut self.raw, &mut self.mhr, &mut self.toco] {
            v.reserve(samples.len());
        }
        self.movement.reserve(samples.len());
        // The per-sample results grow by as much (once refreshed); reserving it now saves the
        // copies of repeated doubling on a long push.
        let [s0, s1, s2] = &mut self.smooth;
        for v in [&mut self.clean, &mut self.used, &mut self.filled, &mut self.bl, s0, s1, s2] {
            v.reserve(samples.len());
        }
        self.fs_flag.reserve(samples.len());
        self.mask.reserve(samples.len());
        self.fs.reserve(samples.len());
        self.baseline.reserve(samples.len());
        self.toco_stage.reserve(samples.len());
        for ma in &mut self.ma {
            ma.reserve(samples.len());
        }
        for s in samples {
            self.raw.push(to_nan(s.fhr));
            self.mhr.push(to_nan(s.mhr));
            self.toco.push(to_nan(s.toco));
            self.movement.push(s.movement);
        }
        self.fresh = false;
        self.advance();
    }

    fn fs_inputs(&self) -> FalseSignalInputs<'_> {
        FalseSignalInputs { raw: &self.raw, clean: &self.clean, mhr: &self.mhr, toco: &self.toco }
    }

    fn advance(&mut self) {
        let n = self.raw.len();
        self.cleaner.run(&self.raw, n, false, &mut self.clean);
        let clean_final = self.cleaner.frontier;
        let mut fs = std::mem::take(&mut self.fs);
        let mut fs_flag = std::mem::take(&mut self.fs_flag);
        fs.advance(&self.fs_inputs(), clean_final, &mut fs_flag);
        self.fs = fs;
        self.fs_flag = fs_flag;
        let used_final = clean_final.min(self.fs.frontier);
        self.extend_used(used_final);
        self.used_final = used_final;

        self.filler.run(&self.used[..used_final], used_final, false, &mut self.filled);
        let mut input_final = self.filler.frontier;
        for k in 0..3 {
            let (before, after) = self.smooth.split_at_mut(k);
            let input: &[f32] = if k == 0 { &self.filled } else { &before[k - 1] };
            self.ma[k].advance(input, input_final, &mut after[0]);
            input_final = self.ma[k].frontier;
        }
        self.baseline.advance(&self.used[..used_final], used_final, &mut self.bl);

        let limit = self.filler.frontier.min(self.ma[2].frontier).min(self.baseline.frontier);
        let input = EventInputs {
            used: &self.used,
            filled: &self.filled,
            smooth: &self.smooth[2],
            baseline: &self.bl,
        };
        let old_acc = self.acc_raw.len();
        let old_dec = self.dec_raw.len();
        scan(
            &mut self.acc_scan,
            Direction::Up,
            self.acc_th,
            &input,
            limit,
            false,
            &mut self.acc_raw,
        );
        scan(
            &mut self.dec_scan,
            Direction::Down,
            self.dec_th,
            &input,
            limit,
            false,
            &mut self.dec_raw,
        );
        // Event mask: final events painted; the region past the frontier is repainted on refresh.
        self.mask.resize(limit, 0);
        self.mask[self.mask_final.min(limit)..].fill(0);
        let from = self.mask_final;
        for e in self.acc_raw[..old_acc]
            .iter()
            .rev()
            .take_while(|e| e.end > from)
            .chain(&self.acc_raw[old_acc..])
        {
            paint(&mut self.mask, e, 1, from);
        }
        for e in self.dec_raw[..old_dec]
            .iter()
            .rev()
            .take_while(|e| e.end > from)
            .chain(&self.dec_raw[old_dec..])
        {
            paint(&mut self.mask, e, 2, from);
        }
        self.mask_final = self.acc_scan.frontier().min(self.dec_scan.frontier()).min(limit);

        self.toco_stage.advance(&self.toco);

        // Minutes: amplitude and STV read up to the minute's end, the sinusoid test 90 s more.
        let minute_limit =
            used_final.min(self.filler.frontier).min(self.baseline.frontier).min(self.mask_final);
        self.minutes.truncate(self.minutes_final);
        while (self.minutes.len() + 1) * MINUTE + SINUS_MARGIN <= minute_limit {
            let m = self.minutes.len();
            let input = self.minute_inputs(minute_limit);
            let v = minute(m, &input);
            self.minutes.push(v);
        }
        self.minutes_final = self.minutes.len();

        // Decelerations are classified once the contractions and minutes around them are final.
        let toco_frontier = self.toco_stage.frontier();
        let minutes_end = self.minutes_final * MINUTE;
        self.decels.truncate(self.decels_final);
        while let Some(raw) = self.dec_raw.get(self.decels.len()) {
            if raw.end > toco_frontier || raw.end > minutes_end {
                break;
            }
            let d = self.classify_deceleration(raw, &self.toco_stage.done, false);
            self.decels.push(d);
        }
        self.decels_final = self.decels.len();

        // Windows.
        let ws = self.config.window_samples();
        self.windows.truncate(self.windows_final);
        loop {
            let w = self.windows.len();
            let (start, end) = (w * ws, (w + 1) * ws);
            let decels_known = self.dec_raw.get(self.decels_final).is_none_or(|d| d.start >= end);
            if end > minutes_end || end > self.mask_final || end > toco_frontier || !decels_known {
                break;
            }
            let win =
                self.window(start, end, &self.decels, &self.toco_stage.done, &self.acc_raw, false);
            self.windows.push(win);
        }
        self.windows_final = self.windows.len();
    }

    fn extend_used(&mut self, upto: usize) {
        self.used.truncate(self.used_final);
        let exclude = self.config.exclude_false_signal;
        for i in self.used_final..upto {
            let v = if exclude && self.fs_flag[i] { f32::NAN } else { self.clean[i] };
            self.used.push(v);
        }
    }

    fn minute_inputs(&self, limit: usize) -> MinuteInputs<'_> {
        MinuteInputs {
            used: &self.used[..limit],
            filled: &self.filled[..limit],
            baseline: &self.bl[..limit],
            toco: &self.toco[..limit],
            movement: &self.movement[..limit],
            event_mask: &self.mask[..limit],
        }
    }

    /// Brings the provisional results up to the newest sample (no-op when already fresh).
    pub fn refresh(&mut self) {
        if self.fresh {
            return;
        }
        let n = self.raw.len();
        let mut cleaner = self.cleaner.clone();
        cleaner.run(&self.raw, n, true, &mut self.clean);
        let mut fs = std::mem::take(&mut self.fs);
        let mut fs_flag = std::mem::take(&mut self.fs_flag);
        fs.provisional(&self.fs_inputs(), &mut fs_flag);
        self.fs = fs;
        self.fs_flag = fs_flag;
        let used_final = self.used_final;
        self.extend_used(n);
        self.used_final = used_final;

        let mut filler = self.filler.clone();
        filler.run(&self.used, n, true, &mut self.filled);
        let mut input_final = self.filler.frontier;
        for k in 0..3 {
            let (before, after) = self.smooth.split_at_mut(k);
            let input: &[f32] = if k == 0 { &self.filled } else { &before[k - 1] };
            self.ma[k].provisional(input, input_final, &mut after[0]);
            input_final = self.ma[k].frontier;
        }
        self.baseline.provisional(&self.used, used_final, &mut self.bl);

        let input = EventInputs {
            used: &self.used,
            filled: &self.filled,
            smooth: &self.smooth[2],
            baseline: &self.bl,
        };
        self.acc_tail.clear();
        self.dec_tail.clear();
        let (mut a, mut d) = (self.acc_scan, self.dec_scan);
        scan(&mut a, Direction::Up, self.acc_th, &input, n, true, &mut self.acc_tail);
        scan(&mut d, Direction::Down, self.dec_th, &input, n, true, &mut self.dec_tail);
        self.mask.resize(n, 0);
        let from = self.mask_final;
        self.mask[from..].fill(0);
        for e in self.acc_raw.iter().rev().take_while(|e| e.end > from).chain(&self.acc_tail) {
            paint(&mut self.mask, e, 1, from);
        }
        for e in self.dec_raw.iter().rev().take_while(|e| e.end > from).chain(&self.dec_tail) {
            paint(&mut self.mask, e, 2, from);
        }

        self.contractions_tail.clear();
        let mut tail = std::mem::take(&mut self.contractions_tail);
        self.toco_stage.provisional(&self.toco, &mut tail);
        let mut contractions = self.toco_stage.done.clone();
        contractions.extend_from_slice(&tail);
        self.contractions_tail = tail;

        self.minutes.truncate(self.minutes_final);
        for m in self.minutes_final..n.div_ceil(MINUTE) {
            let v = minute(m, &self.minute_inputs(n));
            self.minutes.push(v);
        }

        self.decels.truncate(self.decels_final);
        let pending: Vec<RawEvent> =
            self.dec_raw[self.decels_final..].iter().chain(&self.dec_tail).copied().collect();
        for raw in &pending {
            let dcl = self.classify_deceleration(raw, &contractions, true);
            self.decels.push(dcl);
        }

        let ws = self.config.window_samples();
        self.windows.truncate(self.windows_final);
        let accs: Vec<RawEvent> = self.acc_raw.iter().chain(&self.acc_tail).copied().collect();
        loop {
            let w = self.windows.len();
            let start = w * ws;
            let end = ((w + 1) * ws).min(n);
            // A trailing partial window is shown once it holds a minute of signal.
            if start >= n || end - start < MINUTE {
                break;
            }
            let win = self.window(start, end, &self.decels, &contractions, &accs, true);
            self.windows.push(win);
        }
        self.fresh = true;
    }

    fn classify_deceleration(
        &self,
        raw: &RawEvent,
        contractions: &[RawContraction],
        provisional: bool,
    ) -> Deceleration {
        let start_s = raw.start as f64 / HZ;
        let end_s = raw.end as f64 / HZ;
        let duration = end_s - start_s;
        // The FHR on a ±5 s mean (running sums) so that beat-to-beat noise does not move the
        // nadir or the fall times.
        const H: usize = 20;
        let seg = &self.filled[raw.start..raw.end];
        let mut smooth = Vec::with_capacity(seg.len());
        let mut mean = RunningMean::default();
        seg.iter().take(H).for_each(|&v| mean.add(v));
        let (mut below70, mut below80) = (0usize, 0usize);
        for (k, &v) in seg.iter().enumerate() {
            if let Some(&v_in) = seg.get(k + H) {
                mean.add(v_in);
            }
            if k > H {
                mean.remove(seg[k - H - 1]);
            }
            smooth.push(mean.mean());
            below70 += usize::from(v < 70.0);
            below80 += usize::from(v < 80.0);
        }
        let dev = |k: usize| self.bl[raw.start + k] - smooth[k];
        let (mut nadir_k, mut depth_s) = (raw.extreme - raw.start, f32::NEG_INFINITY);
        for k in 0..smooth.len() {
            if dev(k) > depth_s {
                depth_s = dev(k);
                nadir_k = k;
            }
        }
        let nadir = raw.start + nadir_k;
        let nadir_s = nadir as f64 / HZ;
        // Anchor the descent where the fall first reaches 90 % of the depth: a flat-bottomed (U)
        // deceleration's deepest point can come long after its fall.
        let k90 = (0..smooth.len()).find(|&k| dev(k) >= 0.9 * depth_s).unwrap_or(nadir_k);
        let (descent_s, onset_s) = self.descent(raw.start + k90, depth_s);
        let onset_s = onset_s.min(start_s);
        // The contraction whose peak is nearest the nadir within the relating span.
        let related = contractions
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                let lag = nadir_s - c.peak as f64 / HZ;
                (-RELATE_AFTER_S..=RELATE_BEFORE_S).contains(&lag)
            })
            .min_by(|a, b| {
                let la = (nadir_s - a.1.peak as f64 / HZ).abs();
                let lb = (nadir_s - b.1.peak as f64 / HZ).abs();
                la.total_cmp(&lb)
            });
        let lag_s = related.map(|(_, c)| nadir_s - c.peak as f64 / HZ);
        let toco_known = {
            let m0 = (raw.start.saturating_sub(240)) / MINUTE;
            let m1 = raw.end.div_ceil(MINUTE).min(self.minutes.len());
            let ms = &self.minutes[m0.min(m1)..m1];
            !ms.is_empty() && ms.iter().filter(|m| m.toco_usable).count() * 2 >= ms.len()
        };
        let kind = if duration >= PROLONGED_S {
            DecelerationKind::Prolonged
        } else if descent_s < ABRUPT_S {
            DecelerationKind::Variable
        } else if let Some(lag) = lag_s {
            if lag >= LATE_LAG_S { DecelerationKind::Late } else { DecelerationKind::Early }
        } else if toco_known {
            DecelerationKind::Variable
        } else {
            DecelerationKind::Unclassified
        };
        let nadir_bpm = self.filled[nadir];
        let depth = self.bl[nadir] - nadir_bpm;
        let severe = match kind {
            DecelerationKind::Variable => {
                below70 >= 30 * SAMPLE_RATE_HZ as usize || below80 >= 60 * SAMPLE_RATE_HZ as usize
            }
            DecelerationKind::Late | DecelerationKind::Unclassified => depth >= 15.0,
            DecelerationKind::Prolonged => nadir_bpm < 80.0,
            DecelerationKind::Early => false,
        };
        Deceleration {
            start_s,
            end_s,
            onset_s,
            kind,
            severity: if severe { Severity::Severe } else { Severity::Mild },
            nadir_s,
            nadir_bpm,
            depth_bpm: depth,
            lost_beats: raw.beats,
            contraction: related.map(|(i, _)| i),
            lag_s,
            missing_fraction: raw.missing_fraction,
            provisional,
        }
    }

    /// Onset-to-nadir time of the fall that reaches 90 % of `depth` at sample `at`: the
    /// duration `T` of the smooth (raised-cosine) descent of that depth that best fits, in least
    /// squares, the FHR below the baseline (±5 s means) over the minute before. Fitting the whole
    /// descent is robust to the variability that makes any single threshold crossing noisy.
    /// Returns (T seconds, onset seconds).
    fn descent(&self, at: usize, depth: f32) -> (f64, f64) {
        const H: usize = 20;
        const SPAN: usize = 240;
        let nadir = at;
        let n = self.filled.len().min(self.bl.len());
        let from = nadir.saturating_sub(SPAN);
        let mut mean = RunningMean::default();
        for k in from.saturating_sub(H)..(from + H + 1).min(n) {
            mean.add(self.filled[k]);
        }
        let mut dev = [f32::NAN; SPAN + 1];
        for (slot, i) in dev.iter_mut().zip(from..=nadir) {
            if i > from {
                if i + H < n {
                    mean.add(self.filled[i + H]);
                }
                if i > H {
                    mean.remove(self.filled[i - H - 1]);
                }
            }
            *slot = self.bl[i] - mean.mean();
        }
        let len = nadir - from + 1;
        // Before the modelled fall the model is 0, so that part of the error is a prefix sum of
        // squares; only the fall itself is evaluated per candidate duration.
        let mut sq = [0f32; SPAN + 2];
        for (k, &d) in dev.iter().enumerate().take(len) {
            sq[k + 1] = sq[k] + if d.is_nan() { 0.0 } else { d * d };
        }
        let best_t = fit_descent(&dev, len, &sq, depth);
        (f64::from(best_t), nadir as f64 / HZ - f64::from(U90 * best_t))
    }

    fn window(
        &self,
        start: usize,
        end: usize,
        decels: &[Deceleration],
        contractions: &[RawContraction],
        accs: &[RawEvent],
        provisional: bool,
    ) -> Window {
        let used = &self.used[start..end];
        let valid = used.iter().filter(|v| !v.is_nan()).count();
        let present = self.raw[start..end].iter().filter(|v| !v.is_nan()).count();
        let fs = self.fs_flag[start..end]
            .iter()
            .zip(&self.raw[start..end])
            .filter(|(f, r)| **f && !r.is_nan())
            .count();
        let (mut s, mut c) = (0.0f64, 0u32);
        for (u, b) in used.iter().zip(&self.bl[start..end]) {
            if !u.is_nan() && !b.is_nan() {
                s += f64::from(*b);
                c += 1;
            }
        }
        let peaks: Vec<f64> = contractions.iter().map(|c| c.peak as f64 / HZ).collect();
        let acc_starts: Vec<f64> = accs.iter().map(|a| a.start as f64 / HZ).collect();
        let inputs = WindowInputs {
            start,
            end,
            valid_fraction: valid as f32 / (end - start) as f32,
            min_valid_fraction: self.config.min_valid_fraction,
            false_signal_fraction: if present == 0 { 0.0 } else { fs as f32 / present as f32 },
            baseline_mean: (c > 0).then(|| (s / f64::from(c)) as f32),
            minutes: &self.minutes,
            decelerations: decels,
            contraction_peaks_s: &peaks,
            acceleration_starts_s: &acc_starts,
        };
        classify(&inputs, provisional)
    }

    /// The baseline of sample `i` (final or provisional as of the last refresh).
    pub fn baseline_at(&self, i: usize) -> Option<f32> {
        self.bl.get(i).copied().and_then(from_nan)
    }

    /// The newest window (possibly partial and provisional), after a refresh.
    pub fn current_window(&mut self) -> Option<&Window> {
        self.refresh();
        self.windows.last()
    }

    /// Classified windows so far (final ones first), after a refresh.
    pub fn windows(&mut self) -> &[Window] {
        self.refresh();
        &self.windows
    }

    /// Decelerations so far (final ones first), after a refresh.
    pub fn decelerations(&mut self) -> &[Deceleration] {
        self.refresh();
        &self.decels
    }

    /// Results before this sample are final.
    pub fn final_until(&self) -> usize {
        (self.windows_final * self.config.window_samples())
            .min(self.baseline.frontier)
            .min(self.mask_final)
            .min(self.minutes_final * MINUTE)
    }

    /// Per-sample false-signal flags (final or provisional as of the last refresh).
    pub fn false_signal_flags(&mut self) -> &[bool] {
        self.refresh();
        &self.fs_flag
    }

    /// The full results so far (copies every per-sample series: meant for batch use and
    /// snapshots, not for every push of a live stream).
    pub fn analysis(&mut self) -> Analysis {
        self.refresh();
        let acc_final = self.acc_raw.len();
        let accelerations = self
            .acc_raw
            .iter()
            .chain(&self.acc_tail)
            .enumerate()
            .map(|(k, e)| Acceleration {
                start_s: e.start as f64 / HZ,
                end_s: e.end as f64 / HZ,
                peak_s: e.extreme as f64 / HZ,
                peak_bpm: e.extreme_bpm,
                amplitude_bpm: e.amplitude,
                missing_fraction: e.missing_fraction,
                provisional: k >= acc_final,
            })
            .collect();
        let c_final = self.toco_stage.done.len();
        let contractions = self
            .toco_stage
            .done
            .iter()
            .chain(&self.contractions_tail)
            .enumerate()
            .map(|(k, c)| Contraction {
                start_s: c.start as f64 / HZ,
                peak_s: c.peak as f64 / HZ,
                end_s: c.end as f64 / HZ,
                amplitude: c.amplitude,
                provisional: k >= c_final,
            })
            .collect();
        let final_fs = self.used_final;
        Analysis {
            sample_rate_hz: SAMPLE_RATE_HZ,
            samples: self.raw.len(),
            final_until_s: self.final_until() as f64 / HZ,
            baseline_bpm: self.bl.iter().map(|&v| from_nan(v)).collect(),
            accelerations,
            decelerations: self.decels.clone(),
            contractions,
            false_signal: periods(&self.fs_flag, &self.raw, final_fs),
            minutes: self.minutes.clone(),
            windows: self.windows.clone(),
            antenatal: antenatal::summarize(
                &self.minutes,
                &self.decels,
                self.acc_raw.iter().chain(&self.acc_tail),
                &self.bl,
                &self.used,
                &self.movement,
            ),
        }
    }
}

fn paint(mask: &mut [u8], e: &RawEvent, v: u8, from: usize) {
    let lo = e.start.max(from).min(mask.len());
    let hi = e.end.min(mask.len());
    if lo < hi {
        mask[lo..hi].fill(v);
    }
}

/// Analyses a whole recording at once.
pub fn analyze(samples: &[Sample], config: &Config) -> Result<Analysis, Error> {
    let mut a = Analyzer::new(config.clone())?;
    a.push(samples);
    Ok(a.analysis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fit as first written: one candidate after another.
    fn fit_descent_one_by_one(dev: &[f32], len: usize, sq: &[f32], depth: f32) -> f32 {
        let (mut best_t, mut best_sse) = (ABRUPT_S as f32, f32::INFINITY);
        for (t, fall) in descent_models() {
            let mut sse = 0.0f32;
            let mut k = len;
            for &shape in fall {
                if k == 0 {
                    break;
                }
                k -= 1;
                let d = dev[k];
                if !d.is_nan() {
                    let model = depth * shape;
                    sse += (d - model) * (d - model);
                }
            }
            sse += sq[k];
            if sse < best_sse {
                best_sse = sse;
                best_t = *t;
            }
        }
        best_t
    }

    #[test]
    fn descent_falls_lengthen_with_the_duration() {
        let lens: Vec<usize> = descent_models().iter().map(|m| m.1.len()).collect();
        assert!(lens.windows(2).all(|w| w[0] <= w[1]), "{lens:?}");
    }

    proptest! {
        #[test]
        fn descent_fit_matches_one_candidate_at_a_time(
            values in proptest::collection::vec(
                prop_oneof![4 => -10.0f32..60.0, 1 => Just(f32::NAN)], 1..=241),
            depth in prop_oneof![5.0f32..80.0, Just(f32::NAN), Just(f32::NEG_INFINITY)],
        ) {
            let len = values.len();
            let mut dev = [f32::NAN; 241];
            dev[..len].copy_from_slice(&values);
            let mut sq = [0f32; 242];
            for (k, &d) in dev.iter().enumerate().take(len) {
                sq[k + 1] = sq[k] + if d.is_nan() { 0.0 } else { d * d };
            }
            let fast = fit_descent(&dev, len, &sq, depth);
            let slow = fit_descent_one_by_one(&dev, len, &sq, depth);
            prop_assert_eq!(fast.to_bits(), slow.to_bits());
        }
    }
}
