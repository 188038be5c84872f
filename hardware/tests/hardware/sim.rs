//! The simulator measured from its own samples: each scenario shows what it promises.

use hardware::sim::{Frame, Scenario, SimOptions, simulate};

use super::measure::{self, TPS};

const MIN: u64 = 240;
/// A gradual deceleration's 30 s from onset to nadir, as [`measure::decelerations`] sees it.
const GRADUAL_MEASURED_S: f64 = 23.0;

fn run(scenario: Scenario, seed: u64, minutes: u64) -> Vec<Frame> {
    simulate(scenario, seed, minutes * MIN, &SimOptions::default()).unwrap().frames
}

/// Spans of samples whose FHR quality is not good (artefacts, around pen lifts).
fn poor_spans(frames: &[Frame]) -> Vec<(usize, usize)> {
    frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.sample.quality.fhr1 != ctg_wire::SignalQuality::Good)
        .map(|(i, _)| (i, i + 1))
        .collect()
}

/// Pairs each deceleration with the contraction whose peak is nearest before its nadir (within
/// 90 s) or just after (30 s); unpaired decelerations are returned as `None`.
fn pair(
    decels: &[measure::MeasuredDecel],
    contractions: &[measure::MeasuredContraction],
) -> Vec<(measure::MeasuredDecel, Option<measure::MeasuredContraction>)> {
    decels
        .iter()
        .map(|d| {
            let c = contractions
                .iter()
                .filter(|c| c.peak <= d.nadir + 30 * TPS && d.nadir <= c.peak + 90 * TPS)
                .min_by_key(|c| (d.nadir as i64 - c.peak as i64).abs())
                .copied();
            (*d, c)
        })
        .collect()
}

fn lag_s(a: usize, b: usize) -> f64 {
    (a as f64 - b as f64) / TPS as f64
}

#[test]
fn late_decelerations_bottom_out_after_the_contraction_peak() {
    for seed in [7, 8, 9] {
        let f = run(Scenario::LateDecelerations, seed, 40);
        let contractions = measure::contractions(&measure::toco(&f));
        let decels = measure::decelerations(&measure::fhr1(&f));
        assert!(
            contractions.len() >= 8,
            "seed {seed}: {} contractions in 40 min",
            contractions.len()
        );
        assert!(
            decels.len() as f64 >= 0.6 * contractions.len() as f64,
            "seed {seed}: {} decelerations for {} contractions",
            decels.len(),
            contractions.len()
        );
        let pairs: Vec<_> =
            pair(&decels, &contractions).into_iter().filter_map(|(d, c)| Some((d, c?))).collect();
        assert!(
            pairs.len() as f64 >= 0.8 * decels.len() as f64,
            "seed {seed}: most decelerations follow a contraction"
        );
        let nadir_lags: Vec<f64> = pairs.iter().map(|(d, c)| lag_s(d.nadir, c.peak)).collect();
        let onset_lags: Vec<f64> = pairs.iter().map(|(d, c)| lag_s(d.onset, c.onset)).collect();
        let late = nadir_lags.iter().filter(|&&l| l >= 10.0).count();
        assert!(late as f64 >= 0.8 * pairs.len() as f64, "seed {seed}: nadir lags {nadir_lags:?}");
        assert!(measure::median(&nadir_lags) >= 15.0, "seed {seed}: nadir lags {nadir_lags:?}");
        assert!(measure::median(&onset_lags) > 20.0, "seed {seed}: onset lags {onset_lags:?}");
        // Recovery after the contraction has ended.
        let late_end = pairs.iter().filter(|(d, c)| d.end > c.end).count();
        assert!(late_end as f64 >= 0.8 * pairs.len() as f64, "seed {seed}");
        // Gradual: at least 30 s from onset to nadir. The measured onset is where the FHR is
        // already 3 bpm down, about a fifth of the way along a cosine-shaped fall, so 30 s
        // measure as about 24 s.
        let to_nadir: Vec<f64> = pairs.iter().map(|(d, _)| d.to_nadir_s).collect();
        assert!(
            measure::median(&to_nadir) >= GRADUAL_MEASURED_S,
            "seed {seed}: onset to nadir {to_nadir:?}"
        );
    }
}

