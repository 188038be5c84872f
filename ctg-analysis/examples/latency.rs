//! How the live (incremental) analysis converges to the final one, measured on the FHRMA
//! training recordings: each recording is streamed one minute at a time, as the server does,
//! and what was shown at each moment is compared with the final analysis of the whole record.
//!
//! ```text
//! cargo run --release -p ctg-analysis --example latency
//! ```
//!
//! Prints the documented latencies (after how long a result can no longer change), how far the
//! provisional baseline at the newest sample is from its final value, and how soon after an
//! event ends a matching event is shown.

use ctg_analysis::{Analyzer, Config, FetalChannel, Sample};

const MINUTE: usize = 240;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Seconds after `end_s` at which a shown event overlapping (start_s, end_s) by more than 5 s
/// first appeared, given the snapshots (time shown, events shown).
fn shown_after(span: (f64, f64), snapshots: &[(f64, Vec<(f64, f64)>)]) -> Option<f64> {
    snapshots
        .iter()
        .find(|(_, evs)| evs.iter().any(|e| e.1.min(span.1) - e.0.max(span.0) > 5.0))
        .map(|(t, _)| (t - span.1).max(0.0))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("baseline final after {:.0} s", ctg_analysis::baseline::latency_s());
    println!("false signal final after {:.0} s", ctg_analysis::false_signal::latency_s());
    let Some(dir) = hardware::datasets::datasets_dir_or_note("streaming convergence") else {
        return Ok(());
    };
    let files = hardware::datasets::list_files(&dir.join("fhrma/train"), "fhr")?;
    let (mut bl_err, mut lag_final) = (Vec::new(), Vec::new());
    let (mut dec_delay, mut acc_delay) = (Vec::new(), Vec::new());
    for path in &files {
        let rec = hardware::datasets::read_recording(path)?;
        let samples: Vec<Sample> = (0..rec.len())
            .map(|i| Sample {
                fhr: FetalChannel::Merged.pick(rec.fhr1[i], rec.fhr2[i]),
                mhr: None,
                toco: rec.toco[i],
                movement: false,
            })
            .collect();
        let mut a = Analyzer::new(Config::default())?;
        let (mut shown_bl, mut decs, mut accs) = (Vec::new(), Vec::new(), Vec::new());
        let mut pos = 0;
        while pos < samples.len() {
            let end = (pos + MINUTE).min(samples.len());
            a.push(&samples[pos..end]);
            pos = end;
            let snap = a.analysis();
            let t = pos as f64 / 4.0;
            shown_bl.push((pos - 1, snap.baseline_bpm[pos - 1]));
            decs.push((
                t,
                snap.decelerations.iter().map(|e| (e.start_s, e.end_s)).collect::<Vec<_>>(),
            ));
            accs.push((
                t,
                snap.accelerations.iter().map(|e| (e.start_s, e.end_s)).collect::<Vec<_>>(),
            ));
            lag_final.push(t - snap.final_until_s);
        }
        let last = a.analysis();
        for (i, v) in shown_bl {
            if let (Some(v), Some(f)) = (v, last.baseline_bpm[i]) {
                bl_err.push(f64::from((v - f).abs()));
            }
        }
        for e in &last.decelerations {
            // The last snapshot is the final analysis, so every final event is found.
            dec_delay.extend(shown_after((e.start_s, e.end_s), &decs));
        }
        for e in &last.accelerations {
            // The last snapshot is the final analysis, so every final event is found.
            acc_delay.extend(shown_after((e.start_s, e.end_s), &accs));
        }
    }
    println!("{} recordings streamed one minute at a time", files.len());
    println!(
        "provisional baseline at the newest sample vs final: median {:.1} bpm, 90th centile {:.1} bpm",
        percentile(&mut bl_err.clone(), 0.5),
        percentile(&mut bl_err, 0.9)
    );
    println!(
        "results final up to (newest - {:.0} s) at the median, {:.0} s at the 90th centile",
        percentile(&mut lag_final.clone(), 0.5),
        percentile(&mut lag_final, 0.9)
    );
    println!(
        "final decelerations shown (s after their end, minute pushes): median {:.0}, 90th centile {:.0} ({} events)",
        percentile(&mut dec_delay.clone(), 0.5),
        percentile(&mut dec_delay.clone(), 0.9),
        dec_delay.len()
    );
    println!(
        "final accelerations shown (s after their end, minute pushes): median {:.0}, 90th centile {:.0} ({} events)",
        percentile(&mut acc_delay.clone(), 0.5),
        percentile(&mut acc_delay.clone(), 0.9),
        acc_delay.len()
    );
    Ok(())
}
