//! Sustained ingest into TimescaleDB and history query latency.
//!
//! `cargo bench -p monitor-server --bench ingest_timescaledb` (add `-- 1000` to run one size)
//!
//! Needs a database server: `BENCH_DATABASE_URL` or `TEST_DATABASE_URL` (`cargo xtask db start`
//! prints one). A fresh database is created for the run and dropped afterwards.
//!
//! * Ingest: the server's own storage path (`PgStore::write_batch`, the call the ingest writer
//!   makes) with batches shaped as the writer builds them: up to `ingest.batch_max_samples`
//!   samples, each bed's 4 Hz samples in sequence order, the beds advancing together in time.
//!   Two shapes: the default configuration (4,000 samples / 100 ms: with thousands of beds a
//!   batch holds one sample per bed) and a high-volume one (20,000 samples / 1 s: four per bed),
//!   since per-bed work (rollup row, stream counters) is paid once per bed and batch. The
//!   store is written as fast as it accepts for `MEASURE` after a warm-up, one batch in flight
//!   (the writer is one task); samples/s is what the database sustains, to compare with the
//!   offered load of N beds × 4 Hz. The MQTT side is measured by the `e2e_latency` bench.
//! * Queries, on one bed that has a full 24-hour labour stored among the others' data: the
//!   1-hour window of raw samples (14,400 rows, what the detail view's history reads) and the
//!   24-hour trend from the per-minute rollups (1,440 rows).
//!
//! Prints figures; asserts nothing about speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ctg_wire::{Bpm, ClockQuality, Sample, StreamId, Toco};
use monitor_server::model::{IngestBatch, SampleRun, StoredSample, StreamDelta};
use monitor_server::store::{PgOptions, PgStore, SampleQuery, Store};
use sqlx::Connection;

const WARMUP: Duration = Duration::from_secs(5);
const MEASURE: Duration = Duration::from_secs(20);
/// Batch sizes measured: the default `ingest.batch_max_samples`, and a high-volume setting.
const BATCHES: [usize; 2] = [4000, 20_000];
/// Rows per batch when loading the 24-hour labour for the query test.
const LOAD_BATCH: usize = 4000;
const PERIOD_MS: i64 = 250;
const QUERIES: usize = 100;
/// 2026-09-21, as in the tests.
const T0: i64 = 1_790_000_000_000;

fn sample(bed: usize, seq: u64) -> Sample {
    // Cheap, plausible values: FHR 110-160 bpm wandering, TOCO 5-80.
    let x = (seq as usize + bed * 7919) % 1000;
    Sample {
        fhr1: Bpm::from_quarters((440 + (x % 200)) as u16),
        fhr2: None,
        mhr: Bpm::from_quarters((300 + (x % 40)) as u16),
        toco: Toco::new((5 + (x % 75)) as u8),
        movement: None,
        mark: false,
        quality: ctg_wire::sample::Qualities::unpack(0b11),
    }
}

fn stored(bed: usize, seq: u64, t0: i64) -> StoredSample {
    let rx_ms = t0 + seq as i64 * PERIOD_MS;
    StoredSample {
        seq,
        rx_ms,
        device_ms: None,
        clock: ClockQuality::Synchronised,
        arrived_ms: rx_ms + 40,
        backlog: false,
        sample: sample(bed, seq),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Db {
    admin_url: String,
    name: String,
    url: String,
}

impl Db {
    async fn create(admin_url: &str) -> Db {
        let name = format!("ctg_bench_{}", std::process::id());
        let mut c = sqlx::PgConnection::connect(admin_url).await.expect("database server");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        Db { admin_url: admin_url.to_owned(), url: format!("{base}/{name}"), name }
    }

    async fn drop_it(self) {
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut c)
            .await;
        }
    }
}

/// Writes batches for `beds` beds as fast as the store takes them; returns samples/s measured
/// after the warm-up and the batch latency percentiles.
async fn ingest(store: &PgStore, keys: &[i64], t0: i64, batch_size: usize) -> (f64, f64, f64, u64) {
    let beds = keys.len();
    let mut next_seq = vec![0u64; beds];
    let mut bed = 0usize;
    let started = Instant::now();
    let mut measured_from: Option<(Instant, u64)> = None;
    let mut written = 0u64;
    let mut latencies = Vec::new();
    loop {
        let elapsed = started.elapsed();
        if elapsed >= WARMUP && measured_from.is_none() {
            measured_from = Some((Instant::now(), written));
        }
        if elapsed >= WARMUP + MEASURE {
            break;
        }
        // One batch: beds in turn, each contributing its next samples, as the writer sees them.
        let per_bed = (batch_size / beds).max(1);
        let mut batch = IngestBatch::default();
        let mut n = 0;
        while n < batch_size {
            let first = next_seq[bed];
            let samples: Vec<_> =
                (first..first + per_bed as u64).map(|s| stored(bed, s, t0)).collect();
            next_seq[bed] += per_bed as u64;
            n += samples.len();
            batch.runs.push(SampleRun { stream_key: keys[bed], samples });
            batch
                .deltas
                .push((keys[bed], StreamDelta { last_arrival_ms: Some(t0), ..Default::default() }));
            bed = (bed + 1) % beds;
        }
        let t = Instant::now();
        let out = store.write_batch(&batch).await.expect("batch stored");
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let inserted: u64 = out.per_stream.iter().map(|(_, w)| w.inserted).sum();
        assert_eq!(inserted as usize, n, "every sample inserted once");
        written += inserted;
    }
    let (from, base) = measured_from.expect("measured");
    let rate = (written - base) as f64 / from.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    (rate, percentile(&latencies, 0.5), percentile(&latencies, 0.99), written)
}

