//! Per-window classification in the three languages clinicians use: FIGO 2015
//! (normal / suspicious / pathological), NICHD 2008 (categories I–III) and the JSOG five-level
//! system (Japanese practice guideline; lookup table transcribed from a third-party source and
//! therefore *provisional* until checked cell by cell, see README).
//!
//! A window whose share of usable FHR is below the configured minimum is "cannot assess": it is
//! never classified. Sustained criteria look back beyond the window (reduced variability over
//! 50 min, recurrent decelerations over 20 min, repetitive ones over 30 min).

use serde::Serialize;

use crate::events::{Deceleration, DecelerationKind, Severity};
use crate::variability::{Minute, VariabilityClass};

/// FIGO 2015 intrapartum classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figo {
    Normal,
    Suspicious,
    Pathological,
    CannotAssess,
}

/// NICHD 2008 three-tier category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Nichd {
    #[serde(rename = "category_i")]
    CategoryI,
    #[serde(rename = "category_ii")]
    CategoryII,
    #[serde(rename = "category_iii")]
    CategoryIII,
    CannotAssess,
}

/// Baseline class (FIGO/NICHD/JSOG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineClass {
    /// < 80 bpm.
    SevereBradycardia,
    /// 80–109 bpm.
    Bradycardia,
    /// 110–160 bpm.
    Normal,
    /// > 160 bpm.
    Tachycardia,
}

impl BaselineClass {
    pub fn from_bpm(bpm: f32) -> Self {
        if bpm < 80.0 {
            BaselineClass::SevereBradycardia
        } else if bpm < 110.0 {
            BaselineClass::Bradycardia
        } else if bpm <= 160.0 {
            BaselineClass::Normal
        } else {
            BaselineClass::Tachycardia
        }
    }
}

/// Why a window was classified as it was. Stable snake_case codes; the user interface words
/// them (Japanese and English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Too little usable FHR to judge.
    LowSignal,
    /// No baseline could be determined.
    BaselineIndeterminate,
    BaselineSevereBradycardia,
    /// Baseline < 100 bpm (FIGO pathological).
    BaselineBelow100,
    BaselineBradycardia,
    BaselineTachycardia,
    VariabilityIndeterminate,
    VariabilityAbsent,
    VariabilityMinimal,
    VariabilityMarked,
    /// Minimal or absent variability for more than 50 min (FIGO reduced).
    ReducedVariabilityOver50Min,
    /// Marked variability for more than 30 min (FIGO increased).
    IncreasedVariabilityOver30Min,
    Sinusoidal,
    EarlyDecelerations,
    VariableDecelerations,
    SevereVariableDeceleration,
    LateDecelerations,
    ProlongedDeceleration,
    /// A deceleration lasting more than 5 min (FIGO pathological).
    ProlongedDecelerationOver5Min,
    /// A gradual deceleration whose timing against contractions is unknown (no TOCO): judged as
    /// late, the more cautious reading.
    DecelerationTimingUnknown,
    /// Decelerations with at least half of the contractions over 20 min.
    RecurrentDecelerations,
    RecurrentLateDecelerations,
    RecurrentVariableDecelerations,
    /// Repetitive late or prolonged decelerations for 30 min (20 min with reduced variability).
    RepetitiveLateOrProlongedDecelerations,
    /// More than 5 contractions per 10 min over 30 min.
    Tachysystole,
    /// Part of the window was a false signal (maternal heart rate) and left out.
    FalseSignalExcluded,
}

/// The JSOG deceleration columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JsogDeceleration {
    None,
    Early,
    VariableMild,
    VariableSevere,
    LateMild,
    LateSevere,
    ProlongedMild,
    ProlongedSevere,
}

impl JsogDeceleration {
    fn column(self) -> usize {
        self as usize
    }

    /// The JSOG column of a deceleration. A gradual deceleration of unknown timing is read as
    /// late (the more cautious reading).
    pub fn of(d: &Deceleration) -> Self {
        let severe = d.severity == Severity::Severe;
        match (d.kind, severe) {
            (DecelerationKind::Early, _) => JsogDeceleration::Early,
            (DecelerationKind::Variable, false) => JsogDeceleration::VariableMild,
            (DecelerationKind::Variable, true) => JsogDeceleration::VariableSevere,
            (DecelerationKind::Late | DecelerationKind::Unclassified, false) => {
                JsogDeceleration::LateMild
            }
            (DecelerationKind::Late | DecelerationKind::Unclassified, true) => {
                JsogDeceleration::LateSevere
            }
            (DecelerationKind::Prolonged, false) => JsogDeceleration::ProlongedMild,
            (DecelerationKind::Prolonged, true) => JsogDeceleration::ProlongedSevere,
        }
    }
}