#[test]
fn late_decelerations_come_with_minimal_variability_and_no_accelerations() {
    let f = run(Scenario::LateDecelerations, 7, 40);
    let fhr = measure::fhr1(&f);
    let mut skip = poor_spans(&f);
    skip.extend(measure::decelerations(&fhr).iter().map(|d| (d.onset, d.end)));
    let ranges: Vec<f64> =
        measure::minute_ranges(&fhr, &skip).iter().map(|&r| f64::from(r)).collect();
    assert!(ranges.len() >= 5, "{} quiet minutes", ranges.len());
    assert!(measure::median(&ranges) <= 5.0, "minimal variability: {ranges:?}");
    assert!(measure::accelerations(&fhr).is_empty());
}

#[test]
fn normal_labour_has_moderate_variability_accelerations_and_no_decelerations() {
    for seed in [1, 2, 3] {
        let f = run(Scenario::NormalLabour, seed, 30);
        let fhr = measure::fhr1(&f);
        let accels = measure::accelerations(&fhr);
        assert!(accels.len() >= 2, "seed {seed}: {} accelerations", accels.len());
        let decels = measure::decelerations(&fhr);
        assert!(decels.is_empty(), "seed {seed}: {decels:?}");
        let mut skip = poor_spans(&f);
        skip.extend(accels.iter().copied());
        let ranges: Vec<f64> =
            measure::minute_ranges(&fhr, &skip).iter().map(|&r| f64::from(r)).collect();
        let m = measure::median(&ranges);
        assert!((6.0..=25.0).contains(&m), "seed {seed}: median range {m} of {ranges:?}");
        let smoothed = measure::smooth_fhr(&fhr);
        let base = measure::baseline(&smoothed, 5);
        assert!(base.iter().all(|b| (110.0..=160.0).contains(b)), "seed {seed}");
        // Fetal movements are marked on the movement channel, with most accelerations.
        let moving = |a: usize, b: usize| {
            f[a.saturating_sub(20 * TPS)..b]
                .iter()
                .any(|f| f.sample.movement == Some(ctg_wire::Movement::Detected))
        };
        let with_fm = accels.iter().filter(|&&(a, b)| moving(a, b)).count();
        assert!(with_fm * 2 >= accels.len(), "seed {seed}: {with_fm} of {}", accels.len());
    }
}

#[test]
fn early_decelerations_bottom_out_at_the_contraction_peak() {
    for seed in [1, 2, 3] {
        let f = run(Scenario::EarlyDecelerations, seed, 40);
        let contractions = measure::contractions(&measure::toco(&f));
        let decels = measure::decelerations(&measure::fhr1(&f));
        assert!(decels.len() as f64 >= 0.6 * contractions.len() as f64, "seed {seed}");
        let pairs: Vec<_> =
            pair(&decels, &contractions).into_iter().filter_map(|(d, c)| Some((d, c?))).collect();
        assert!(pairs.len() as f64 >= 0.8 * decels.len() as f64, "seed {seed}");
        let lags: Vec<f64> = pairs.iter().map(|(d, c)| lag_s(d.nadir, c.peak)).collect();
        let coincident = lags.iter().filter(|l| l.abs() <= 15.0).count();
        // Most within 15 s; the flat bottom of a shallow deceleration under moderate
        // variability leaves the odd one further.
        assert!(coincident as f64 >= 0.75 * pairs.len() as f64, "seed {seed}: lags {lags:?}");
        assert!(measure::median(&lags).abs() <= 8.0, "seed {seed}: lags {lags:?}");
        let to_nadir: Vec<f64> = pairs.iter().map(|(d, _)| d.to_nadir_s).collect();
        assert!(
            measure::median(&to_nadir) >= GRADUAL_MEASURED_S,
            "gradual, seed {seed}: onset to nadir {to_nadir:?}"
        );
    }
}

#[test]
fn variable_decelerations_are_abrupt_and_vary_in_depth() {
    let mut early_falls = Vec::new();
    for seed in [1, 2, 3] {
        let f = run(Scenario::EarlyDecelerations, seed, 30);
        early_falls.extend(measure::decelerations(&measure::fhr1(&f)).iter().map(|d| d.fall_s));
    }
    for seed in [1, 2, 3] {
        let f = run(Scenario::VariableDecelerations, seed, 40);
        let decels = measure::decelerations(&measure::fhr1(&f));
        let contractions = measure::contractions(&measure::toco(&f));
        assert!(
            decels.len() as f64 >= 0.6 * contractions.len() as f64,
            "seed {seed}: {decels:?} {contractions:?}"
        );
        let falls: Vec<f64> = decels.iter().map(|d| d.fall_s).collect();
        let abrupt = falls.iter().filter(|&&s| s < 30.0).count();
        assert!(abrupt as f64 >= 0.85 * falls.len() as f64, "seed {seed}: falls {falls:?}");
        assert!(
            measure::median(&falls) < 0.6 * measure::median(&early_falls),
            "seed {seed}: variable falls {falls:?} vs early {early_falls:?}"
        );
        let depths: Vec<f64> = decels.iter().map(|d| f64::from(d.depth)).collect();
        let mean = depths.iter().sum::<f64>() / depths.len() as f64;
        let sd =
            (depths.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / depths.len() as f64).sqrt();
        assert!(sd > 5.0, "seed {seed}: depths {depths:?}");
        // Under 2 minutes each.
        assert!(decels.iter().all(|d| d.end - d.onset < 120 * TPS), "seed {seed}");
    }
}

