//! An in-memory server speaking the mother's API, for tests of the sync engine and of the app's
//! sync page: the same validation and conflict rule as the real server (both come from
//! `phr_wire`), rotating refresh tokens with replay detection, and failures on demand (offline,
//! a lost answer, an expired access token).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, FixedOffset, Utc};
use phr_wire::auth::{LoginRequest, RegisterRequest, Tokens};
use phr_wire::consent::{Clinic, Consent, ConsentGrant};
use phr_wire::records::{
    DownloadItem, DownloadResponse, ItemOutcome, ItemResult, RecordKind, StoredVersion,
    UploadRequest, UploadResponse, decide,
};
use uuid::Uuid;

use super::transport::{SyncTransport, Transcription, TransportError};

/// How the next upload fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFailure {
    /// The request never arrives: nothing is stored.
    Offline,
    /// The batch is stored but the answer is lost on the way back.
    AnswerLost,
}

/// One record as the fake server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldRecord {
    pub seq: i64,
    pub kind: RecordKind,
    pub updated_at: DateTime<FixedOffset>,
    pub deleted: bool,
    /// Canonical JSON.
    pub data: Option<String>,
}

#[derive(Default)]
struct State {
    invitations: Vec<String>,
    mother: Option<(Uuid, String, String)>,
    next_token: u64,
    access: Vec<String>,
    /// Refresh token → still unused.
    refresh: HashMap<String, bool>,
    records: HashMap<Uuid, HeldRecord>,
    seq: i64,
    offline: bool,
    fail_uploads: BTreeMap<usize, UploadFailure>,
    upload_calls: usize,
    /// Ids of each upload that reached the server, in order.
    batches: Vec<Vec<Uuid>>,
    clinics: Vec<Clinic>,
    consents: Vec<Consent>,
    refreshes: usize,
    /// The server's speech model (`None`: it answers 503 `no_speech_model`).
    speech: Option<Box<dyn ai_notes::transcribe::Transcriber + Send>>,
    /// Recordings it was sent (byte lengths), in order.
    transcriptions: Vec<usize>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("records", &self.records.len()).finish_non_exhaustive()
    }
}

/// The fake server (also the transport to it).
#[derive(Debug)]
pub struct FakeServer {
    now: DateTime<Utc>,
    state: Mutex<State>,
}

impl FakeServer {
    /// A server whose clock reads `now`, accepting the given invitation codes, with these clinics.
    pub fn new(now: DateTime<Utc>, invitations: &[&str], clinics: &[(&str, &str)]) -> Self {
        let state = State {
            invitations: invitations.iter().map(|s| s.to_string()).collect(),
            clinics: clinics
                .iter()
                .map(|(id, name)| Clinic { id: id.to_string(), name: name.to_string() })
                .collect(),
            ..State::default()
        };
        Self { now, state: Mutex::new(state) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request fails as if the network were down, until set back.
    pub fn set_offline(&self, offline: bool) {
        self.lock().offline = offline;
    }

    /// The `n`-th upload call from now on (1 = the next) fails this way.
    pub fn fail_upload(&self, n: usize, how: UploadFailure) {
        let mut s = self.lock();
        let at = s.upload_calls + n;
        s.fail_uploads.insert(at, how);
    }

    /// Access tokens expire (the refresh tokens stay valid).
    pub fn expire_access_tokens(&self) {
        self.lock().access.clear();
    }

    /// The refresh tokens issued so far that are still unused.
    pub fn unused_refresh_tokens(&self) -> Vec<String> {
        self.lock().refresh.iter().filter(|(_, unused)| **unused).map(|(t, _)| t.clone()).collect()
    }

    /// Ids of every upload that reached the server, batch by batch.
    pub fn batches(&self) -> Vec<Vec<Uuid>> {
        self.lock().batches.clone()
    }

    pub fn records(&self) -> HashMap<Uuid, HeldRecord> {
        self.lock().records.clone()
    }

    /// Gives the server a speech model (tests: ai-notes' scripted fake transcriber).
    pub fn set_transcriber(&self, transcriber: Box<dyn ai_notes::transcribe::Transcriber + Send>) {
        self.lock().speech = Some(transcriber);
    }

    /// Byte lengths of the recordings sent for transcription, in order.
    pub fn transcriptions(&self) -> Vec<usize> {
        self.lock().transcriptions.clone()
    }

    /// Successful token refreshes.
    pub fn refreshes(&self) -> usize {
        self.lock().refreshes
    }

    fn issue(s: &mut State, mother_id: Uuid) -> Tokens {
        s.next_token += 1;
        let access = format!("access-{}", s.next_token);
        let refresh = format!("refresh-{}", s.next_token);
        s.access.push(access.clone());
        s.refresh.insert(refresh.clone(), true);
        Tokens {
            mother_id,
            access_token: access,
            access_expires_in_s: 900,
            refresh_token: refresh,
            refresh_expires_in_s: 30 * 86_400,
        }
    }

    fn authorise(&self, access: &str) -> Result<MutexGuard<'_, State>, TransportError> {
        let s = self.lock();
        if s.offline {
            return Err(TransportError::Offline("network down (fake)".into()));
        }
        if !s.access.iter().any(|a| a == access) {
            return Err(TransportError::Unauthorized("access token expired or unknown".into()));
        }
        Ok(s)
    }

    fn online(&self) -> Result<MutexGuard<'_, State>, TransportError> {
        let s = self.lock();
        if s.offline {
            return Err(TransportError::Offline("network down (fake)".into()));
        }
        Ok(s)
    }
}

