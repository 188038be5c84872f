//! Speech to text behind the [`Transcriber`] trait: [`WhisperTranscriber`] (whisper.cpp through
//! whisper-rs, model checksum verified before loading) and [`FakeTranscriber`] (scripted text for
//! tests of everything downstream). [`transcribe`] runs the chunked pipeline with progress
//! reports and measures the real-time factor.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::audio::SAMPLE_RATE;
use crate::config::{SpeechLanguage, TranscriptionConfig};
use crate::models::{Expected, ModelError, VerifiedModel, verify_model};
use crate::transcript::{Segment, Transcript};
use crate::vad::{VadError, VoiceDetector, chunk_speech, fixed_windows};

/// Transcription errors.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "model {model} is English-only and cannot transcribe Japanese: use a multilingual model (no \".en\" in its name)"
    )]
    EnglishOnlyModel { model: String },
    #[error("whisper.cpp could not load {path}: {message}")]
    Load { path: String, message: String },
    #[error("whisper.cpp failed: {0}")]
    Whisper(String),
    #[error(transparent)]
    Vad(#[from] VadError),
}

/// Transcribes one chunk of 16 kHz mono audio; segment times are relative to the chunk.
pub trait Transcriber {
    fn transcribe_chunk(
        &mut self,
        pcm_16k: &[f32],
        language: SpeechLanguage,
    ) -> Result<Transcript, TranscribeError>;
}

/// Progress of a long transcription, reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Chunks done and total.
    pub chunk: usize,
    pub chunks: usize,
    /// Audio seconds covered so far and in all.
    pub audio_done_s: f64,
    pub audio_total_s: f64,
    /// Wall-clock seconds since the start.
    pub elapsed_s: f64,
}

/// Result of [`transcribe`] with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionReport {
    pub transcript: Transcript,
    /// Recording length (s).
    pub audio_s: f64,
    /// Speech handed to the transcriber (s).
    pub speech_s: f64,
    pub chunks: usize,
    /// Wall-clock time of VAD plus transcription (s).
    pub elapsed_s: f64,
    /// `elapsed_s / audio_s`: below 1 is faster than real time.
    pub real_time_factor: f64,
}

/// Options of [`transcribe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineOptions {
    pub language: SpeechLanguage,
    /// Longest chunk (s), at most 30.
    pub max_chunk_s: f32,
}

/// Cuts `pcm_16k` into chunks (with `vad` if given, else fixed windows), transcribes each, and
/// joins the segments on the recording's time line. `progress` is called after every chunk.
pub fn transcribe(
    transcriber: &mut dyn Transcriber,
    vad: Option<&mut dyn VoiceDetector>,
    pcm_16k: &[f32],
    options: PipelineOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<TranscriptionReport, TranscribeError> {
    let started = Instant::now();
    let max_len = (options.max_chunk_s.clamp(1.0, 30.0) * SAMPLE_RATE as f32) as usize;
    let chunks: Vec<Range<usize>> = match vad {
        Some(v) => chunk_speech(&v.detect(pcm_16k)?, max_len),
        None => fixed_windows(pcm_16k.len(), max_len),
    };
    let rate = f64::from(SAMPLE_RATE);
    let audio_s = pcm_16k.len() as f64 / rate;
    let mut transcript = Transcript { language: None, segments: Vec::new() };
    let mut speech_s = 0.0;
    for (i, chunk) in chunks.iter().enumerate() {
        let offset = chunk.start as f64 / rate;
        let part = transcriber.transcribe_chunk(&pcm_16k[chunk.clone()], options.language)?;
        if transcript.language.is_none() {
            transcript.language = part.language;
        }
        let chunk_end = chunk.end as f64 / rate;
        transcript.segments.extend(
            part.segments.into_iter().filter(|s| !s.text.trim().is_empty()).map(|s| Segment {
                start_s: (offset + s.start_s).min(chunk_end),
                end_s: (offset + s.end_s).min(chunk_end),
                text: s.text,
            }),
        );
        speech_s += chunk.len() as f64 / rate;
        progress(&Progress {
            chunk: i + 1,
            chunks: chunks.len(),
            audio_done_s: chunk_end,
            audio_total_s: audio_s,
            elapsed_s: started.elapsed().as_secs_f64(),
        });
    }
    if transcript.language.is_none() && options.language != SpeechLanguage::Auto {
        transcript.language = Some(options.language.whisper_code().to_string());
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(TranscriptionReport {
        transcript,
        audio_s,
        speech_s,
        chunks: chunks.len(),
        elapsed_s,
        real_time_factor: if audio_s > 0.0 { elapsed_s / audio_s } else { 0.0 },
    })
}

/// Routes whisper.cpp's log output (it writes to stderr by default) into whisper-rs's hooks,
/// which drop it without a logging backend: errors reach users through our messages instead.
pub(crate) fn quiet_whisper_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(whisper_rs::install_logging_hooks);
}

/// whisper.cpp needs at least one second of audio per call; shorter chunks are padded with
/// silence.
const MIN_SAMPLES: usize = SAMPLE_RATE as usize + SAMPLE_RATE as usize / 10;

/// Whisper through whisper-rs.
pub struct WhisperTranscriber {
    // Kept alive for `state`, which refers to it.
    _ctx: WhisperContext,
    state: WhisperState,
    model: VerifiedModel,
    threads: u16,
}

impl std::fmt::Debug for WhisperTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTranscriber")
            .field("model", &self.model)
            .field("threads", &self.threads)
            .finish()
    }
}