#[test]
fn prolonged_bradycardia_has_a_long_deceleration_then_a_low_baseline() {
    let f = run(Scenario::ProlongedBradycardia, 5, 40);
    let fhr = measure::fhr1(&f);
    let decels = measure::decelerations(&fhr);
    let prolonged: Vec<_> = decels.iter().filter(|d| d.end - d.onset >= 120 * TPS).collect();
    assert!(!prolonged.is_empty(), "{decels:?}");
    let smoothed = measure::smooth_fhr(&fhr);
    let p = prolonged[0];
    let nadir = smoothed[p.nadir].unwrap();
    assert!((60.0..=100.0).contains(&nadir), "nadir {nadir}");
    // Bradycardia: a 10-minute stretch whose values are nearly all below 110.
    let m10 = 10 * 60 * TPS;
    let brady = (0..fhr.len().saturating_sub(m10)).step_by(60 * TPS).any(|s| {
        let w: Vec<f32> = smoothed[s..s + m10].iter().flatten().copied().collect();
        w.iter().filter(|&&v| v < 110.0).count() as f64 >= 0.9 * w.len() as f64
    });
    assert!(brady);
}

#[test]
fn tachycardia_baseline_is_above_160() {
    for seed in [1, 2] {
        let f = run(Scenario::Tachycardia, seed, 30);
        let smoothed = measure::smooth_fhr(&measure::fhr1(&f));
        let base = measure::baseline(&smoothed, 5);
        assert!(
            base.iter().all(|&b| b > 160.0),
            "seed {seed}: {:?}",
            base.iter().step_by(240).collect::<Vec<_>>()
        );
    }
}

#[test]
fn sinusoidal_pattern_has_the_right_frequency_and_amplitude_and_no_variability() {
    for seed in [1, 2, 3] {
        let f = run(Scenario::Sinusoidal, seed, 30);
        let fhr = measure::fhr1(&f);
        // Detrend with a 1-minute median (which cancels a 3-5 cycles/min oscillation and is
        // not dragged by an artefact).
        let trend = measure::median_filter(&fhr, 30 * TPS);
        let d: Vec<Option<f32>> =
            fhr.iter().zip(&trend).map(|(v, t)| Some((*v)? - (*t)?)).collect();
        let m = 60 * TPS;
        let mut minutes = 0;
        for k in 1..29 {
            let w: Vec<f32> = d[k * m..(k + 1) * m].iter().flatten().copied().collect();
            // Skip minutes with artefacts or much signal loss (the monitor flags them).
            let poor = f[k * m..(k + 1) * m]
                .iter()
                .any(|f| f.sample.quality.fhr1 == ctg_wire::SignalQuality::Poor);
            if w.len() < m * 3 / 4 || poor {
                continue;
            }
            minutes += 1;
            // Cycles per minute from zero crossings with a 1 bpm hysteresis.
            let mut state = 0i8;
            let mut crossings = 0;
            for &v in &w {
                let s = if v > 1.0 {
                    1
                } else if v < -1.0 {
                    -1
                } else {
                    0
                };
                if s != 0 && s != state {
                    if state != 0 {
                        crossings += 1;
                    }
                    state = s;
                }
            }
            let cpm = crossings as f64 / 2.0;
            assert!((2.5..=5.5).contains(&cpm), "seed {seed} minute {k}: {cpm} cycles/min");
            let (lo, hi) =
                w.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(
                (5.0..=15.0).contains(&(hi - lo)),
                "seed {seed} minute {k}: amplitude {}",
                hi - lo
            );
        }
        assert!(minutes >= 10, "seed {seed}: only {minutes} clean minutes");
        // Smooth: beat-to-beat change (second difference over clean samples) is far below a
        // normal trace's.
        let roughness = |f: &[Frame]| {
            let good = |f: &Frame| {
                (f.sample.quality.fhr1 == ctg_wire::SignalQuality::Good)
                    .then(|| f.sample.fhr1.map(|b| b.as_f32()))
                    .flatten()
            };
            let diffs: Vec<f64> = f
                .windows(3)
                .filter_map(|w| {
                    Some(f64::from(good(&w[2])? - 2.0 * good(&w[1])? + good(&w[0])?).abs())
                })
                .collect();
            diffs.iter().sum::<f64>() / diffs.len() as f64
        };
        let normal = run(Scenario::NormalLabour, seed, 30);
        let (rs, rn) = (roughness(&f), roughness(&normal));
        assert!(rs < 0.4 * rn, "seed {seed}: roughness sinusoidal {rs} vs normal {rn}");
        assert!(measure::accelerations(&fhr).is_empty(), "seed {seed}");
    }
}

