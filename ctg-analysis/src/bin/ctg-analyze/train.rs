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
}

struct Rec {
    name: String,
    val: bool,
    samples: Vec<Sample>,
    labels: Vec<Option<bool>>,
    l1: Rows,
    /// Chunk label and weight (labelled samples with FHR in the chunk).
    chunk_labels: Vec<(bool, f32)>,
}

fn chunk_labels(samples: &[Sample], labels: &[Option<bool>]) -> Vec<(bool, f32)> {
    samples
        .chunks(ctg_analysis::false_signal::CHUNK)
        .zip(labels.chunks(ctg_analysis::false_signal::CHUNK))
        .map(|(s, l)| {
            let (mut fs, mut ts) = (0u32, 0u32);
            for (s, l) in s.iter().zip(l) {
                if s.fhr.is_some() {
                    match l {
                        Some(true) => fs += 1,
                        Some(false) => ts += 1,
                        None => {}
                    }
                }
            }
            (fs > ts, (fs + ts) as f32)
        })
        .collect()
}

fn dataset(
    recs: &[&Rec],
    rows: &dyn Fn(&Rec) -> &Rows,
    n_features: usize,
    stride: usize,
) -> Dataset {
    let mut d = Dataset::new(n_features);
    let mut k = 0usize;
    for r in recs {
        let rows = rows(r);
        for (c, &(label, w)) in r.chunk_labels.iter().enumerate() {
            if w <= 0.0 {
                continue;
            }
            if let Some(x) = rows.row(c) {
                if k.is_multiple_of(stride) {
                    d.push(x, label, w);
                }
                k += 1;
            }
        }
    }
    d
}

fn predict(model: &Model, rows: &Rows) -> Vec<f32> {
    // The compiled form is what the library evaluates (identical margins, faster).
    let model = model.compile();
    (0..rows.chunk_row.len()).map(|c| rows.row(c).map_or(f32::NAN, |x| model.predict(x))).collect()
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
        let d = dataset(&train_set, &|r: &Rec| &r.l1, n1.len(), args.stride);
        eprintln!("  fold {}/{}: {} rows", fold + 1, args.folds, d.rows());
        let m = train(&d, n1, &args.params);
        for (i, r) in recs.iter().enumerate() {
            if i % args.folds == fold {
                p1[i] = predict(&m, &r.l1);
            }
        }
    }
    p1
}

/// Trains both levels on `recs`.
fn train_stack(recs: &[&Rec], args: &TrainArgs) -> (Model, Model) {
    let n1 = l1_names();
    let n2 = l2_names();
    eprintln!("level 1 out of fold over {} recordings", recs.len());
    let oof = out_of_fold(recs, args, &n1);
    let l2_rows: Vec<Rows> =
        recs.iter().zip(&oof).map(|(r, p)| level2_rows(&r.samples, &r.l1, p)).collect();
    eprintln!("level 1 on all");
    let d1 = dataset(recs, &|r: &Rec| &r.l1, n1.len(), args.stride);
    let l1 = train(&d1, &n1, &args.params);
    eprintln!("level 2");
    let mut d2 = Dataset::new(n2.len());
    let mut k = 0usize;
    for (r, rows) in recs.iter().zip(&l2_rows) {
        for (c, &(label, w)) in r.chunk_labels.iter().enumerate() {
            if w > 0.0
                && let Some(x) = rows.row(c)
            {
                if k.is_multiple_of(args.stride) {
                    d2.push(x, label, w);
                }
                k += 1;
            }
        }
    }
    let l2 = train(&d2, &n2, &args.params);
    (l1, l2)
}

fn score(recs: &[&Rec], l1: &Model, l2: &Model) -> Confusion {
    score_at(recs, l1, l2, &[THRESHOLD])[0]
}

/// Thresholds reported by the cross-validation (the shipped one is `THRESHOLD`).
const CV_THRESHOLDS: [f32; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Confusion of the stack's per-sample answers at each threshold.
fn score_at(recs: &[&Rec], l1: &Model, l2: &Model, thresholds: &[f32]) -> Vec<Confusion> {
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
    }
    totals
}

/// Recording-level K-fold cross-validation of the whole stack over `recs`.
fn cross_validate(recs: &[&Rec], args: &TrainArgs) -> Vec<Confusion> {
    let mut totals = vec![Confusion::default(); CV_THRESHOLDS.len()];
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
        for (total, c) in totals.iter_mut().zip(score_at(&held, &l1, &l2, &CV_THRESHOLDS)) {
            total.add(&c);
        }
        for r in &held {
            worst.push((r.name.clone(), score(&[r], &l1, &l2)));
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
    let mut cv_note = if args.cv {
        let cv = cross_validate(&train_recs, args);
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
    let (l1, l2, trained_on) = if args.final_on_all && !val_recs.is_empty() {
        let all: Vec<&Rec> = recs.iter().collect();
        if args.cv {
            // The honest estimate for models trained on everything: the same cross-validation
            // over all the recordings.
            let cv = cross_validate(&all, args);
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
         (folds {}, stride {}, {} trees of depth {}, learning rate {}, min child weight {}, lambda {}); trained on {}; \
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
        trained_on,
        fmt(&train_score),
        val_score.as_ref().map_or_else(|| "-".into(), fmt),
        cv_note,
        recs.first().map_or("-", |r| r.name.as_str()),
    );
    let models = Models { provenance, l1, l2 };
    let text = serde_json::to_string(&models)?;
    // The written file must load as the library will load it.
    Models::from_json(&text).map_err(anyhow::Error::msg)?;
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    println!("model written to {}", args.out.display());
    Ok(())
}
