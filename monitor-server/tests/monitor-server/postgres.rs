//! The PostgreSQL/TimescaleDB store against a real server: the shared storage suite, plus what
//! only this store has (rollups, retention, the TimescaleDB mode, schema guards).
//!
//! Every test gets a fresh database (`CREATE DATABASE` on the server named by
//! `TEST_DATABASE_URL`, dropped afterwards). `cargo xtask test` starts TimescaleDB and sets the
//! variable; without it these tests print a NOTE and return.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ctg_wire::{Bpm, Sample, Toco};
use monitor_server::model::{IngestBatch, SampleRun, StoredSample, StreamDelta};
use monitor_server::store::postgres::{SAMPLE_CHUNK_MS, TimescaleMode};
use monitor_server::store::{PgOptions, PgStore, SampleQuery, Store};
use sqlx::Connection;

use super::common::{T0, sim_samples};
use super::store_suite::StoreFactory;

/// A database of its own on the test server, dropped (with its connections) when this drops.
pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    /// `None` (after a NOTE on stderr) when `TEST_DATABASE_URL` is not set.
    pub async fn create(test: &str) -> Option<Self> {
        let Some(admin_url) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
        else {
            eprintln!(
                "NOTE: {test}: TEST_DATABASE_URL is not set; skipping the PostgreSQL test \
                 (`cargo xtask db start` prints a URL; `cargo xtask test` sets it)"
            );
            return None;
        };
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "ctg_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin =
            sqlx::PgConnection::connect(&admin_url).await.expect("test server reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        let url = format!("{base}/{name}{query}");
        Some(Self { url, admin_url, name })
    }

    pub async fn store(&self) -> PgStore {
        PgStore::open(&PgOptions::new(self.url.clone())).await.expect("store opens")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut c = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut c)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("NOTE: test database {} could not be dropped", self.name);
        }
    }
}

/// The storage suite's factory for PostgreSQL: hands a suite function the fresh database made
/// for its test (made first, so that a missing TEST_DATABASE_URL skips before the suite runs).
pub struct PgOnce(std::sync::Mutex<Option<TestDb>>);

impl StoreFactory for PgOnce {
    type Guard = TestDb;
    async fn make(&self) -> (Arc<dyn Store>, TestDb) {
        let db = self.0.lock().unwrap().take().expect("one store per suite test");
        let store = db.store().await;
        (Arc::new(store), db)
    }
}

macro_rules! pg_suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(db) = super::TestDb::create(stringify!($name)).await else { return };
                crate::store_suite::$name(super::PgOnce(std::sync::Mutex::new(Some(db)))).await;
            }
        )*
    };
}

/// The same suite as SQLite's (`store_suite.rs`), against TimescaleDB.
mod suite {
    pg_suite!(
        samples_round_trip_exactly,
        replays_never_alter_stored_samples,
        load_streams_reports_coverage_gaps_and_dropped_ranges,
        sample_queries_respect_sequence_and_time_bounds,
        events_are_stored_and_read_back,
        staff_sessions_and_login_codes,
        admissions_beds_and_bindings_enforce_one_to_one,
        audit_log_is_append_only_and_pages_newest_first,
        alarm_history_records_acknowledgement_and_clearing_once,
    );
}

fn stored(seq: u64, rx_ms: i64, s: Sample) -> StoredSample {
    StoredSample {
        seq,
        rx_ms,
        device_ms: None,
        clock: ctg_wire::ClockQuality::Synchronised,
        arrived_ms: rx_ms + 100,
        backlog: false,
        sample: s,
    }
}

fn all() -> SampleQuery {
    SampleQuery { from_seq: 0, to_seq: None, from_ms: i64::MIN, to_ms: i64::MAX, limit: 10_000_000 }
}

#[tokio::test]
async fn reports_the_timescaledb_mode_the_server_offers() {
    let Some(db) = TestDb::create("reports_the_timescaledb_mode_the_server_offers").await else {
        return;
    };
    let store = db.store().await;
    let license: Option<String> =
        sqlx::query_scalar("SELECT current_setting('timescaledb.license', true)")
            .fetch_one(store.pool())
            .await
            .unwrap();
    let hypertables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_extension WHERE extname = 'timescaledb'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    let expected = match (hypertables, license.as_deref()) {
        (0, _) => TimescaleMode::Plain,
        (_, Some("timescale")) => TimescaleMode::Licensed,
        _ => TimescaleMode::Apache,
    };
    assert_eq!(store.mode(), expected);
    if expected != TimescaleMode::Plain {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT hypertable_name::text FROM timescaledb_information.hypertables ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(tables, vec!["samples".to_owned(), "samples_1m".to_owned()]);
    }
}

