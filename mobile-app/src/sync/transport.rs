//! How the app talks to the clinic's server: the mother's API of `phr_wire`, behind a trait so
//! the engine is tested against an in-memory server ([`super::fake`]) and runs against the real
//! one over HTTPS ([`super::http`]).

use phr_wire::auth::{LoginRequest, RegisterRequest, Tokens};
use phr_wire::consent::{Clinic, Consent, ConsentGrant};
use phr_wire::{DownloadResponse, UploadRequest, UploadResponse};

/// Why a request did not get the answer asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The server could not be reached (no network, refused, timed out).
    #[error("the server cannot be reached: {0}")]
    Offline(String),
    /// 401: the token (or login) was refused.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// Any other error answer, with the API's error code and message.
    #[error("the server answered {status} {code}: {message}")]
    Status { status: u16, code: String, message: String },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// The server's draft of her dictation (`POST /phr/v1/notes/transcribe`). Nothing is stored
/// on the server: she checks the draft and uploads it as a note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transcription {
    pub lang: String,
    pub transcript: String,
    pub soap: phr_wire::records::SoapText,
    /// The speech model that transcribed it.
    #[serde(default)]
    pub model: String,
    /// Statements the drafter could not place in a section.
    #[serde(default)]
    pub rejected: Vec<String>,
}

/// The mother's API (`/phr/v1`). Calls block; the app runs them on a worker thread.
pub trait SyncTransport: Send + Sync {
    fn register(&self, req: &RegisterRequest) -> Result<Tokens, TransportError>;
    fn login(&self, req: &LoginRequest) -> Result<Tokens, TransportError>;
    /// Exchanges a refresh token for a new pair (refresh tokens rotate: each works once).
    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError>;
    fn logout(&self, access: &str) -> Result<(), TransportError>;
    fn upload(&self, access: &str, req: &UploadRequest) -> Result<UploadResponse, TransportError>;
    fn download(
        &self,
        access: &str,
        after: i64,
        limit: u32,
    ) -> Result<DownloadResponse, TransportError>;
    fn clinics(&self, access: &str) -> Result<Vec<Clinic>, TransportError>;
    /// Her consents, current and past, newest first.
    fn consents(&self, access: &str) -> Result<Vec<Consent>, TransportError>;
    fn grant(
        &self,
        access: &str,
        clinic_id: &str,
        grant: &ConsentGrant,
    ) -> Result<Consent, TransportError>;
    fn revoke(&self, access: &str, clinic_id: &str) -> Result<Consent, TransportError>;
    /// Her dictation (a WAV file) transcribed and drafted by the server, in `lang` (`ja`/`en`).
    /// A server without a speech model answers 503 `no_speech_model`.
    fn transcribe(
        &self,
        access: &str,
        wav: &[u8],
        lang: &str,
    ) -> Result<Transcription, TransportError>;
}
