//! The region-wide store: PostgreSQL with TimescaleDB, through sqlx.
//!
//! * Samples live in a hypertable partitioned on the gateway receive time (6-hour chunks), with
//!   per-minute rollups (`samples_1m`) written in the same statement as the samples, so a 24-hour
//!   trend reads 1,440 rows. On plain PostgreSQL (no TimescaleDB) the same tables are ordinary
//!   tables and everything works the same.
//! * A batch is one statement, so one round trip and one transaction: the samples of every
//!   stream as parallel arrays through `UNNEST`, the rollups of the rows actually inserted, the
//!   device events and the counter increments, all in data-modifying CTEs.
//! * Retention (optional) removes whole chunks older than the configured age; the sequence
//!   ranges they held are kept in `expired_ranges`, so the accounting never goes back.
//! * With a Timescale-licensed build (`timescaledb.license = 'timescale'`) old chunks are also
//!   compressed by a compression policy. Debian ships the Apache build, where compression and
//!   policies are unavailable; the server then runs its own retention timer. The mode in use is
//!   logged at start ([`TimescaleMode`]).
//!
//! Fixed queries are checked at compile time (`query!`/`query_as!`) against the schema, from the
//! committed cache in `monitor-server/.sqlx` (the build needs no database). Statements whose
//! text is assembled at run time or whose parameters the macros cannot type (arrays of nullable
//! values in the batch insert, `RETURNING` rows, TimescaleDB calls that depend on the mode) use
//! `sqlx::query`; every query of both kinds is exercised by the storage suite.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ctg_wire::sample::Qualities;
use ctg_wire::{Bpm, ClockQuality, DeviceEvent, Movement, Sample, StreamId, Toco};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use tokio_util::sync::CancellationToken;

use super::{AlarmQuery, AuditQuery, LoginCode, SampleQuery, Store, StoreError, StoreResult};
use crate::model::{
    Admission, AlarmKind, AlarmPriority, AlarmRecord, AuditEntry, AuditOutcome, AuditRecord,
    BatchOutcome, Bed, Binding, GestationalAge, IngestBatch, Millis, NewAdmission, NewAlarm, Role,
    SessionRecord, Staff, StaffCredentials, StoredEvent, StoredSample, StreamRecord, StreamWrite,
};

/// Chunk interval of the samples hypertable (must match the migration): retention cuts on
/// multiples of it so that exactly the rows of dropped chunks are accounted as expired.
pub const SAMPLE_CHUNK_MS: i64 = 6 * 3_600_000;
const ROLLUP_CHUNK_MS: i64 = 7 * 86_400_000;
/// Sample queries over a receive-time window at most this long read by time first (the window
/// is small), longer or open ones walk the stream in sequence order.
const TIME_FIRST_MAX_MS: i64 = 6 * 3_600_000;

/// What the database offers, detected at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimescaleMode {
    /// Timescale-licensed build: hypertables, compression policy on old sample chunks.
    Licensed,
    /// Apache build (Debian's): hypertables and `drop_chunks`; the server rolls up and expires.
    Apache,
    /// Plain PostgreSQL: ordinary tables; retention deletes rows.
    Plain,
}