#[tokio::test]
async fn schema_refuses_updates_of_samples_audit_and_alarm_history() {
    let Some(db) =
        TestDb::create("schema_refuses_updates_of_samples_audit_and_alarm_history").await
    else {
        return;
    };
    let store = db.store().await;
    let key = store.ensure_stream(&"s/g/d".parse().unwrap(), T0).await.unwrap();
    let samples: Vec<_> =
        sim_samples(3, 1).into_iter().enumerate().map(|(i, s)| stored(i as u64, T0, s)).collect();
    store
        .write_batch(&IngestBatch {
            runs: vec![SampleRun { stream_key: key, samples }],
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .append_audit(&monitor_server::model::AuditEntry {
            at_ms: 1,
            actor: None,
            role: None,
            action: "a".into(),
            target: "t".into(),
            outcome: monitor_server::model::AuditOutcome::Ok,
            remote: "r".into(),
            detail: String::new(),
        })
        .await
        .unwrap();
    // An alarm, to check that its history is kept too.
    store.put_bed(&monitor_server::model::Bed { bed: "1".into(), display_order: 1 }).await.unwrap();
    let adm = store
        .admit(
            &monitor_server::model::NewAdmission {
                patient_id: "P1".into(),
                name: "産婦 花子".into(),
                gestational_age: monitor_server::model::GestationalAge::new(39, 1).unwrap(),
                bed: "1".into(),
            },
            "obst",
            T0,
        )
        .await
        .unwrap();
    let stream = "s/g/d".parse().unwrap();
    let binding = store.bind(adm.admission_id, &stream, 0, "obst", T0).await.unwrap();
    let alarm = store
        .insert_alarm(&monitor_server::model::NewAlarm {
            admission_id: adm.admission_id,
            binding_id: binding.binding_id,
            stream,
            kind: monitor_server::model::AlarmKind::Bradycardia,
            priority: monitor_server::model::AlarmPriority::High,
            raised_ms: T0,
            raised_seq: 2,
            detail: "FHR 85 bpm".into(),
        })
        .await
        .unwrap();
    // Clearing once is allowed; changing what was raised, or clearing again, is not.
    sqlx::query("UPDATE alarms SET cleared_ms = 5 WHERE alarm_id = $1")
        .bind(alarm)
        .execute(store.pool())
        .await
        .unwrap();
    for sql in [
        "UPDATE samples SET fhr1 = 400",
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE alarms SET detail = 'x'",
        "UPDATE alarms SET cleared_ms = 6",
        "DELETE FROM alarms",
    ] {
        let e = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
        assert!(
            e.to_string().contains("immutable") || e.to_string().contains("append-only"),
            "{sql}: {e}"
        );
    }
    assert_eq!(store.samples(key, all()).await.unwrap().len(), 3);
}

/// The rollups must equal what the raw samples say, minute by minute, including after replays
/// (which must not count twice) and a batch that straddles minutes and streams.
#[tokio::test]
async fn rollups_match_the_raw_samples_exactly() {
    let Some(db) = TestDb::create("rollups_match_the_raw_samples_exactly").await else { return };
    let store = db.store().await;
    let a = store.ensure_stream(&"s/g/a".parse().unwrap(), T0).await.unwrap();
    let b = store.ensure_stream(&"s/g/b".parse().unwrap(), T0).await.unwrap();
    // 10 minutes of 4 Hz for two streams, with some samples without FHR or TOCO.
    let mut raw = sim_samples(2400, 3);
    for (i, s) in raw.iter_mut().enumerate() {
        if i % 37 == 0 {
            s.fhr1 = None;
        }
        if i % 53 == 0 {
            s.toco = None;
        }
        if i % 5 == 0 {
            s.quality = ctg_wire::sample::Qualities::unpack(0b11);
        } else if i % 7 == 0 {
            s.quality = ctg_wire::sample::Qualities::unpack(0b10);
        }
    }
    raw[10].fhr1 = Bpm::from_quarters(4 * 60);
    raw[11].toco = Toco::new(99);
    let rx = |seq: u64| T0 + seq as i64 * 250 - 7_000; // not aligned on minutes
    let runs = |key: i64, from: usize, to: usize| SampleRun {
        stream_key: key,
        samples: (from..to).map(|i| stored(i as u64, rx(i as u64), raw[i])).collect(),
    };
    // In several batches, overlapping (replays), both streams in one batch.
    for (from, to) in [(0, 700), (500, 1500), (1400, 2400), (0, 100)] {
        store
            .write_batch(&IngestBatch {
                runs: vec![runs(a, from, to), runs(b, from, to.min(1200))],
                deltas: vec![(a, StreamDelta::default()), (b, StreamDelta::default())],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for key in [a, b] {
        let samples = store.samples(key, all()).await.unwrap();
        let trend = store.trend(key, i64::MIN, i64::MAX).await.unwrap();
        let mut minutes: std::collections::BTreeMap<i64, Vec<&StoredSample>> = Default::default();
        for s in &samples {
            minutes.entry(s.rx_ms.div_euclid(60_000) * 60_000).or_default().push(s);
        }
        assert_eq!(trend.len(), minutes.len(), "one rollup per minute with data");
        for (r, (minute, ss)) in trend.iter().zip(&minutes) {
            assert_eq!(r.minute_ms, *minute);
            assert_eq!(r.samples as usize, ss.len(), "minute {minute}");
            let fhr: Vec<f64> = ss
                .iter()
                .filter_map(|s| s.sample.fhr1)
                .map(|b| b.quarters() as f64 / 4.0)
                .collect();
            assert_eq!(r.fhr_samples as usize, fhr.len());
            let mean = fhr.iter().sum::<f64>() / fhr.len() as f64;
            assert!((r.fhr_mean.unwrap() - mean).abs() < 1e-9, "minute {minute}");
            assert_eq!(r.fhr_min, fhr.iter().copied().reduce(f64::min));
            assert_eq!(r.fhr_max, fhr.iter().copied().reduce(f64::max));
            let toco: Vec<u8> =
                ss.iter().filter_map(|s| s.sample.toco).map(|t| t.value()).collect();
            assert_eq!(r.toco_min, toco.iter().copied().min());
            assert_eq!(r.toco_max, toco.iter().copied().max());
            let toco_mean = toco.iter().map(|&t| f64::from(t)).sum::<f64>() / toco.len() as f64;
            assert!((r.toco_mean.unwrap() - toco_mean).abs() < 1e-9);
            let reported = ss
                .iter()
                .filter(|s| s.sample.quality.fhr1 != ctg_wire::SignalQuality::Unknown)
                .count();
            let good = ss
                .iter()
                .filter(|s| s.sample.quality.fhr1 == ctg_wire::SignalQuality::Good)
                .count();
            assert_eq!(r.signal_good, (reported > 0).then(|| good as f64 / reported as f64));
        }
    }
    assert_eq!(store.samples(a, all()).await.unwrap().len(), 2400);
    assert_eq!(store.samples(b, all()).await.unwrap().len(), 1200);
}

/// Retention drops whole chunks; what they held still counts as stored, so the accounting (and
/// the watermark built from it) never goes back.
#[tokio::test]
async fn retention_drops_old_chunks_and_keeps_the_accounting() {
    let Some(db) = TestDb::create("retention_drops_old_chunks_and_keeps_the_accounting").await
    else {
        return;
    };
    let store = db.store().await;
    let key = store.ensure_stream(&"s/g/d".parse().unwrap(), T0).await.unwrap();
    // Three chunks' worth: one sample a minute for 18 hours from a chunk boundary.
    let start = T0.div_euclid(SAMPLE_CHUNK_MS) * SAMPLE_CHUNK_MS;
    let n = 18 * 60;
    let raw = sim_samples(n, 5);
    let samples: Vec<_> =
        (0..n).map(|i| stored(i as u64, start + i as i64 * 60_000, raw[i])).collect();
    store
        .write_batch(&IngestBatch {
            runs: vec![SampleRun { stream_key: key, samples }],
            ..Default::default()
        })
        .await
        .unwrap();
    let before = store.load_streams().await.unwrap();
    assert_eq!(before[0].stored, vec![(0, n as u64 - 1)]);

    // "Now" is 10 h after the start with a 3 h retention: the cut is at start + 6 h (a chunk
    // boundary), so exactly the first chunk (seq 0..359) goes.
    let now = start + 10 * 3_600_000;
    let out = store.expire(now, Some(Duration::from_secs(3 * 3600)), None).await.unwrap();
    assert_eq!(out.samples_expired, 360);
    let left = store.samples(key, all()).await.unwrap();
    assert_eq!(left.len(), n - 360);
    assert_eq!(left[0].seq, 360);
    let after = store.load_streams().await.unwrap();
    assert_eq!(after[0].stored, vec![(0, n as u64 - 1)], "expired ranges still count as stored");
    assert_eq!(after[0].stored_samples, n as u64);
    // Idempotent: a second pass at the same time removes nothing more.
    let again = store.expire(now, Some(Duration::from_secs(3 * 3600)), None).await.unwrap();
    assert_eq!(again.samples_expired, 0);
    assert_eq!(store.load_streams().await.unwrap()[0].stored_samples, n as u64);
    // Rollups are kept unless their own retention says otherwise.
    assert_eq!(store.trend(key, i64::MIN, i64::MAX).await.unwrap().len(), n);
    store.expire(now + 30 * 86_400_000, None, Some(Duration::from_secs(86_400))).await.unwrap();
    assert!(store.trend(key, i64::MIN, i64::MAX).await.unwrap().is_empty());
}

/// `storage.database_url` selects this store through the same entry point the server uses.
#[tokio::test]
async fn database_url_selects_timescaledb() {
    let Some(db) = TestDb::create("database_url_selects_timescaledb").await else { return };
    let mut config = monitor_server::Config::default();
    config.storage.database_url = Some(db.url.clone());
    config.validate().unwrap();
    let store = monitor_server::store::open(&config).await.unwrap();
    store.put_bed(&monitor_server::model::Bed { bed: "1".into(), display_order: 1 }).await.unwrap();
    // It really is the PostgreSQL database: the row is visible there.
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM beds").fetch_one(&mut c).await.unwrap();
    assert_eq!(n, 1);
    let _ = c.close().await;
}
