//! `ctg-analyze train false-signal`: trains the two-level false-signal model on the
//! expert-annotated FHRMA recordings and writes the model file the library embeds.
//!
//! Level 1 is trained on the training recordings; level 2 on level-1 answers obtained out of
//! fold (each training recording judged by a level-1 model that never saw it), so that level 2
//! learns from answers as good as those it will get on new recordings. The validation
//! recordings are scored with models that never saw them. With `--final-on-all`, the shipped
//! models are then retrained the same way on training and validation recordings together (with
//! `--cv`, after the same cross-validation over all of them).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ctg_analysis::false_signal::training::{
    Rows, flags, l1_names, l2_names, level1_rows, level2_rows,
};
use ctg_analysis::false_signal::{Models, THRESHOLD};
use ctg_analysis::gbt::{Dataset, Model, TrainParams, train};
use ctg_analysis::metrics::{Confusion, score_false_signal};
use ctg_analysis::{FetalChannel, Sample};

use crate::eval::{find_file, read_annotations};
use crate::input::read_trace;

pub struct TrainArgs {
    pub signals: PathBuf,
    pub labels: PathBuf,
    pub out: PathBuf,
    pub final_on_all: bool,
    pub folds: usize,
    pub params: TrainParams,
    /// Use every n-th labelled chunk for training.
    pub stride: usize,
    /// Also score the whole stack by recording-level cross-validation over the training
    /// recordings (each fold judged by models that never saw it), at several thresholds.
    pub cv: bool,
    /// Weight of each recording's chunks scaled by (mean labelled chunks per recording /
    /// this recording's)^balance: 0 weighs every chunk alike, 1 every recording alike.
    pub recording_balance: f32,
    /// Experimental: separate models for chunks whose `mhr_present_2min` reaches this and for
    /// the others. The library has no such split, so nothing is written.
    pub split_mhr: Option<f32>,
    /// Experimental: where to write every chunk's features and the stack's unseen answers.
    pub dump_chunks: Option<PathBuf>,
}

/// Out-of-fold answers of the stack for one recording: its fold, level-1 and level-2 answers.
type Unseen = std::collections::HashMap<String, (i32, Vec<f32>, Vec<f32>)>;

struct Rec {
    name: String,
    val: bool,
    samples: Vec<Sample>,
    labels: Vec<Option<bool>>,
    l1: Rows,
    /// Chunk label and weight (labelled samples with FHR in the chunk).
    chunk_labels: Vec<(bool, f32)>,
}

/// Scales the chunk weights of every recording by (mean labelled chunks per recording /
/// its own)^`balance`, so that a few long recordings need not dominate the training.
fn balance_recordings(recs: &mut [Rec], balance: f32) {
    if balance == 0.0 {
        return;
    }
    let counts: Vec<f64> = recs
        .iter()
        .map(|r| r.chunk_labels.iter().filter(|(_, w)| *w > 0.0).count() as f64)
        .collect();
    let labelled: Vec<f64> = counts.iter().copied().filter(|&c| c > 0.0).collect();
    if labelled.is_empty() {
        return;
    }
    let mean = labelled.iter().sum::<f64>() / labelled.len() as f64;
    for (r, &c) in recs.iter_mut().zip(&counts) {
        if c > 0.0 {
            let k = (mean / c).powf(f64::from(balance)) as f32;
            for (_, w) in &mut r.chunk_labels {
                *w *= k;
            }
        }
    }
}

/// The labels with every sample within `tolerance` samples of a change of label (fetal to
/// false or back, across unlabelled samples) left out: how much of the error lies at the edges
/// of the experts' periods, where a few seconds' disagreement is a matter of judgement.
fn away_from_label_edges(labels: &[Option<bool>], tolerance: usize) -> Vec<Option<bool>> {
    let mut out = labels.to_vec();
    let mut last: Option<(usize, bool)> = None;
    for (i, l) in labels.iter().enumerate() {
        let Some(l) = *l else { continue };
        if let Some((j, prev)) = last
            && prev != l
        {
            let from = j.saturating_sub(tolerance);
            let to = (i + tolerance + 1).min(labels.len());
            out[from..to].iter_mut().for_each(|x| *x = None);
        }
        last = Some((i, l));
    }
    out
}

