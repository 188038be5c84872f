//! `ctg-sim`: the CTG simulator, replay, Corometrics decoder and CTG plots on the command line.
//!
//! ```text
//! ctg-sim list
//! ctg-sim run --scenario late-decelerations --seed 7 --duration 20m --speed max --wire corometrics115
//! ctg-sim run --replay ../shared/datasets/fhrma/train/train01.fhr --speed 10 --wire json
//! ctg-sim decode --wire corometrics115 --in trace.bin
//! ctg-sim plot --scenario normal-labour --seed 1 --duration 30m --png normal.png
//! ```
//!
//! A thin adapter over `hardware::sim`, `hardware::corometrics` and `hardware::plot`: it reads
//! the clock only to pace `--speed 1` output. Errors are one line on stderr and exit status 1
//! (2 for bad arguments).

#[path = "ctg-sim/decode.rs"]
mod decode;
#[path = "ctg-sim/plot.rs"]
mod plot;
#[path = "ctg-sim/run.rs"]
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hardware::sim::{Frame, FrameSource, Replay, Scenario, SimOptions, Simulator, parse_duration};

#[derive(Debug, Parser)]
#[command(
    name = "ctg-sim",
    version,
    about = "CTG simulator, replay, Corometrics decoder and CTG plots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the scenarios with a one-line description each.
    List,
    /// Write the bytes a monitor would send (stdout unless --out or --serial).
    Run(RunArgs),
    /// Read Corometrics bytes and print one JSON object per 250 ms sample.
    Decode(DecodeArgs),
    /// Render a trace on a CTG grid to PNG.
    Plot(PlotArgs),
}

/// Where the frames come from.
#[derive(Debug, Args)]
struct SourceArgs {
    /// Scenario name (see `ctg-sim list`).
    #[arg(long, conflicts_with = "replay", required_unless_present = "replay")]
    scenario: Option<String>,
    /// Replay a recording (.fhr, .fhrm, or a CTU-UHB .hea/.dat) instead of simulating.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Seed of the simulation: the same seed gives the same trace.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How much to produce, e.g. 90s, 20m, 2h (default 20m; a replay defaults to all of it).
    #[arg(long)]
    duration: Option<String>,
    /// Share of FHR samples lost to pen lifts, in percent (0-90), overriding the scenario's.
    #[arg(long, value_name = "PERCENT")]
    signal_loss: Option<f64>,
    /// Simulate twins: a second fetus on FHR2.
    #[arg(long)]
    twins: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Wire {
    /// GE Corometrics 115-compatible serial bytes.
    #[value(name = "corometrics115")]
    Corometrics115,
    /// One JSON object per 250 ms sample.
    Json,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// `max` (as fast as possible) or a factor of real time (1 = paced per 250 ms tick).
    #[arg(long, default_value = "max")]
    speed: String,
    #[arg(long, value_enum, default_value_t = Wire::Corometrics115)]
    wire: Wire,
    /// Write to this file instead of stdout.
    #[arg(long, conflicts_with = "serial")]
    out: Option<PathBuf>,
    /// Write to this serial port or pseudo-terminal (e.g. /dev/pts/3) at --baud, 8N1.
    #[arg(long)]
    serial: Option<PathBuf>,
    #[arg(long, default_value_t = 9600)]
    baud: u32,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    #[arg(long, value_enum, default_value_t = Wire::Corometrics115)]
    wire: Wire,
    /// Read from this file (or device) instead of stdin.
    #[arg(long = "in")]
    input: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PlotArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Start the strip this far into the trace, e.g. 10m.
    #[arg(long)]
    from: Option<String>,
    /// Output PNG file.
    #[arg(long)]
    png: PathBuf,
    /// Overlay the simulator's ground truth (decelerations, accelerations, signal loss).
    #[arg(long)]
    annotate: bool,
    /// Horizontal scale in pixels per minute (60 = the proportions of 1 cm/min paper).
    #[arg(long, default_value_t = 60.0)]
    px_per_min: f32,
}

/// A frame source with its length and a title.
struct Source {
    frames: Box<dyn FrameSource>,
    /// Frames to produce.
    n_ticks: u64,
    title: String,
    /// The scenario and seed when simulated (for wire faults and annotations).
    scenario: Option<(Scenario, u64)>,
    sim_options: SimOptions,
}

impl SourceArgs {
    fn open(&self) -> Result<Source> {
        let duration = self.duration.as_deref().map(parse_duration).transpose()?;
        let mut options = SimOptions::default();
        if let Some(pct) = self.signal_loss {
            if !(0.0..=90.0).contains(&pct) {
                bail!("--signal-loss {pct} outside 0-90 (percent of samples)");
            }
            options.signal_loss = Some(pct / 100.0);
        }
        options.twins = self.twins;
        match (&self.scenario, &self.replay) {
            (Some(name), _) => {
                let scenario: Scenario = name.parse()?;
                let sim = Simulator::with_options(scenario, self.seed, &options)?;
                Ok(Source {
                    frames: Box::new(sim),
                    n_ticks: duration.unwrap_or(20 * 240),
                    title: format!("{scenario}  seed {}", self.seed),
                    scenario: Some((scenario, self.seed)),
                    sim_options: options,
                })
            }
            (None, Some(path)) => {
                if self.signal_loss.is_some() || self.twins {
                    bail!(
                        "--signal-loss and --twins apply to simulated scenarios, not to a replay"
                    );
                }
                let recording = hardware::datasets::read_recording(path)
                    .with_context(|| format!("cannot replay {}", path.display()))?;
                if recording.is_empty() {
                    bail!("{}: recording has no samples", path.display());
                }
                let len = recording.len() as u64;
                let title = format!("replay {}", recording.name);
                Ok(Source {
                    frames: Box::new(Replay::new(recording)),
                    n_ticks: duration.map_or(len, |d| d.min(len)),
                    title,
                    scenario: None,
                    sim_options: options,
                })
            }
            (None, None) => bail!("give --scenario NAME or --replay PATH"),
        }
    }
}

impl Source {
    fn next(&mut self) -> Option<Frame> {
        self.frames.next_frame()
    }
}

fn list() {
    let width = Scenario::ALL.iter().map(|s| s.name().len()).max().unwrap_or(0);
    for s in Scenario::ALL {
        println!("{:width$}  {}", s.name(), s.description());
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprint!("{e}");
                return ExitCode::from(2);
            }
            // One line: clap's message up to its usage block.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("ctg-sim: error: {message} (see ctg-sim --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::List => {
            list();
            Ok(())
        }
        Command::Run(args) => run::run(&args),
        Command::Decode(args) => decode::decode(&args),
        Command::Plot(args) => plot::plot(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("ctg-sim: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The reader of our output went away (`ctg-sim run | head`): not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
