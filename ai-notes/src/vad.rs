//! Voice-activity detection: finds speech in 16 kHz mono audio and cuts it into chunks short
//! enough for Whisper's 30-second window (whisper.cpp has no streaming API, so long recordings
//! are transcribed chunk by chunk).

use std::ops::Range;
use std::path::Path;

use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};

use crate::audio::SAMPLE_RATE;
use crate::config::VadConfig;
use crate::models::{ModelError, check_vad_model};

/// VAD errors.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error("voice-activity model: {0}")]
    Model(#[from] ModelError),
    #[error(
        "cannot load voice-activity model {path}: whisper.cpp refused it (not a Silero VAD model?)"
    )]
    Load { path: String },
    #[error("voice-activity path contains a NUL byte")]
    BadPath,
    #[error("voice-activity detection failed: {0}")]
    Detect(String),
}

/// Finds speech in 16 kHz mono audio; returns sample ranges in order.
pub trait VoiceDetector {
    fn detect(&mut self, pcm_16k: &[f32]) -> Result<Vec<Range<usize>>, VadError>;
}

/// Silero VAD through whisper.cpp.
#[derive(Debug)]
pub struct SileroVad {
    ctx: WhisperVadContext,
    params: WhisperVadParams,
}

impl SileroVad {
    /// Loads a Silero model in whisper.cpp's ggml format.
    pub fn new(model: &Path, config: &VadConfig, threads: u16) -> Result<Self, VadError> {
        check_vad_model(model)?;
        let path = model.to_string_lossy().into_owned();
        if path.contains('\0') {
            return Err(VadError::BadPath);
        }
        crate::transcribe::quiet_whisper_logs();
        let mut ctx_params = WhisperVadContextParams::new();
        ctx_params.set_n_threads(i32::from(threads.max(1)));
        ctx_params.set_use_gpu(false);
        let ctx = WhisperVadContext::new(&path, ctx_params).map_err(|_| VadError::Load { path })?;
        let mut params = WhisperVadParams::new();
        params.set_threshold(config.threshold);
        params.set_min_speech_duration(ms(config.min_speech_ms));
        params.set_min_silence_duration(ms(config.min_silence_ms));
        params.set_speech_pad(ms(config.pad_ms));
        params.set_max_speech_duration(config.max_chunk_s);
        Ok(Self { ctx, params })
    }
}

fn ms(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl VoiceDetector for SileroVad {
    fn detect(&mut self, pcm_16k: &[f32]) -> Result<Vec<Range<usize>>, VadError> {
        if pcm_16k.is_empty() {
            return Ok(Vec::new());
        }
        let segments = self
            .ctx
            .segments_from_samples(self.params, pcm_16k)
            .map_err(|e| VadError::Detect(e.to_string()))?;
        // whisper.cpp reports centiseconds.
        let per_cs = f64::from(SAMPLE_RATE) / 100.0;
        let mut out: Vec<Range<usize>> = segments
            .map(|s| {
                let a = (f64::from(s.start) * per_cs).max(0.0) as usize;
                let b = (f64::from(s.end) * per_cs).max(0.0) as usize;
                a.min(pcm_16k.len())..b.min(pcm_16k.len())
            })
            .filter(|r| !r.is_empty())
            .collect();
        out.sort_by_key(|r| r.start);
        Ok(out)
    }
}

/// Groups speech ranges into chunks of at most `max_len` samples: neighbours are merged while
/// the chunk stays within the limit (fewer, longer chunks transcribe faster and keep context);
/// a range longer than the limit is split.
pub fn chunk_speech(speech: &[Range<usize>], max_len: usize) -> Vec<Range<usize>> {
    let max_len = max_len.max(1);
    let mut chunks: Vec<Range<usize>> = Vec::new();
    for r in speech {
        let mut start = r.start;
        while r.end - start > max_len {
            chunks.push(start..start + max_len);
            start += max_len;
        }
        let piece = start..r.end;
        match chunks.last_mut() {
            Some(last)
                if piece.end.saturating_sub(last.start) <= max_len && piece.start >= last.end =>
            {
                last.end = piece.end;
            }
            _ => chunks.push(piece),
        }
    }
    chunks
}

/// Fixed windows over the whole recording, for use without a VAD model.
pub fn fixed_windows(len: usize, window: usize) -> Vec<Range<usize>> {
    let window = window.max(1);
    (0..len).step_by(window).map(|s| s..(s + window).min(len)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_merge_neighbours_and_split_long_speech() {
        let speech = vec![0..100, 150..300, 320..400, 1000..1900];
        assert_eq!(chunk_speech(&speech, 400), vec![0..400, 1000..1400, 1400..1800, 1800..1900]);
        assert_eq!(chunk_speech(&[], 400), Vec::<Range<usize>>::new());
    }

    #[test]
    fn fixed_windows_cover_everything() {
        assert_eq!(fixed_windows(10, 4), vec![0..4, 4..8, 8..10]);
        assert!(fixed_windows(0, 4).is_empty());
    }
}