/// Edge tolerances (seconds) reported by the cross-validation.
const EDGE_TOLERANCES_S: [usize; 3] = [10, 30, 60];

/// Cross-validated confusions at the shipped threshold, broken down to show where the errors
/// are.
#[derive(Debug, Clone, Copy, Default)]
struct Breakdown {
    /// Samples with an MHR value / without.
    with_mhr: Confusion,
    without_mhr: Confusion,
    /// Samples away from the experts' period edges, per `EDGE_TOLERANCES_S`.
    away_from_edges: [Confusion; EDGE_TOLERANCES_S.len()],
}

/// Labelled samples with an FHR value in one chunk: (false signal, true signal).
fn chunk_votes(samples: &[Sample], labels: &[Option<bool>]) -> (u32, u32) {
    let (mut fs, mut ts) = (0u32, 0u32);
    for (s, l) in samples.iter().zip(labels) {
        if s.fhr.is_some() {
            match l {
                Some(true) => fs += 1,
                Some(false) => ts += 1,
                None => {}
            }
        }
    }
    (fs, ts)
}

fn chunk_labels(samples: &[Sample], labels: &[Option<bool>]) -> Vec<(bool, f32)> {
    samples
        .chunks(ctg_analysis::false_signal::CHUNK)
        .zip(labels.chunks(ctg_analysis::false_signal::CHUNK))
        .map(|(s, l)| {
            let (fs, ts) = chunk_votes(s, l);
            (fs > ts, (fs + ts) as f32)
        })
        .collect()
}

/// One level of the stack: one model, or (experimental, `--split-mhr`) one for chunks with a
/// maternal channel and one for chunks without, routed by the `mhr_present_2min` feature.
struct Level {
    with_mhr: Model,
    without_mhr: Option<(Model, f32)>,
}

/// Column of the feature that routes rows between split models (the same in both levels: the
/// level-2 row starts with the level-1 row).
fn gate_column() -> usize {
    l1_names().iter().position(|n| *n == "mhr_present_2min").expect("feature list has the gate")
}

fn dataset<'a>(
    recs: &[&Rec],
    rows: &dyn Fn(usize) -> &'a Rows,
    n_features: usize,
    stride: usize,
    keep: &dyn Fn(&[f32]) -> bool,
) -> Dataset {
    let mut d = Dataset::new(n_features);
    let mut k = 0usize;
    for (i, r) in recs.iter().enumerate() {
        let rows = rows(i);
        for (c, &(label, w)) in r.chunk_labels.iter().enumerate() {
            if w <= 0.0 {
                continue;
            }
            if let Some(x) = rows.row(c)
                && keep(x)
            {
                if k.is_multiple_of(stride) {
                    d.push(x, label, w);
                }
                k += 1;
            }
        }
    }
    d
}

/// Trains one level on the rows `rows(i)` of `recs[i]`.
fn train_level<'a>(
    recs: &[&Rec],
    rows: &dyn Fn(usize) -> &'a Rows,
    names: &[&str],
    args: &TrainArgs,
) -> Level {
    let all = |_: &[f32]| true;
    match args.split_mhr {
        None => {
            let d = dataset(recs, rows, names.len(), args.stride, &all);
            Level { with_mhr: train(&d, names, &args.params), without_mhr: None }
        }
        Some(gate) => {
            let g = gate_column();
            let with = dataset(recs, rows, names.len(), args.stride, &|x| x[g] >= gate);
            let without = dataset(recs, rows, names.len(), args.stride, &|x| x[g] < gate);
            eprintln!("    split: {} rows with MHR, {} without", with.rows(), without.rows());
            Level {
                with_mhr: train(&with, names, &args.params),
                without_mhr: Some((train(&without, names, &args.params), gate)),
            }
        }
    }
}

