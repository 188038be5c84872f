//! The embedded store: SQLite through sqlx, one file in the data directory, no setup.
//!
//! Queries are runtime-checked (`sqlx::query`): this crate's compile-time checked macros are
//! reserved for the PostgreSQL store. Every query here is exercised by the storage suite.
//! The database runs in WAL mode with `synchronous = FULL`, so a committed batch survives a power
//! cut before its watermark is published.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use ctg_wire::sample::Qualities;
use ctg_wire::{Bpm, ClockQuality, DeviceEvent, Movement, Sample, StreamId, Toco};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};

use super::{AlarmQuery, AuditQuery, LoginCode, SampleQuery, Store, StoreError, StoreResult};
use crate::model::{
    Admission, AlarmKind, AlarmPriority, AlarmRecord, AuditEntry, AuditOutcome, AuditRecord,
    BatchOutcome, Bed, Binding, GestationalAge, IngestBatch, Millis, NewAdmission, NewAlarm, Role,
    SessionRecord, Staff, StaffCredentials, StoredEvent, StoredSample, StreamRecord, StreamWrite,
};

/// Columns of one sample row, in insert order.
const SAMPLE_COLUMNS: &str = "stream_key, seq, rx_ms, device_ms, clock, arrived_ms, backlog, \
                              fhr1, fhr2, mhr, toco, movement, mark, quality";
const SAMPLE_PARAMS: usize = 14;
/// Multi-row insert sizes: a run is cut into chunks of these sizes, largest first, so a few
/// prepared statements cover every run length.
const CHUNKS: [usize; 4] = [128, 16, 4, 1];

static INSERT_SQL: LazyLock<Vec<(usize, Arc<str>)>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|&n| {
            let row = format!("({})", vec!["?"; SAMPLE_PARAMS].join(", "));
            let rows = vec![row; n].join(", ");
            let sql = format!(
                "INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES {rows} ON CONFLICT DO NOTHING"
            );
            (n, Arc::from(sql))
        })
        .collect()
});

/// The SQLite store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // One writer at a time is SQLite's model; a few readers serve the API concurrently.
        // Write transactions start with BEGIN IMMEDIATE: a deferred transaction that reads first
        // and then writes fails at once with "database is locked" when another writer committed
        // in between (the busy timeout does not apply to that upgrade).
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn insert_run_chunk(
        tx: &mut Transaction<'static, Sqlite>,
        stream_key: i64,
        rows: &[StoredSample],
        sql: &Arc<str>,
    ) -> StoreResult<u64> {
        let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
        for s in rows {
            q = q
                .bind(stream_key)
                .bind(seq_to_db(s.seq)?)
                .bind(s.rx_ms)
                .bind(s.device_ms)
                .bind(s.clock as i64)
                .bind(s.arrived_ms)
                .bind(i64::from(s.backlog))
                .bind(s.sample.fhr1.map(|b| i64::from(b.quarters())))
                .bind(s.sample.fhr2.map(|b| i64::from(b.quarters())))
                .bind(s.sample.mhr.map(|b| i64::from(b.quarters())))
                .bind(s.sample.toco.map(|t| i64::from(t.value())))
                .bind(s.sample.movement.map(|m| i64::from(m == Movement::Detected)))
                .bind(i64::from(s.sample.mark))
                .bind(i64::from(s.sample.quality.pack()));
        }
        Ok(q.execute(&mut **tx).await?.rows_affected())
    }
}

fn seq_to_db(seq: u64) -> StoreResult<i64> {
    i64::try_from(seq)
        .map_err(|_| StoreError::Conflict(format!("sequence number {seq} exceeds 2^63-1")))
}

