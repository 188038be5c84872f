//! Where a dictation's audio comes from, behind a trait: start, then stop to get the recording
//! as 16-bit PCM WAV bytes. A live microphone backend is not built yet (see README.md, "Voice
//! notes"); the desktop imports a WAV file she recorded, and tests hand over WAV bytes.

use std::io::Read;
use std::path::PathBuf;

use super::{MAX_WAV_BYTES, wav};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not recording: press Dictate first")]
    NotStarted,
    #[error("already recording")]
    AlreadyStarted,
    #[error("cannot read the recording {path}: {message}")]
    Read { path: String, message: String },
    #[error("the recording is larger than {MAX_WAV_BYTES} bytes")]
    TooLarge,
    #[error("{0} is not a WAV recording")]
    NotWav(String),
    #[error("no microphone: {0}")]
    Unavailable(String),
}

/// A source of one dictation at a time.
pub trait Recorder: Send {
    /// Starts a recording.
    fn start(&mut self) -> Result<(), RecordError>;
    /// Ends it and returns the WAV bytes (16-bit PCM).
    fn stop(&mut self) -> Result<Vec<u8>, RecordError>;
}

/// The recorder of a build without a microphone backend: dictation says so, and she types.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMicrophone;

impl Recorder for NoMicrophone {
    fn start(&mut self) -> Result<(), RecordError> {
        Err(RecordError::Unavailable("this build has no microphone support".into()))
    }

    fn stop(&mut self) -> Result<Vec<u8>, RecordError> {
        Err(RecordError::NotStarted)
    }
}

/// Hands over a given WAV recording (tests, the demo and screenshots).
#[derive(Debug, Clone)]
pub struct ScriptedRecorder {
    wav: Vec<u8>,
    recording: bool,
}

impl ScriptedRecorder {
    pub fn new(wav: Vec<u8>) -> Self {
        Self { wav, recording: false }
    }
}

impl Recorder for ScriptedRecorder {
    fn start(&mut self) -> Result<(), RecordError> {
        if std::mem::replace(&mut self.recording, true) {
            return Err(RecordError::AlreadyStarted);
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<Vec<u8>, RecordError> {
        if !std::mem::replace(&mut self.recording, false) {
            return Err(RecordError::NotStarted);
        }
        Ok(self.wav.clone())
    }
}

/// The desktop's stand-in for a microphone: "stop" reads a WAV file she recorded with another
/// program (the path given with `--dictation-wav`). The file is only read, never kept.
#[derive(Debug, Clone)]
pub struct WavFileRecorder {
    path: PathBuf,
    recording: bool,
}

impl WavFileRecorder {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), recording: false }
    }
}

impl Recorder for WavFileRecorder {
    fn start(&mut self) -> Result<(), RecordError> {
        if std::mem::replace(&mut self.recording, true) {
            return Err(RecordError::AlreadyStarted);
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<Vec<u8>, RecordError> {
        if !std::mem::replace(&mut self.recording, false) {
            return Err(RecordError::NotStarted);
        }
        let shown = self.path.display().to_string();
        let read_err =
            |e: std::io::Error| RecordError::Read { path: shown.clone(), message: e.to_string() };
        let file = std::fs::File::open(&self.path).map_err(read_err)?;
        let mut bytes = Vec::new();
        // One byte over the limit tells "too large" from "exactly at the limit".
        file.take(MAX_WAV_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_err)?;
        if bytes.len() > MAX_WAV_BYTES {
            return Err(RecordError::TooLarge);
        }
        if !wav::looks_like_wav(&bytes) {
            return Err(RecordError::NotWav(shown));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorders_need_start_before_stop() {
        let wav = wav::encode_pcm16(&[0, 1, -1, 0], 16_000, 1).unwrap();
        let mut r = ScriptedRecorder::new(wav.clone());
        assert_eq!(r.stop(), Err(RecordError::NotStarted));
        r.start().unwrap();
        assert_eq!(r.start(), Err(RecordError::AlreadyStarted));
        assert_eq!(r.stop().unwrap(), wav);
    }

    #[test]
    fn a_file_recorder_reads_wav_and_refuses_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("dictation.wav");
        let wav = wav::encode_pcm16(&[5; 160], 16_000, 1).unwrap();
        std::fs::write(&good, &wav).unwrap();
        let mut r = WavFileRecorder::new(&good);
        r.start().unwrap();
        assert_eq!(r.stop().unwrap(), wav);

        let bad = dir.path().join("note.txt");
        std::fs::write(&bad, "not audio").unwrap();
        let mut r = WavFileRecorder::new(&bad);
        r.start().unwrap();
        assert!(matches!(r.stop(), Err(RecordError::NotWav(_))));

        let mut r = WavFileRecorder::new(dir.path().join("missing.wav"));
        r.start().unwrap();
        assert!(matches!(r.stop(), Err(RecordError::Read { .. })));
    }
}