fn status(status: u16, code: &str, message: impl Into<String>) -> TransportError {
    TransportError::Status { status, code: code.into(), message: message.into() }
}

impl SyncTransport for FakeServer {
    fn register(&self, req: &RegisterRequest) -> Result<Tokens, TransportError> {
        let mut s = self.online()?;
        req.validate().map_err(|e| status(400, "bad_request", e.to_string()))?;
        let Some(i) = s.invitations.iter().position(|c| *c == req.invitation_code) else {
            return Err(status(404, "not_found", "invitation unknown, used or expired"));
        };
        if s.mother.is_some() {
            return Err(status(409, "conflict", "login taken"));
        }
        s.invitations.remove(i);
        let id = Uuid::now_v7();
        s.mother = Some((id, req.login.clone(), req.password.clone()));
        Ok(Self::issue(&mut s, id))
    }

    fn login(&self, req: &LoginRequest) -> Result<Tokens, TransportError> {
        let mut s = self.online()?;
        match s.mother.clone() {
            Some((id, login, password)) if login == req.login && password == req.password => {
                Ok(Self::issue(&mut s, id))
            }
            _ => Err(TransportError::Unauthorized("wrong login or password".into())),
        }
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        let mut s = self.online()?;
        match s.refresh.get(refresh_token).copied() {
            Some(true) => {
                s.refresh.insert(refresh_token.to_string(), false);
                s.refreshes += 1;
                let id = s.mother.as_ref().map(|m| m.0).unwrap_or_default();
                Ok(Self::issue(&mut s, id))
            }
            Some(false) => {
                // A replay: every token of the login is revoked.
                s.access.clear();
                s.refresh.values_mut().for_each(|unused| *unused = false);
                Err(TransportError::Unauthorized("refresh token replayed".into()))
            }
            None => Err(TransportError::Unauthorized("unknown refresh token".into())),
        }
    }

    fn logout(&self, access: &str) -> Result<(), TransportError> {
        let mut s = self.authorise(access)?;
        s.access.clear();
        s.refresh.values_mut().for_each(|unused| *unused = false);
        Ok(())
    }

    fn upload(&self, access: &str, req: &UploadRequest) -> Result<UploadResponse, TransportError> {
        let mut s = self.authorise(access)?;
        s.upload_calls += 1;
        let call = s.upload_calls;
        let failure = s.fail_uploads.remove(&call);
        if failure == Some(UploadFailure::Offline) {
            return Err(TransportError::Offline("connection reset (fake)".into()));
        }
        let changes = req.validate(self.now).map_err(|e| status(422, "invalid", e.to_string()))?;
        s.batches.push(req.items.iter().map(|i| i.id).collect());
        let mut results = Vec::with_capacity(changes.len());
        for c in changes {
            let data = c.canonical_data();
            let incoming = StoredVersion {
                updated_ms: c.updated_at.timestamp_millis(),
                deleted: c.record.is_none(),
                data: data.as_deref(),
            };
            let held = s.records.get(&c.id).cloned();
            let stored = held.as_ref().map(|h| StoredVersion {
                updated_ms: h.updated_at.timestamp_millis(),
                deleted: h.deleted,
                data: h.data.as_deref(),
            });
            let outcome = decide(stored.as_ref(), &incoming);
            if outcome == ItemOutcome::Stored {
                s.seq += 1;
                let seq = s.seq;
                s.records.insert(
                    c.id,
                    HeldRecord {
                        seq,
                        kind: c.kind,
                        updated_at: c.updated_at,
                        deleted: c.record.is_none(),
                        data,
                    },
                );
            }
            results.push(ItemResult { id: c.id, outcome });
        }
        if failure == Some(UploadFailure::AnswerLost) {
            return Err(TransportError::Offline("answer lost (fake)".into()));
        }
        Ok(UploadResponse { results })
    }

