//! Dictation on the server: a WAV recording → Whisper transcript (ai-notes) → SOAP draft.
//!
//! Used when the phone has no model of its own (the mother's voice notes) and for clinicians'
//! dictation in the web page. The model is configured with an ai-notes configuration file
//! (`phr.speech_config`: model path and checksum, threads); without one the server answers 503
//! and drafts only from typed transcripts. One transcription runs at a time (whisper.cpp is
//! CPU-bound; a queue of requests waits rather than thrashing a small machine).

use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;

use ai_notes::audio::{decode_wav, resample};
use ai_notes::config::SpeechLanguage;
use ai_notes::soap::Lang;
use ai_notes::transcribe::{PipelineOptions, Transcriber, WhisperTranscriber, transcribe};

/// Longest recording accepted, in seconds (a dictated note, not a consultation).
pub const MAX_AUDIO_S: f64 = 300.0;
/// Largest WAV body accepted (5 min of 16 kHz 16-bit mono is 9.6 MB; 48 kHz stereo is not).
pub const MAX_WAV_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("cannot read the speech configuration {path}: {message}")]
    Config { path: String, message: String },
    #[error("the speech configuration {path} names no model ([model] path)")]
    NoModel { path: String },
    #[error("cannot load the speech model: {0}")]
    Model(String),
    #[error("not a usable WAV recording: {0}")]
    Audio(String),
    #[error("the recording is {0:.0} s long; at most {MAX_AUDIO_S:.0} s")]
    TooLong(f64),
    #[error("transcription failed: {0}")]
    Transcribe(String),
}

/// The server's transcriber.
pub struct Speech {
    transcriber: Mutex<Box<dyn Transcriber + Send>>,
    /// What the model is, for the note's Provenance.
    pub describe: String,
}

impl std::fmt::Debug for Speech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speech").field("describe", &self.describe).finish()
    }
}

impl Speech {
    /// Wraps a transcriber (tests use ai-notes' scripted fake: no trained weights here).
    pub fn new(transcriber: Box<dyn Transcriber + Send>, describe: impl Into<String>) -> Self {
        Self { transcriber: Mutex::new(transcriber), describe: describe.into() }
    }

    /// Loads Whisper as an ai-notes configuration file says (checksum verified).
    pub fn from_config(path: &Path) -> Result<Self, SpeechError> {
        let shown = path.display().to_string();
        let config = ai_notes::config::Config::load(path)
            .map_err(|e| SpeechError::Config { path: shown.clone(), message: e.to_string() })?;
        let model = config.model.path.clone().ok_or(SpeechError::NoModel { path: shown })?;
        let whisper = WhisperTranscriber::new(&model, &config.expected(), &config.transcription)
            .map_err(|e| SpeechError::Model(e.to_string()))?;
        let describe = whisper.model().describe();
        Ok(Self::new(Box::new(whisper), describe))
    }

    /// Transcribes a WAV recording in `lang`. CPU-heavy: call from a blocking thread.
    pub fn transcribe_wav(&self, wav: &[u8], lang: Lang) -> Result<String, SpeechError> {
        let (audio, _) =
            decode_wav(Cursor::new(wav)).map_err(|e| SpeechError::Audio(e.to_string()))?;
        if audio.duration_s() > MAX_AUDIO_S {
            return Err(SpeechError::TooLong(audio.duration_s()));
        }
        let pcm = resample(&audio.samples, audio.sample_rate, ai_notes::audio::SAMPLE_RATE)
            .map_err(|e| SpeechError::Audio(e.to_string()))?;
        let language = match lang {
            Lang::Ja => SpeechLanguage::Ja,
            Lang::En => SpeechLanguage::En,
        };
        let mut t = self.transcriber.lock().unwrap_or_else(|p| p.into_inner());
        let report = transcribe(
            t.as_mut(),
            None,
            &pcm,
            PipelineOptions { language, max_chunk_s: 30.0 },
            &mut |_| {},
        )
        .map_err(|e| SpeechError::Transcribe(e.to_string()))?;
        Ok(report.transcript.text())
    }
}
