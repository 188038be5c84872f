//! `ctg-analyze`: the CTG analysis on files, and its evaluation against reference analyses.
//!
//! ```text
//! ctg-analyze FILE [--json]                      analyse a trace (.fhr, .fhrm, .hea/.dat, ctg-sim .jsonl)
//! ctg-analyze eval morphology --signals DIR --reference DIR
//! ctg-analyze eval false-signal --signals DIR --labels FILE.json
//! ctg-analyze plot FILE --png OUT [--from-min M --minutes N]
//! ctg-analyze train false-signal --signals DIR --labels FILE.json --out model.json
//! ```
//!
//! A thin adapter: files are read here, everything else is the `ctg_analysis` library.

mod eval;
mod input;
mod plot;
mod train;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ctg_analysis::gbt::TrainParams;
use ctg_analysis::{Analysis, Analyzer, Config, FetalChannel, Figo};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "ctg-analyze",
    version,
    about = "Automatic CTG analysis: baseline, events, contractions, false signal, FIGO/NICHD/JSOG"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    analyze: AnalyzeArgs,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// The trace: FHRMA .fhr/.fhrm, CTU-UHB .hea/.dat, or a ctg-sim JSON-lines file (.jsonl).
    file: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Analysis configuration (TOML; see ctg-analyze.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Which fetal channel to analyse: merged = max(FHR1, FHR2) per sample (the FHRMA rule).
    #[arg(long, value_enum, default_value_t = Channel::Merged)]
    channel: Channel,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum Channel {
    Merged,
    Fhr1,
    Fhr2,
}

impl From<Channel> for FetalChannel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Merged => FetalChannel::Merged,
            Channel::Fhr1 => FetalChannel::Fhr1,
            Channel::Fhr2 => FetalChannel::Fhr2,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Score the analysis against reference analyses.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Draw a trace with its baseline, events and classification.
    Plot {
        file: PathBuf,
        #[arg(long)]
        png: PathBuf,
        /// First minute shown.
        #[arg(long, default_value_t = 0.0)]
        from_min: f64,
        /// Minutes shown (default: to the end).
        #[arg(long)]
        minutes: Option<f64>,
        #[command(flatten)]
        common: Common,
    },
    /// Train the embedded models.
    #[command(subcommand)]
    Train(TrainCommand),
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Baseline and event agreement (MADI, RMSD, > 15 bpm, event sensitivity/PPV/F1) against
    /// references in the FHRMA WMFB format (NAME.txt and NAME_baseline.csv).
    Morphology {
        #[arg(long)]
        signals: PathBuf,
        #[arg(long)]
        reference: PathBuf,
        /// Score the analyses in this directory (same format as the reference) instead of ours.
        #[arg(long)]
        method: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Per-sample false-signal detection against expert labels (sensitivity, PPV, accuracy).
    FalseSignal {
        /// Directory holding the recordings (searched one level deep).
        #[arg(long)]
        signals: PathBuf,
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum TrainCommand {
    /// Train the false-signal model on expert labels (train and validation sets).
    FalseSignal {
        #[arg(long)]
        signals: PathBuf,
        #[arg(long)]
        labels: PathBuf,
        /// Where to write the model (the library embeds src/false_signal/model.json).
        #[arg(long)]
        out: PathBuf,
        /// After reporting validation figures, retrain the shipped model on train + validation.
        #[arg(long)]
        final_on_all: bool,
        /// Also report recording-level cross-validated figures over the training recordings
        /// (and, with --final-on-all, over training and validation recordings together).
        #[arg(long)]
        cv: bool,
        #[arg(long, default_value_t = 4)]
        folds: usize,
        #[arg(long, default_value_t = 2)]
        stride: usize,
        #[arg(long, default_value_t = 150)]
        trees: usize,
        #[arg(long, default_value_t = 5)]
        depth: usize,
        #[arg(long, default_value_t = 0.1)]
        learning_rate: f32,
        /// Smallest hessian sum allowed in a tree's child (larger: coarser, more regular trees).
        #[arg(long, default_value_t = TrainParams::default().min_child_weight)]
        min_child_weight: f32,
        /// L2 regularisation of leaf values.
        #[arg(long, default_value_t = TrainParams::default().lambda)]
        lambda: f32,
        /// Weigh recordings more alike: each recording's chunks are weighted by (mean labelled
        /// chunks per recording / its own)^B, 0 (default) to 1.
        #[arg(long, default_value_t = 0.0)]
        recording_balance: f32,
        /// Experiment: separate models for chunks whose share of MHR over 2 min reaches this
        /// (0-1) and for the others. Reports figures; writes no model.
        #[arg(long)]
        split_mhr: Option<f32>,
        /// Experiment: write every chunk's level-1 features, label counts and the stack's
        /// cross-validated (training recordings, needs --cv) or held-out (validation) answers
        /// to FILE (little-endian f32 rows) and FILE.json (layout), for models tried outside.
        #[arg(long)]
        dump_chunks: Option<PathBuf>,
    },
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    let config = match path {
        None => Config::default(),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", p.display()))?
        }
    };
    config.validate().context("invalid configuration")?;
    Ok(config)
}

/// The JSON form of an analysis (`ctg-analyze FILE --json`).
#[derive(Serialize)]
struct JsonOutput<'a> {
    file: String,
    sample_rate_hz: u32,
    samples: usize,
    duration_s: f64,
    final_until_s: f64,
    baseline_bpm: Vec<Option<f64>>,
    accelerations: &'a [ctg_analysis::Acceleration],
    decelerations: &'a [ctg_analysis::Deceleration],
    contractions: &'a [ctg_analysis::Contraction],
    false_signal: &'a [ctg_analysis::FalseSignalPeriod],
    windows: &'a [ctg_analysis::Window],
    antenatal: &'a ctg_analysis::antenatal::AntenatalSummary,
}

fn analyse(path: &Path, common: &Common) -> Result<(input::Trace, Analysis)> {
    let trace = input::read_trace(path, common.channel.into())?;
    let mut config = load_config(common.config.as_deref())?;
    if config.second_stage_start_s.is_none() {
        config.second_stage_start_s = trace.second_stage_s;
    }
    let mut a = Analyzer::new(config)?;
    a.push(&trace.samples);
    let analysis = a.analysis();
    Ok((trace, analysis))
}

fn print_summary(name: &str, a: &Analysis) {
    let valid = a.minutes.iter().map(|m| f64::from(m.valid_fraction)).sum::<f64>()
        / a.minutes.len().max(1) as f64;
    println!("{name}: {:.1} min, {:.0} % usable FHR", a.samples as f64 / 240.0, 100.0 * valid);
    println!(
        "  {} accelerations, {} decelerations, {} contractions, {} false-signal periods",
        a.accelerations.len(),
        a.decelerations.len(),
        a.contractions.len(),
        a.false_signal.len()
    );
    for w in &a.windows {
        let cls = if w.figo == Figo::CannotAssess {
            format!("cannot assess ({:.0} % usable)", 100.0 * w.valid_fraction)
        } else {
            format!(
                "baseline {} bpm, variability {} bpm: FIGO {:?}, NICHD {:?}, JSOG level {}{}",
                w.baseline_bpm.map_or("-".into(), |v| format!("{v:.0}")),
                w.variability_bpm.map_or("-".into(), |v| format!("{v:.0}")),
                w.figo,
                w.nichd,
                w.jsog_level.map_or("-".into(), |l| l.to_string()),
                if w.jsog_provisional { " (provisional)" } else { "" }
            )
        };
        let reasons: Vec<String> = w.reasons.iter().map(|r| format!("{r:?}")).collect();
        println!(
            "  {:>5.1}-{:>5.1} min  {cls}  [{}]",
            w.start_s / 60.0,
            w.end_s / 60.0,
            reasons.join(", ")
        );
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            let Some(file) = cli.analyze.file else {
                anyhow::bail!("give a trace to analyse, or a subcommand (see --help)");
            };
            let (trace, a) = analyse(&file, &cli.analyze.common)?;
            if cli.analyze.json {
                let out = JsonOutput {
                    file: file.display().to_string(),
                    sample_rate_hz: a.sample_rate_hz,
                    samples: a.samples,
                    duration_s: a.samples as f64 / f64::from(a.sample_rate_hz),
                    final_until_s: a.final_until_s,
                    baseline_bpm: a
                        .baseline_bpm
                        .iter()
                        .map(|v| v.map(|x| (f64::from(x) * 100.0).round() / 100.0))
                        .collect(),
                    accelerations: &a.accelerations,
                    decelerations: &a.decelerations,
                    contractions: &a.contractions,
                    false_signal: &a.false_signal,
                    windows: &a.windows,
                    antenatal: &a.antenatal,
                };
                println!("{}", serde_json::to_string(&out)?);
            } else {
                print_summary(&trace.name, &a);
            }
        }
        Some(Command::Eval(EvalCommand::Morphology {
            signals,
            reference,
            method,
            json,
            config,
        })) => {
            let config = load_config(config.as_deref())?;
            let (files, summary) =
                eval::morphology(&signals, &reference, method.as_deref(), &config)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "files": files, "summary": summary })
                    )?
                );
            } else {
                eval::print_morphology(&files, &summary);
            }
        }
        Some(Command::Eval(EvalCommand::FalseSignal { signals, labels, json, config })) => {
            let config = load_config(config.as_deref())?;
            let report = eval::false_signal(&signals, &labels, &config)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eval::print_false_signal(&report);
            }
        }
        Some(Command::Plot { file, png, from_min, minutes, common }) => {
            let (trace, a) = analyse(&file, &common)?;
            let start = from_min.max(0.0) * 60.0;
            let end = minutes.map_or(f64::INFINITY, |m| start + m.max(0.0) * 60.0);
            let bytes = plot::render(&trace.name, &trace.samples, &a, start, end)?;
            std::fs::write(&png, bytes).with_context(|| format!("writing {}", png.display()))?;
        }
        Some(Command::Train(TrainCommand::FalseSignal {
            signals,
            labels,
            out,
            final_on_all,
            cv,
            folds,
            stride,
            trees,
            depth,
            learning_rate,
            min_child_weight,
            lambda,
            recording_balance,
            split_mhr,
            dump_chunks,
        })) => {
            if !(min_child_weight >= 0.0 && lambda >= 0.0) {
                anyhow::bail!("--min-child-weight and --lambda must be numbers >= 0");
            }
            let params = TrainParams {
                trees,
                max_depth: depth,
                learning_rate,
                min_child_weight,
                lambda,
                ..TrainParams::default()
            };
            train::run(&train::TrainArgs {
                signals,
                labels,
                out,
                final_on_all,
                folds,
                params,
                stride,
                cv,
                recording_balance,
                split_mhr,
                dump_chunks,
            })?;
        }
    }
    Ok(())
}