    fn download(
        &self,
        access: &str,
        after: i64,
        limit: u32,
    ) -> Result<DownloadResponse, TransportError> {
        let s = self.authorise(access)?;
        let mut newer: Vec<(&Uuid, &HeldRecord)> =
            s.records.iter().filter(|(_, r)| r.seq > after).collect();
        newer.sort_by_key(|(_, r)| r.seq);
        let limit = limit.clamp(1, phr_wire::MAX_PAGE_ITEMS) as usize;
        let more = newer.len() > limit;
        let items: Vec<DownloadItem> = newer
            .into_iter()
            .take(limit)
            .map(|(id, r)| DownloadItem {
                seq: r.seq,
                id: *id,
                kind: r.kind,
                updated_at: r.updated_at,
                deleted: r.deleted,
                data: r.data.as_deref().and_then(|d| serde_json::from_str(d).ok()),
            })
            .collect();
        let next_cursor = items.last().map_or(after, |i| i.seq);
        Ok(DownloadResponse { items, next_cursor, more })
    }

    fn clinics(&self, access: &str) -> Result<Vec<Clinic>, TransportError> {
        Ok(self.authorise(access)?.clinics.clone())
    }

    fn consents(&self, access: &str) -> Result<Vec<Consent>, TransportError> {
        let s = self.authorise(access)?;
        let mut c = s.consents.clone();
        c.reverse();
        Ok(c)
    }

    fn grant(
        &self,
        access: &str,
        clinic_id: &str,
        grant: &ConsentGrant,
    ) -> Result<Consent, TransportError> {
        let mut s = self.authorise(access)?;
        let scope =
            grant.normalised().ok_or_else(|| status(400, "bad_request", "scope is empty"))?;
        let clinic = s
            .clinics
            .iter()
            .find(|c| c.id == clinic_id)
            .cloned()
            .ok_or_else(|| status(404, "not_found", "no such clinic"))?;
        let now = self.now.fixed_offset();
        for c in s.consents.iter_mut().filter(|c| c.clinic.id == clinic_id) {
            c.revoked_at.get_or_insert(now);
        }
        let consent = Consent {
            id: s.consents.len() as i64 + 1,
            clinic,
            scope,
            granted_at: now,
            revoked_at: None,
        };
        s.consents.push(consent.clone());
        Ok(consent)
    }

    fn revoke(&self, access: &str, clinic_id: &str) -> Result<Consent, TransportError> {
        let mut s = self.authorise(access)?;
        let now = self.now.fixed_offset();
        let c = s
            .consents
            .iter_mut()
            .rev()
            .find(|c| c.clinic.id == clinic_id && c.revoked_at.is_none())
            .ok_or_else(|| status(404, "not_found", "no active consent to that clinic"))?;
        c.revoked_at = Some(now);
        Ok(c.clone())
    }

    fn transcribe(
        &self,
        access: &str,
        wav: &[u8],
        lang: &str,
    ) -> Result<Transcription, TransportError> {
        let mut s = self.authorise(access)?;
        s.transcriptions.push(wav.len());
        if wav.len() > crate::notes::MAX_WAV_BYTES {
            return Err(status(413, "too_large", "recording too large"));
        }
        if lang != "ja" && lang != "en" {
            return Err(status(422, "invalid", "lang: must be ja or en"));
        }
        let Some(t) = s.speech.as_mut() else {
            return Err(status(503, "no_speech_model", "this server has no speech model"));
        };
        let (transcript, soap) = crate::notes::draft_from_wav(t.as_mut(), wav, lang)
            .map_err(|e| status(422, "invalid", format!("body: {e}")))?;
        Ok(Transcription {
            lang: lang.to_string(),
            transcript,
            soap,
            model: "scripted".into(),
            rejected: Vec::new(),
        })
    }
}
