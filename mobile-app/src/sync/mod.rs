//! Sync with the clinic: her phone stays the place her records are made (offline-first); when the
//! server can be reached, the outbox is pushed in order and the server's changes are pulled.
//!
//! * **Push**: the outbox (`change_log`) after the last entry the server acknowledged, oldest
//!   first, in batches of at most [`phr_wire::MAX_BATCH_ITEMS`]. Each entry sends the record's
//!   current version (or a tombstone). The pushed position moves only after the server answered
//!   a batch, so a crash in between re-sends it, which the server answers `unchanged`.
//! * **Pull**: `GET /records?after=CURSOR`, page by page. Each change is weighed against the
//!   phone's version with the API's conflict rule ([`phr_wire::records::decide`]: the later
//!   `updated_at` wins; at the same millisecond a deletion wins, then the greater canonical JSON),
//!   and the winners are applied with the cursor in one transaction, without entering the outbox.
//! * **Tokens** live in her store. A refused access token is refreshed once and the call
//!   retried; a refused refresh token (expired, or replayed, which revokes every token of her
//!   login) means she must log in again.

pub mod fake;
pub mod http;
pub mod mapping;
pub mod status;
pub mod transport;

use chrono::{DateTime, FixedOffset, Utc};
use phr_wire::auth::{AccountError, LoginRequest, RegisterRequest, Tokens};
use phr_wire::consent::{Clinic, Consent, ConsentGrant};
use phr_wire::records::{
    DownloadItem, ItemOutcome, Record, StoredVersion, UploadItem, UploadRequest, decide,
};
use uuid::Uuid;

use crate::config::AppConfig;
use crate::store::{RemoteChange, Store, StoreError, SyncFailure, time_from_ms};

pub use http::HttpTransport;
pub use status::SyncStatus;
pub use transport::{SyncTransport, Transcription, TransportError};

/// Download page size asked for.
pub const PAGE_ITEMS: u32 = 500;

/// Why sync (or an account action) did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("not connected to a clinic: register with the clinic's invitation code first")]
    NotSignedIn,
    #[error("please log in again")]
    LoginRequired,
    #[error("the server cannot be reached: {0}")]
    Offline(String),
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("the server refused the request: {0}")]
    Refused(TransportError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    fn from_transport(e: TransportError) -> Self {
        match e {
            TransportError::Offline(m) => Self::Offline(m),
            other => Self::Refused(other),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Upload requests made.
    pub batches: usize,
    /// Items sent, and what the server did with them.
    pub sent: usize,
    pub stored: usize,
    pub unchanged: usize,
    pub superseded: usize,
    /// Records the API would refuse (e.g. a time far in the future): kept on the phone, not sent.
    pub not_sendable: usize,
    /// Download pages read, changes received, and those applied (they won the conflict rule).
    pub pages: usize,
    pub received: usize,
    pub applied: usize,
    /// Received changes the phone cannot keep (kinds it does not store, damaged records).
    pub skipped: usize,
}

/// Runs sync and account actions against one server for her store.
pub struct SyncEngine<'a> {
    transport: &'a dyn SyncTransport,
    config: &'a AppConfig,
}

impl std::fmt::Debug for SyncEngine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").finish_non_exhaustive()
    }
}

impl<'a> SyncEngine<'a> {
    pub fn new(transport: &'a dyn SyncTransport, config: &'a AppConfig) -> Self {
        Self { transport, config }
    }

    /// Creates her account with a clinic's invitation code and keeps the tokens.
    pub fn register(&self, store: &mut Store, req: &RegisterRequest) -> Result<Uuid, SyncError> {
        req.validate()?;
        let tokens = self.transport.register(req).map_err(SyncError::from_transport)?;
        save(store, &tokens, Some(&req.login))?;
        Ok(tokens.mother_id)
    }

    /// Logs in (again) and keeps the tokens.
    pub fn login(&self, store: &mut Store, req: &LoginRequest) -> Result<Uuid, SyncError> {
        req.validate()?;
        let tokens = self.transport.login(req).map_err(|e| match e {
            TransportError::Unauthorized(_) => SyncError::LoginRequired,
            other => SyncError::from_transport(other),
        })?;
        save(store, &tokens, Some(&req.login))?;
        Ok(tokens.mother_id)
    }

    /// Ends her session on the server (best effort) and forgets the tokens.
    pub fn logout(&self, store: &mut Store) -> Result<(), SyncError> {
        if let Some(access) = store.sync_state()?.access_token
            && let Err(e) = self.transport.logout(&access)
        {
            tracing::warn!("logout: {e}");
        }
        store.clear_tokens(false)?;
        Ok(())
    }