fn seq_from_db(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative sequence number {v}")))
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn parse_stream(s: &str) -> StoreResult<StreamId> {
    s.parse().map_err(|e| corrupt(format!("stream id {s:?}: {e}")))
}

fn hr_from_db(v: Option<i64>, what: &str) -> StoreResult<Option<Bpm>> {
    v.map(|q| {
        u16::try_from(q)
            .ok()
            .and_then(Bpm::from_quarters)
            .ok_or_else(|| corrupt(format!("{what} {q}")))
    })
    .transpose()
}

fn sample_from_row(row: &SqliteRow) -> StoreResult<StoredSample> {
    let clock = match row.try_get::<i64, _>("clock")? {
        0 => ClockQuality::Unknown,
        1 => ClockQuality::Synchronised,
        2 => ClockQuality::Unsynchronised,
        other => return Err(corrupt(format!("clock quality {other}"))),
    };
    let toco = row
        .try_get::<Option<i64>, _>("toco")?
        .map(|v| {
            u8::try_from(v).ok().and_then(Toco::new).ok_or_else(|| corrupt(format!("toco {v}")))
        })
        .transpose()?;
    let movement = match row.try_get::<Option<i64>, _>("movement")? {
        None => None,
        Some(0) => Some(Movement::None),
        Some(1) => Some(Movement::Detected),
        Some(other) => return Err(corrupt(format!("movement {other}"))),
    };
    let quality =
        u8::try_from(row.try_get::<i64, _>("quality")?).map_err(|_| corrupt("quality byte"))?;
    Ok(StoredSample {
        seq: seq_from_db(row.try_get("seq")?)?,
        rx_ms: row.try_get("rx_ms")?,
        device_ms: row.try_get("device_ms")?,
        clock,
        arrived_ms: row.try_get("arrived_ms")?,
        backlog: row.try_get::<i64, _>("backlog")? != 0,
        sample: Sample {
            fhr1: hr_from_db(row.try_get("fhr1")?, "fhr1")?,
            fhr2: hr_from_db(row.try_get("fhr2")?, "fhr2")?,
            mhr: hr_from_db(row.try_get("mhr")?, "mhr")?,
            toco,
            movement,
            mark: row.try_get::<i64, _>("mark")? != 0,
            quality: Qualities::unpack(quality),
        },
    })
}

fn admission_from_row(row: &SqliteRow) -> StoreResult<Admission> {
    let weeks =
        u8::try_from(row.try_get::<i64, _>("ga_weeks")?).map_err(|_| corrupt("ga_weeks"))?;
    let days = u8::try_from(row.try_get::<i64, _>("ga_days")?).map_err(|_| corrupt("ga_days"))?;
    Ok(Admission {
        admission_id: row.try_get("admission_id")?,
        patient_id: row.try_get("patient_id")?,
        name: row.try_get("name")?,
        gestational_age: GestationalAge::new(weeks, days)
            .ok_or_else(|| corrupt(format!("gestational age {weeks}+{days}")))?,
        ga_recorded_ms: row.try_get("ga_recorded_ms")?,
        bed: row.try_get("bed")?,
        admitted_ms: row.try_get("admitted_ms")?,
        admitted_by: row.try_get("admitted_by")?,
        discharged_ms: row.try_get("discharged_ms")?,
    })
}

const ALARM_COLUMNS: &str = "alarm_id, admission_id, binding_id, stream_id, kind, priority, \
                             raised_ms, raised_seq, detail, acknowledged_ms, acknowledged_by, \
                             cleared_ms";

fn alarm_from_row(row: &SqliteRow) -> StoreResult<AlarmRecord> {
    let kind: String = row.try_get("kind")?;
    let priority: String = row.try_get("priority")?;
    Ok(AlarmRecord {
        alarm_id: row.try_get("alarm_id")?,
        alarm: NewAlarm {
            admission_id: row.try_get("admission_id")?,
            binding_id: row.try_get("binding_id")?,
            stream: parse_stream(row.try_get("stream_id")?)?,
            kind: AlarmKind::from_str(&kind).map_err(corrupt)?,
            priority: AlarmPriority::from_str(&priority).map_err(corrupt)?,
            raised_ms: row.try_get("raised_ms")?,
            raised_seq: seq_from_db(row.try_get("raised_seq")?)?,
            detail: row.try_get("detail")?,
        },
        acknowledged_ms: row.try_get("acknowledged_ms")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        cleared_ms: row.try_get("cleared_ms")?,
    })
}

fn binding_from_row(row: &SqliteRow) -> StoreResult<Binding> {
    Ok(Binding {
        binding_id: row.try_get("binding_id")?,
        stream: parse_stream(row.try_get("stream_id")?)?,
        admission_id: row.try_get("admission_id")?,
        from_seq: seq_from_db(row.try_get("from_seq")?)?,
        to_seq: row.try_get::<Option<i64>, _>("to_seq")?.map(seq_from_db).transpose()?,
        bound_ms: row.try_get("bound_ms")?,
        bound_by: row.try_get("bound_by")?,
        unbound_ms: row.try_get("unbound_ms")?,
    })
}

fn staff_from_row(row: &SqliteRow) -> StoreResult<Staff> {
    let role: String = row.try_get("role")?;
    Ok(Staff {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: Role::from_str(&role).map_err(corrupt)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

/// SQLite reports a violated UNIQUE constraint as error code 2067 (or 1555 for a primary key).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

const ADMISSION_COLUMNS: &str = "admission_id, patient_id, name, ga_weeks, ga_days, ga_recorded_ms, bed, \
                                 admitted_ms, admitted_by, discharged_ms";

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_stream(&self, stream: &StreamId, now: Millis) -> StoreResult<i64> {
        let id = stream.to_string();
        sqlx::query("INSERT INTO streams (stream_id, first_seen_ms) VALUES (?, ?) ON CONFLICT (stream_id) DO NOTHING")
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let key: i64 = sqlx::query_scalar("SELECT stream_key FROM streams WHERE stream_id = ?")
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
        Ok(key)
    }

    async fn load_streams(&self) -> StoreResult<Vec<StreamRecord>> {
        let mut out = Vec::new();
        for row in sqlx::query(
            "SELECT stream_key, stream_id, duplicates_rejected, rejected_payloads, last_arrival_ms \
             FROM streams ORDER BY stream_key",
        )
        .fetch_all(&self.pool)
        .await?
        {
            out.push(StreamRecord {
                key: row.try_get("stream_key")?,
                stream: parse_stream(row.try_get("stream_id")?)?,
                stored_samples: 0,
                duplicates_rejected: u64::try_from(row.try_get::<i64, _>("duplicates_rejected")?)
                    .unwrap_or(0),
                rejected_payloads: u64::try_from(row.try_get::<i64, _>("rejected_payloads")?)
                    .unwrap_or(0),
                last_arrival_ms: row.try_get("last_arrival_ms")?,
                stored: Vec::new(),
                dropped: Vec::new(),
            });
        }
        let index: std::collections::HashMap<i64, usize> =
            out.iter().enumerate().map(|(i, r)| (r.key, i)).collect();
        // Gaps and islands: consecutive sequence numbers share `seq - row_number`.
        let islands = sqlx::query(
            "SELECT stream_key, MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS n FROM ( \
                 SELECT stream_key, seq, seq - ROW_NUMBER() OVER (PARTITION BY stream_key ORDER BY seq) AS grp \
                 FROM samples) \
             GROUP BY stream_key, grp ORDER BY stream_key, first",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in islands {
            let key: i64 = row.try_get("stream_key")?;
            let (first, last) =
                (seq_from_db(row.try_get("first")?)?, seq_from_db(row.try_get("last")?)?);
            let rec = index
                .get(&key)
                .map(|&i| &mut out[i])
                .ok_or_else(|| corrupt(format!("samples of unknown stream {key}")))?;
            rec.stored.push((first, last));
            rec.stored_samples += last - first + 1;
        }
        for row in sqlx::query("SELECT stream_key, body FROM device_events WHERE kind = 'samples_dropped' ORDER BY stream_key, event_id")
            .fetch_all(&self.pool)
            .await?
        {
            let key: i64 = row.try_get("stream_key")?;
            let body: String = row.try_get("body")?;
            let event = DeviceEvent::decode(body.as_bytes()).map_err(|e| corrupt(format!("stored event: {e}")))?;
            if let ctg_wire::EventKind::SamplesDropped { first_seq, last_seq, .. } = event.kind
                && let Some(&i) = index.get(&key)
            {
                out[i].dropped.push((first_seq, last_seq));
            }
        }
        Ok(out)
    }

    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<BatchOutcome> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcome = BatchOutcome::default();
        for run in &batch.runs {
            let mut inserted = 0;
            let mut rest = run.samples.as_slice();
            for (n, sql) in INSERT_SQL.iter() {
                while rest.len() >= *n {
                    let (chunk, tail) = rest.split_at(*n);
                    inserted += Self::insert_run_chunk(&mut tx, run.stream_key, chunk, sql).await?;
                    rest = tail;
                }
            }
            let attempted = run.samples.len() as u64;
            match outcome.per_stream.iter_mut().find(|(k, _)| *k == run.stream_key) {
                Some((_, w)) => {
                    w.inserted += inserted;
                    w.already_stored += attempted - inserted;
                }
                None => outcome.per_stream.push((
                    run.stream_key,
                    StreamWrite { inserted, already_stored: attempted - inserted },
                )),
            }
        }
        for e in &batch.events {
            let kind = serde_json::to_value(&e.event.kind)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let body =
                String::from_utf8(e.event.encode()).map_err(|_| corrupt("event encoding"))?;
            let id = i64::try_from(e.event.id).map_err(|_| {
                StoreError::Conflict(format!("event id {} exceeds 2^63-1", e.event.id))
            })?;
            let r = sqlx::query(
                "INSERT INTO device_events (stream_key, event_id, at_ms, seq, kind, body, arrived_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(e.stream_key)
            .bind(id)
            .bind(e.event.at_ms)
            .bind(seq_to_db(e.event.seq)?)
            .bind(kind)
            .bind(body)
            .bind(e.arrived_ms)
            .execute(&mut *tx)
            .await?;
            outcome.events_inserted += r.rows_affected();
        }
        for (key, d) in &batch.deltas {
            // Replays that reached the database count as rejected duplicates too.
            let conflicts = outcome
                .per_stream
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, w)| w.already_stored);
            sqlx::query(
                "UPDATE streams SET duplicates_rejected = duplicates_rejected + ?1, \
                 rejected_payloads = rejected_payloads + ?2, \
                 last_arrival_ms = MAX(COALESCE(last_arrival_ms, ?3), COALESCE(?3, last_arrival_ms)) \
                 WHERE stream_key = ?4",
            )
            .bind(i64::try_from(d.duplicates_rejected + conflicts).unwrap_or(i64::MAX))
            .bind(i64::try_from(d.rejected_payloads).unwrap_or(i64::MAX))
            .bind(d.last_arrival_ms)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn samples(&self, stream_key: i64, q: SampleQuery) -> StoreResult<Vec<StoredSample>> {
        let to_seq = match q.to_seq {
            Some(s) => seq_to_db(s)?,
            None => i64::MAX,
        };
        let rows = sqlx::query(
            "SELECT seq, rx_ms, device_ms, clock, arrived_ms, backlog, fhr1, fhr2, mhr, toco, movement, mark, quality \
             FROM samples WHERE stream_key = ? AND seq >= ? AND seq < ? AND rx_ms >= ? AND rx_ms < ? \
             ORDER BY seq LIMIT ?",
        )
        .bind(stream_key)
        .bind(seq_to_db(q.from_seq)?)
        .bind(to_seq)
        .bind(q.from_ms)
        .bind(q.to_ms)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sample_from_row).collect()
    }

    async fn events(
        &self,
        stream_key: i64,
        from_ms: Millis,
        to_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT body, arrived_ms FROM device_events WHERE stream_key = ? AND at_ms >= ? AND at_ms < ? \
             ORDER BY at_ms, event_id LIMIT ?",
        )
        .bind(stream_key)
        .bind(from_ms)
        .bind(to_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let body: String = row.try_get("body")?;
                Ok(StoredEvent {
                    stream_key,
                    event: DeviceEvent::decode(body.as_bytes())
                        .map_err(|e| corrupt(format!("stored event: {e}")))?,
                    arrived_ms: row.try_get("arrived_ms")?,
                })
            })
            .collect()
    }

    async fn create_staff(
        &self,
        staff: &Staff,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "INSERT INTO staff (username, display_name, role, password_hash, disabled, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&staff.username)
        .bind(&staff.display_name)
        .bind(staff.role.as_str())
        .bind(password_hash)
        .bind(i64::from(staff.disabled))
        .bind(now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("staff {:?} exists", staff.username)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn staff_credentials(&self, username: &str) -> StoreResult<Option<StaffCredentials>> {
        let row = sqlx::query("SELECT username, display_name, role, disabled, password_hash FROM staff WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StaffCredentials {
                staff: staff_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn list_staff(&self) -> StoreResult<Vec<Staff>> {
        let rows = sqlx::query(
            "SELECT username, display_name, role, disabled FROM staff ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(staff_from_row).collect()
    }

    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, username, csrf_token, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)")
            .bind(&s.token_hash)
            .bind(&s.username)
            .bind(&s.csrf_token)
            .bind(s.created_ms)
            .bind(s.expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT token_hash, username, csrf_token, created_ms, expires_ms FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRecord {
                token_hash: r.try_get("token_hash")?,
                username: r.try_get("username")?,
                csrf_token: r.try_get("csrf_token")?,
                created_ms: r.try_get("created_ms")?,
                expires_ms: r.try_get("expires_ms")?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: Millis) -> StoreResult<u64> {
        let a = sqlx::query("DELETE FROM sessions WHERE expires_ms <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM login_codes WHERE expires_ms <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        // An expired app token is refused whether or not it is stored; a used invitation stays
        // (it records which clinic invited whom).
        let c = sqlx::query("DELETE FROM mother_tokens WHERE expires_ms <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let d =
            sqlx::query("DELETE FROM phr_invitations WHERE used_ms IS NULL AND expires_ms <= ?")
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(a.rows_affected() + b.rows_affected() + c.rows_affected() + d.rows_affected())
    }

    async fn create_login_code(&self, code: &LoginCode) -> StoreResult<()> {
        sqlx::query("INSERT INTO login_codes (code_hash, username, expires_ms) VALUES (?, ?, ?)")
            .bind(&code.code_hash)
            .bind(&code.username)
            .bind(code.expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn redeem_login_code(&self, code_hash: &str, now: Millis) -> StoreResult<Option<String>> {
        // DELETE … RETURNING consumes the code atomically: two redemptions cannot both succeed.
        let row = sqlx::query(
            "DELETE FROM login_codes WHERE code_hash = ? RETURNING username, expires_ms",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) if r.try_get::<i64, _>("expires_ms")? > now => Ok(Some(r.try_get("username")?)),
            _ => Ok(None),
        }
    }

    async fn put_bed(&self, bed: &Bed) -> StoreResult<()> {
        sqlx::query("INSERT INTO beds (bed, display_order) VALUES (?, ?) ON CONFLICT (bed) DO UPDATE SET display_order = excluded.display_order")
            .bind(&bed.bed)
            .bind(bed.display_order)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn beds(&self) -> StoreResult<Vec<Bed>> {
        let rows = sqlx::query("SELECT bed, display_order FROM beds ORDER BY display_order, bed")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(Bed { bed: r.try_get("bed")?, display_order: r.try_get("display_order")? }))
            .collect()
    }

    async fn admit(&self, new: &NewAdmission, by: &str, now: Millis) -> StoreResult<Admission> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let bed_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM beds WHERE bed = ?")
            .bind(&new.bed)
            .fetch_optional(&mut *tx)
            .await?;
        if bed_exists.is_none() {
            return Err(StoreError::NotFound(format!("bed {:?}", new.bed)));
        }
        let occupied: Option<String> = sqlx::query_scalar(
            "SELECT patient_id FROM admissions WHERE bed = ? AND discharged_ms IS NULL",
        )
        .bind(&new.bed)
        .fetch_optional(&mut *tx)
        .await?;
        if occupied.is_some() {
            return Err(StoreError::Conflict(format!("bed {:?} is occupied", new.bed)));
        }
        let r = sqlx::query(
            "INSERT INTO admissions (patient_id, name, ga_weeks, ga_days, ga_recorded_ms, bed, admitted_ms, admitted_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&new.patient_id)
        .bind(&new.name)
        .bind(i64::from(new.gestational_age.weeks))
        .bind(i64::from(new.gestational_age.days))
        .bind(now)
        .bind(&new.bed)
        .bind(now)
        .bind(by)
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_rowid(),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "patient {:?} is already admitted",
                    new.patient_id
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        self.admission(id).await?.ok_or_else(|| corrupt("admission vanished after insert"))
    }

    async fn admission(&self, admission_id: i64) -> StoreResult<Option<Admission>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {ADMISSION_COLUMNS} FROM admissions WHERE admission_id = ?"
        ));
        let row = sqlx::query(sql).bind(admission_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(admission_from_row).transpose()
    }

    async fn active_admissions(&self) -> StoreResult<Vec<Admission>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {ADMISSION_COLUMNS} FROM admissions WHERE discharged_ms IS NULL ORDER BY admission_id"
        ));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(admission_from_row).collect()
    }

    async fn discharge(
        &self,
        admission_id: i64,
        to_seq: u64,
        now: Millis,
    ) -> StoreResult<Admission> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let r = sqlx::query("UPDATE admissions SET discharged_ms = ? WHERE admission_id = ? AND discharged_ms IS NULL")
            .bind(now)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM admissions WHERE admission_id = ?")
                    .bind(admission_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => {
                    StoreError::Conflict(format!("admission {admission_id} is already discharged"))
                }
                None => StoreError::NotFound(format!("admission {admission_id}")),
            });
        }
        sqlx::query("UPDATE bindings SET to_seq = MAX(from_seq, ?), unbound_ms = ? WHERE admission_id = ? AND to_seq IS NULL")
            .bind(seq_to_db(to_seq)?)
            .bind(now)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.admission(admission_id).await?.ok_or_else(|| corrupt("admission vanished"))
    }

    async fn bind(
        &self,
        admission_id: i64,
        stream: &StreamId,
        from_seq: u64,
        by: &str,
        now: Millis,
    ) -> StoreResult<Binding> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let discharged: Option<Option<i64>> =
            sqlx::query_scalar("SELECT discharged_ms FROM admissions WHERE admission_id = ?")
                .bind(admission_id)
                .fetch_optional(&mut *tx)
                .await?;
        match discharged {
            None => return Err(StoreError::NotFound(format!("admission {admission_id}"))),
            Some(Some(_)) => {
                return Err(StoreError::Conflict(format!(
                    "admission {admission_id} is discharged"
                )));
            }
            Some(None) => {}
        }
        let r = sqlx::query(
            "INSERT INTO bindings (stream_id, admission_id, from_seq, bound_ms, bound_by) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(stream.to_string())
        .bind(admission_id)
        .bind(seq_to_db(from_seq)?)
        .bind(now)
        .bind(by)
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_rowid(),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "stream {stream} or admission {admission_id} already has an active binding"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let row = sqlx::query("SELECT * FROM bindings WHERE binding_id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let b = binding_from_row(&row)?;
        tx.commit().await?;
        Ok(b)
    }

    async fn unbind(&self, admission_id: i64, to_seq: u64, now: Millis) -> StoreResult<Binding> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM bindings WHERE admission_id = ? AND to_seq IS NULL")
            .bind(admission_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("active binding of admission {admission_id}"))
            })?;
        let mut b = binding_from_row(&row)?;
        // A binding never ends before it began.
        let end = to_seq.max(b.from_seq);
        sqlx::query("UPDATE bindings SET to_seq = ?, unbound_ms = ? WHERE binding_id = ?")
            .bind(seq_to_db(end)?)
            .bind(now)
            .bind(b.binding_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        b.to_seq = Some(end);
        b.unbound_ms = Some(now);
        Ok(b)
    }

    async fn active_bindings(&self) -> StoreResult<Vec<Binding>> {
        let rows = sqlx::query("SELECT * FROM bindings WHERE to_seq IS NULL ORDER BY binding_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(binding_from_row).collect()
    }

    async fn bindings_of_admission(&self, admission_id: i64) -> StoreResult<Vec<Binding>> {
        let rows = sqlx::query("SELECT * FROM bindings WHERE admission_id = ? ORDER BY binding_id")
            .bind(admission_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(binding_from_row).collect()
    }

    async fn insert_alarm(&self, a: &NewAlarm) -> StoreResult<i64> {
        let r = sqlx::query(
            "INSERT INTO alarms (admission_id, binding_id, stream_id, kind, priority, raised_ms, \
             raised_seq, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.admission_id)
        .bind(a.binding_id)
        .bind(a.stream.to_string())
        .bind(a.kind.as_str())
        .bind(a.priority.as_str())
        .bind(a.raised_ms)
        .bind(seq_to_db(a.raised_seq)?)
        .bind(&a.detail)
        .execute(&self.pool)
        .await?;
        Ok(r.last_insert_rowid())
    }

    async fn acknowledge_alarm(
        &self,
        alarm_id: i64,
        by: &str,
        at_ms: Millis,
    ) -> StoreResult<AlarmRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE alarms SET acknowledged_ms = ?, acknowledged_by = ? \
             WHERE alarm_id = ? AND acknowledged_ms IS NULL",
        )
        .bind(at_ms)
        .bind(by)
        .bind(alarm_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let sql = format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE alarm_id = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(alarm_id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        match (row, done) {
            (None, _) => Err(StoreError::NotFound(format!("alarm {alarm_id}"))),
            (Some(_), 0) => {
                Err(StoreError::Conflict(format!("alarm {alarm_id} is already acknowledged")))
            }
            (Some(row), _) => alarm_from_row(&row),
        }
    }

    async fn clear_alarm(&self, alarm_id: i64, at_ms: Millis) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE alarms SET cleared_ms = ? WHERE alarm_id = ? \
             AND cleared_ms IS NULL",
        )
        .bind(at_ms)
        .bind(alarm_id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM alarms WHERE alarm_id = ?")
                .bind(alarm_id)
                .fetch_optional(&self.pool)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("alarm {alarm_id}")));
            }
        }
        Ok(())
    }

    async fn alarms(&self, q: AlarmQuery) -> StoreResult<Vec<AlarmRecord>> {
        let sql = format!(
            "SELECT {ALARM_COLUMNS} FROM alarms \
             WHERE (? IS NULL OR admission_id = ?) AND (? = 0 OR cleared_ms IS NULL) \
             AND raised_ms >= ? ORDER BY raised_ms DESC, alarm_id DESC LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(q.admission_id)
            .bind(q.admission_id)
            .bind(q.open_only)
            .bind(q.since_ms)
            .bind(i64::from(q.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alarm_from_row).collect()
    }

    async fn append_audit(&self, e: &AuditEntry) -> StoreResult<i64> {
        let r = sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, role, action, target, outcome, remote, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.at_ms)
        .bind(e.actor.as_deref())
        .bind(e.role.map(Role::as_str))
        .bind(&e.action)
        .bind(&e.target)
        .bind(e.outcome.as_str())
        .bind(&e.remote)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(r.last_insert_rowid())
    }

    async fn audit(&self, q: AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, role, action, target, outcome, remote, detail FROM audit_log \
             WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(q.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role: Option<String> = r.try_get("role")?;
                let outcome: String = r.try_get("outcome")?;
                Ok(AuditRecord {
                    id: r.try_get("id")?,
                    entry: AuditEntry {
                        at_ms: r.try_get("at_ms")?,
                        actor: r.try_get("actor")?,
                        role: role.map(|s| Role::from_str(&s)).transpose().map_err(corrupt)?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        outcome: AuditOutcome::from_str(&outcome).map_err(corrupt)?,
                        remote: r.try_get("remote")?,
                        detail: r.try_get("detail")?,
                    },
                })
            })
            .collect()
    }
}