#[test]
fn tachysystole_has_more_than_five_contractions_in_ten_minutes() {
    for seed in [1, 2, 3] {
        let f = run(Scenario::Tachysystole, seed, 30);
        let c = measure::contractions(&measure::toco(&f));
        let per_10 = c.len() as f64 / 3.0;
        assert!(per_10 > 5.0, "seed {seed}: {per_10} per 10 min averaged over 30 min");
        let normal = measure::contractions(&measure::toco(&run(Scenario::NormalLabour, seed, 30)));
        let normal_per_10 = normal.len() as f64 / 3.0;
        assert!((2.0..=5.0).contains(&normal_per_10), "seed {seed}: normal labour {normal_per_10}");
        // Each contraction lasts about a minute (measured at 10 % of its height).
        for c in &c {
            let s = (c.end - c.onset) as f64 / TPS as f64;
            assert!((35.0..=100.0).contains(&s), "seed {seed}: {s} s");
        }
    }
}

#[test]
fn signal_loss_has_the_configured_share_of_missing_samples() {
    for (loss, minutes, seed) in
        [(None, 20, 1), (Some(0.30), 60, 2), (Some(0.05), 20, 3), (Some(0.0), 20, 4)]
    {
        let options = SimOptions { signal_loss: loss, ..SimOptions::default() };
        let sim = simulate(Scenario::SignalLoss, seed, minutes * MIN, &options).unwrap();
        let missing = sim.frames.iter().filter(|f| f.sample.fhr1.is_none()).count() as f64
            / sim.frames.len() as f64;
        let want = loss.unwrap_or(0.15);
        assert!((missing - want).abs() <= 0.01, "configured {want}, got {missing}");
        // Intermittent: several separate pen lifts, not one block.
        let lifts = sim
            .frames
            .windows(2)
            .filter(|w| w[0].sample.fhr1.is_some() && w[1].sample.fhr1.is_none())
            .count();
        if want > 0.0 {
            assert!(lifts >= minutes as usize / 5, "{lifts} pen lifts");
        }
        // A lost sample says so.
        assert!(
            sim.frames
                .iter()
                .filter(|f| f.sample.fhr1.is_none())
                .all(|f| f.sample.quality.fhr1 == ctg_wire::SignalQuality::NoSignal)
        );
    }
    let e = simulate(
        Scenario::SignalLoss,
        1,
        10,
        &SimOptions { signal_loss: Some(1.5), ..SimOptions::default() },
    )
    .unwrap_err();
    assert!(e.to_string().contains("signal loss"), "{e}");
}

