//! Storage of the mothers' PHR: clinics and their staff, invitations, mother accounts and app
//! tokens, her records (one row per record id, with a per-mother change number for incremental
//! download), consent per clinic, the warnings her records raise, and clinicians' attested notes.
//!
//! Kept apart from [`super::Store`] (the CTG side) so the two halves of the system can evolve
//! separately; both live in the same database and [`super::open`] opens both over one pool.
//! Like the CTG store, every method is one transaction and nothing above this module writes SQL.
//! Queries are runtime-checked (`sqlx::query`) for both databases; the PHR storage suite
//! (`tests/monitor-server/phr_store.rs`) runs every method against SQLite and PostgreSQL.

use async_trait::async_trait;
use phr_wire::consent::Scope;
use phr_wire::records::{ItemOutcome, RecordKind, ValidChange};
use phr_wire::rules::{RaisedWarning, WarningKind};
use uuid::Uuid;

use super::StoreResult;
use crate::model::Millis;

/// A clinic known to this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicRow {
    pub id: String,
    pub name: String,
}

/// A registration code a clinic hands to a mother (stored as a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    pub code_hash: String,
    pub clinic_id: String,
    pub created_by: String,
    pub created_ms: Millis,
    pub expires_ms: Millis,
}

/// A mother's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotherRow {
    pub id: Uuid,
    /// Normalised (see `phr_wire::auth::normalise_login`).
    pub login: String,
    pub display_name: String,
    /// The clinic whose invitation she used.
    pub invited_by: String,
    pub created_ms: Millis,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotherCredentials {
    pub mother: MotherRow,
    pub password_hash: String,
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// An app token (stored as a digest). All tokens of one login share a `family`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotherToken {
    pub token_hash: String,
    pub mother_id: Uuid,
    pub kind: TokenKind,
    pub family: String,
    pub device: String,
    pub created_ms: Millis,
    pub expires_ms: Millis,
    /// Refresh tokens: when it was exchanged (a second exchange is a replay).
    pub used_ms: Option<Millis>,
    pub revoked_ms: Option<Millis>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Valid and now marked used: issue a new pair in the same family.
    Fresh(MotherToken),
    /// Already used or revoked: a replay. The store has revoked the whole family.
    Replayed { mother_id: Uuid, family: String },
    /// Expired (nothing changed).
    Expired { mother_id: Uuid },
    /// No such token.
    Unknown,
}

/// One validated change of an upload, with what the server derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhrChange {
    pub change: ValidChange,
    /// Canonical JSON of the record (`None` for a deletion).
    pub data: Option<String>,
    /// When the thing happened (`Record::occurred_at`), for ordering; 0 for a deletion.
    pub occurred_ms: Millis,
    /// Warnings the record raises (stored only if the change is stored; at most one per
    /// (mother, record, kind), so re-sends and edits never duplicate a warning).
    pub warnings: Vec<RaisedWarning>,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The mother's change number of the record's latest stored change.
    pub seq: i64,
    pub id: Uuid,
    pub kind: RecordKind,
    /// RFC 3339 with the phone's offset, as sent.
    pub updated_at: String,
    pub updated_ms: Millis,
    pub deleted: bool,
    pub data: Option<String>,
    pub occurred_ms: Millis,
    pub received_ms: Millis,
}

/// A consent, current (`revoked_ms` = None) or past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: i64,
    pub mother_id: Uuid,
    pub clinic_id: String,
    pub clinic_name: String,
    pub scope: Vec<Scope>,
    pub granted_ms: Millis,
    pub revoked_ms: Option<Millis>,
}

/// A warning as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRow {
    pub id: i64,
    pub mother_id: Uuid,
    pub record_id: Uuid,
    pub kind: WarningKind,
    pub detail: String,
    pub occurred_ms: Millis,
    pub raised_ms: Millis,
    pub ack_by: Option<String>,
    pub ack_clinic: Option<String>,
    pub ack_ms: Option<Millis>,
}

/// Which warnings to read, newest `occurred_ms` first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WarningQuery {
    /// Only these mothers (an empty list reads nothing).
    pub mothers: Vec<Uuid>,
    pub open_only: bool,
    pub limit: u32,
}

/// A note a clinician attested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicalNote {
    pub id: Uuid,
    pub mother_id: Uuid,
    pub clinic_id: String,
    pub author: String,
    pub attested_ms: Millis,
    pub lang: String,
    /// `phr_wire::records::SoapText` as JSON.
    pub soap: String,
    /// The final FHIR Composition and its Provenance resources (JSON).
    pub composition: String,
    pub provenance: String,
    /// The detached HPKI signature, when a signer is configured.
    pub signature: Option<String>,
}