fn predict(level: &Level, rows: &Rows) -> Vec<f32> {
    // The compiled form is what the library evaluates (identical margins, faster).
    let with = level.with_mhr.compile();
    let without = level.without_mhr.as_ref().map(|(m, gate)| (m.compile(), *gate));
    let g = gate_column();
    (0..rows.chunk_row.len())
        .map(|c| {
            rows.row(c).map_or(f32::NAN, |x| match &without {
                Some((m, gate)) if x[g] < *gate => m.predict(x),
                _ => with.predict(x),
            })
        })
        .collect()
}

/// Trains level 1 out of fold over `recs`, returning each recording's out-of-fold answers.
fn out_of_fold(recs: &[&Rec], args: &TrainArgs, n1: &[&str]) -> Vec<Vec<f32>> {
    let mut p1 = vec![Vec::new(); recs.len()];
    for fold in 0..args.folds {
        let train_set: Vec<&Rec> = recs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % args.folds != fold)
            .map(|(_, r)| *r)
            .collect();
        eprintln!("  fold {}/{}", fold + 1, args.folds);
        let m = train_level(&train_set, &|i| &train_set[i].l1, n1, args);
        for (i, r) in recs.iter().enumerate() {
            if i % args.folds == fold {
                p1[i] = predict(&m, &r.l1);
            }
        }
    }
    p1
}

/// Trains both levels on `recs`.
fn train_stack(recs: &[&Rec], args: &TrainArgs) -> (Level, Level) {
    let n1 = l1_names();
    let n2 = l2_names();
    eprintln!("level 1 out of fold over {} recordings", recs.len());
    let oof = out_of_fold(recs, args, &n1);
    let l2_rows: Vec<Rows> =
        recs.iter().zip(&oof).map(|(r, p)| level2_rows(&r.samples, &r.l1, p)).collect();
    eprintln!("level 1 on all");
    let l1 = train_level(recs, &|i| &recs[i].l1, &n1, args);
    eprintln!("level 2");
    let l2 = train_level(recs, &|i| &l2_rows[i], &n2, args);
    (l1, l2)
}

fn score(recs: &[&Rec], l1: &Level, l2: &Level) -> Confusion {
    score_at(recs, l1, l2, &[THRESHOLD])[0]
}