/// The JSOG variability rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JsogVariability {
    Normal,
    Reduced,
    Absent,
    Increased,
    Sinusoidal,
}

/// JSOG level lookup ([U]: third-party transcription, see the module documentation). Columns:
/// none, early, variable mild, variable severe, late mild, late severe, prolonged mild,
/// prolonged severe. Cells the source marks "cannot occur" (a mild variable or any prolonged
/// deceleration from a baseline below 80 bpm) take the severe column's level, since such a
/// deceleration necessarily falls below 80 bpm.
pub fn jsog_level(
    variability: JsogVariability,
    baseline: BaselineClass,
    decel: JsogDeceleration,
) -> u8 {
    use BaselineClass as B;
    use JsogVariability as V;
    const NORMAL: [[u8; 8]; 4] = [
        [1, 2, 2, 3, 3, 3, 3, 4], // normal baseline
        [2, 2, 3, 3, 3, 4, 3, 4], // tachycardia
        [3, 3, 3, 4, 4, 4, 4, 4], // bradycardia
        [4, 4, 4, 4, 4, 4, 4, 4], // bradycardia < 80
    ];
    const REDUCED: [[u8; 8]; 4] = [
        [2, 3, 3, 4, 3, 4, 4, 5], // [U] late mild: 4 when growth restriction is known
        [3, 3, 4, 4, 4, 5, 4, 5],
        [4, 4, 4, 5, 5, 5, 5, 5],
        [5, 5, 5, 5, 5, 5, 5, 5],
    ];
    const ABSENT: [u8; 8] = [4, 5, 5, 5, 5, 5, 5, 5];
    const INCREASED: [u8; 8] = [2, 2, 3, 3, 3, 4, 3, 4];
    const SINUSOIDAL: [u8; 8] = [4, 4, 4, 4, 5, 5, 5, 5];
    let row = match baseline {
        B::Normal => 0,
        B::Tachycardia => 1,
        B::Bradycardia => 2,
        B::SevereBradycardia => 3,
    };
    let c = decel.column();
    match variability {
        V::Normal => NORMAL[row][c],
        V::Reduced => REDUCED[row][c],
        V::Absent => ABSENT[c],
        V::Increased => INCREASED[c],
        V::Sinusoidal => SINUSOIDAL[c],
    }
}

/// A classified window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
    /// Share of the window's samples with usable FHR (present, physiological, not a false
    /// signal).
    pub valid_fraction: f32,
    pub figo: Figo,
    pub nichd: Nichd,
    /// JSOG level 1–5; `None` when the window cannot be assessed.
    pub jsog_level: Option<u8>,
    /// The JSOG table is a third-party transcription not yet checked against the guideline.
    pub jsog_provisional: bool,
    /// Mean baseline over the window rounded to 5 bpm (NICHD).
    pub baseline_bpm: Option<f32>,
    pub baseline_class: Option<BaselineClass>,
    /// Median per-minute peak-to-trough amplitude, bpm.
    pub variability_bpm: Option<f32>,
    pub variability: Option<VariabilityClass>,
    pub sinusoidal: bool,
    /// Mean short-term variation of the window's minutes, ms.
    pub stv_ms: Option<f32>,
    pub accelerations: u32,
    pub decelerations: u32,
    pub contractions: u32,
    /// The deceleration that sets the JSOG level.
    pub worst_deceleration: JsogDeceleration,
    pub tachysystole: bool,
    pub reasons: Vec<Reason>,
    /// Not final: signal still to come may change it.
    pub provisional: bool,
}

/// What the classifier reads about one window.
pub(crate) struct WindowInputs<'a> {
    pub start: usize,
    pub end: usize,
    pub valid_fraction: f32,
    pub min_valid_fraction: f32,
    /// Share of the window's present FHR judged false signal.
    pub false_signal_fraction: f32,
    /// Mean baseline over the usable samples of the window.
    pub baseline_mean: Option<f32>,
    /// All minutes so far (the window's and those before).
    pub minutes: &'a [Minute],
    /// Decelerations, sorted by start.
    pub decelerations: &'a [Deceleration],
    /// Contraction peak times, seconds, sorted.
    pub contraction_peaks_s: &'a [f64],
    /// Acceleration start times, seconds, sorted.
    pub acceleration_starts_s: &'a [f64],
}