async fn run_size(store: &PgStore, beds: usize, batch_size: usize, t0: i64) {
    let mut keys = Vec::with_capacity(beds);
    for b in 0..beds {
        let id: StreamId =
            format!("bench/gw-{}/bed-{b}-{beds}-{batch_size}", b / 10).parse().unwrap();
        keys.push(store.ensure_stream(&id, t0).await.unwrap());
    }
    let (rate, p50, p99, total) = ingest(store, &keys, t0, batch_size).await;
    let offered = beds as f64 * 4.0;
    println!(
        "{beds:>5} beds | batch {batch_size:>6} | sustained {rate:>7.0} samples/s | offered {offered:>6.0} | {:>4.1}x | batch p50 {p50:>4.0} ms, p99 {p99:>4.0} ms | {total} rows",
        rate / offered
    );
}

async fn queries(store: &PgStore, t0: i64) {
    // One bed with a complete 24-hour labour (345,600 samples), written as the ingest would.
    let key = store.ensure_stream(&"bench/gw-q/labour-24h".parse().unwrap(), t0).await.unwrap();
    let total = 24 * 3600 * 4u64;
    let load = Instant::now();
    let mut seq = 0;
    while seq < total {
        let end = (seq + LOAD_BATCH as u64).min(total);
        let batch = IngestBatch {
            runs: vec![SampleRun {
                stream_key: key,
                samples: (seq..end).map(|s| stored(99_999, s, t0)).collect(),
            }],
            ..Default::default()
        };
        store.write_batch(&batch).await.unwrap();
        seq = end;
    }
    println!("loaded a 24-hour labour ({total} samples) in {:.1} s", load.elapsed().as_secs_f64());
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    let end = t0 + total as i64 * PERIOD_MS;
    let mut hour = Vec::new();
    let mut trend = Vec::new();
    for i in 0..QUERIES {
        // Different hours of the labour, the last one most often (the detail view opens there).
        let to = end - (i % 24) as i64 * 3_600_000;
        let q = SampleQuery {
            from_seq: 0,
            to_seq: None,
            from_ms: to - 3_600_000,
            to_ms: to,
            limit: 20_000,
        };
        let t = Instant::now();
        let rows = store.samples(key, q).await.unwrap();
        hour.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(rows.len(), 14_400);
        let t = Instant::now();
        let minutes = store.trend(key, end - 86_400_000, end).await.unwrap();
        trend.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(minutes.len(), 1440);
    }
    hour.sort_by(f64::total_cmp);
    trend.sort_by(f64::total_cmp);
    println!(
        "1-hour window of one bed (14,400 samples):  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms  (target ≤ 20 ms)",
        percentile(&hour, 0.5),
        percentile(&hour, 0.99),
        hour[hour.len() - 1]
    );
    println!(
        "24-hour trend of one bed (1,440 rollups):   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms  (target ≤ 50 ms)",
        percentile(&trend, 0.5),
        percentile(&trend, 0.99),
        trend[trend.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let Some(admin_url) = ["BENCH_DATABASE_URL", "TEST_DATABASE_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    else {
        eprintln!(
            "NOTE: set BENCH_DATABASE_URL or TEST_DATABASE_URL (run `cargo xtask db start`); \
             nothing measured"
        );
        return;
    };
    // `cargo bench` passes `--bench`; a number selects one size.
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1000, 5000] } else { sizes };
    let db = Db::create(&admin_url).await;
    let store = Arc::new(PgStore::open(&PgOptions::new(db.url.clone())).await.expect("store"));
    println!("storage mode: {}", store.mode().describe());
    println!(
        "warm-up {} s, measured {} s per size, one batch in flight (as the server's writer)",
        WARMUP.as_secs(),
        MEASURE.as_secs()
    );
    let mut range = 0;
    for beds in &sizes {
        for batch in BATCHES {
            // Each run in its own time range so the chunks are fresh, as in a live system.
            run_size(&store, *beds, batch, T0 + range * 7 * 86_400_000).await;
            range += 1;
        }
    }
    queries(&store, T0 - 2 * 86_400_000).await;
    let size: Option<String> =
        sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
            .fetch_one(store.pool())
            .await
            .unwrap();
    println!("database size after the run: {}", size.unwrap_or_default());
    drop(store);
    db.drop_it().await;
}
