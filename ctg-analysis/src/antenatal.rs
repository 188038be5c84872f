//! An antenatal summary in the style of the Dawes–Redman criteria (computerised antenatal CTG).
//!
//! Analysis covers the first 60 min of the trace and needs at least 10 min. The criteria checked
//! (each reported with whether it holds):
//!
//! 1. an episode of high variation: 6 consecutive minutes, at least 5 with a range of epoch pulse
//!    intervals ≥ 32 ms (see [`crate::variability`] for our STV and range definitions);
//! 2. no deceleration losing more than 20 beats (100 beats on records over 30 min);
//! 3. basal FHR 116–160 bpm;
//! 4. at least one fetal movement or 3 accelerations;
//! 5. no sinusoidal rhythm (10 consecutive sinusoidal minutes);
//! 6. STV ≥ 3 ms;
//! 7. an acceleration or an episode of high variation — the Dawes–Redman "above the 10th
//!    centile" refinements need proprietary centile tables and are not applied;
//! 8. no signal loss or deceleration in the last minute analysed.
//!
//! The criteria are met when all hold. STV > 4 ms is reassuring, < 2.5 ms is associated with a
//! high risk of metabolic acidaemia (Dawes–Redman); our STV follows the same construction
//! (1/16-min epochs, mean absolute difference) but Dawes–Redman values depend on their own
//! implementation, so the thresholds are approximate here.

use serde::Serialize;

use crate::events::{Deceleration, RawEvent};
use crate::variability::{MINUTE, Minute};

/// Minutes analysed at most.
const MAX_MINUTES: usize = 60;
/// Minutes needed at least.
const MIN_MINUTES: usize = 10;

/// One Dawes–Redman-style criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    EpisodeOfHighVariation,
    NoLargeDeceleration,
    BasalFhr116To160,
    MovementOrThreeAccelerations,
    NoSinusoidalRhythm,
    StvAtLeast3Ms,
    AccelerationOrHighVariation,
    NoLossOrDecelerationAtEnd,
}

/// How the STV reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StvAssessment {
    /// > 4 ms.
    Reassuring,
    Intermediate,
    /// < 2.5 ms.
    HighRisk,
}

/// The antenatal summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AntenatalSummary {
    /// Minutes analysed (up to 60).
    pub minutes: usize,
    /// Enough signal to apply the criteria (≥ 10 min).
    pub sufficient: bool,
    pub basal_fhr_bpm: Option<f32>,
    /// Mean of the minutes' STV, ms.
    pub stv_ms: Option<f32>,
    pub stv_assessment: Option<StvAssessment>,
    pub high_variation_minutes: usize,
    pub low_variation_minutes: usize,
    pub high_variation_episodes: usize,
    pub accelerations: usize,
    pub decelerations: usize,
    pub max_lost_beats: f32,
    /// Fetal movements (detector episodes) per hour.
    pub movements_per_hour: f32,
    pub criteria: Vec<(Criterion, bool)>,
    /// All criteria hold.
    pub criteria_met: bool,
}

pub(crate) fn summarize<'a>(
    minutes: &[Minute],
    decels: &[Deceleration],
    accs: impl Iterator<Item = &'a RawEvent>,
    baseline: &[f32],
    used: &[f32],
    movement: &[bool],
) -> AntenatalSummary {
    let ms = &minutes[..minutes.len().min(MAX_MINUTES)];
    let n_min = ms.len();
    let end = (n_min * MINUTE).min(used.len()).min(baseline.len());
    let end_s = end as f64 / crate::SAMPLE_RATE_HZ as f64;
    let (mut s, mut c) = (0.0f64, 0u32);
    for (u, b) in used[..end].iter().zip(&baseline[..end]) {
        if !u.is_nan() && !b.is_nan() {
            s += f64::from(*b);
            c += 1;
        }
    }
    let basal = (c > 0).then(|| (s / f64::from(c)) as f32);
    let stvs: Vec<f32> = ms.iter().filter_map(|m| m.stv_ms).collect();
    let stv = (!stvs.is_empty()).then(|| stvs.iter().sum::<f32>() / stvs.len() as f32);
    let high: Vec<bool> = ms.iter().map(|m| m.range_ms.is_some_and(|r| r >= 32.0)).collect();
    let low = ms.iter().filter(|m| m.range_ms.is_some_and(|r| r < 30.0)).count();
    // Episodes: maximal stretches covered by 6-minute windows with at least 5 high minutes.
    let mut in_episode = vec![false; n_min];
    for w in 0..n_min.saturating_sub(5) {
        if high[w..w + 6].iter().filter(|h| **h).count() >= 5 {
            in_episode[w..w + 6].iter_mut().for_each(|e| *e = true);
        }
    }
    let episodes = in_episode
        .iter()
        .enumerate()
        .filter(|(i, e)| **e && (*i == 0 || !in_episode[i - 1]))
        .count();
    let accelerations =
        accs.filter(|a| (a.start as f64 / crate::SAMPLE_RATE_HZ as f64) < end_s).count();
    let ds: Vec<&Deceleration> = decels.iter().filter(|d| d.start_s < end_s).collect();
    let max_lost = ds.iter().map(|d| d.lost_beats).fold(0.0f32, f32::max);
    let movement_episodes =
        movement[..end.min(movement.len())].windows(2).filter(|w| w[1] && !w[0]).count()
            + usize::from(movement.first() == Some(&true));
    let hours = end_s / 3600.0;
    let movements_per_hour =
        if hours > 0.0 { (movement_episodes as f64 / hours) as f32 } else { 0.0 };
    let lost_limit = if n_min > 30 { 100.0 } else { 20.0 };
    let sinus_run = ms.iter().fold((0usize, 0usize), |(run, best), m| {
        let r = if m.sinusoidal { run + 1 } else { 0 };
        (r, best.max(r))
    });
    let last_ok = ms.last().is_some_and(|m| m.valid_fraction >= 0.5 && !m.in_deceleration);
    let criteria = vec![
        (Criterion::EpisodeOfHighVariation, episodes > 0),
        (Criterion::NoLargeDeceleration, max_lost <= lost_limit),
        (Criterion::BasalFhr116To160, basal.is_some_and(|b| (116.0..=160.0).contains(&b))),
        (Criterion::MovementOrThreeAccelerations, movement_episodes >= 1 || accelerations >= 3),
        (Criterion::NoSinusoidalRhythm, sinus_run.1 < 10),
        (Criterion::StvAtLeast3Ms, stv.is_some_and(|v| v >= 3.0)),
        (Criterion::AccelerationOrHighVariation, accelerations >= 1 || episodes > 0),
        (Criterion::NoLossOrDecelerationAtEnd, last_ok),
    ];
    let sufficient = n_min >= MIN_MINUTES;
    AntenatalSummary {
        minutes: n_min,
        sufficient,
        basal_fhr_bpm: basal,
        stv_ms: stv,
        stv_assessment: stv.map(|v| {
            if v > 4.0 {
                StvAssessment::Reassuring
            } else if v < 2.5 {
                StvAssessment::HighRisk
            } else {
                StvAssessment::Intermediate
            }
        }),
        high_variation_minutes: high.iter().filter(|h| **h).count(),
        low_variation_minutes: low,
        high_variation_episodes: episodes,
        accelerations,
        decelerations: ds.len(),
        max_lost_beats: max_lost,
        movements_per_hour,
        criteria_met: sufficient && criteria.iter().all(|c| c.1),
        criteria,
    }
}