/// Everything the server persists about mothers. See the module documentation.
#[async_trait]
pub trait PhrStore: Send + Sync + std::fmt::Debug + 'static {
    // --- clinics ---------------------------------------------------------------------------

    /// Creates or renames a clinic.
    async fn put_clinic(&self, clinic: &ClinicRow) -> StoreResult<()>;

    async fn clinics(&self) -> StoreResult<Vec<ClinicRow>>;

    /// Makes a staff member part of a clinic's team (idempotent). `NotFound` for an unknown
    /// clinic or username.
    async fn add_clinic_member(&self, clinic_id: &str, username: &str) -> StoreResult<()>;

    /// The clinics a staff member works for (their PHR access goes through these).
    async fn clinics_of_staff(&self, username: &str) -> StoreResult<Vec<String>>;

    // --- invitations and accounts ------------------------------------------------------------

    /// `NotFound` for an unknown clinic.
    async fn create_invitation(&self, inv: &NewInvitation) -> StoreResult<()>;

    /// Creates a mother's account and consumes the invitation, in one transaction.
    /// `NotFound("invitation")` when the code is unknown, used or expired at `now`;
    /// `Conflict` when the login exists (the invitation then stays unused).
    async fn register_mother(
        &self,
        invitation_hash: &str,
        mother: &MotherRow,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<MotherRow>;

    async fn mother_credentials(&self, login: &str) -> StoreResult<Option<MotherCredentials>>;

    async fn mother(&self, id: Uuid) -> StoreResult<Option<MotherRow>>;

    // --- tokens ------------------------------------------------------------------------------

    async fn insert_mother_tokens(&self, tokens: &[MotherToken]) -> StoreResult<()>;

    async fn mother_token(&self, token_hash: &str) -> StoreResult<Option<MotherToken>>;

    /// Presents a refresh token (atomically: two concurrent exchanges of one token cannot both
    /// be `Fresh`). A used or revoked token revokes its whole family.
    async fn use_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<RefreshUse>;

    /// Revokes every token of a family (logout); returns how many were live.
    async fn revoke_token_family(&self, family: &str, now: Millis) -> StoreResult<u64>;

    // --- records -----------------------------------------------------------------------------

    /// Applies a batch in one transaction, in order, with the conflict rule
    /// (`phr_wire::records::decide`); returns one outcome per change. Each stored change gets
    /// the mother's next change number; uploads of one mother are serialised, so change numbers
    /// become visible in increasing order (a reader's cursor never skips one).
    async fn upload(
        &self,
        mother_id: Uuid,
        changes: &[PhrChange],
        now: Millis,
    ) -> StoreResult<Vec<ItemOutcome>>;

    /// Her records (tombstones included) with change number > `after`, in change-number order.
    async fn records_since(
        &self,
        mother_id: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredRecord>>;

    /// Her live records of these kinds, newest `occurred_ms` first.
    async fn records_of(
        &self,
        mother_id: Uuid,
        kinds: &[RecordKind],
        limit: u32,
    ) -> StoreResult<Vec<StoredRecord>>;

    /// When anything of hers was last received.
    async fn last_received_ms(&self, mother_id: Uuid) -> StoreResult<Option<Millis>>;

    // --- consent -----------------------------------------------------------------------------

    /// Grants a clinic this scope, replacing (revoking) any active grant to it, in one
    /// transaction. `NotFound` for an unknown clinic.
    async fn grant_consent(
        &self,
        mother_id: Uuid,
        clinic_id: &str,
        scope: &[Scope],
        now: Millis,
    ) -> StoreResult<ConsentRow>;

    /// Revokes the active grant to a clinic. `NotFound` when there is none.
    async fn revoke_consent(
        &self,
        mother_id: Uuid,
        clinic_id: &str,
        now: Millis,
    ) -> StoreResult<ConsentRow>;

    /// Every consent she ever gave, newest first.
    async fn consents_of_mother(&self, mother_id: Uuid) -> StoreResult<Vec<ConsentRow>>;

    /// Active consents given to any of these clinics (all mothers), newest first.
    async fn active_consents_for(&self, clinic_ids: &[String]) -> StoreResult<Vec<ConsentRow>>;

    // --- warnings ----------------------------------------------------------------------------

    async fn warnings(&self, q: &WarningQuery) -> StoreResult<Vec<WarningRow>>;

    async fn warning(&self, id: i64) -> StoreResult<Option<WarningRow>>;

    /// Records who acknowledged a warning, for which clinic, when. `NotFound` for an unknown
    /// id; `Conflict` if already acknowledged (the first acknowledgement stands).
    async fn acknowledge_warning(
        &self,
        id: i64,
        by: &str,
        clinic_id: &str,
        now: Millis,
    ) -> StoreResult<WarningRow>;

    // --- clinicians' notes -------------------------------------------------------------------

    /// `Conflict` if the id exists.
    async fn insert_clinical_note(&self, note: &ClinicalNote) -> StoreResult<()>;

    /// A mother's attested notes, newest first.
    async fn clinical_notes(&self, mother_id: Uuid) -> StoreResult<Vec<ClinicalNote>>;
}