impl TimescaleMode {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Licensed => {
                "TimescaleDB (Timescale licence): hypertables, compression policy, server rollups"
            }
            Self::Apache => {
                "TimescaleDB (Apache build): hypertables, server rollups and server retention \
                 (compression and continuous aggregates unavailable)"
            }
            Self::Plain => {
                "PostgreSQL without TimescaleDB: plain tables, server rollups and retention"
            }
        }
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database`
    pub url: String,
    /// Pool size; the ingest writer uses one connection, the API the others.
    pub max_connections: u32,
    /// How long a call waits for a connection before failing (bounds every call while the
    /// database is unreachable, so the ingest can report and retry).
    pub acquire_timeout: Duration,
    /// Raw samples older than this are dropped (`None` = kept for ever).
    pub retention: Option<Duration>,
    /// Rollups older than this are dropped (`None` = kept for ever).
    pub rollup_retention: Option<Duration>,
    /// Age after which sample chunks are compressed (licensed builds only).
    pub compress_after: Duration,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            retention: None,
            rollup_retention: None,
            compress_after: Duration::from_secs(86_400),
        }
    }
}

/// One minute of one stream, from the rollups. Heart rates in bpm, TOCO in its units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteRollup {
    pub minute_ms: Millis,
    pub samples: u32,
    pub fhr_samples: u32,
    pub fhr_mean: Option<f64>,
    pub fhr_min: Option<f64>,
    pub fhr_max: Option<f64>,
    pub toco_mean: Option<f64>,
    pub toco_min: Option<u8>,
    pub toco_max: Option<u8>,
    /// Share of samples with reported FHR1 quality that were rated good (`None` = not reported).
    pub signal_good: Option<f64>,
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub samples_expired: u64,
    pub events_expired: u64,
}

#[derive(Debug)]
struct Background(CancellationToken);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The PostgreSQL/TimescaleDB store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    mode: TimescaleMode,
    _background: Option<Arc<Background>>,
}

impl PgStore {
    /// Connects, applies migrations, detects the TimescaleDB mode (logged), sets up compression
    /// where licensed, and starts the retention timer when a retention is configured.
    pub async fn open(options: &PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(&options.url)?
            .application_name("monitor-server")
            // Ingest statements carry up to a few thousand rows; anything slower is a sick
            // database and the ingest should see the error and retry.
            .options([("statement_timeout", "60000")]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let mode = detect_mode(&pool).await?;
        tracing::info!(mode = ?mode, "storage: {}", mode.describe());
        let store = Self { pool, mode, _background: None };
        if mode == TimescaleMode::Licensed {
            store.enable_compression(options.compress_after).await;
        }
        if options.retention.is_none() && options.rollup_retention.is_none() {
            return Ok(store);
        }
        let token = CancellationToken::new();
        let background = Some(Arc::new(Background(token.clone())));
        let worker = Self { pool: store.pool.clone(), mode, _background: None };
        let (raw, rollups) = (options.retention, options.rollup_retention);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = crate::now_ms();
                match worker.expire(now, raw, rollups).await {
                    Ok(o) => tracing::info!(
                        samples = o.samples_expired,
                        events = o.events_expired,
                        "retention pass done"
                    ),
                    Err(e) => tracing::warn!("retention pass failed (retried in an hour): {e}"),
                }
            }
        });
        Ok(Self { _background: background, ..store })
    }

    pub fn mode(&self) -> TimescaleMode {
        self.mode
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn enable_compression(&self, compress_after: Duration) {
        let after = i64::try_from(compress_after.as_millis()).unwrap_or(i64::MAX);
        let steps: [&'static str; 3] = [
            "SELECT set_integer_now_func('samples', 'ctg_now_ms', replace_if_exists => true)",
            "ALTER TABLE samples SET (timescaledb.compress, \
             timescaledb.compress_segmentby = 'stream_key', timescaledb.compress_orderby = 'seq')",
            "SELECT add_compression_policy('samples', compress_after => $1::bigint, if_not_exists => true)",
        ];
        for sql in steps {
            let q = sqlx::query(sql);
            let q = if sql.contains("$1") { q.bind(after) } else { q };
            if let Err(e) = q.execute(&self.pool).await {
                tracing::warn!("compression not enabled ({sql}): {e}");
                return;
            }
        }
        tracing::info!(after_ms = after, "sample chunks are compressed by a TimescaleDB policy");
    }

    /// One retention pass at `now`: drops sample chunks older than `raw` (recording the ranges
    /// they held), device events older than `raw`, and rollups older than `rollups`.
    pub async fn expire(
        &self,
        now: Millis,
        raw: Option<Duration>,
        rollups: Option<Duration>,
    ) -> StoreResult<RetentionOutcome> {
        let mut out = RetentionOutcome::default();
        let hypertables = self.mode != TimescaleMode::Plain;
        if let Some(age) = raw {
            // Only whole chunks go: cut at a chunk boundary so that "rows before the cut" are
            // exactly the rows of the chunks dropped.
            let cut = now.saturating_sub(millis(age)).div_euclid(SAMPLE_CHUNK_MS) * SAMPLE_CHUNK_MS;
            let mut tx = self.pool.begin().await?;
            let n: i64 = sqlx::query_scalar(
                "WITH islands AS ( \
                     SELECT stream_key, MIN(seq) AS first_seq, MAX(seq) AS last_seq, COUNT(*) AS n FROM ( \
                         SELECT stream_key, seq, seq - ROW_NUMBER() OVER (PARTITION BY stream_key ORDER BY seq) AS grp \
                         FROM samples WHERE rx_ms < $1) t \
                     GROUP BY stream_key, grp), \
                 ins AS (INSERT INTO expired_ranges (stream_key, first_seq, last_seq) \
                     SELECT stream_key, first_seq, last_seq FROM islands \
                     ON CONFLICT (stream_key, first_seq) DO UPDATE SET last_seq = GREATEST(expired_ranges.last_seq, excluded.last_seq)) \
                 SELECT COALESCE(SUM(n), 0)::bigint FROM islands",
            )
            .bind(cut)
            .fetch_one(&mut *tx)
            .await?;
            if hypertables {
                sqlx::query("SELECT drop_chunks('samples', older_than => $1::bigint)")
                    .bind(cut)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("DELETE FROM samples WHERE rx_ms < $1")
                    .bind(cut)
                    .execute(&mut *tx)
                    .await?;
            }
            let ev = sqlx::query(
                "DELETE FROM device_events WHERE at_ms < $1 AND kind <> 'samples_dropped'",
            )
            .bind(cut)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            out.samples_expired = u64::try_from(n).unwrap_or(0);
            out.events_expired = ev.rows_affected();
        }
        if let Some(age) = rollups {
            let cut = now.saturating_sub(millis(age)).div_euclid(ROLLUP_CHUNK_MS) * ROLLUP_CHUNK_MS;
            if hypertables {
                sqlx::query("SELECT drop_chunks('samples_1m', older_than => $1::bigint)")
                    .bind(cut)
                    .execute(&self.pool)
                    .await?;
            } else {
                sqlx::query("DELETE FROM samples_1m WHERE minute_ms < $1")
                    .bind(cut)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(out)
    }

    /// The per-minute trend of one stream for minutes starting in `from_ms..to_ms`, oldest
    /// first, from the rollups (a 24-hour labour is 1,440 rows).
    pub async fn trend(
        &self,
        stream_key: i64,
        from_ms: Millis,
        to_ms: Millis,
    ) -> StoreResult<Vec<MinuteRollup>> {
        let rows = sqlx::query!(
            "SELECT minute_ms, n, fhr_n, fhr_sum, fhr_min, fhr_max, toco_n, toco_sum, toco_min, \
             toco_max, quality_n, quality_good FROM samples_1m \
             WHERE stream_key = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms",
            stream_key,
            from_ms,
            to_ms
        )
        .fetch_all(&self.pool)
        .await?;
        let count = |n: i32| u32::try_from(n).map_err(|_| corrupt(format!("rollup count {n}")));
        let quarters = |v: Option<i16>| v.map(|q| f64::from(q) / 4.0);
        let mean = |sum: i64, n: i32| (n > 0).then(|| sum as f64 / f64::from(n));
        rows.into_iter()
            .map(|r| {
                Ok(MinuteRollup {
                    minute_ms: r.minute_ms,
                    samples: count(r.n)?,
                    fhr_samples: count(r.fhr_n)?,
                    fhr_mean: mean(r.fhr_sum, r.fhr_n).map(|q| q / 4.0),
                    fhr_min: quarters(r.fhr_min),
                    fhr_max: quarters(r.fhr_max),
                    toco_mean: mean(r.toco_sum, r.toco_n),
                    toco_min: small_u8(r.toco_min)?,
                    toco_max: small_u8(r.toco_max)?,
                    signal_good: (r.quality_n > 0)
                        .then(|| f64::from(r.quality_good) / f64::from(r.quality_n)),
                })
            })
            .collect()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn detect_mode(pool: &PgPool) -> StoreResult<TimescaleMode> {
    let installed: Option<String> =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            .fetch_optional(pool)
            .await?;
    if installed.is_none() {
        return Ok(TimescaleMode::Plain);
    }
    let license: Option<String> =
        sqlx::query_scalar("SELECT current_setting('timescaledb.license', true)")
            .fetch_one(pool)
            .await?;
    Ok(match license.as_deref() {
        Some("timescale") => TimescaleMode::Licensed,
        _ => TimescaleMode::Apache,
    })
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

fn small_u8(v: Option<i16>) -> StoreResult<Option<u8>> {
    v.map(|x| u8::try_from(x).map_err(|_| corrupt(format!("byte value {x}")))).transpose()
}

fn hr_from_db(v: Option<i16>, what: &str) -> StoreResult<Option<Bpm>> {
    v.map(|q| {
        u16::try_from(q)
            .ok()
            .and_then(Bpm::from_quarters)
            .ok_or_else(|| corrupt(format!("{what} {q}")))
    })
    .transpose()
}

/// A `samples` row as the checked query returns it.
struct SampleRow {
    seq: i64,
    rx_ms: i64,
    device_ms: Option<i64>,
    clock: i16,
    arrived_ms: i64,
    backlog: bool,
    fhr1: Option<i16>,
    fhr2: Option<i16>,
    mhr: Option<i16>,
    toco: Option<i16>,
    movement: Option<i16>,
    mark: bool,
    quality: i16,
}

fn sample_from_row(row: SampleRow) -> StoreResult<StoredSample> {
    let clock = match row.clock {
        0 => ClockQuality::Unknown,
        1 => ClockQuality::Synchronised,
        2 => ClockQuality::Unsynchronised,
        other => return Err(corrupt(format!("clock quality {other}"))),
    };
    let toco = small_u8(row.toco)?
        .map(|v| Toco::new(v).ok_or_else(|| corrupt(format!("toco {v}"))))
        .transpose()?;
    let movement = match row.movement {
        None => None,
        Some(0) => Some(Movement::None),
        Some(1) => Some(Movement::Detected),
        Some(other) => return Err(corrupt(format!("movement {other}"))),
    };
    let quality = u8::try_from(row.quality).map_err(|_| corrupt("quality byte"))?;
    Ok(StoredSample {
        seq: seq_from_db(row.seq)?,
        rx_ms: row.rx_ms,
        device_ms: row.device_ms,
        clock,
        arrived_ms: row.arrived_ms,
        backlog: row.backlog,
        sample: Sample {
            fhr1: hr_from_db(row.fhr1, "fhr1")?,
            fhr2: hr_from_db(row.fhr2, "fhr2")?,
            mhr: hr_from_db(row.mhr, "mhr")?,
            toco,
            movement,
            mark: row.mark,
            quality: Qualities::unpack(quality),
        },
    })
}

fn admission_from_row(row: &PgRow) -> StoreResult<Admission> {
    let weeks =
        u8::try_from(row.try_get::<i16, _>("ga_weeks")?).map_err(|_| corrupt("ga_weeks"))?;
    let days = u8::try_from(row.try_get::<i16, _>("ga_days")?).map_err(|_| corrupt("ga_days"))?;
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

fn binding_from_row(row: &PgRow) -> StoreResult<Binding> {
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

/// A `staff` row as the checked queries return it.
struct StaffRow {
    username: String,
    display_name: String,
    role: String,
    disabled: bool,
}

fn staff_from_row(row: StaffRow) -> StoreResult<Staff> {
    Ok(Staff {
        username: row.username,
        display_name: row.display_name,
        role: Role::from_str(&row.role).map_err(corrupt)?,
        disabled: row.disabled,
    })
}

/// An `alarms` row as the checked queries return it.
struct AlarmRow {
    alarm_id: i64,
    admission_id: i64,
    binding_id: i64,
    stream_id: String,
    kind: String,
    priority: String,
    raised_ms: i64,
    raised_seq: i64,
    detail: String,
    acknowledged_ms: Option<i64>,
    acknowledged_by: Option<String>,
    cleared_ms: Option<i64>,
}

fn alarm_from_row(row: AlarmRow) -> StoreResult<AlarmRecord> {
    Ok(AlarmRecord {
        alarm_id: row.alarm_id,
        alarm: NewAlarm {
            admission_id: row.admission_id,
            binding_id: row.binding_id,
            stream: parse_stream(&row.stream_id)?,
            kind: AlarmKind::from_str(&row.kind).map_err(corrupt)?,
            priority: AlarmPriority::from_str(&row.priority).map_err(corrupt)?,
            raised_ms: row.raised_ms,
            raised_seq: seq_from_db(row.raised_seq)?,
            detail: row.detail,
        },
        acknowledged_ms: row.acknowledged_ms,
        acknowledged_by: row.acknowledged_by,
        cleared_ms: row.cleared_ms,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

const ADMISSION_COLUMNS: &str = "admission_id, patient_id, name, ga_weeks, ga_days, ga_recorded_ms, bed, \
                                 admitted_ms, admitted_by, discharged_ms";
const BINDING_COLUMNS: &str =
    "binding_id, stream_id, admission_id, from_seq, to_seq, bound_ms, bound_by, unbound_ms";

/// The whole batch in one statement (one round trip, one implicit transaction). Samples come as
/// parallel arrays; only rows actually inserted feed the rollups and the per-stream counts.
///
/// Replays are skipped by the unique index on (stream, seq, receive time): a gateway replays a
/// sample with the receive time it stamped when it first read it. A (stream, seq) arriving with
/// another receive time is refused before storage by the ingest, whose registry knows every
/// stored sequence number (rebuilt from this store at start); checking it here would cost an
/// index probe per row and chunk, which TimescaleDB's time partitioning cannot avoid.
const WRITE_BATCH_SQL: &str = "\
WITH input AS ( \
    SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::smallint[], \
        $6::bigint[], $7::boolean[], $8::smallint[], $9::smallint[], $10::smallint[], $11::smallint[], \
        $12::smallint[], $13::boolean[], $14::smallint[]) \
    AS u(stream_key, seq, rx_ms, device_ms, clock, arrived_ms, backlog, fhr1, fhr2, mhr, toco, movement, mark, quality)), \
ins AS ( \
    INSERT INTO samples (stream_key, seq, rx_ms, device_ms, clock, arrived_ms, backlog, fhr1, fhr2, mhr, toco, movement, mark, quality) \
    SELECT * FROM input \
    ON CONFLICT DO NOTHING \
    RETURNING stream_key, rx_ms, fhr1, toco, quality), \
roll AS ( \
    INSERT INTO samples_1m AS r (stream_key, minute_ms, n, fhr_n, fhr_sum, fhr_min, fhr_max, toco_n, toco_sum, toco_min, toco_max, quality_n, quality_good) \
    SELECT stream_key, (rx_ms - ((rx_ms % 60000) + 60000) % 60000) AS minute_ms, COUNT(*), COUNT(fhr1), COALESCE(SUM(fhr1), 0), MIN(fhr1), MAX(fhr1), \
        COUNT(toco), COALESCE(SUM(toco), 0), MIN(toco), MAX(toco), \
        COUNT(*) FILTER (WHERE quality & 3 <> 0), COUNT(*) FILTER (WHERE quality & 3 = 3) \
    FROM ins GROUP BY 1, 2 \
    ON CONFLICT (stream_key, minute_ms) DO UPDATE SET \
        n = r.n + excluded.n, fhr_n = r.fhr_n + excluded.fhr_n, fhr_sum = r.fhr_sum + excluded.fhr_sum, \
        fhr_min = LEAST(r.fhr_min, excluded.fhr_min), fhr_max = GREATEST(r.fhr_max, excluded.fhr_max), \
        toco_n = r.toco_n + excluded.toco_n, toco_sum = r.toco_sum + excluded.toco_sum, \
        toco_min = LEAST(r.toco_min, excluded.toco_min), toco_max = GREATEST(r.toco_max, excluded.toco_max), \
        quality_n = r.quality_n + excluded.quality_n, quality_good = r.quality_good + excluded.quality_good), \
counts AS (SELECT stream_key, COUNT(*)::bigint AS n FROM ins GROUP BY stream_key), \
ev AS ( \
    INSERT INTO device_events (stream_key, event_id, at_ms, seq, kind, body, arrived_ms) \
    SELECT * FROM UNNEST($15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], $21::bigint[]) \
    ON CONFLICT DO NOTHING RETURNING 1), \
upd AS ( \
    UPDATE streams st SET \
        duplicates_rejected = st.duplicates_rejected + d.dups + (d.attempted - COALESCE(c.n, 0)), \
        rejected_payloads = st.rejected_payloads + d.rejected, \
        last_arrival_ms = GREATEST(st.last_arrival_ms, d.last_arrival) \
    FROM UNNEST($22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[]) \
        AS d(stream_key, dups, rejected, last_arrival, attempted) \
    LEFT JOIN counts c ON c.stream_key = d.stream_key \
    WHERE st.stream_key = d.stream_key RETURNING 1) \
SELECT (SELECT COALESCE(array_agg(stream_key), '{}') FROM counts) AS keys, \
       (SELECT COALESCE(array_agg(n), '{}') FROM counts) AS inserted, \
       (SELECT COUNT(*) FROM ev)::bigint AS events, \
       (SELECT COUNT(*) FROM upd)::bigint AS updated";

/// Column arrays of a batch's samples.
#[derive(Default)]
struct SampleColumns {
    stream_key: Vec<i64>,
    seq: Vec<i64>,
    rx_ms: Vec<i64>,
    device_ms: Vec<Option<i64>>,
    clock: Vec<i16>,
    arrived_ms: Vec<i64>,
    backlog: Vec<bool>,
    fhr1: Vec<Option<i16>>,
    fhr2: Vec<Option<i16>>,
    mhr: Vec<Option<i16>>,
    toco: Vec<Option<i16>>,
    movement: Vec<Option<i16>>,
    mark: Vec<bool>,
    quality: Vec<i16>,
}

fn hr_to_db(b: Option<Bpm>) -> Option<i16> {
    // Quarter bpm fits easily (at most 960 on the wire).
    b.map(|b| i16::try_from(b.quarters()).unwrap_or(i16::MAX))
}

impl SampleColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            stream_key: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            rx_ms: Vec::with_capacity(n),
            device_ms: Vec::with_capacity(n),
            clock: Vec::with_capacity(n),
            arrived_ms: Vec::with_capacity(n),
            backlog: Vec::with_capacity(n),
            fhr1: Vec::with_capacity(n),
            fhr2: Vec::with_capacity(n),
            mhr: Vec::with_capacity(n),
            toco: Vec::with_capacity(n),
            movement: Vec::with_capacity(n),
            mark: Vec::with_capacity(n),
            quality: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, key: i64, s: &StoredSample) -> StoreResult<()> {
        self.stream_key.push(key);
        self.seq.push(seq_to_db(s.seq)?);
        self.rx_ms.push(s.rx_ms);
        self.device_ms.push(s.device_ms);
        self.clock.push(s.clock as i16);
        self.arrived_ms.push(s.arrived_ms);
        self.backlog.push(s.backlog);
        self.fhr1.push(hr_to_db(s.sample.fhr1));
        self.fhr2.push(hr_to_db(s.sample.fhr2));
        self.mhr.push(hr_to_db(s.sample.mhr));
        self.toco.push(s.sample.toco.map(|t| i16::from(t.value())));
        self.movement.push(s.sample.movement.map(|m| i16::from(m == Movement::Detected)));
        self.mark.push(s.sample.mark);
        self.quality.push(i16::from(s.sample.quality.pack()));
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ensure_stream(&self, stream: &StreamId, now: Millis) -> StoreResult<i64> {
        let id = stream.to_string();
        // The no-op update makes RETURNING yield the existing row too: one round trip.
        let key = sqlx::query_scalar!(
            "INSERT INTO streams (stream_id, first_seen_ms) VALUES ($1, $2) \
             ON CONFLICT (stream_id) DO UPDATE SET stream_id = excluded.stream_id \
             RETURNING stream_key AS \"stream_key!\"",
            id,
            now
        )
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
        let index: HashMap<i64, usize> = out.iter().enumerate().map(|(i, r)| (r.key, i)).collect();
        // Gaps and islands: consecutive sequence numbers share `seq - row_number`. Ranges removed
        // by retention count as stored (they were, and were acknowledged).
        let islands = sqlx::query(
            "SELECT stream_key, first, last FROM ( \
                 SELECT stream_key, MIN(seq) AS first, MAX(seq) AS last FROM ( \
                     SELECT stream_key, seq, seq - ROW_NUMBER() OVER (PARTITION BY stream_key ORDER BY seq) AS grp \
                     FROM samples) t \
                 GROUP BY stream_key, grp \
                 UNION ALL SELECT stream_key, first_seq, last_seq FROM expired_ranges) r \
             ORDER BY stream_key, first",
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
            match rec.stored.last_mut() {
                // Adjacent or overlapping (an expired range next to a stored one): merge.
                Some((_, prev_last)) if first <= prev_last.saturating_add(1) => {
                    if last > *prev_last {
                        rec.stored_samples += last - (*prev_last).max(first.saturating_sub(1));
                        *prev_last = last;
                    }
                }
                _ => {
                    rec.stored.push((first, last));
                    rec.stored_samples += last - first + 1;
                }
            }
        }
        for row in sqlx::query(
            "SELECT stream_key, body FROM device_events WHERE kind = 'samples_dropped' \
             ORDER BY stream_key, event_id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let key: i64 = row.try_get("stream_key")?;
            let body: String = row.try_get("body")?;
            let event = DeviceEvent::decode(body.as_bytes())
                .map_err(|e| corrupt(format!("stored event: {e}")))?;
            if let ctg_wire::EventKind::SamplesDropped { first_seq, last_seq, .. } = event.kind
                && let Some(&i) = index.get(&key)
            {
                out[i].dropped.push((first_seq, last_seq));
            }
        }
        Ok(out)
    }

    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<BatchOutcome> {
        let mut cols = SampleColumns::with_capacity(batch.sample_count());
        let mut attempted: Vec<(i64, u64)> = Vec::new();
        for run in &batch.runs {
            for s in &run.samples {
                cols.push(run.stream_key, s)?;
            }
            match attempted.iter_mut().find(|(k, _)| *k == run.stream_key) {
                Some((_, n)) => *n += run.samples.len() as u64,
                None => attempted.push((run.stream_key, run.samples.len() as u64)),
            }
        }
        let n_ev = batch.events.len();
        let (mut ev_key, mut ev_id, mut ev_at, mut ev_seq, mut ev_kind, mut ev_body, mut ev_arr) = (
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
            Vec::with_capacity(n_ev),
        );
        for e in &batch.events {
            let kind = serde_json::to_value(&e.event.kind)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let body =
                String::from_utf8(e.event.encode()).map_err(|_| corrupt("event encoding"))?;
            ev_key.push(e.stream_key);
            ev_id.push(i64::try_from(e.event.id).map_err(|_| {
                StoreError::Conflict(format!("event id {} exceeds 2^63-1", e.event.id))
            })?);
            ev_at.push(e.event.at_ms);
            ev_seq.push(seq_to_db(e.event.seq)?);
            ev_kind.push(kind);
            ev_body.push(body);
            ev_arr.push(e.arrived_ms);
        }
        let n_d = batch.deltas.len();
        let (mut d_key, mut d_dups, mut d_rej, mut d_last, mut d_att) = (
            Vec::with_capacity(n_d),
            Vec::with_capacity(n_d),
            Vec::with_capacity(n_d),
            Vec::<Option<i64>>::with_capacity(n_d),
            Vec::with_capacity(n_d),
        );
        let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (key, d) in &batch.deltas {
            d_key.push(*key);
            d_dups.push(big(d.duplicates_rejected));
            d_rej.push(big(d.rejected_payloads));
            d_last.push(d.last_arrival_ms);
            d_att.push(big(attempted.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)));
        }
        let row = sqlx::query(WRITE_BATCH_SQL)
            .bind(cols.stream_key)
            .bind(cols.seq)
            .bind(cols.rx_ms)
            .bind(cols.device_ms)
            .bind(cols.clock)
            .bind(cols.arrived_ms)
            .bind(cols.backlog)
            .bind(cols.fhr1)
            .bind(cols.fhr2)
            .bind(cols.mhr)
            .bind(cols.toco)
            .bind(cols.movement)
            .bind(cols.mark)
            .bind(cols.quality)
            .bind(ev_key)
            .bind(ev_id)
            .bind(ev_at)
            .bind(ev_seq)
            .bind(ev_kind)
            .bind(ev_body)
            .bind(ev_arr)
            .bind(d_key)
            .bind(d_dups)
            .bind(d_rej)
            .bind(d_last)
            .bind(d_att)
            .fetch_one(&self.pool)
            .await?;
        let keys: Vec<i64> = row.try_get("keys")?;
        let inserted: Vec<i64> = row.try_get("inserted")?;
        let events: i64 = row.try_get("events")?;
        let mut outcome = BatchOutcome {
            events_inserted: u64::try_from(events).unwrap_or(0),
            ..Default::default()
        };
        for (key, n) in attempted {
            let ins = keys
                .iter()
                .position(|k| *k == key)
                .and_then(|i| inserted.get(i))
                .map_or(0, |v| u64::try_from(*v).unwrap_or(0));
            outcome.per_stream.push((key, StreamWrite { inserted: ins, already_stored: n - ins }));
        }
        Ok(outcome)
    }

    async fn samples(&self, stream_key: i64, q: SampleQuery) -> StoreResult<Vec<StoredSample>> {
        let to_seq = match q.to_seq {
            Some(s) => seq_to_db(s)?,
            None => i64::MAX,
        };
        let from_seq = seq_to_db(q.from_seq)?;
        let limit = i64::from(q.limit);
        // A short time window (the history views) is read through the (stream, time) index and
        // sorted; the materialised CTE keeps the planner from walking the stream's whole sequence
        // index to avoid that sort. Open or long windows walk the sequence index with the limit.
        let rows = if q.to_ms.saturating_sub(q.from_ms) <= TIME_FIRST_MAX_MS {
            sqlx::query_as!(
                SampleRow,
                r#"WITH w AS MATERIALIZED (
                     SELECT seq, rx_ms, device_ms, clock, arrived_ms, backlog, fhr1, fhr2, mhr, toco,
                            movement, mark, quality
                     FROM samples WHERE stream_key = $1 AND rx_ms >= $4 AND rx_ms < $5
                       AND seq >= $2 AND seq < $3)
                   SELECT seq AS "seq!", rx_ms AS "rx_ms!", device_ms, clock AS "clock!",
                          arrived_ms AS "arrived_ms!", backlog AS "backlog!", fhr1, fhr2, mhr, toco,
                          movement, mark AS "mark!", quality AS "quality!"
                   FROM w ORDER BY seq LIMIT $6"#,
                stream_key,
                from_seq,
                to_seq,
                q.from_ms,
                q.to_ms,
                limit
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query_as!(
                SampleRow,
                "SELECT seq, rx_ms, device_ms, clock, arrived_ms, backlog, fhr1, fhr2, mhr, toco, movement, mark, quality \
                 FROM samples WHERE stream_key = $1 AND seq >= $2 AND seq < $3 AND rx_ms >= $4 AND rx_ms < $5 \
                 ORDER BY seq LIMIT $6",
                stream_key,
                from_seq,
                to_seq,
                q.from_ms,
                q.to_ms,
                limit
            )
            .fetch_all(&self.pool)
            .await?
        };
        rows.into_iter().map(sample_from_row).collect()
    }

    async fn events(
        &self,
        stream_key: i64,
        from_ms: Millis,
        to_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query!(
            "SELECT body, arrived_ms FROM device_events WHERE stream_key = $1 AND at_ms >= $2 AND at_ms < $3 \
             ORDER BY at_ms, event_id LIMIT $4",
            stream_key,
            from_ms,
            to_ms,
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredEvent {
                    stream_key,
                    event: DeviceEvent::decode(row.body.as_bytes())
                        .map_err(|e| corrupt(format!("stored event: {e}")))?,
                    arrived_ms: row.arrived_ms,
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
        let r = sqlx::query!(
            "INSERT INTO staff (username, display_name, role, password_hash, disabled, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            staff.username,
            staff.display_name,
            staff.role.as_str(),
            password_hash,
            staff.disabled,
            now
        )
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
        let row = sqlx::query!(
            "SELECT username, display_name, role, disabled, password_hash FROM staff WHERE username = $1",
            username
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StaffCredentials {
                staff: staff_from_row(StaffRow {
                    username: r.username,
                    display_name: r.display_name,
                    role: r.role,
                    disabled: r.disabled,
                })?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }

    async fn list_staff(&self) -> StoreResult<Vec<Staff>> {
        let rows = sqlx::query_as!(
            StaffRow,
            "SELECT username, display_name, role, disabled FROM staff ORDER BY username"
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(staff_from_row).collect()
    }

    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query!(
            "INSERT INTO sessions (token_hash, username, csrf_token, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            s.token_hash,
            s.username,
            s.csrf_token,
            s.created_ms,
            s.expires_ms
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(sqlx::query_as!(
            SessionRecord,
            "SELECT token_hash, username, csrf_token, created_ms, expires_ms FROM sessions WHERE token_hash = $1",
            token_hash
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query!("DELETE FROM sessions WHERE token_hash = $1", token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: Millis) -> StoreResult<u64> {
        let a = sqlx::query!("DELETE FROM sessions WHERE expires_ms <= $1", now)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query!("DELETE FROM login_codes WHERE expires_ms <= $1", now)
            .execute(&self.pool)
            .await?;
        // PHR tables are runtime-checked like the rest of the PHR store (see `phr_postgres`).
        let c = sqlx::query("DELETE FROM mother_tokens WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let d =
            sqlx::query("DELETE FROM phr_invitations WHERE used_ms IS NULL AND expires_ms <= $1")
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(a.rows_affected() + b.rows_affected() + c.rows_affected() + d.rows_affected())
    }

    async fn create_login_code(&self, code: &LoginCode) -> StoreResult<()> {
        sqlx::query!(
            "INSERT INTO login_codes (code_hash, username, expires_ms) VALUES ($1, $2, $3)",
            code.code_hash,
            code.username,
            code.expires_ms
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn redeem_login_code(&self, code_hash: &str, now: Millis) -> StoreResult<Option<String>> {
        // DELETE … RETURNING consumes the code atomically: two redemptions cannot both succeed.
        let row = sqlx::query!(
            "DELETE FROM login_codes WHERE code_hash = $1 \
             RETURNING username AS \"username!\", expires_ms AS \"expires_ms!\"",
            code_hash
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.filter(|r| r.expires_ms > now).map(|r| r.username))
    }

    async fn put_bed(&self, bed: &Bed) -> StoreResult<()> {
        sqlx::query!(
            "INSERT INTO beds (bed, display_order) VALUES ($1, $2) \
             ON CONFLICT (bed) DO UPDATE SET display_order = excluded.display_order",
            bed.bed,
            bed.display_order
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn beds(&self) -> StoreResult<Vec<Bed>> {
        Ok(sqlx::query_as!(Bed, "SELECT bed, display_order FROM beds ORDER BY display_order, bed")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn admit(&self, new: &NewAdmission, by: &str, now: Millis) -> StoreResult<Admission> {
        let mut tx = self.pool.begin().await?;
        let bed_exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM beds WHERE bed = $1")
            .bind(&new.bed)
            .fetch_optional(&mut *tx)
            .await?;
        if bed_exists.is_none() {
            return Err(StoreError::NotFound(format!("bed {:?}", new.bed)));
        }
        let occupied: Option<String> = sqlx::query_scalar(
            "SELECT patient_id FROM admissions WHERE bed = $1 AND discharged_ms IS NULL",
        )
        .bind(&new.bed)
        .fetch_optional(&mut *tx)
        .await?;
        if occupied.is_some() {
            return Err(StoreError::Conflict(format!("bed {:?} is occupied", new.bed)));
        }
        let sql = AssertSqlSafe(format!(
            "INSERT INTO admissions (patient_id, name, ga_weeks, ga_days, ga_recorded_ms, bed, admitted_ms, admitted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ADMISSION_COLUMNS}"
        ));
        let r = sqlx::query(sql)
            .bind(&new.patient_id)
            .bind(&new.name)
            .bind(i16::from(new.gestational_age.weeks))
            .bind(i16::from(new.gestational_age.days))
            .bind(now)
            .bind(&new.bed)
            .bind(now)
            .bind(by)
            .fetch_one(&mut *tx)
            .await;
        let admission = match r {
            Ok(row) => admission_from_row(&row)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "patient {:?} is already admitted",
                    new.patient_id
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(admission)
    }

    async fn admission(&self, admission_id: i64) -> StoreResult<Option<Admission>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {ADMISSION_COLUMNS} FROM admissions WHERE admission_id = $1"
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
        let mut tx = self.pool.begin().await?;
        let sql = AssertSqlSafe(format!(
            "UPDATE admissions SET discharged_ms = $1 WHERE admission_id = $2 AND discharged_ms IS NULL \
             RETURNING {ADMISSION_COLUMNS}"
        ));
        let row = sqlx::query(sql).bind(now).bind(admission_id).fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM admissions WHERE admission_id = $1")
                    .bind(admission_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => {
                    StoreError::Conflict(format!("admission {admission_id} is already discharged"))
                }
                None => StoreError::NotFound(format!("admission {admission_id}")),
            });
        };
        sqlx::query(
            "UPDATE bindings SET to_seq = GREATEST(from_seq, $1), unbound_ms = $2 \
             WHERE admission_id = $3 AND to_seq IS NULL",
        )
        .bind(seq_to_db(to_seq)?)
        .bind(now)
        .bind(admission_id)
        .execute(&mut *tx)
        .await?;
        let admission = admission_from_row(&row)?;
        tx.commit().await?;
        Ok(admission)
    }

    async fn bind(
        &self,
        admission_id: i64,
        stream: &StreamId,
        from_seq: u64,
        by: &str,
        now: Millis,
    ) -> StoreResult<Binding> {
        let mut tx = self.pool.begin().await?;
        let discharged: Option<Option<i64>> =
            sqlx::query_scalar("SELECT discharged_ms FROM admissions WHERE admission_id = $1")
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
        let sql = AssertSqlSafe(format!(
            "INSERT INTO bindings (stream_id, admission_id, from_seq, bound_ms, bound_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {BINDING_COLUMNS}"
        ));
        let r = sqlx::query(sql)
            .bind(stream.to_string())
            .bind(admission_id)
            .bind(seq_to_db(from_seq)?)
            .bind(now)
            .bind(by)
            .fetch_one(&mut *tx)
            .await;
        let b = match r {
            Ok(row) => binding_from_row(&row)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "stream {stream} or admission {admission_id} already has an active binding"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(b)
    }

    async fn unbind(&self, admission_id: i64, to_seq: u64, now: Millis) -> StoreResult<Binding> {
        // A binding never ends before it began.
        let sql = AssertSqlSafe(format!(
            "UPDATE bindings SET to_seq = GREATEST(from_seq, $1), unbound_ms = $2 \
             WHERE admission_id = $3 AND to_seq IS NULL RETURNING {BINDING_COLUMNS}"
        ));
        let row = sqlx::query(sql)
            .bind(seq_to_db(to_seq)?)
            .bind(now)
            .bind(admission_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("active binding of admission {admission_id}"))
            })?;
        binding_from_row(&row)
    }

    async fn active_bindings(&self) -> StoreResult<Vec<Binding>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM bindings WHERE to_seq IS NULL ORDER BY binding_id"
        ));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(binding_from_row).collect()
    }

    async fn bindings_of_admission(&self, admission_id: i64) -> StoreResult<Vec<Binding>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM bindings WHERE admission_id = $1 ORDER BY binding_id"
        ));
        let rows = sqlx::query(sql).bind(admission_id).fetch_all(&self.pool).await?;
        rows.iter().map(binding_from_row).collect()
    }

    async fn insert_alarm(&self, a: &NewAlarm) -> StoreResult<i64> {
        let id = sqlx::query_scalar!(
            "INSERT INTO alarms (admission_id, binding_id, stream_id, kind, priority, raised_ms, \
             raised_seq, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING alarm_id AS \"alarm_id!\"",
            a.admission_id,
            a.binding_id,
            a.stream.to_string(),
            a.kind.as_str(),
            a.priority.as_str(),
            a.raised_ms,
            seq_to_db(a.raised_seq)?,
            a.detail
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn acknowledge_alarm(
        &self,
        alarm_id: i64,
        by: &str,
        at_ms: Millis,
    ) -> StoreResult<AlarmRecord> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query!(
            "UPDATE alarms SET acknowledged_ms = $1, acknowledged_by = $2 \
             WHERE alarm_id = $3 AND acknowledged_ms IS NULL",
            at_ms,
            by,
            alarm_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query_as!(
            AlarmRow,
            "SELECT alarm_id, admission_id, binding_id, stream_id, kind, priority, raised_ms, \
             raised_seq, detail, acknowledged_ms, acknowledged_by, cleared_ms \
             FROM alarms WHERE alarm_id = $1",
            alarm_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match (row, done) {
            (None, _) => Err(StoreError::NotFound(format!("alarm {alarm_id}"))),
            (Some(_), 0) => {
                Err(StoreError::Conflict(format!("alarm {alarm_id} is already acknowledged")))
            }
            (Some(row), _) => alarm_from_row(row),
        }
    }

    async fn clear_alarm(&self, alarm_id: i64, at_ms: Millis) -> StoreResult<()> {
        let r = sqlx::query!(
            "UPDATE alarms SET cleared_ms = $1 WHERE alarm_id = $2 AND cleared_ms IS NULL",
            at_ms,
            alarm_id
        )
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            let exists =
                sqlx::query_scalar!("SELECT 1 AS one FROM alarms WHERE alarm_id = $1", alarm_id)
                    .fetch_optional(&self.pool)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("alarm {alarm_id}")));
            }
        }
        Ok(())
    }

    async fn alarms(&self, q: AlarmQuery) -> StoreResult<Vec<AlarmRecord>> {
        let rows = sqlx::query_as!(
            AlarmRow,
            "SELECT alarm_id, admission_id, binding_id, stream_id, kind, priority, raised_ms, \
             raised_seq, detail, acknowledged_ms, acknowledged_by, cleared_ms FROM alarms \
             WHERE ($1::bigint IS NULL OR admission_id = $1) AND (NOT $2::boolean OR cleared_ms IS NULL) \
             AND raised_ms >= $3 ORDER BY raised_ms DESC, alarm_id DESC LIMIT $4",
            q.admission_id,
            q.open_only,
            q.since_ms,
            i64::from(q.limit)
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(alarm_from_row).collect()
    }

    async fn append_audit(&self, e: &AuditEntry) -> StoreResult<i64> {
        let id = sqlx::query_scalar!(
            "INSERT INTO audit_log (at_ms, actor, role, action, target, outcome, remote, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id AS \"id!\"",
            e.at_ms,
            e.actor.as_deref(),
            e.role.map(Role::as_str),
            e.action,
            e.target,
            e.outcome.as_str(),
            e.remote,
            e.detail
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn audit(&self, q: AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query!(
            "SELECT id, at_ms, actor, role, action, target, outcome, remote, detail FROM audit_log \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
            q.before_id.unwrap_or(i64::MAX),
            i64::from(q.limit)
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.id,
                    entry: AuditEntry {
                        at_ms: r.at_ms,
                        actor: r.actor,
                        role: r.role.map(|s| Role::from_str(&s)).transpose().map_err(corrupt)?,
                        action: r.action,
                        target: r.target,
                        outcome: AuditOutcome::from_str(&r.outcome).map_err(corrupt)?,
                        remote: r.remote,
                        detail: r.detail,
                    },
                })
            })
            .collect()
    }
}
