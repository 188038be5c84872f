//! The real transport: the mother's API over HTTPS with a blocking client (ureq, rustls on the
//! *ring* provider, Mozilla's root certificates built in, so a phone needs no system store).

use std::time::Duration;

use phr_wire::auth::{LoginRequest, RefreshRequest, RegisterRequest, Tokens};
use phr_wire::consent::{Clinic, Consent, ConsentGrant};
use phr_wire::{DownloadResponse, UploadRequest, UploadResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::Response;

use super::transport::{SyncTransport, Transcription, TransportError};

/// Largest answer read: a download page of `MAX_PAGE_ITEMS` notes at their longest stays below.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// How long a transcription may take on the server (longer than other requests).
const TRANSCRIBE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The mother's API of one server.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    /// `https://host[:port]` without a trailing slash.
    base: String,
    agent: Agent,
}

/// The API's error body.
#[derive(Debug, serde::Deserialize)]
struct ApiError {
    error: String,
    #[serde(default)]
    message: String,
}

impl HttpTransport {
    /// A client for the server at `base_url` (e.g. `https://phr.example.jp`), giving up on a
    /// request after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            // Error statuses carry the API's error body: read them instead of failing.
            .http_status_as_error(false)
            // Tokens must never follow a redirect to another host.
            .max_redirects(0)
            .user_agent(concat!("mobile-app/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { base: base_url.trim_end_matches('/').to_string(), agent }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.base, phr_wire::API_PREFIX)
    }
}

fn bearer(access: &str) -> String {
    format!("Bearer {access}")
}

fn transport_error(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed => TransportError::Offline(e.to_string()),
        other => TransportError::Protocol(other.to_string()),
    }
}

/// Reads a JSON answer, or turns an error status into the API's error.
fn answer<T: DeserializeOwned>(
    result: Result<Response<ureq::Body>, ureq::Error>,
) -> Result<T, TransportError> {
    let mut response = check(result)?;
    response.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_json().map_err(|e| match e {
        ureq::Error::Io(_) | ureq::Error::Timeout(_) => TransportError::Offline(e.to_string()),
        other => TransportError::Protocol(format!("reading the answer: {other}")),
    })
}

fn check(
    result: Result<Response<ureq::Body>, ureq::Error>,
) -> Result<Response<ureq::Body>, TransportError> {
    let mut response = result.map_err(transport_error)?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response.body_mut().with_config().limit(64 * 1024).read_to_string();
    let (code, message) = match body.as_deref().map(serde_json::from_str::<ApiError>) {
        Ok(Ok(e)) => (e.error, e.message),
        Ok(Err(_)) => ("unknown".to_string(), body.unwrap_or_default()),
        Err(e) => ("unknown".to_string(), e.to_string()),
    };
    Err(if status == 401 {
        TransportError::Unauthorized(if message.is_empty() { code } else { message })
    } else {
        TransportError::Status { status, code, message }
    })
}

impl HttpTransport {
    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        access: Option<&str>,
        body: &B,
    ) -> Result<T, TransportError> {
        let mut req = self.agent.post(&self.url(path));
        if let Some(a) = access {
            req = req.header("Authorization", &bearer(a));
        }
        answer(req.send_json(body))
    }

    fn get<T: DeserializeOwned>(&self, path: &str, access: &str) -> Result<T, TransportError> {
        answer(self.agent.get(&self.url(path)).header("Authorization", &bearer(access)).call())
    }
}

/// A clinic id as one path segment: ids are plain, but never let one reshape the URL.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl SyncTransport for HttpTransport {
    fn register(&self, req: &RegisterRequest) -> Result<Tokens, TransportError> {
        self.post("/register", None, req)
    }

    fn login(&self, req: &LoginRequest) -> Result<Tokens, TransportError> {
        self.post("/login", None, req)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.post("/token", None, &RefreshRequest { refresh_token: refresh_token.to_string() })
    }

    fn logout(&self, access: &str) -> Result<(), TransportError> {
        check(
            self.agent
                .post(&self.url("/logout"))
                .header("Authorization", &bearer(access))
                .send_empty(),
        )
        .map(drop)
    }

    fn upload(&self, access: &str, req: &UploadRequest) -> Result<UploadResponse, TransportError> {
        self.post("/records", Some(access), req)
    }

    fn download(
        &self,
        access: &str,
        after: i64,
        limit: u32,
    ) -> Result<DownloadResponse, TransportError> {
        self.get(&format!("/records?after={after}&limit={limit}"), access)
    }

    fn clinics(&self, access: &str) -> Result<Vec<Clinic>, TransportError> {
        self.get("/clinics", access)
    }

    fn consents(&self, access: &str) -> Result<Vec<Consent>, TransportError> {
        self.get("/consents", access)
    }

    fn grant(
        &self,
        access: &str,
        clinic_id: &str,
        grant: &ConsentGrant,
    ) -> Result<Consent, TransportError> {
        answer(
            self.agent
                .put(&self.url(&format!("/consents/{}", segment(clinic_id))))
                .header("Authorization", &bearer(access))
                .send_json(grant),
        )
    }

    fn revoke(&self, access: &str, clinic_id: &str) -> Result<Consent, TransportError> {
        answer(
            self.agent
                .delete(&self.url(&format!("/consents/{}", segment(clinic_id))))
                .header("Authorization", &bearer(access))
                .call(),
        )
    }

    fn transcribe(
        &self,
        access: &str,
        wav: &[u8],
        lang: &str,
    ) -> Result<Transcription, TransportError> {
        answer(
            self.agent
                .post(&self.url(&format!("/notes/transcribe?lang={}", segment(lang))))
                .header("Authorization", &bearer(access))
                .header("Content-Type", "audio/wav")
                // Whisper on the server may take about as long as the recording (≤ 300 s).
                .config()
                .timeout_global(Some(TRANSCRIBE_TIMEOUT))
                .build()
                .send(wav),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinic_ids_cannot_escape_their_segment() {
        assert_eq!(segment("sakura-1"), "sakura-1");
        assert_eq!(segment("../admin?x=1"), "..%2Fadmin%3Fx%3D1");
    }

    #[test]
    fn a_closed_port_is_offline_not_an_error() {
        // Bind then drop: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let t = HttpTransport::new(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5));
        match t.clinics("token") {
            Err(TransportError::Offline(_)) => {}
            other => panic!("expected offline, got {other:?}"),
        }
    }
}