#[test]
fn maternal_heart_rate_is_recorded_as_fetal_for_periods() {
    // Periods of at least a minute where FHR1 tracks the maternal channel within 2 bpm.
    // (A sample without FHR neither breaks nor extends a period.)
    let coincidence = |f: &[Frame]| {
        let mut periods = Vec::new();
        let mut start = None;
        let mut last_same = 0;
        for (i, fr) in f.iter().enumerate() {
            let same = match (fr.sample.fhr1, fr.sample.mhr) {
                (Some(a), Some(b)) => (a.as_f32() - b.as_f32()).abs() <= 2.0,
                _ => continue,
            };
            match (same, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    if last_same + 1 - s >= 60 * TPS {
                        periods.push((s, last_same + 1));
                    }
                    start = None;
                }
                _ => {}
            }
            if same {
                last_same = i;
            }
        }
        periods
    };
    let f = run(Scenario::MaternalHeartRate, 4, 30);
    let periods = coincidence(&f);
    assert!(periods.len() >= 2, "{periods:?}");
    for &(a, b) in &periods {
        let secs = (b - a) / TPS;
        assert!((100..=320).contains(&secs), "{secs} s");
    }
    // The maternal pulse rises with pushes: well above its resting rate at contraction peaks.
    let mhr = measure::mhr(&f);
    let contractions = measure::contractions(&measure::toco(&f));
    let at_peaks: Vec<f64> = contractions
        .iter()
        .filter_map(|c| mhr[(c.peak + 10 * TPS).min(mhr.len() - 1)])
        .map(f64::from)
        .collect();
    let at_rest: Vec<f64> = contractions
        .iter()
        .filter_map(|c| mhr[c.onset.saturating_sub(20 * TPS)])
        .map(f64::from)
        .collect();
    assert!(
        measure::median(&at_peaks) - measure::median(&at_rest) >= 12.0,
        "{at_peaks:?} vs {at_rest:?}"
    );
    // A normal trace never does this.
    assert!(coincidence(&run(Scenario::NormalLabour, 4, 30)).is_empty());
}

#[test]
fn maternal_channel_is_realistic_and_rises_with_contractions() {
    let f = run(Scenario::NormalLabour, 2, 30);
    let mhr = measure::mhr(&f);
    let present: Vec<f32> = mhr.iter().flatten().copied().collect();
    assert_eq!(present.len(), mhr.len());
    let in_range = present.iter().filter(|v| (65.0..=115.0).contains(*v)).count();
    assert!(in_range as f64 >= 0.99 * present.len() as f64);
    let contractions = measure::contractions(&measure::toco(&f));
    let rise: Vec<f64> = contractions
        .iter()
        .filter_map(|c| {
            Some(f64::from(
                mhr[(c.peak + 10 * TPS).min(mhr.len() - 1)]?
                    - mhr[c.onset.saturating_sub(20 * TPS)]?,
            ))
        })
        .collect();
    assert!(measure::median(&rise) >= 4.0, "{rise:?}");
}

#[test]
fn maternal_movement_disturbs_fhr_and_toco() {
    let sim = simulate(Scenario::NormalLabour, 6, 60 * MIN, &SimOptions::default()).unwrap();
    let moves = &sim.truth.maternal_movements;
    assert!(moves.len() >= 2, "{moves:?}");
    let fhr = measure::fhr1(&sim.frames);
    let smooth = measure::smooth_fhr(&fhr);
    let mut disturbed = 0;
    for m in moves {
        let (a, b) = (m.start as usize, (m.end as usize).min(fhr.len()));
        // Values far from the smoothed trace (half rate, jumps) and flagged as poor.
        let wild = (a..b)
            .any(|i| matches!((fhr[i], smooth[i]), (Some(v), Some(s)) if (v - s).abs() > 15.0));
        let poor =
            sim.frames[a..b].iter().all(|f| f.sample.quality.fhr1 != ctg_wire::SignalQuality::Good);
        if wild && poor {
            disturbed += 1;
        }
    }
    assert!(disturbed * 3 >= moves.len() * 2, "{disturbed} of {}", moves.len());
}

#[test]
fn toco_rezero_puts_the_resting_tone_at_the_reference() {
    let sim = simulate(Scenario::NormalLabour, 1, 120 * MIN, &SimOptions::default()).unwrap();
    assert!(!sim.truth.toco_rezero.is_empty());
    for &t in &sim.truth.toco_rezero {
        let t = t as usize;
        let after: Vec<f64> = sim.frames[t..t + 5 * TPS]
            .iter()
            .filter_map(|f| f.sample.toco)
            .map(|v| f64::from(v.value()))
            .collect();
        let m = measure::median(&after);
        assert!((7.0..=13.0).contains(&m), "after re-zero at {t}: {m}");
    }
}

#[test]
fn same_seed_gives_identical_frames_and_different_seeds_differ() {
    for sc in Scenario::ALL {
        let a = simulate(sc, 11, 10 * MIN, &SimOptions::default()).unwrap();
        let b = simulate(sc, 11, 10 * MIN, &SimOptions::default()).unwrap();
        let c = simulate(sc, 12, 10 * MIN, &SimOptions::default()).unwrap();
        assert_eq!(a.frames, b.frames, "{sc}");
        assert_eq!(a.truth, b.truth, "{sc}");
        assert_ne!(a.samples(), c.samples(), "{sc}");
    }
}

