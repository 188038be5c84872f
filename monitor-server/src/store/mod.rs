//! Storage behind one interface.
//!
//! [`Store`] is everything the server persists: samples and device events (idempotent on
//! (stream, sequence) and (stream, event id)), per-stream accounting, staff, sessions, one-time
//! login codes, beds, admissions, stream bindings and the append-only audit log.
//!
//! The embedded default is [`sqlite::SqliteStore`] (a file in the data directory, no setup);
//! [`postgres::PgStore`] is the PostgreSQL/TimescaleDB store, chosen by a `postgres://` URL
//! ([`open`]). Every method is a unit of work that maps onto one transaction, batches carry
//! their counter increments so they commit atomically with the samples, and nothing above this
//! module writes SQL. The storage test
//! suite (`tests/monitor-server/store_suite.rs`) is generic over a store factory so it runs
//! unchanged against every implementation.

use async_trait::async_trait;
use ctg_wire::StreamId;

use crate::model::{
    Admission, AlarmRecord, AuditEntry, AuditRecord, BatchOutcome, Bed, Binding, IngestBatch,
    Millis, NewAdmission, NewAlarm, SessionRecord, Staff, StaffCredentials, StoredEvent,
    StoredSample, StreamRecord,
};

pub mod phr;
pub mod phr_postgres;
pub mod phr_sqlite;
pub mod postgres;
pub mod sqlite;

pub use phr::PhrStore;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

/// Opens the store a configuration selects (`storage.database_url` / `DATABASE_URL`, see
/// [`crate::config::Config::storage_target`]) and logs which one it is.
pub async fn open(config: &crate::config::Config) -> StoreResult<std::sync::Arc<dyn Store>> {
    use crate::config::StorageTarget;
    let days = |d: Option<u32>| d.map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
    Ok(match config.storage_target() {
        StorageTarget::Sqlite(path) => {
            tracing::info!(path = %path.display(), "storage: embedded SQLite");
            std::sync::Arc::new(SqliteStore::open(&path).await?)
        }
        StorageTarget::Postgres(url) => {
            let mut o = PgOptions::new(url);
            o.max_connections = config.storage.max_connections;
            o.retention = days(config.storage.retention_days);
            o.rollup_retention = days(config.storage.rollup_retention_days);
            std::sync::Arc::new(PgStore::open(&o).await?)
        }
    })
}

/// Why a storage call failed. Conflicts and missing rows are distinct so the API can answer 409
/// or 404; everything else is the database's problem and is reported as such.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the data directory {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which samples of a stream to read. Both bounds apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleQuery {
    /// Sequence numbers `from_seq..to_seq` (end exclusive; `None` = no upper bound).
    pub from_seq: u64,
    pub to_seq: Option<u64>,
    /// Gateway receive times `from_ms..to_ms` (end exclusive).
    pub from_ms: Millis,
    pub to_ms: Millis,
    /// At most this many samples, the earliest first.
    pub limit: u32,
}

/// Which audit entries to read: newest first, before an id (for paging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A one-time login code: redeemable once, before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCode {
    pub code_hash: String,
    pub username: String,
    pub expires_ms: Millis,
}

/// Which alarms to read: newest first (by `raised_ms`, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmQuery {
    /// Only this admission's alarms (`None` = every admission).
    pub admission_id: Option<i64>,
    /// Only alarms not yet cleared.
    pub open_only: bool,
    /// Only alarms raised at or after this time.
    pub since_ms: Millis,
    pub limit: u32,
}

