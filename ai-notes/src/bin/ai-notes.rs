//! `ai-notes`: speech → transcript → SOAP draft, and evaluation on public corpora.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use ai_notes::config::{Config, SpeechLanguage};
use ai_notes::eval;
use ai_notes::fhir::{FhirContext, Reference};
use ai_notes::soap::Lang;
use ai_notes::transcribe::{PipelineOptions, TranscriptionReport, WhisperTranscriber, transcribe};
use ai_notes::transcript::Transcript;
use ai_notes::vad::{SileroVad, VoiceDetector};
use ai_notes::{audio, markdown, soap};

#[derive(Parser, Debug)]
#[command(
    name = "ai-notes",
    version,
    about = "Consultation speech to SOAP note drafts (Japanese and English), offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Transcribe a WAV recording with a Whisper model (checksum verified).
    Transcribe(TranscribeArgs),
    /// Structure a transcript (file or stdin; text or the JSON of `transcribe --format json`)
    /// into a SOAP draft.
    Soap(SoapArgs),
    /// Evaluate against public corpora.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(clap::Args, Debug)]
struct TranscribeArgs {
    /// WAV file (any common sample rate and channel count).
    audio: PathBuf,
    /// Whisper ggml model (overrides [model] path of the configuration).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Configuration file (see ai-notes.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Spoken language: ja, en or auto (default: configuration, else ja).
    #[arg(long)]
    lang: Option<String>,
    /// whisper.cpp threads (default: configuration, else 1).
    #[arg(long)]
    threads: Option<u16>,
    /// Silero VAD model in ggml format (overrides [vad] model).
    #[arg(long)]
    vad_model: Option<PathBuf>,
    /// Do not use voice-activity detection: cut the audio into fixed 30-second windows.
    #[arg(long)]
    no_vad: bool,
    /// Output: plain text, or JSON with segments, timing and model identity.
    #[arg(long, value_enum, default_value_t = TranscriptFormat::Text)]
    format: TranscriptFormat,
    /// Do not print progress on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum TranscriptFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
struct SoapArgs {
    /// Transcript file; stdin when absent or "-".
    transcript: Option<PathBuf>,
    /// Language of the note: ja or en.
    #[arg(long)]
    lang: String,
    #[arg(long, value_enum, default_value_t = NoteFormat::Json)]
    format: NoteFormat,
    /// Generation time for FHIR output (RFC 3339); default: now.
    #[arg(long)]
    date: Option<String>,
    /// FHIR subject reference, e.g. Patient/123.
    #[arg(long)]
    subject: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum NoteFormat {
    Json,
    Fhir,
    Md,
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Full-note ROUGE-1/2/L on ACI-Bench (train.csv trains the note writer; valid.csv, or
    /// --eval FILE, is scored).
    Soap(EvalArgs),
    /// Section-header and S/O/A/P accuracy on MTS-Dialog (the training split trains the
    /// classifier; the validation split, or --eval FILE, is scored).
    Sections(EvalArgs),
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// Corpus directory (e.g. ../shared/datasets/soap/aci-bench).
    #[arg(long)]
    corpus: PathBuf,
    /// Training file (default: the corpus's training split).
    #[arg(long)]
    train: Option<PathBuf>,
    /// File to score (default: the corpus's validation split).
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Print the first N generated items next to their references.
    #[arg(long, default_value_t = 0)]
    show: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transcribe(a) => run_transcribe(a),
        Command::Soap(a) => run_soap(a),
        Command::Eval(EvalCommand::Soap(a)) => run_eval_soap(a),
        Command::Eval(EvalCommand::Sections(a)) => run_eval_sections(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ai-notes: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_transcribe(a: TranscribeArgs) -> Result<()> {
    let mut config = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(m) = a.model {
        config.model.path = Some(m);
    }
    if let Some(l) = &a.lang {
        config.transcription.language = l.parse::<SpeechLanguage>()?;
    }
    if let Some(t) = a.threads {
        config.transcription.threads = t;
    }
    if let Some(v) = a.vad_model {
        config.vad.model = Some(v);
    }
    if a.no_vad {
        config.vad.model = None;
    }
    config.validate()?;
    let model_path = config
        .model
        .path
        .clone()
        .context("no Whisper model given: pass --model PATH or set [model] path in --config")?;

    let (pcm, info) = audio::load_wav_16k_mono(&a.audio)
        .with_context(|| format!("reading {}", a.audio.display()))?;
    let mut whisper =
        WhisperTranscriber::new(&model_path, &config.expected(), &config.transcription)?;
    let model = whisper.model().clone();
    if !a.quiet {
        eprintln!("model: {}", model.describe());
        eprintln!(
            "audio: {} ({} Hz, {} channel(s), {}-bit{}) → 16 kHz mono, {:.1} s",
            a.audio.display(),
            info.sample_rate,
            info.channels,
            info.bits_per_sample,
            if info.float { " float" } else { "" },
            pcm.duration_s()
        );
    }
    let mut vad = match &config.vad.model {
        Some(p) => Some(SileroVad::new(p, &config.vad, config.transcription.threads)?),
        None => {
            if !a.quiet {
                eprintln!(
                    "note: no VAD model configured: cutting the audio into fixed {} s windows",
                    config.vad.max_chunk_s
                );
            }
            None
        }
    };
    let options = PipelineOptions {
        language: config.transcription.language,
        max_chunk_s: config.vad.max_chunk_s,
    };
    let quiet = a.quiet;
    let mut progress = |p: &ai_notes::transcribe::Progress| {
        if !quiet {
            eprintln!(
                "chunk {}/{}: {:.1}/{:.1} s of audio, {:.1} s elapsed",
                p.chunk, p.chunks, p.audio_done_s, p.audio_total_s, p.elapsed_s
            );
        }
    };
    let report: TranscriptionReport = transcribe(
        &mut whisper,
        vad.as_mut().map(|v| v as &mut dyn VoiceDetector),
        &pcm.samples,
        options,
        &mut progress,
    )?;
    eprintln!(
        "transcribed {:.1} s of audio ({:.1} s speech in {} chunk(s)) in {:.2} s with {} thread(s): real-time factor {:.3}",
        report.audio_s,
        report.speech_s,
        report.chunks,
        report.elapsed_s,
        config.transcription.threads,
        report.real_time_factor
    );
    if model.origin == ai_notes::models::ModelOrigin::TestStub {
        eprintln!(
            "note: {} is a test stub without trained weights: the text below is meaningless",
            model.name
        );
    }
    let mut out = std::io::stdout().lock();
    match a.format {
        TranscriptFormat::Text => writeln!(out, "{}", report.transcript.text())?,
        TranscriptFormat::Json => {
            let v = serde_json::json!({ "model": model, "report": report, "transcript": report.transcript });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// A transcript from text or from the JSON that `transcribe --format json` writes.
fn parse_transcript(input: &str) -> Transcript {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(input) {
        let candidate = v.get("transcript").cloned().unwrap_or(v);
        if let Ok(t) = serde_json::from_value::<Transcript>(candidate) {
            return t;
        }
    }
    Transcript {
        language: None,
        segments: vec![ai_notes::Segment {
            start_s: f64::NAN,
            end_s: f64::NAN,
            text: input.to_string(),
        }],
    }
}

fn run_soap(a: SoapArgs) -> Result<()> {
    let lang: Lang = a.lang.parse()?;
    let input = match &a.transcript {
        Some(p) if p.as_os_str() != "-" => std::fs::read_to_string(p)
            .with_context(|| format!("reading transcript {}", p.display()))?,
        _ => {
            let mut s = String::new();
            if std::io::stdin().is_terminal() {
                eprintln!("reading the transcript from stdin (end with Ctrl-D)…");
            }
            std::io::stdin().read_to_string(&mut s).context("reading the transcript from stdin")?;
            s
        }
    };
    if input.trim().is_empty() {
        bail!("the transcript is empty");
    }
    let transcript = parse_transcript(&input);
    let note = if transcript.segments.iter().all(|s| s.start_s.is_finite()) {
        soap::structure_transcript(&transcript, lang)
    } else {
        soap::structure(&input, lang)
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        NoteFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&note)?)?,
        NoteFormat::Md => write!(out, "{}", markdown::render(&note))?,
        NoteFormat::Fhir => {
            let date = match &a.date {
                Some(d) => chrono::DateTime::parse_from_rfc3339(d)
                    .with_context(|| format!("--date {d:?} is not an RFC 3339 time"))?,
                None => chrono::Local::now().fixed_offset(),
            };
            let mut ctx = FhirContext::at(date);
            ctx.subject = a.subject.map(|r| Reference { reference: r, display: None });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&ai_notes::fhir::bundle(&note, &ctx))?
            )?;
        }
    }
    Ok(())
}

fn find_file(dir: &Path, what: &str, pick: impl Fn(&str) -> bool) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading corpus directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter(|p| p.file_name().is_some_and(|n| pick(&n.to_string_lossy().to_lowercase())))
        .collect();
    found.sort();
    found.into_iter().next().with_context(|| format!("no {what} CSV in {}", dir.display()))
}

fn run_eval_soap(a: EvalArgs) -> Result<()> {
    let train_path = match a.train {
        Some(p) => p,
        None => find_file(&a.corpus, "training (train*.csv)", |n| {
            n.starts_with("train") && !n.contains("metadata")
        })?,
    };
    let eval_path = match a.eval {
        Some(p) => p,
        None => find_file(&a.corpus, "validation (valid*.csv)", |n| {
            n.starts_with("valid") && !n.contains("metadata")
        })?,
    };
    let train = eval::corpus::read_aci(&train_path)?;
    let test = eval::corpus::read_aci(&eval_path)?;
    let started = std::time::Instant::now();
    let result = eval::aci::evaluate(&train, &test, a.show)?;
    let elapsed = started.elapsed().as_secs_f64();
    for (i, (generated, reference)) in result.shown.iter().enumerate() {
        println!(
            "=== {} generated ===\n{generated}\n=== {} reference ===\n{reference}\n",
            i + 1,
            i + 1
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result.summary)?);
    } else {
        println!("{}", result.summary.table());
        println!(
            "(trained on {} encounters of {}, scored {} of {}, {:.1} s)",
            train.len(),
            train_path.display(),
            test.len(),
            eval_path.display(),
            elapsed
        );
    }
    Ok(())
}

fn run_eval_sections(a: EvalArgs) -> Result<()> {
    let train_path = match a.train {
        Some(p) => p,
        None => find_file(&a.corpus, "training (*training*.csv)", |n| n.contains("train"))?,
    };
    let eval_path = match a.eval {
        Some(p) => p,
        None => find_file(&a.corpus, "validation (*validation*.csv)", |n| n.contains("valid"))?,
    };
    let train = eval::corpus::read_mts(&train_path)?;
    let test = eval::corpus::read_mts(&eval_path)?;
    let result = eval::sections::evaluate(&train, &test);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{}", result.table());
        println!(
            "(trained on {} pairs of {}, scored {} of {})",
            train.len(),
            train_path.display(),
            test.len(),
            eval_path.display()
        );
    }
    Ok(())
}