#[test]
fn a_longer_run_starts_with_the_shorter_one() {
    // The plan ahead never depends on how far the caller will read.
    let short =
        simulate(Scenario::VariableDecelerations, 3, 5 * MIN, &SimOptions::default()).unwrap();
    let long =
        simulate(Scenario::VariableDecelerations, 3, 25 * MIN, &SimOptions::default()).unwrap();
    assert_eq!(short.frames[..], long.frames[..short.frames.len()]);
}

#[test]
fn every_scenario_stays_within_what_a_monitor_reports() {
    for sc in Scenario::ALL {
        let sim = simulate(sc, 21, 45 * MIN, &SimOptions::default()).unwrap();
        for f in &sim.frames {
            let s = &f.sample;
            if let Some(b) = s.fhr1 {
                assert!((50.0..=220.0).contains(&b.as_f32()), "{sc}: FHR {}", b.as_f32());
            }
            let mhr = s.mhr.expect("maternal channel always present").as_f32();
            assert!((55.0..=150.0).contains(&mhr), "{sc}: MHR {mhr}");
            let toco = s.toco.expect("TOCO always present").value();
            assert!(toco <= 100, "{sc}: TOCO {toco}");
            assert_eq!(s.toco, f.ua[0].max(f.ua[1]));
            assert!(s.movement.is_some());
        }
        // Contractions in labour: every 2-5 min, 60-90 s (tachysystole faster and shorter).
        let c = &sim.truth.contractions;
        assert!(c.windows(2).all(|w| w[1].onset > w[0].end), "{sc}: contractions overlap");
    }
}

#[test]
fn twins_have_a_second_distinct_heart_on_fhr2() {
    let single =
        simulate(Scenario::EarlyDecelerations, 8, 20 * MIN, &SimOptions::default()).unwrap();
    assert!(single.frames.iter().all(|f| f.sample.fhr2.is_none()));
    let twins = simulate(
        Scenario::EarlyDecelerations,
        8,
        20 * MIN,
        &SimOptions { twins: true, ..SimOptions::default() },
    )
    .unwrap();
    // The first twin is the single fetus of the same seed: adding FHR2 changes nothing else.
    let strip = |f: &Frame| ctg_wire::Sample {
        fhr2: None,
        quality: ctg_wire::sample::Qualities {
            fhr2: ctg_wire::SignalQuality::Unknown,
            ..f.sample.quality
        },
        ..f.sample
    };
    assert!(single.frames.iter().zip(&twins.frames).all(|(a, b)| a.sample == strip(b)));
    let fhr2: Vec<Option<f32>> =
        twins.frames.iter().map(|f| f.sample.fhr2.map(|b| b.as_f32())).collect();
    assert!(fhr2.iter().all(Option::is_some));
    let b1 = measure::baseline(&measure::smooth_fhr(&measure::fhr1(&twins.frames)), 5);
    let b2 = measure::baseline(&measure::smooth_fhr(&fhr2), 5);
    let apart = (b1[2400] - b2[2400]).abs();
    assert!((5.0..=25.0).contains(&apart), "baselines {} and {}", b1[2400], b2[2400]);
    // Not a copy: the two traces' beat-to-beat changes are unrelated.
    let d1: Vec<f64> = twins
        .frames
        .windows(2)
        .filter_map(|w| Some(f64::from(w[1].sample.fhr1?.as_f32() - w[0].sample.fhr1?.as_f32())))
        .collect();
    let d2: Vec<f64> = fhr2.windows(2).map(|w| f64::from(w[1].unwrap() - w[0].unwrap())).collect();
    let n = d1.len().min(d2.len());
    let dot: f64 = d1[..n].iter().zip(&d2[..n]).map(|(a, b)| a * b).sum();
    let norm = (d1[..n].iter().map(|a| a * a).sum::<f64>()
        * d2[..n].iter().map(|b| b * b).sum::<f64>())
    .sqrt();
    assert!((dot / norm).abs() < 0.2, "correlation {}", dot / norm);
}

#[test]
fn sources_can_move_to_another_thread() {
    // The gateway runs each bed's source on its own task.
    fn send<T: Send + 'static>() {}
    send::<hardware::sim::Simulator>();
    send::<hardware::sim::Replay>();
    send::<hardware::sim::WireEncoder>();
    send::<Box<dyn hardware::sim::FrameSource + Send>>();
}