    /// Runs `call` with her access token; a refused token is refreshed once and the call retried.
    fn authorised<R>(
        &self,
        store: &mut Store,
        call: impl Fn(&str) -> Result<R, TransportError>,
    ) -> Result<R, SyncError> {
        let state = store.sync_state()?;
        let (Some(access), Some(refresh)) = (state.access_token, state.refresh_token) else {
            return Err(if state.needs_login {
                SyncError::LoginRequired
            } else {
                SyncError::NotSignedIn
            });
        };
        match call(&access) {
            Err(TransportError::Unauthorized(why)) => {
                tracing::info!("access token refused ({why}); refreshing");
            }
            other => return other.map_err(SyncError::from_transport),
        }
        let tokens = match self.transport.refresh(&refresh) {
            Ok(t) => t,
            Err(TransportError::Unauthorized(why)) => {
                // Expired, or replayed: the server has revoked every token of her login.
                tracing::warn!("refresh token refused ({why}); she must log in again");
                store.clear_tokens(true)?;
                return Err(SyncError::LoginRequired);
            }
            Err(e) => return Err(SyncError::from_transport(e)),
        };
        save(store, &tokens, None)?;
        match call(&tokens.access_token) {
            Err(TransportError::Unauthorized(_)) => {
                store.clear_tokens(true)?;
                Err(SyncError::LoginRequired)
            }
            other => other.map_err(SyncError::from_transport),
        }
    }

    /// Pushes the outbox, then pulls the server's changes. The outcome (success, offline, error)
    /// is recorded for the sync status the app shows.
    pub fn sync(
        &self,
        store: &mut Store,
        now: DateTime<FixedOffset>,
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let result =
            self.push(store, now, &mut report).and_then(|()| self.pull(store, &mut report));
        match &result {
            Ok(()) => store.record_sync_success(now)?,
            Err(SyncError::Offline(m)) => {
                store.record_sync_failure(SyncFailure::Offline, m, now)?
            }
            Err(SyncError::NotSignedIn | SyncError::LoginRequired) => {}
            Err(e) => store.record_sync_failure(SyncFailure::Error, &e.to_string(), now)?,
        }
        result.map(|()| report)
    }

    /// Pushes the outbox in order, a batch at a time.
    pub fn push(
        &self,
        store: &mut Store,
        now: DateTime<FixedOffset>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let server_now = now.with_timezone(&Utc);
        loop {
            let pushed = store.sync_state()?.pushed_seq;
            let changes = store.changes_after(pushed, phr_wire::MAX_BATCH_ITEMS)?;
            let Some(last) = changes.last().map(|c| c.seq) else { return Ok(()) };
            let mut items: Vec<UploadItem> = Vec::with_capacity(changes.len());
            for change in &changes {
                let Some(kind) = mapping::kind_of(&change.entity) else { continue };
                let id = Uuid::parse_str(&change.record_id).map_err(|_| StoreError::Corrupt {
                    id: change.record_id.clone(),
                    what: "outbox record id".into(),
                })?;
                let Some(version) = store.local_version(&change.entity, id)? else { continue };
                let item = UploadItem {
                    id,
                    kind,
                    updated_at: time_from_ms(version.updated_ms)?,
                    deleted: version.record.is_none(),
                    data: version.record.as_ref().map(|r| mapping::to_wire(r).data()),
                };
                if let Err(e) = item.validate(server_now) {
                    tracing::warn!("record {id} cannot be sent ({e}); it stays on the phone");
                    report.not_sendable += 1;
                    continue;
                }
                // Every entry sends the current version, so a record changed twice since the
                // last push goes once, at the place of its latest change.
                items.retain(|i| i.id != id);
                items.push(item);
            }
            if !items.is_empty() {
                let request = UploadRequest { items };
                let response =
                    self.authorised(store, |access| self.transport.upload(access, &request))?;
                if response.results.len() != request.items.len()
                    || response.results.iter().zip(&request.items).any(|(r, i)| r.id != i.id)
                {
                    return Err(SyncError::Refused(TransportError::Protocol(format!(
                        "{} results for {} items",
                        response.results.len(),
                        request.items.len()
                    ))));
                }
                report.batches += 1;
                report.sent += request.items.len();
                for r in &response.results {
                    match r.outcome {
                        ItemOutcome::Stored => report.stored += 1,
                        ItemOutcome::Unchanged => report.unchanged += 1,
                        // The newer version comes back with the pull.
                        ItemOutcome::Superseded => report.superseded += 1,
                    }
                }
            }
            store.set_pushed_seq(last)?;
        }
    }