/// Everything the server persists. See the module documentation.
#[async_trait]
pub trait Store: phr::PhrStore + Send + Sync + std::fmt::Debug + 'static {
    // --- streams and samples -------------------------------------------------------------

    /// Returns the key of a stream, registering it on first sight.
    async fn ensure_stream(&self, stream: &StreamId, now: Millis) -> StoreResult<i64>;

    /// Every known stream with its accounting and stored/dropped coverage (at start-up).
    async fn load_streams(&self) -> StoreResult<Vec<StreamRecord>>;

    /// Stores a batch in one transaction: samples (skipping any (stream, seq) already stored,
    /// never altering a stored sample), events (skipping duplicate ids) and counter increments.
    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<BatchOutcome>;

    /// Samples of one stream, in sequence order.
    async fn samples(&self, stream_key: i64, q: SampleQuery) -> StoreResult<Vec<StoredSample>>;

    /// Device events of one stream with `at_ms` in `from_ms..to_ms`, oldest first.
    async fn events(
        &self,
        stream_key: i64,
        from_ms: Millis,
        to_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;

    // --- staff, sessions, login codes -----------------------------------------------------

    /// Creates a staff account; `Conflict` if the username exists.
    async fn create_staff(
        &self,
        staff: &Staff,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<()>;

    async fn staff_credentials(&self, username: &str) -> StoreResult<Option<StaffCredentials>>;

    async fn list_staff(&self) -> StoreResult<Vec<Staff>>;

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;

    /// The session with this token digest, if it exists (expiry is checked by the caller).
    async fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    /// Removes sessions, login codes and mothers' app tokens that expired before `now`, and
    /// invitations that expired unused.
    async fn purge_expired(&self, now: Millis) -> StoreResult<u64>;

    async fn create_login_code(&self, code: &LoginCode) -> StoreResult<()>;

    /// Atomically consumes a code: returns the username once, if unexpired.
    async fn redeem_login_code(&self, code_hash: &str, now: Millis) -> StoreResult<Option<String>>;

    // --- beds, admissions, bindings --------------------------------------------------------

    /// Creates or updates a bed.
    async fn put_bed(&self, bed: &Bed) -> StoreResult<()>;

    async fn beds(&self) -> StoreResult<Vec<Bed>>;

    /// Admits a patient. `NotFound` for an unknown bed; `Conflict` when the bed is occupied or
    /// the patient is already admitted.
    async fn admit(&self, new: &NewAdmission, by: &str, now: Millis) -> StoreResult<Admission>;

    async fn admission(&self, admission_id: i64) -> StoreResult<Option<Admission>>;

    async fn active_admissions(&self) -> StoreResult<Vec<Admission>>;

    /// Discharges an admission and ends its active binding at `to_seq` (when it has one), in one
    /// transaction. `Conflict` if already discharged.
    async fn discharge(
        &self,
        admission_id: i64,
        to_seq: u64,
        now: Millis,
    ) -> StoreResult<Admission>;

    /// Binds a stream to an active admission from `from_seq` on. `Conflict` when the stream or
    /// the admission already has an active binding, or the admission is discharged.
    async fn bind(
        &self,
        admission_id: i64,
        stream: &StreamId,
        from_seq: u64,
        by: &str,
        now: Millis,
    ) -> StoreResult<Binding>;

    /// Ends the active binding of an admission at `to_seq` (exclusive). `NotFound` if none.
    async fn unbind(&self, admission_id: i64, to_seq: u64, now: Millis) -> StoreResult<Binding>;

    async fn active_bindings(&self) -> StoreResult<Vec<Binding>>;

    /// Every binding an admission ever had, oldest first.
    async fn bindings_of_admission(&self, admission_id: i64) -> StoreResult<Vec<Binding>>;

    // --- alarms ----------------------------------------------------------------------------

    /// Records a raised alarm; returns its id.
    async fn insert_alarm(&self, alarm: &NewAlarm) -> StoreResult<i64>;

    /// Records who acknowledged an alarm and when. `NotFound` for an unknown id, `Conflict` if it
    /// was already acknowledged (the first acknowledgement stands).
    async fn acknowledge_alarm(
        &self,
        alarm_id: i64,
        by: &str,
        at_ms: Millis,
    ) -> StoreResult<AlarmRecord>;

    /// Records that an alarm's condition cleared. `NotFound` for an unknown id; clearing an
    /// already cleared alarm changes nothing (the first time stands).
    async fn clear_alarm(&self, alarm_id: i64, at_ms: Millis) -> StoreResult<()>;

    /// Alarm history, newest first.
    async fn alarms(&self, q: AlarmQuery) -> StoreResult<Vec<AlarmRecord>>;

    // --- audit -----------------------------------------------------------------------------

    /// Appends to the audit log. The log cannot be altered or deleted through this interface
    /// (and the SQLite schema refuses UPDATE and DELETE on it).
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<i64>;

    async fn audit(&self, q: AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}