impl WhisperTranscriber {
    /// Verifies the model's checksum (see [`crate::models`]) and loads it.
    pub fn new(
        model_path: &Path,
        expected: &Expected,
        options: &TranscriptionConfig,
    ) -> Result<Self, TranscribeError> {
        let model = verify_model(model_path, expected)?;
        if options.language == SpeechLanguage::Ja && !model.multilingual {
            return Err(TranscribeError::EnglishOnlyModel { model: model.name });
        }
        quiet_whisper_logs();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(options.use_gpu);
        let path = model_path.display().to_string();
        let ctx = WhisperContext::new_with_params(model_path, params)
            .map_err(|e| TranscribeError::Load { path: path.clone(), message: e.to_string() })?;
        let state = ctx
            .create_state()
            .map_err(|e| TranscribeError::Load { path, message: e.to_string() })?;
        Ok(Self { _ctx: ctx, state, model, threads: options.threads.max(1) })
    }

    /// The verified model in use.
    pub fn model(&self) -> &VerifiedModel {
        &self.model
    }
}

impl Transcriber for WhisperTranscriber {
    fn transcribe_chunk(
        &mut self,
        pcm_16k: &[f32],
        language: SpeechLanguage,
    ) -> Result<Transcript, TranscribeError> {
        if language == SpeechLanguage::Ja && !self.model.multilingual {
            return Err(TranscribeError::EnglishOnlyModel { model: self.model.name.clone() });
        }
        let padded;
        let pcm = if pcm_16k.len() < MIN_SAMPLES {
            let mut p = pcm_16k.to_vec();
            p.resize(MIN_SAMPLES, 0.0);
            padded = p;
            &padded
        } else {
            pcm_16k
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::from(self.threads));
        params.set_language(Some(language.whisper_code()));
        params.set_translate(false);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        // Chunks are independent: previous text as prompt lets hallucinations propagate.
        params.set_no_context(true);
        self.state.full(params, pcm).map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let detected =
            whisper_rs::get_lang_str(self.state.full_lang_id_from_state()).map(str::to_string);
        let mut segments = Vec::new();
        for seg in self.state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| TranscribeError::Whisper(e.to_string()))?
                .into_owned();
            segments.push(Segment {
                start_s: seg.start_timestamp() as f64 / 100.0,
                end_s: seg.end_timestamp() as f64 / 100.0,
                text,
            });
        }
        let language = match language {
            SpeechLanguage::Auto => detected,
            l => Some(l.whisper_code().to_string()),
        };
        Ok(Transcript { language, segments })
    }
}

/// A transcriber that returns scripted text, one entry per chunk (empty after the script ends),
/// and records the chunk lengths it was given. It lets content tests run without trained
/// Whisper weights.
#[derive(Debug, Clone, Default)]
pub struct FakeTranscriber {
    script: Vec<String>,
    /// Sample counts of the chunks received, in order.
    pub calls: Vec<usize>,
}

impl FakeTranscriber {
    /// Returns `script[i]` for the i-th chunk.
    pub fn new(script: Vec<String>) -> Self {
        Self { script, calls: Vec::new() }
    }
}

impl Transcriber for FakeTranscriber {
    fn transcribe_chunk(
        &mut self,
        pcm_16k: &[f32],
        language: SpeechLanguage,
    ) -> Result<Transcript, TranscribeError> {
        let i = self.calls.len();
        self.calls.push(pcm_16k.len());
        let text = self.script.get(i).cloned().unwrap_or_default();
        let end_s = pcm_16k.len() as f64 / f64::from(SAMPLE_RATE);
        let language = match language {
            SpeechLanguage::Auto => None,
            l => Some(l.whisper_code().to_string()),
        };
        Ok(Transcript { language, segments: vec![Segment { start_s: 0.0, end_s, text }] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedVad(Vec<Range<usize>>);
    impl VoiceDetector for FixedVad {
        fn detect(&mut self, _: &[f32]) -> Result<Vec<Range<usize>>, VadError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn pipeline_offsets_segments_and_reports_progress() {
        let pcm = vec![0.0f32; 16_000 * 50];
        let mut fake = FakeTranscriber::new(vec!["first".into(), "second".into()]);
        let mut vad = FixedVad(vec![16_000..48_000, 40 * 16_000..45 * 16_000]);
        let mut seen = Vec::new();
        let report = transcribe(
            &mut fake,
            Some(&mut vad),
            &pcm,
            PipelineOptions { language: SpeechLanguage::Ja, max_chunk_s: 30.0 },
            &mut |p| seen.push((p.chunk, p.chunks, p.audio_done_s)),
        )
        .unwrap();
        assert_eq!(fake.calls, vec![32_000, 80_000]);
        assert_eq!(seen, vec![(1, 2, 3.0), (2, 2, 45.0)]);
        let t = &report.transcript;
        assert_eq!(t.language.as_deref(), Some("ja"));
        assert_eq!(t.segments.len(), 2);
        assert_eq!((t.segments[1].start_s, t.segments[1].end_s), (40.0, 45.0));
        assert_eq!(report.speech_s, 7.0);
        assert_eq!(report.audio_s, 50.0);
        assert!(report.real_time_factor >= 0.0);
    }

    #[test]
    fn without_vad_fixed_windows_cover_the_recording() {
        let pcm = vec![0.0f32; 16_000 * 65];
        let mut fake = FakeTranscriber::new(vec![]);
        let options = PipelineOptions { language: SpeechLanguage::En, max_chunk_s: 30.0 };
        let report = transcribe(&mut fake, None, &pcm, options, &mut |_| {}).unwrap();
        assert_eq!(fake.calls, vec![480_000, 480_000, 80_000]);
        assert!(report.transcript.segments.is_empty(), "empty text is dropped");
    }

    #[test]
    fn whisper_transcriber_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<WhisperTranscriber>();
    }
}
