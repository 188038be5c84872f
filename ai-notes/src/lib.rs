//! Speech to SOAP note drafts for perinatal care, in Japanese and English, on the device or the
//! server, without sending audio or text to anyone's cloud.
//!
//! Pipeline: [`audio`] (WAV decode, mix-down, resample to 16 kHz mono) → [`vad`] (cut speech into
//! chunks) → a [`Transcriber`] (whisper.cpp via whisper-rs, or a fake for tests) → [`soap`]
//! (rule-based structuring with links back to the transcript) → [`fhir`], [`markdown`] or JSON.
//! A note is always a draft (`preliminary`) until a clinician attests it.
//!
//! All calls are synchronous and may take seconds (transcription: minutes): run them off any UI
//! thread.

pub mod audio;
pub mod config;
pub mod dialogue;
pub mod eval;
pub mod fhir;
pub mod learn;
pub mod markdown;
pub mod models;
pub mod soap;
pub mod text;
pub mod transcribe;
pub mod transcript;
pub mod vad;

pub use config::{Config, SpeechLanguage};
pub use soap::{Lang, SoapNote, structure, structure_transcript};
pub use transcribe::{FakeTranscriber, Transcriber, WhisperTranscriber, transcribe};
pub use transcript::{Segment, Transcript};