/// Thresholds reported by the cross-validation (the shipped one is `THRESHOLD`).
const CV_THRESHOLDS: [f32; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Confusion of the stack's per-sample answers at each threshold.
fn score_at(recs: &[&Rec], l1: &Level, l2: &Level, thresholds: &[f32]) -> Vec<Confusion> {
    score_with_breakdown(recs, l1, l2, thresholds, None)
}

/// As [`score_at`], also adding the breakdown at [`THRESHOLD`] to `breakdown`.
fn score_with_breakdown(
    recs: &[&Rec],
    l1: &Level,
    l2: &Level,
    thresholds: &[f32],
    mut breakdown: Option<&mut Breakdown>,
) -> Vec<Confusion> {
    let mut totals = vec![Confusion::default(); thresholds.len()];
    for r in recs {
        let p1 = predict(l1, &r.l1);
        let rows2 = level2_rows(&r.samples, &r.l1, &p1);
        let p2 = predict(l2, &rows2);
        let present: Vec<bool> = r.samples.iter().map(|s| s.fhr.is_some()).collect();
        for (t, total) in thresholds.iter().zip(&mut totals) {
            let f = flags(&r.samples, &p2, *t);
            total.add(&score_false_signal(&f, &present, &r.labels));
        }
        if let Some(b) = breakdown.as_deref_mut() {
            let f = flags(&r.samples, &p2, THRESHOLD);
            let only = |mhr: bool| -> Vec<Option<bool>> {
                r.samples
                    .iter()
                    .zip(&r.labels)
                    .map(|(s, l)| if s.mhr.is_some() == mhr { *l } else { None })
                    .collect()
            };
            b.with_mhr.add(&score_false_signal(&f, &present, &only(true)));
            b.without_mhr.add(&score_false_signal(&f, &present, &only(false)));
            for (t, c) in EDGE_TOLERANCES_S.iter().zip(&mut b.away_from_edges) {
                let hz = ctg_analysis::SAMPLE_RATE_HZ as usize;
                let labels = away_from_label_edges(&r.labels, t * hz);
                c.add(&score_false_signal(&f, &present, &labels));
            }
        }
    }
    totals
}

/// Level-1 and level-2 answers of a stack for every chunk of `r`.
fn answers(r: &Rec, l1: &Level, l2: &Level) -> (Vec<f32>, Vec<f32>) {
    let p1 = predict(l1, &r.l1);
    let p2 = predict(l2, &level2_rows(&r.samples, &r.l1, &p1));
    (p1, p2)
}

/// Columns of a `--dump-chunks` row before the level-1 features.
const DUMP_COLUMNS: [&str; 14] = [
    "recording",
    "validation",
    "fold",
    "chunk",
    "fs_samples",
    "ts_samples",
    "fhr_mean",
    "mhr_mean",
    "toco_mean",
    "fhr_fraction",
    "mhr_fraction",
    "p1",
    "p2",
    "has_row",
];

/// Writes every chunk of `recs` as one row of little-endian f32 (`DUMP_COLUMNS`, then the
/// level-1 features, NaN where the chunk has no row) and a JSON file describing the layout.
fn dump_chunks(path: &std::path::Path, recs: &[Rec], unseen: &Unseen) -> Result<()> {
    let names = l1_names();
    let mut out: Vec<u8> = Vec::new();
    let mut rows = 0usize;
    let mean = |v: &mut dyn Iterator<Item = Option<f32>>| -> (f32, f32) {
        let (mut sum, mut k, mut n) = (0.0f32, 0u32, 0u32);
        for x in v {
            n += 1;
            if let Some(x) = x {
                sum += x;
                k += 1;
            }
        }
        if k == 0 { (f32::NAN, 0.0) } else { (sum / k as f32, k as f32 / n as f32) }
    };
    for (i, r) in recs.iter().enumerate() {
        let (fold, p1, p2) =
            unseen.get(&r.name).map_or((-1, &[][..], &[][..]), |(f, a, b)| (*f, &a[..], &b[..]));
        let chunk = ctg_analysis::false_signal::CHUNK;
        for (c, (s, l)) in r.samples.chunks(chunk).zip(r.labels.chunks(chunk)).enumerate() {
            let (fs, ts) = chunk_votes(s, l);
            let (fhr, fhr_frac) = mean(&mut s.iter().map(|s| s.fhr));
            let (mhr, mhr_frac) = mean(&mut s.iter().map(|s| s.mhr));
            let (toco, _) = mean(&mut s.iter().map(|s| s.toco));
            let row = r.l1.row(c);
            let head = [
                i as f32,
                f32::from(u8::from(r.val)),
                fold as f32,
                c as f32,
                fs as f32,
                ts as f32,
                fhr,
                mhr,
                toco,
                fhr_frac,
                mhr_frac,
                p1.get(c).copied().unwrap_or(f32::NAN),
                p2.get(c).copied().unwrap_or(f32::NAN),
                f32::from(u8::from(row.is_some())),
            ];
            for v in head {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for k in 0..names.len() {
                let v = row.map_or(f32::NAN, |x| x[k]);
                out.extend_from_slice(&v.to_le_bytes());
            }
            rows += 1;
        }
    }
    std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?;
    let layout = serde_json::json!({
        "rows": rows,
        "columns": DUMP_COLUMNS.iter().copied().chain(names.iter().copied()).collect::<Vec<_>>(),
        "recordings": recs.iter().map(|r| &r.name).collect::<Vec<_>>(),
    });
    let json = path.with_extension("json");
    std::fs::write(&json, layout.to_string())
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("{rows} chunks written to {}", path.display());
    Ok(())
}

/// Recording-level K-fold cross-validation of the whole stack over `recs`.
fn cross_validate(recs: &[&Rec], args: &TrainArgs, unseen: &mut Unseen) -> Vec<Confusion> {
    let mut totals = vec![Confusion::default(); CV_THRESHOLDS.len()];
    let mut breakdown = Breakdown::default();
    let mut worst = Vec::new();
    for fold in 0..args.folds {
        eprintln!("cross-validation fold {}/{}", fold + 1, args.folds);
        // Offset by one so that these folds differ from the out-of-fold split inside the stack.
        let inside: Vec<&Rec> = recs
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % args.folds != fold)
            .map(|(_, r)| *r)
            .collect();
        let held: Vec<&Rec> = recs
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % args.folds == fold)
            .map(|(_, r)| *r)
            .collect();
        let (l1, l2) = train_stack(&inside, args);
        let scores = score_with_breakdown(&held, &l1, &l2, &CV_THRESHOLDS, Some(&mut breakdown));
        for (total, c) in totals.iter_mut().zip(scores) {
            total.add(&c);
        }
        for r in &held {
            worst.push((r.name.clone(), score(&[r], &l1, &l2)));
            if args.dump_chunks.is_some() {
                let (p1, p2) = answers(r, &l1, &l2);
                unseen.insert(r.name.clone(), (fold as i32, p1, p2));
            }
        }
    }
    // Where the errors are: what to look at when improving the features.
    worst.sort_by_key(|(_, c)| std::cmp::Reverse(c.false_positive + c.false_negative));
    eprintln!("cross-validation: recordings with the most errors");
    for (name, c) in worst.iter().take(15) {
        eprintln!("  {name}: {}", fmt(c));
        eprintln!(
            "    (TP {} FP {} FN {} TN {})",
            c.true_positive, c.false_positive, c.false_negative, c.true_negative
        );
    }
    eprintln!(
        "cross-validation at threshold {THRESHOLD}: samples with MHR: {}",
        fmt(&breakdown.with_mhr)
    );
    eprintln!(
        "  (TP {} FP {} FN {})",
        breakdown.with_mhr.true_positive,
        breakdown.with_mhr.false_positive,
        breakdown.with_mhr.false_negative
    );
    eprintln!("  samples without MHR: {}", fmt(&breakdown.without_mhr));
    eprintln!(
        "  (TP {} FP {} FN {})",
        breakdown.without_mhr.true_positive,
        breakdown.without_mhr.false_positive,
        breakdown.without_mhr.false_negative
    );
    for (t, c) in EDGE_TOLERANCES_S.iter().zip(&breakdown.away_from_edges) {
        eprintln!("  samples more than {t} s from a label change: {}", fmt(c));
        eprintln!("  (TP {} FP {} FN {})", c.true_positive, c.false_positive, c.false_negative);
    }
    totals
}