const RECURRENT_S: f64 = 20.0 * 60.0;
const REPETITIVE_S: f64 = 30.0 * 60.0;

pub(crate) fn classify(w: &WindowInputs<'_>, provisional: bool) -> Window {
    let hz = crate::SAMPLE_RATE_HZ as f64;
    let (ws, we) = (w.start as f64 / hz, w.end as f64 / hz);
    let m0 = w.start / crate::variability::MINUTE;
    let m1 = w.end.div_ceil(crate::variability::MINUTE).min(w.minutes.len());
    let in_window = &w.minutes[m0.min(m1)..m1];
    let count_in =
        |times: &[f64], a: f64, b: f64| times.iter().filter(|&&t| t >= a && t < b).count();
    let contractions = count_in(w.contraction_peaks_s, ws, we) as u32;
    let accelerations = count_in(w.acceleration_starts_s, ws, we) as u32;
    let decels: Vec<&Deceleration> =
        w.decelerations.iter().filter(|d| d.end_s > ws && d.start_s < we).collect();

    // Tachysystole: more than 5 contractions per 10 min averaged over 30 min (needs 30 min of
    // usable TOCO).
    let toco_minutes =
        w.minutes[m1.saturating_sub(30)..m1].iter().filter(|m| m.toco_usable).count();
    let tachysystole = toco_minutes >= 27
        && count_in(w.contraction_peaks_s, we - REPETITIVE_S, we) as f64 / 3.0 > 5.0;

    let mut window = Window {
        start_s: ws,
        end_s: we,
        valid_fraction: w.valid_fraction,
        figo: Figo::CannotAssess,
        nichd: Nichd::CannotAssess,
        jsog_level: None,
        jsog_provisional: true,
        baseline_bpm: None,
        baseline_class: None,
        variability_bpm: None,
        variability: None,
        sinusoidal: false,
        stv_ms: mean(in_window.iter().filter_map(|m| m.stv_ms)),
        accelerations,
        decelerations: decels.len() as u32,
        contractions,
        worst_deceleration: JsogDeceleration::None,
        tachysystole,
        reasons: Vec::new(),
        provisional,
    };
    let mut reasons = Vec::new();
    if tachysystole {
        reasons.push(Reason::Tachysystole);
    }
    if w.false_signal_fraction > 0.05 {
        reasons.push(Reason::FalseSignalExcluded);
    }
    if w.valid_fraction < w.min_valid_fraction {
        reasons.push(Reason::LowSignal);
        reasons.sort();
        window.reasons = reasons;
        return window;
    }
    let Some(bl_mean) = w.baseline_mean else {
        reasons.push(Reason::BaselineIndeterminate);
        reasons.push(Reason::LowSignal);
        reasons.sort();
        window.reasons = reasons;
        return window;
    };
    let baseline = (bl_mean / 5.0).round() * 5.0;
    let bclass = BaselineClass::from_bpm(baseline);
    window.baseline_bpm = Some(baseline);
    window.baseline_class = Some(bclass);
    match bclass {
        BaselineClass::SevereBradycardia => reasons.push(Reason::BaselineSevereBradycardia),
        BaselineClass::Bradycardia => reasons.push(Reason::BaselineBradycardia),
        BaselineClass::Tachycardia => reasons.push(Reason::BaselineTachycardia),
        BaselineClass::Normal => {}
    }
    if baseline < 100.0 {
        reasons.push(Reason::BaselineBelow100);
    }

    // Variability: the median of the window's minute amplitudes.
    let mut amps: Vec<f32> = in_window.iter().filter_map(|m| m.amplitude_bpm).collect();
    amps.sort_by(f32::total_cmp);
    let amp = (!amps.is_empty()).then(|| amps[amps.len() / 2]);
    let vclass = amp.map(VariabilityClass::from_amplitude);
    window.variability_bpm = amp;
    window.variability = vclass;
    match vclass {
        None => reasons.push(Reason::VariabilityIndeterminate),
        Some(VariabilityClass::Absent) => reasons.push(Reason::VariabilityAbsent),
        Some(VariabilityClass::Minimal) => reasons.push(Reason::VariabilityMinimal),
        Some(VariabilityClass::Marked) => reasons.push(Reason::VariabilityMarked),
        Some(VariabilityClass::Moderate) => {}
    }
    let trailing = |minutes: usize| &w.minutes[m1.saturating_sub(minutes)..m1];
    let share = |ms: &[Minute], pred: &dyn Fn(VariabilityClass) -> bool, min_known: usize| {
        let known: Vec<VariabilityClass> = ms.iter().filter_map(|m| m.variability).collect();
        known.len() >= min_known
            && known.iter().filter(|c| pred(**c)).count() * 10 >= known.len() * 9
    };
    let reduced_sustained = share(trailing(51), &|c| c <= VariabilityClass::Minimal, 40);
    let increased_sustained = share(trailing(31), &|c| c == VariabilityClass::Marked, 24);
    if reduced_sustained {
        reasons.push(Reason::ReducedVariabilityOver50Min);
    }
    if increased_sustained {
        reasons.push(Reason::IncreasedVariabilityOver30Min);
    }

    // Sinusoidal: a sinusoidal rhythm over 20 min without accelerations (NICHD; FIGO asks for
    // more than 30 min before calling it pathological).
    let sinus_run = |minutes: usize| {
        let ms = trailing(minutes);
        ms.len() >= minutes && ms.iter().filter(|m| m.sinusoidal).count() * 10 >= minutes * 9
    };
    let no_acc_since = |s: f64| count_in(w.acceleration_starts_s, we - s, we) == 0;
    let sinusoidal = sinus_run(20) && no_acc_since(RECURRENT_S);
    let sinusoidal_30 = sinus_run(30) && no_acc_since(REPETITIVE_S);
    window.sinusoidal = sinusoidal;
    if sinusoidal {
        reasons.push(Reason::Sinusoidal);
    }

    // Decelerations in the window.
    let kind_in = |k: DecelerationKind| decels.iter().any(|d| d.kind == k);
    if kind_in(DecelerationKind::Early) {
        reasons.push(Reason::EarlyDecelerations);
    }
    if kind_in(DecelerationKind::Variable) {
        reasons.push(Reason::VariableDecelerations);
        if decels
            .iter()
            .any(|d| d.kind == DecelerationKind::Variable && d.severity == Severity::Severe)
        {
            reasons.push(Reason::SevereVariableDeceleration);
        }
    }
    if kind_in(DecelerationKind::Late) {
        reasons.push(Reason::LateDecelerations);
    }
    if kind_in(DecelerationKind::Unclassified) {
        reasons.push(Reason::DecelerationTimingUnknown);
    }
    if kind_in(DecelerationKind::Prolonged) {
        reasons.push(Reason::ProlongedDeceleration);
    }
    let over_5_min =
        decels.iter().any(|d| d.kind == DecelerationKind::Prolonged && d.duration_s() > 300.0);
    if over_5_min {
        reasons.push(Reason::ProlongedDecelerationOver5Min);
    }

    // Recurrence against contractions over the trailing period.
    let recurrent = |span: f64, kinds: &[DecelerationKind]| {
        let from = we - span;
        let related: Vec<&Deceleration> = w
            .decelerations
            .iter()
            .filter(|d| d.start_s >= from && d.start_s < we && kinds.contains(&d.kind))
            .collect();
        let peaks = count_in(w.contraction_peaks_s, from, we);
        if peaks >= 2 {
            let mut with: Vec<usize> = related.iter().filter_map(|d| d.contraction).collect();
            with.sort_unstable();
            with.dedup();
            with.len() * 2 >= peaks
        } else {
            // No contractions seen (TOCO missing): judge by how often they occur, assuming the
            // usual 3 to 5 contractions per 10 min.
            related.len() >= 4
        }
    };
    use DecelerationKind as K;
    let recurrent_late = recurrent(RECURRENT_S, &[K::Late, K::Unclassified]);
    let recurrent_variable = recurrent(RECURRENT_S, &[K::Variable]);
    let recurrent_any =
        recurrent(RECURRENT_S, &[K::Early, K::Late, K::Variable, K::Prolonged, K::Unclassified]);
    let reduced_now = matches!(vclass, Some(VariabilityClass::Absent | VariabilityClass::Minimal));
    let repetitive_late_prolonged =
        recurrent(REPETITIVE_S, &[K::Late, K::Prolonged, K::Unclassified])
            || (reduced_now && recurrent(RECURRENT_S, &[K::Late, K::Prolonged, K::Unclassified]));
    if recurrent_late {
        reasons.push(Reason::RecurrentLateDecelerations);
    }
    if recurrent_variable {
        reasons.push(Reason::RecurrentVariableDecelerations);
    }
    if recurrent_any && !recurrent_late && !recurrent_variable {
        reasons.push(Reason::RecurrentDecelerations);
    }
    if repetitive_late_prolonged {
        reasons.push(Reason::RepetitiveLateOrProlongedDecelerations);
    }

    // FIGO 2015.
    let normal_variability = amp.is_some_and(|a| (5.0..=25.0).contains(&a));
    let pathological = baseline < 100.0
        || reduced_sustained
        || increased_sustained
        || sinusoidal_30
        || repetitive_late_prolonged
        || over_5_min;
    let normal = bclass == BaselineClass::Normal
        && normal_variability
        && !recurrent_any
        && !decels.iter().any(|d| d.kind == DecelerationKind::Prolonged && d.duration_s() > 180.0);
    window.figo = if pathological {
        Figo::Pathological
    } else if normal {
        Figo::Normal
    } else {
        Figo::Suspicious
    };

    // NICHD 2008.
    let absent = vclass == Some(VariabilityClass::Absent);
    let brady = matches!(bclass, BaselineClass::Bradycardia | BaselineClass::SevereBradycardia);
    let cat3 = (absent && (recurrent_late || recurrent_variable || brady)) || sinusoidal;
    let cat1 = bclass == BaselineClass::Normal
        && vclass == Some(VariabilityClass::Moderate)
        && !decels.iter().any(|d| d.kind != DecelerationKind::Early);
    window.nichd = if cat3 {
        Nichd::CategoryIII
    } else if cat1 {
        Nichd::CategoryI
    } else {
        Nichd::CategoryII
    };

    // JSOG five levels.
    let jvar = if sinusoidal {
        JsogVariability::Sinusoidal
    } else {
        match vclass {
            Some(VariabilityClass::Absent) => JsogVariability::Absent,
            Some(VariabilityClass::Minimal) => JsogVariability::Reduced,
            Some(VariabilityClass::Marked) => JsogVariability::Increased,
            Some(VariabilityClass::Moderate) | None => JsogVariability::Normal,
        }
    };
    let mut worst = JsogDeceleration::None;
    let mut level = jsog_level(jvar, bclass, worst);
    for d in &decels {
        let col = JsogDeceleration::of(d);
        let l = jsog_level(jvar, bclass, col);
        if l > level || (l == level && col.column() > worst.column()) {
            level = l;
            worst = col;
        }
    }
    window.jsog_level = Some(level);
    window.worst_deceleration = worst;
    reasons.sort();
    reasons.dedup();
    window.reasons = reasons;
    window
}

fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (s, c) = values.fold((0.0f32, 0u32), |(s, c), v| (s + v, c + 1));
    (c > 0).then(|| s / c as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsog_table_spans_the_verified_ranges() {
        use BaselineClass as B;
        use JsogDeceleration as D;
        use JsogVariability as V;
        let all_d = [
            D::None,
            D::Early,
            D::VariableMild,
            D::VariableSevere,
            D::LateMild,
            D::LateSevere,
            D::ProlongedMild,
            D::ProlongedSevere,
        ];
        let all_b = [B::Normal, B::Tachycardia, B::Bradycardia, B::SevereBradycardia];
        let range = |v: V| {
            let levels: Vec<u8> = all_b
                .iter()
                .flat_map(|&b| all_d.iter().map(move |&d| jsog_level(v, b, d)))
                .collect();
            (*levels.iter().min().unwrap(), *levels.iter().max().unwrap())
        };
        // Verified against the guideline text (clinical.md): normal variability spans 1-4,
        // reduced 2-5, absent 4-5, increased 2-4.
        assert_eq!(range(V::Normal), (1, 4));
        assert_eq!(range(V::Reduced), (2, 5));
        assert_eq!(range(V::Absent), (4, 5));
        assert_eq!(range(V::Increased), (2, 4));
        assert_eq!(jsog_level(V::Normal, B::Normal, D::None), 1);
        assert_eq!(jsog_level(V::Reduced, B::Bradycardia, D::LateSevere), 5);
        assert_eq!(jsog_level(V::Sinusoidal, B::Normal, D::LateMild), 5);
    }

    #[test]
    fn baseline_classes() {
        assert_eq!(BaselineClass::from_bpm(75.0), BaselineClass::SevereBradycardia);
        assert_eq!(BaselineClass::from_bpm(105.0), BaselineClass::Bradycardia);
        assert_eq!(BaselineClass::from_bpm(110.0), BaselineClass::Normal);
        assert_eq!(BaselineClass::from_bpm(160.0), BaselineClass::Normal);
        assert_eq!(BaselineClass::from_bpm(165.0), BaselineClass::Tachycardia);
    }
}