    /// Pulls the server's changes after the cursor, page by page.
    pub fn pull(&self, store: &mut Store, report: &mut SyncReport) -> Result<(), SyncError> {
        loop {
            let cursor = store.sync_state()?.pull_cursor;
            let page = self
                .authorised(store, |access| self.transport.download(access, cursor, PAGE_ITEMS))?;
            report.pages += 1;
            report.received += page.items.len();
            let mut changes = Vec::new();
            for item in &page.items {
                match self.weigh(store, item)? {
                    Weighed::Apply(c) => changes.push(c),
                    Weighed::Keep => {}
                    Weighed::Skip => report.skipped += 1,
                }
            }
            report.applied += changes.len();
            if page.next_cursor < cursor {
                return Err(SyncError::Refused(TransportError::Protocol(format!(
                    "the cursor went back from {cursor} to {}",
                    page.next_cursor
                ))));
            }
            store.apply_remote(&changes, page.next_cursor)?;
            if !page.more || page.items.is_empty() {
                return Ok(());
            }
        }
    }

    /// Decides what to do with one pulled change (the conflict rule against the phone's version).
    fn weigh(&self, store: &Store, item: &DownloadItem) -> Result<Weighed, SyncError> {
        let Some(table) = mapping::table_of(item.kind) else { return Ok(Weighed::Skip) };
        let record = match (&item.data, item.deleted) {
            (_, true) => None,
            (Some(data), false) => match Record::from_data(item.kind, data.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("pulled record {} is unusable: {e}", item.id);
                    return Ok(Weighed::Skip);
                }
            },
            (None, false) => {
                tracing::warn!("pulled record {} has no data", item.id);
                return Ok(Weighed::Skip);
            }
        };
        let incoming_data = record.as_ref().map(|r| r.data().to_string());
        let incoming = StoredVersion {
            updated_ms: item.updated_at.timestamp_millis(),
            deleted: item.deleted,
            data: incoming_data.as_deref(),
        };
        let local = store.local_version(table, item.id)?;
        let local_data = local
            .as_ref()
            .and_then(|v| v.record.as_ref())
            .map(|r| mapping::to_wire(r).data().to_string());
        let local_version = local.as_ref().map(|v| StoredVersion {
            updated_ms: v.updated_ms,
            deleted: v.record.is_none(),
            data: local_data.as_deref(),
        });
        if decide(local_version.as_ref(), &incoming) != ItemOutcome::Stored {
            return Ok(Weighed::Keep);
        }
        let change = match record {
            None => RemoteChange::Delete { table, id: item.id, updated_ms: incoming.updated_ms },
            Some(r) => match mapping::from_wire(item.id, incoming.updated_ms, r, self.config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("pulled {e}");
                    return Ok(Weighed::Skip);
                }
            },
        };
        Ok(Weighed::Apply(change))
    }

    /// Clinics she can share with.
    pub fn clinics(&self, store: &mut Store) -> Result<Vec<Clinic>, SyncError> {
        self.authorised(store, |a| self.transport.clinics(a))
    }

    /// Her consents, current and past, newest first.
    pub fn consents(&self, store: &mut Store) -> Result<Vec<Consent>, SyncError> {
        self.authorised(store, |a| self.transport.consents(a))
    }

    /// Shares `scope` with a clinic (replacing an earlier grant to it).
    pub fn grant(
        &self,
        store: &mut Store,
        clinic_id: &str,
        grant: &ConsentGrant,
    ) -> Result<Consent, SyncError> {
        self.authorised(store, |a| self.transport.grant(a, clinic_id, grant))
    }

    /// Her dictation transcribed and drafted by the server (nothing is stored there).
    pub fn transcribe(
        &self,
        store: &mut Store,
        wav: &[u8],
        lang: &str,
    ) -> Result<Transcription, SyncError> {
        self.authorised(store, |a| self.transport.transcribe(a, wav, lang))
    }

    /// Stops sharing with a clinic, at once.
    pub fn revoke(&self, store: &mut Store, clinic_id: &str) -> Result<Consent, SyncError> {
        self.authorised(store, |a| self.transport.revoke(a, clinic_id))
    }
}

enum Weighed {
    Apply(RemoteChange),
    /// The phone's version wins (or is the same).
    Keep,
    Skip,
}

fn save(store: &mut Store, tokens: &Tokens, login: Option<&str>) -> Result<(), StoreError> {
    store.save_tokens(tokens.mother_id, login, &tokens.access_token, &tokens.refresh_token)
}
