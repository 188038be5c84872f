//! Typed, validated configuration for transcription (`ai-notes.example.toml` documents every
//! key). Relative paths in a file are resolved against the file's directory.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::models::{ChecksumEntry, Expected};

/// Configuration errors, naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {key} {message}")]
    Invalid { key: &'static str, message: String },
}

/// Language requested from the transcriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeechLanguage {
    #[default]
    Ja,
    En,
    /// Let Whisper detect the language.
    Auto,
}

impl SpeechLanguage {
    /// The code whisper.cpp expects ("auto" triggers detection).
    pub fn whisper_code(self) -> &'static str {
        match self {
            SpeechLanguage::Ja => "ja",
            SpeechLanguage::En => "en",
            SpeechLanguage::Auto => "auto",
        }
    }
}

impl FromStr for SpeechLanguage {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" => Ok(Self::Ja),
            "en" => Ok(Self::En),
            "auto" => Ok(Self::Auto),
            other => Err(ConfigError::Invalid {
                key: "transcription.language",
                message: format!("must be \"ja\", \"en\" or \"auto\" (got {other:?})"),
            }),
        }
    }
}

/// `[model]`: the Whisper model file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Path to a ggml Whisper model (`ggml-*.bin`).
    pub path: Option<PathBuf>,
    /// Pins the file's SHA-256 (lower- or upper-case hex); required for models whisper.cpp does
    /// not publish.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Pins the file's SHA-1 instead.
    #[serde(default)]
    pub sha1: Option<String>,
}

/// `[transcription]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriptionConfig {
    pub language: SpeechLanguage,
    /// Threads for whisper.cpp. One is often fastest on small, busy machines.
    pub threads: u16,
    /// Use the GPU when whisper-rs was built with one (this build: CPU only).
    pub use_gpu: bool,
}

impl Default for TranscriptionConfig {
    fn default() -> Self {
        Self { language: SpeechLanguage::Ja, threads: 1, use_gpu: false }
    }
}

/// `[vad]`: voice-activity detection that cuts speech into chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// Silero VAD model in whisper.cpp's ggml format. Without it, audio is cut into fixed
    /// windows of `max_chunk_s`.
    pub model: Option<PathBuf>,
    /// Speech probability threshold, 0–1.
    pub threshold: f32,
    /// Shorter speech is discarded (ms).
    pub min_speech_ms: u32,
    /// Silence that ends a speech segment (ms).
    pub min_silence_ms: u32,
    /// Padding kept around speech (ms).
    pub pad_ms: u32,
    /// Longest chunk handed to the transcriber (s); Whisper's window is 30 s.
    pub max_chunk_s: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            model: None,
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 300,
            pad_ms: 200,
            max_chunk_s: 30.0,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub model: ModelConfig,
    pub transcription: TranscriptionConfig,
    pub vad: VadConfig,
    /// Extra model checksums accepted besides whisper.cpp's published ones.
    pub checksums: Vec<ChecksumEntry>,
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => {
                ConfigError::Parse { path: path.to_path_buf(), message }
            }
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.model.path = config.model.path.map(|p| base.join(p));
        config.vad.model = config.vad.model.map(|p| base.join(p));
        Ok(config)
    }

    /// Parses and validates TOML text (paths stay as written).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks value ranges; file existence is checked when models are loaded.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if !(1..=64).contains(&self.transcription.threads) {
            return invalid(
                "transcription.threads",
                format!("must be between 1 and 64 (got {})", self.transcription.threads),
            );
        }
        for (key, value, len) in
            [("model.sha256", &self.model.sha256, 64), ("model.sha1", &self.model.sha1, 40)]
        {
            if let Some(v) = value
                && !(v.trim().len() == len && v.trim().bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return invalid(key, format!("must be {len} hexadecimal digits (got {v:?})"));
            }
        }
        for c in &self.checksums {
            if c.sha256.is_none() && c.sha1.is_none() {
                return invalid("checksums", format!("entry {:?} needs sha256 or sha1", c.name));
            }
        }
        let v = &self.vad;
        if !(v.threshold > 0.0 && v.threshold < 1.0) {
            return invalid(
                "vad.threshold",
                format!("must be between 0 and 1, exclusive (got {})", v.threshold),
            );
        }
        if !(1.0..=30.0).contains(&v.max_chunk_s) {
            return invalid(
                "vad.max_chunk_s",
                format!("must be between 1 and 30 seconds (got {})", v.max_chunk_s),
            );
        }
        if v.min_silence_ms > 10_000 || v.min_speech_ms > 10_000 || v.pad_ms > 5_000 {
            return invalid(
                "vad",
                "min_speech_ms and min_silence_ms must be ≤ 10000, pad_ms ≤ 5000".into(),
            );
        }
        Ok(())
    }

    /// The checksum expectations for [`crate::models::verify_model`].
    pub fn expected(&self) -> Expected {
        Expected {
            sha256: self.model.sha256.clone(),
            sha1: self.model.sha1.clone(),
            known: self.checksums.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let text = include_str!("../ai-notes.example.toml");
        let c = Config::from_toml(text).unwrap();
        assert_eq!(c.transcription.language, SpeechLanguage::Ja);
        assert_eq!(c.transcription.threads, 1);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_toml("[transcription]\nthreads = 0\n").unwrap_err();
        assert!(e.to_string().contains("transcription.threads"), "{e}");
        let e = Config::from_toml("[transcription]\nlanguage = \"fr\"\n").unwrap_err();
        assert!(e.to_string().contains("language"), "{e}");
        let e = Config::from_toml("[model]\nsha256 = \"abc\"\n").unwrap_err();
        assert!(e.to_string().contains("model.sha256"), "{e}");
        let e = Config::from_toml("[vad]\nthreshold = 1.5\n").unwrap_err();
        assert!(e.to_string().contains("vad.threshold"), "{e}");
        let e = Config::from_toml("[modle]\npath = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("modle"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[model]\npath = \"m/ggml-small.bin\"\n[vad]\nmodel = \"v.bin\"\n")
            .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.model.path.unwrap(), dir.path().join("m/ggml-small.bin"));
        assert_eq!(c.vad.model.unwrap(), dir.path().join("v.bin"));
    }
}
