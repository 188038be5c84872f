//! Audio input: WAV decoding (PCM 8/16/24/32-bit integer and 32-bit float, any channel count),
//! mix-down to mono and resampling to the 16 kHz that Whisper and Silero VAD expect.

use std::io::Read;
use std::path::{Path, PathBuf};

use rubato::{FftFixedInOut, Resampler};

/// The sample rate of speech models.
pub const SAMPLE_RATE: u32 = 16_000;

/// Errors reading or converting audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot open audio file {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("unsupported WAV format: {0}")]
    Unsupported(String),
    #[error("the recording contains no samples")]
    Empty,
    #[error("cannot resample from {from} Hz to {to} Hz: {message}")]
    Resample { from: u32, to: u32, message: String },
}

/// Mono audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Samples in [-1, 1].
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// What the WAV header said, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    pub float: bool,
}

/// Reads a WAV file, mixed down to mono at its own sample rate.
pub fn load_wav(path: &Path) -> Result<(Audio, WavInfo), AudioError> {
    let file = std::fs::File::open(path)
        .map_err(|source| AudioError::Open { path: path.to_path_buf(), source })?;
    decode_wav(std::io::BufReader::new(file))
}

/// Reads a WAV file and converts it to 16 kHz mono, ready for VAD and transcription.
pub fn load_wav_16k_mono(path: &Path) -> Result<(Audio, WavInfo), AudioError> {
    let (audio, info) = load_wav(path)?;
    let samples = resample(&audio.samples, audio.sample_rate, SAMPLE_RATE)?;
    Ok((Audio { samples, sample_rate: SAMPLE_RATE }, info))
}

/// Decodes a WAV stream, mixed down to mono.
pub fn decode_wav<R: Read>(reader: R) -> Result<(Audio, WavInfo), AudioError> {
    let mut wav = hound::WavReader::new(reader)?;
    let spec = wav.spec();
    if spec.channels == 0 {
        return Err(AudioError::Unsupported("0 channels".into()));
    }
    if spec.sample_rate == 0 {
        return Err(AudioError::Unsupported("sample rate 0 Hz".into()));
    }
    let info = WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        float: spec.sample_format == hound::SampleFormat::Float,
    };
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => wav.samples::<f32>().collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            wav.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()?
        }
        (format, bits) => {
            return Err(AudioError::Unsupported(format!("{bits}-bit {format:?} samples")));
        }
    };
    let samples = mix_down(&interleaved, spec.channels);
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    Ok((Audio { samples, sample_rate: spec.sample_rate }, info))
}

/// Averages interleaved channels into one. A trailing incomplete frame is dropped.
pub fn mix_down(interleaved: &[f32], channels: u16) -> Vec<f32> {
    let n = usize::from(channels.max(1));
    if n == 1 {
        return interleaved.to_vec();
    }
    let scale = 1.0 / n as f32;
    interleaved.chunks_exact(n).map(|frame| frame.iter().sum::<f32>() * scale).collect()
}

/// Resamples mono audio with an FFT resampler (band-limited; an anti-aliasing filter is part of
/// the conversion). The output has `len × to / from` samples, aligned with the input (the
/// resampler's delay is removed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |message: String| AudioError::Resample { from, to, message };
    let mut r = FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1)
        .map_err(|e| err(e.to_string()))?;
    let expected = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let delay = r.output_delay();
    let mut out: Vec<f32> = Vec::with_capacity(expected + delay + r.output_frames_max());
    let mut pos = 0;
    while pos < samples.len() {
        let need = r.input_frames_next();
        let chunk = &samples[pos..(pos + need).min(samples.len())];
        let produced = if chunk.len() == need {
            r.process(&[chunk], None)
        } else {
            r.process_partial(Some(&[chunk]), None)
        }
        .map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&produced[0]);
        pos += chunk.len();
    }
    // Flush the resampler's delay line.
    while out.len() < expected + delay {
        let produced = r.process_partial::<&[f32]>(None, None).map_err(|e| err(e.to_string()))?;
        if produced[0].is_empty() {
            break;
        }
        out.extend_from_slice(&produced[0]);
    }
    let start = delay.min(out.len());
    let mut aligned = out.split_off(start);
    aligned.truncate(expected);
    aligned.resize(expected, 0.0);
    Ok(aligned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(
        spec: hound::WavSpec,
        write: impl FnOnce(&mut hound::WavWriter<std::io::Cursor<&mut Vec<u8>>>),
    ) -> Vec<u8> {
        let mut buf = Vec::new();
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut buf), spec).unwrap();
            write(&mut w);
            w.finalize().unwrap();
        }
        buf
    }

    #[test]
    fn stereo_16_bit_is_mixed_down() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let bytes = wav_bytes(spec, |w| {
            for _ in 0..100 {
                w.write_sample(16384i16).unwrap();
                w.write_sample(-16384i16).unwrap();
            }
        });
        let (audio, info) = decode_wav(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(info.channels, 2);
        assert_eq!(audio.samples.len(), 100);
        assert!(audio.samples.iter().all(|s| s.abs() < 1e-6));
    }

    #[test]
    fn float_and_24_bit() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let bytes = wav_bytes(spec, |w| w.write_sample(0.5f32).unwrap());
        assert_eq!(decode_wav(std::io::Cursor::new(bytes)).unwrap().0.samples, vec![0.5]);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let bytes = wav_bytes(spec, |w| w.write_sample(-(1i32 << 22)).unwrap());
        assert_eq!(decode_wav(std::io::Cursor::new(bytes)).unwrap().0.samples, vec![-0.5]);
    }

    #[test]
    fn garbage_and_empty_files_are_errors() {
        assert!(matches!(
            decode_wav(std::io::Cursor::new(b"not a wav".to_vec())),
            Err(AudioError::Wav(_))
        ));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let bytes = wav_bytes(spec, |_| {});
        assert!(matches!(decode_wav(std::io::Cursor::new(bytes)), Err(AudioError::Empty)));
    }

    #[test]
    fn resampling_keeps_length_timing_and_frequency() {
        // 1 s of a 440 Hz tone at 44.1 kHz → 16 kHz: 16,000 samples, still 440 Hz, in phase.
        let from = 44_100u32;
        let tone: Vec<f32> = (0..from)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / from as f32).sin())
            .collect();
        let out = resample(&tone, from, SAMPLE_RATE).unwrap();
        assert_eq!(out.len(), 16_000);
        let expected = |i: usize| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin();
        let err: f32 = (2000..14_000).map(|i| (out[i] - expected(i)).abs()).fold(0.0, f32::max);
        assert!(err < 0.05, "max error {err}");
        // Energy above the new Nyquist frequency is removed, not folded back.
        let high: Vec<f32> = (0..from)
            .map(|i| (2.0 * std::f32::consts::PI * 12_000.0 * i as f32 / from as f32).sin())
            .collect();
        let out = resample(&high, from, SAMPLE_RATE).unwrap();
        let rms = (out[2000..14_000].iter().map(|s| s * s).sum::<f32>() / 12_000.0).sqrt();
        assert!(rms < 0.01, "aliased energy rms {rms}");
    }
}