fn fmt(c: &Confusion) -> String {
    let p = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.2} %", 100.0 * v));
    format!("sensitivity {}, PPV {}, accuracy {}", p(c.sensitivity()), p(c.ppv()), p(c.accuracy()))
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if args.folds < 2 || args.stride == 0 {
        bail!("--folds must be at least 2 and --stride at least 1");
    }
    if !(0.0..=1.0).contains(&args.recording_balance) {
        bail!("--recording-balance must be between 0 and 1");
    }
    if args.split_mhr.is_some_and(|g| !(0.0..=1.0).contains(&g)) {
        bail!("--split-mhr must be between 0 and 1");
    }
    let ann = read_annotations(&args.labels)?;
    let mut recs = Vec::new();
    for a in &ann {
        let Some(path) = find_file(&args.signals, &a.filename) else { continue };
        let trace = read_trace(&path, FetalChannel::Merged)?;
        let n = trace.samples.len();
        let labels = a.labels(n);
        let stage2 = a.second_stage_s().map(|s| (s * 4.0).round() as usize);
        let l1 = level1_rows(&trace.samples, stage2);
        let chunk_labels = chunk_labels(&trace.samples, &labels);
        recs.push(Rec {
            name: a.filename.clone(),
            val: a.dataset.ends_with("Val"),
            samples: trace.samples,
            labels,
            l1,
            chunk_labels,
        });
    }
    balance_recordings(&mut recs, args.recording_balance);
    let train_recs: Vec<&Rec> = recs.iter().filter(|r| !r.val).collect();
    let val_recs: Vec<&Rec> = recs.iter().filter(|r| r.val).collect();
    if train_recs.is_empty() {
        bail!(
            "no training recording of {} found in {}",
            args.labels.display(),
            args.signals.display()
        );
    }
    eprintln!("{} training and {} validation recordings", train_recs.len(), val_recs.len());
    let mut unseen = Unseen::new();
    let mut cv_note = if args.cv {
        let cv = cross_validate(&train_recs, args, &mut unseen);
        for (t, c) in CV_THRESHOLDS.iter().zip(&cv) {
            println!("train cross-validated ({} folds), threshold {t:.1}: {}", args.folds, fmt(c));
        }
        let at = CV_THRESHOLDS
            .iter()
            .position(|t| *t == THRESHOLD)
            .map_or_else(|| "-".into(), |i| fmt(&cv[i]));
        format!(" | train cross-validated {at}")
    } else {
        String::new()
    };
    let (l1, l2) = train_stack(&train_recs, args);
    let train_score = score(&train_recs, &l1, &l2);
    println!("train (in sample):   {}", fmt(&train_score));
    let val_score = (!val_recs.is_empty()).then(|| score(&val_recs, &l1, &l2));
    if let Some(v) = &val_score {
        println!("validation (unseen): {}", fmt(v));
    }
    if let Some(path) = &args.dump_chunks {
        for r in &val_recs {
            let (p1, p2) = answers(r, &l1, &l2);
            unseen.insert(r.name.clone(), (-1, p1, p2));
        }
        dump_chunks(path, &recs, &unseen)?;
    }
    let (l1, l2, trained_on) = if args.final_on_all && !val_recs.is_empty() {
        let all: Vec<&Rec> = recs.iter().collect();
        if args.cv {
            // The honest estimate for models trained on everything: the same cross-validation
            // over all the recordings.
            let cv = cross_validate(&all, args, &mut Unseen::new());
            for (t, c) in CV_THRESHOLDS.iter().zip(&cv) {
                println!(
                    "train + validation cross-validated ({} folds), threshold {t:.1}: {}",
                    args.folds,
                    fmt(c)
                );
            }
            if let Some(i) = CV_THRESHOLDS.iter().position(|t| *t == THRESHOLD) {
                cv_note.push_str(&format!(" | train + validation cross-validated {}", fmt(&cv[i])));
            }
        }
        let (a, b) = train_stack(&all, args);
        (a, b, format!("{} training + validation recordings", all.len()))
    } else {
        (l1, l2, format!("{} training recordings", train_recs.len()))
    };
    let provenance = format!(
        "ctg-analyze train false-signal --signals <fhrma-false-signal> --labels expertAnnotations.json{}{} \
         (folds {}, stride {}, {} trees of depth {}, learning rate {}, min child weight {}, lambda {}, recording balance {}); trained on {}; \
         train/validation split models: \
         train {} | validation {}{}; first recording {}",
        if args.cv { " --cv" } else { "" },
        if args.final_on_all { " --final-on-all" } else { "" },
        args.folds,
        args.stride,
        args.params.trees,
        args.params.max_depth,
        args.params.learning_rate,
        args.params.min_child_weight,
        args.params.lambda,
        args.recording_balance,
        trained_on,
        fmt(&train_score),
        val_score.as_ref().map_or_else(|| "-".into(), fmt),
        cv_note,
        recs.first().map_or("-", |r| r.name.as_str()),
    );
    let (l1, l2) = match (l1, l2) {
        (Level { with_mhr: l1, without_mhr: None }, Level { with_mhr: l2, without_mhr: None }) => {
            (l1, l2)
        }
        _ => {
            println!(
                "--split-mhr is an experiment (the library has no split model): nothing written"
            );
            return Ok(());
        }
    };
    let models = Models { provenance, l1, l2 };
    let text = serde_json::to_string(&models)?;
    // The written file must load as the library will load it.
    Models::from_json(&text).map_err(anyhow::Error::msg)?;
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    println!("model written to {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_tolerance_leaves_out_samples_around_label_changes_only() {
        let (t, f) = (Some(true), Some(false));
        // A change from false to true across two unlabelled samples (indices 3 and 4): one
        // sample either side of the last false and the first true is left out as well.
        let labels = [f, f, f, None, None, t, t, t, t];
        let out = away_from_label_edges(&labels, 1);
        assert_eq!(out, [f, None, None, None, None, None, None, t, t]);
        // No change: nothing left out.
        assert_eq!(away_from_label_edges(&[t, None, t, t], 5), [t, None, t, t]);
        // Both sides clipped at the ends of the recording.
        assert_eq!(away_from_label_edges(&[t, f], 10), [None, None]);
    }

    fn rec(chunks: usize) -> Rec {
        Rec {
            name: String::new(),
            val: false,
            samples: Vec::new(),
            labels: Vec::new(),
            l1: Rows::default(),
            chunk_labels: vec![(false, 2.0); chunks],
        }
    }

    #[test]
    fn dumped_chunks_hold_labels_features_and_unseen_answers_in_their_layout() {
        let samples: Vec<Sample> = (0..64)
            .map(|i| Sample { fhr: (i % 16 != 3).then_some(140.0), ..Sample::EMPTY })
            .collect();
        let labels: Vec<Option<bool>> = (0..64).map(|i| (i < 32).then_some(i < 16)).collect();
        let l1 = level1_rows(&samples, None);
        let rec = Rec {
            name: "A".into(),
            val: false,
            chunk_labels: chunk_labels(&samples, &labels),
            samples,
            labels,
            l1,
        };
        let mut unseen = Unseen::new();
        unseen.insert("A".into(), (2, vec![0.25; 4], vec![0.75; 4]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.bin");
        dump_chunks(&path, &[rec], &unseen).unwrap();
        let layout: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("chunks.json")).unwrap())
                .unwrap();
        let width = DUMP_COLUMNS.len() + l1_names().len();
        assert_eq!(layout["rows"], 4);
        assert_eq!(layout["columns"].as_array().unwrap().len(), width);
        let bytes = std::fs::read(&path).unwrap();
        let v: Vec<f32> =
            bytes.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(v.len(), 4 * width);
        let col = |row: usize, name: &str| {
            v[row * width + DUMP_COLUMNS.iter().position(|c| *c == name).unwrap()]
        };
        // Chunk 0: 15 false-signal samples with FHR (one has none); chunk 1: 15 true ones;
        // chunks 2-3 unlabelled.
        assert_eq!((col(0, "fs_samples"), col(0, "ts_samples")), (15.0, 0.0));
        assert_eq!((col(1, "fs_samples"), col(1, "ts_samples")), (0.0, 15.0));
        assert_eq!((col(3, "fs_samples"), col(3, "ts_samples")), (0.0, 0.0));
        assert_eq!((col(2, "fold"), col(2, "p1"), col(2, "p2")), (2.0, 0.25, 0.75));
        assert_eq!((col(0, "chunk"), col(3, "chunk")), (0.0, 3.0));
        assert_eq!(col(0, "fhr_mean"), 140.0);
        assert!((col(0, "fhr_fraction") - 15.0 / 16.0).abs() < 1e-6);
        assert!(col(0, "mhr_mean").is_nan());
    }

    #[test]
    fn the_split_gate_is_a_level_1_feature() {
        assert_eq!(l1_names()[gate_column()], "mhr_present_2min");
        assert_eq!(l2_names()[gate_column()], "mhr_present_2min");
    }

    #[test]
    fn recording_balance_weighs_recordings_alike() {
        let mut recs = vec![rec(10), rec(30), rec(0)];
        balance_recordings(&mut recs, 1.0);
        let total = |r: &Rec| r.chunk_labels.iter().map(|(_, w)| w).sum::<f32>();
        // Mean 20 labelled chunks of weight 2: each recording ends with a total of 40.
        assert!((total(&recs[0]) - 40.0).abs() < 1e-3);
        assert!((total(&recs[1]) - 40.0).abs() < 1e-3);
        let mut same = vec![rec(10), rec(30)];
        balance_recordings(&mut same, 0.0);
        assert_eq!(total(&same[0]), 20.0);
        assert_eq!(total(&same[1]), 60.0);
    }
}
