//! Benchmarks: SOAP structuring time per 1,000 words (target ≤ 5 ms) and transcription
//! real-time factor with whisper.cpp's test stub model on 1 and 2 threads.
//!
//! `cargo bench -p ai-notes` prints criterion's timings and, after them, the figures in the
//! units of the targets.

use std::path::PathBuf;
use std::time::Instant;

use ai_notes::config::{SpeechLanguage, TranscriptionConfig, VadConfig};
use ai_notes::models::Expected;
use ai_notes::soap::{Lang, structure};
use ai_notes::transcribe::{PipelineOptions, transcribe};
use ai_notes::vad::{SileroVad, VoiceDetector};
use ai_notes::{WhisperTranscriber, audio};
use std::hint::black_box;

use criterion::Criterion;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ai-notes/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The visit dictation repeated to at least `words` words (English) or `chars` characters.
fn transcript_of_words(base: &str, words: usize) -> (String, usize) {
    let mut t = String::new();
    while t.split_whitespace().count() < words {
        t.push_str(base);
        t.push('\n');
    }
    let n = t.split_whitespace().count();
    (t, n)
}

fn transcript_of_chars(base: &str, chars: usize) -> (String, usize) {
    let mut t = String::new();
    while t.chars().count() < chars {
        t.push_str(base);
    }
    let n = t.chars().count();
    (t, n)
}

fn datasets() -> Option<PathBuf> {
    let dir = match std::env::var_os("CTG_DATASETS") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(|w| w.join("../shared/datasets"))
        }
    }
    .filter(|p| p.is_dir());
    if dir.is_none() {
        eprintln!(
            "NOTE: transcription benchmark skipped: datasets not found (set CTG_DATASETS or place them at ../shared/datasets)"
        );
    }
    dir
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (en, en_words) = transcript_of_words(&fixture("visit_en.txt"), 1000);
    // Japanese has no spaces: 1,000 words of Japanese dictation are about 2,000 characters.
    let (ja, ja_chars) = transcript_of_chars(&fixture("visit_ja.txt"), 2000);
    c.bench_function(&format!("structure_en_{en_words}_words"), |b| {
        b.iter(|| structure(black_box(&en), Lang::En))
    });
    c.bench_function(&format!("structure_ja_{ja_chars}_chars"), |b| {
        b.iter(|| structure(black_box(&ja), Lang::Ja))
    });
    c.final_summary();

    // Direct figures in the target's unit (median of repeated runs).
    let median_ms = |f: &dyn Fn()| {
        let mut v: Vec<f64> = (0..30)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let en_ms = median_ms(&|| drop(black_box(structure(&en, Lang::En))));
    let ja_ms = median_ms(&|| drop(black_box(structure(&ja, Lang::Ja))));
    println!(
        "FIGURE structuring English: {:.2} ms per 1,000 words ({en_words} words in {en_ms:.2} ms)",
        en_ms * 1000.0 / en_words as f64
    );
    println!(
        "FIGURE structuring Japanese: {:.2} ms per 2,000 characters (~1,000 words) ({ja_chars} characters in {ja_ms:.2} ms)",
        ja_ms * 2000.0 / ja_chars as f64
    );

    let Some(d) = datasets() else { return };
    let model = d.join("speech/models/for-tests-ggml-tiny.bin");
    let vad_model = d.join("speech/models/for-tests-silero-v6.2.0-ggml.bin");
    for (wav, lang) in [
        ("speech/synthetic/ja_midwife_openjtalk_16k.wav", SpeechLanguage::Ja),
        ("speech/real/jfk.wav", SpeechLanguage::En),
    ] {
        let (pcm, _) = audio::load_wav_16k_mono(&d.join(wav)).expect("speech sample");
        for threads in [1u16, 2] {
            let options = TranscriptionConfig { language: lang, threads, use_gpu: false };
            let mut whisper = WhisperTranscriber::new(&model, &Expected::default(), &options)
                .expect("stub model loads");
            let mut vad = SileroVad::new(&vad_model, &VadConfig::default(), threads)
                .expect("VAD model loads");
            let pipeline = PipelineOptions { language: lang, max_chunk_s: 30.0 };
            let mut rtfs: Vec<f64> = (0..3)
                .map(|_| {
                    transcribe(
                        &mut whisper,
                        Some(&mut vad as &mut dyn VoiceDetector),
                        &pcm.samples,
                        pipeline,
                        &mut |_| {},
                    )
                    .expect("transcription runs")
                    .real_time_factor
                })
                .collect();
            rtfs.sort_by(f64::total_cmp);
            println!(
                "FIGURE transcription RTF, stub model, {threads} thread(s), {wav} ({:.1} s): median {:.3} (min {:.3}, max {:.3}) of 3 runs",
                pcm.duration_s(),
                rtfs[1],
                rtfs[0],
                rtfs[2]
            );
        }
    }
}
