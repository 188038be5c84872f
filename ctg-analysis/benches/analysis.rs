//! Analysis speed: time per hour of trace (batch) and per incremental second (a live stream
//! pushing one second at a time, with and without a provisional refresh after each push).
//!
//! Runs on a real recording (FHRMA train01, one hour) when the datasets are present, and on a
//! simulated hour of labour otherwise. Prints the figures; targets are never asserted here.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ctg_analysis::{Analyzer, Config, FetalChannel, Sample};

const HOUR: usize = 4 * 3600;

fn one_hour() -> (String, Vec<Sample>) {
    if let Some(dir) = hardware::datasets::datasets_dir_or_note("benchmark on a real recording") {
        let path = dir.join("fhrma-false-signal/train/DopMHRTrain0003.fhrm");
        if let Ok(rec) = hardware::datasets::read_recording(&path) {
            let mut s: Vec<Sample> = (0..rec.len())
                .map(|i| Sample {
                    fhr: FetalChannel::Merged.pick(rec.fhr1[i], rec.fhr2[i]),
                    mhr: rec.mhr[i],
                    toco: rec.toco[i],
                    movement: false,
                })
                .collect();
            // Repeat the recording to make a whole hour.
            while s.len() < HOUR {
                let more = s[..(HOUR - s.len()).min(s.len())].to_vec();
                s.extend(more);
            }
            return (format!("{} (with MHR)", rec.name), s);
        }
    }
    let sim = hardware::sim::simulate(
        hardware::sim::Scenario::NormalLabour,
        1,
        HOUR as u64,
        &Default::default(),
    )
    .expect("the normal-labour scenario exists");
    let s = sim.samples().iter().map(|w| Sample::from_wire(w, FetalChannel::Fhr1)).collect();
    ("simulated normal labour".into(), s)
}

fn bench(c: &mut Criterion) {
    let (name, samples) = one_hour();
    let config = Config::default();
    eprintln!("benchmark trace: {name}, {} samples", samples.len());

    c.bench_function("batch: one hour of trace", |b| {
        b.iter(|| {
            let mut a = Analyzer::new(config.clone()).unwrap();
            a.push(black_box(&samples));
            black_box(a.analysis())
        })
    });

    // A live stream: the first 50 minutes are already in, then one second arrives.
    let warm = 50 * 240;
    let mut base = Analyzer::new(config.clone()).unwrap();
    base.push(&samples[..warm]);
    base.refresh();
    c.bench_function("incremental: push one second", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut a = base.clone();
            let mut pos = warm;
            for _ in 0..iters {
                if pos + 4 > samples.len() {
                    a = base.clone();
                    pos = warm;
                }
                let t = Instant::now();
                a.push(black_box(&samples[pos..pos + 4]));
                total += t.elapsed();
                pos += 4;
            }
            total
        })
    });
    c.bench_function("incremental: push one second + refresh", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut a = base.clone();
            let mut pos = warm;
            for _ in 0..iters {
                if pos + 4 > samples.len() {
                    a = base.clone();
                    pos = warm;
                }
                let t = Instant::now();
                a.push(black_box(&samples[pos..pos + 4]));
                a.refresh();
                black_box(a.current_window());
                total += t.elapsed();
                pos += 4;
            }
            total
        })
    });

    // Plain figures for the README, measured outside criterion's statistics. On a shared
    // machine other processes only ever add time, so the fastest repetition is the best
    // estimate of the cost itself; the median is printed beside it.
    let scale = HOUR as f64 / samples.len() as f64;
    let batch: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let mut a = Analyzer::new(config.clone()).unwrap();
            a.push(black_box(&samples));
            black_box(a.analysis());
            t.elapsed().as_secs_f64() * scale
        })
        .collect();
    let pushes: Vec<f64> = (0..5)
        .map(|_| {
            let mut a = base.clone();
            let t = Instant::now();
            for k in 0..600 {
                a.push(black_box(&samples[warm + 4 * k..warm + 4 * k + 4]));
            }
            t.elapsed().as_secs_f64() / 600.0
        })
        .collect();
    let refreshes: Vec<f64> = (0..60)
        .map(|k| {
            let mut a = base.clone();
            let t = Instant::now();
            a.push(black_box(&samples[warm + 4 * k..warm + 4 * k + 4]));
            a.refresh();
            black_box(a.current_window());
            t.elapsed().as_secs_f64()
        })
        .collect();
    let (b_min, b_med) = min_median(batch);
    let (p_min, p_med) = min_median(pushes);
    let (r_min, r_med) = min_median(refreshes);
    println!(
        "FIGURE batch analysis: {:.3} ms per hour of trace (best of 30; median {:.3} ms)",
        b_min * 1e3,
        b_med * 1e3
    );
    println!(
        "FIGURE incremental push: {:.2} us per second of signal (best of 5 x 600 s; median {:.2} us)",
        p_min * 1e6,
        p_med * 1e6
    );
    println!(
        "FIGURE incremental push + refresh: {:.3} ms per second of signal (best of 60; median {:.3} ms)",
        r_min * 1e3,
        r_med * 1e3
    );
}

/// The smallest and the median of some timings.
fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
