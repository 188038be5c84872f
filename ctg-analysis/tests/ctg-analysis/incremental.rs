//! Streaming gives the batch results, and final results never change.

use ctg_analysis::{Analyzer, Config, Sample};
use hardware::sim::{Scenario, SimOptions};
use proptest::prelude::*;

use crate::common::{samples, sim};

fn trace() -> Vec<Sample> {
    // Decelerations, contractions, signal loss and the maternal channel all at once.
    let mut s = samples(&sim(
        Scenario::MaternalHeartRate,
        50,
        21,
        &SimOptions { signal_loss: Some(0.1), ..SimOptions::default() },
    ));
    s.extend(samples(&sim(Scenario::LateDecelerations, 30, 22, &SimOptions::default())));
    s
}

fn batch(s: &[Sample]) -> ctg_analysis::Analysis {
    ctg_analysis::analyze(s, &Config::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn pushing_in_pieces_gives_the_batch_analysis(cuts in proptest::collection::vec(1usize..3000, 8..30), refresh_every in 1usize..4) {
        let s = trace();
        let expected = batch(&s);
        let mut a = Analyzer::new(Config::default()).unwrap();
        let mut pos = 0;
        let mut k = 0;
        for c in cuts.iter().cycle() {
            let end = (pos + c).min(s.len());
            a.push(&s[pos..end]);
            pos = end;
            k += 1;
            if k % refresh_every == 0 {
                // Provisional views in between must not disturb the final state.
                a.refresh();
            }
            if pos == s.len() {
                break;
            }
        }
        let got = a.analysis();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn one_second_at_a_time_gives_the_batch_analysis() {
    let s: Vec<Sample> = trace().into_iter().take(4 * 60 * 45).collect();
    let expected = batch(&s);
    let mut a = Analyzer::new(Config::default()).unwrap();
    for (k, sec) in s.chunks(4).enumerate() {
        a.push(sec);
        if k % 97 == 0 {
            a.refresh();
        }
    }
    assert_eq!(a.analysis(), expected);
}

#[test]
fn final_results_never_change_as_signal_arrives() {
    let s = trace();
    let mut a = Analyzer::new(Config::default()).unwrap();
    let mut snapshots = Vec::new();
    for end in (0..=s.len()).step_by(4 * 60 * 7).skip(1) {
        a.push(&s[a.len()..end]);
        snapshots.push(a.analysis());
    }
    let last = a.analysis();
    for snap in &snapshots {
        let fin = snap.final_until_s;
        assert!(fin <= snap.samples as f64 / 4.0);
        let n = (fin * 4.0) as usize;
        assert_eq!(
            &snap.baseline_bpm[..n],
            &last.baseline_bpm[..n],
            "baseline before {fin} s changed"
        );
        for w in snap.windows.iter().filter(|w| !w.provisional) {
            assert!(last.windows.contains(w), "final window changed: {w:?}");
        }
        for d in snap.decelerations.iter().filter(|d| !d.provisional) {
            assert!(last.decelerations.contains(d), "final deceleration changed: {d:?}");
        }
        for e in snap.accelerations.iter().filter(|e| !e.provisional) {
            assert!(last.accelerations.contains(e), "final acceleration changed: {e:?}");
        }
    }
    // Finality trails the newest sample by at most the documented latencies (plus the
    // 10-minute window being completed).
    let lag = last.samples as f64 / 4.0 - last.final_until_s;
    let bound = ctg_analysis::baseline::latency_s()
        + ctg_analysis::false_signal::latency_s()
        + 600.0
        + 300.0;
    assert!(lag <= bound, "final results trail by {lag} s (bound {bound} s)");
    assert!(last.final_until_s > 0.0);
}

#[test]
fn latencies_are_documented_and_bounded() {
    let b = ctg_analysis::baseline::latency_s();
    let f = ctg_analysis::false_signal::latency_s();
    assert!(b < 90.0 * 60.0, "baseline latency {b} s");
    assert!(f < 20.0 * 60.0, "false-signal latency {f} s");
}
