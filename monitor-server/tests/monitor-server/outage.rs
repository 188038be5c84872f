//! Degraded operation: the database goes away for 60 s while gateways stream.
//!
//! The server reaches TimescaleDB through a TCP proxy owned by this test; cutting the proxy
//! (every open connection closed, new ones refused) is a real outage from the server's point of
//! view and disturbs no other test using the same database server. Real parts: the real
//! `device-gateway` with its simulator and durable outbox, the embedded broker, a WebSocket
//! viewer. Requires `TEST_DATABASE_URL` (skips with a NOTE otherwise).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::StatusCode;
use monitor_server::model::Role;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use super::common::{Http, TestServer, wait_for};
use super::postgres::TestDb;

const SITE: &str = "site-o";
const GATEWAY: &str = "gw-o";
const OUTAGE: Duration = Duration::from_secs(60);

/// A TCP proxy that can cut every connection and refuse new ones until restored.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let up_tx = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let mut state = up_tx.subscribe();
                if !*state.borrow() {
                    drop(client); // refused: the database is "down"
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {} // cut: both sockets close
                    }
                });
            }
        });
        Self { addr, up, task }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Splits `postgres://user:pw@host:port/db` into (before `@`, the address, after the `/`).
fn split_url(url: &str) -> (&str, SocketAddr, &str) {
    let (scheme_auth, rest) = url.rsplit_once('@').expect("URL with credentials");
    let (hostport, tail) = rest.split_once('/').expect("URL with a database");
    (scheme_auth, hostport.parse().expect("host:port as an IP address"), tail)
}

/// What the viewer saw.
#[derive(Default)]
struct Viewer {
    live_samples: u64,
    heartbeats: u64,
    history_available: Option<bool>,
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

async fn admit_and_bind(http: &Http, pid: &str, bed: &str, stream: &str) {
    let (s, a) = http
        .post(
            "/api/v1/admissions",
            json!({"patient_id":pid,"name":"産婦 花子","ga_weeks":39,"ga_days":2,"bed":bed}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["admission"]["admission_id"].as_i64().unwrap();
    let (s, b) =
        http.put(&format!("/api/v1/admissions/{id}/binding"), json!({"stream_id": stream})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn database_outage_of_60_s_keeps_live_view_and_loses_nothing() {
    let Some(db) =
        TestDb::create("database_outage_of_60_s_keeps_live_view_and_loses_nothing").await
    else {
        return;
    };
    // Schema first, directly: the server then starts through the proxy like any client.
    drop(db.store().await);
    let (scheme_auth, target, tail) = split_url(&db.url);
    let proxy = Proxy::start(target).await;
    let proxied = format!("{scheme_auth}@{}/{tail}", proxy.addr);
    let server = TestServer::start(None, |c| {
        c.storage.database_url = Some(proxied.clone());
        // The smallest queue: it fills within seconds of the outage, so the test also covers
        // letting work go (and getting it back from the gateways' outboxes) with live kept up.
        c.ingest.queue_blocks = 16;
    })
    .await;

    let state = tempfile::tempdir().unwrap();
    let beds: Vec<_> = ["normal-labour", "late-decelerations"]
        .iter()
        .enumerate()
        .map(|(i, scenario)| device_gateway::SimulatedBed {
            device: format!("bed-{}", i + 1),
            bed: format!("{}", i + 1),
            scenario: (*scenario).to_owned(),
            seed: 70 + i as u64,
        })
        .collect();
    let mut cfg =
        device_gateway::Config::simulated(SITE, GATEWAY, &server.broker_url, &beds, state.path())
            .unwrap();
    // Unacknowledged data is published again after 5 s (then 10, 20, … s).
    cfg.outbox.ack_timeout = Duration::from_secs(5);
    let stop = CancellationToken::new();
    let gw_stop = stop.clone();
    let gateway = tokio::spawn(async move {
        device_gateway::run(cfg, async move { gw_stop.cancelled().await }).await
    });

    let admin = server.staff("ops", Role::Admin).await;
    let streams = [format!("{SITE}/{GATEWAY}/bed-1"), format!("{SITE}/{GATEWAY}/bed-2")];
    wait_for(30, "both streams store data", || async {
        let mut ok = true;
        for s in &streams {
            ok &= admin.stream(s).await.is_some_and(|v| u(&v, "stored_samples") >= 8);
        }
        ok
    })
    .await;
    for (i, bed) in ["1", "2"].iter().enumerate() {
        admin.put(&format!("/api/v1/beds/{bed}"), json!({"display_order": i})).await;
    }
    let obst = server.staff("obst", Role::Obstetrician).await;
    admit_and_bind(&obst, "P-1", "1", &streams[0]).await;
    admit_and_bind(&obst, "P-2", "2", &streams[1]).await;

    // A viewer of both beds, counting live samples and what the heartbeats say about history.
    let mut req = format!("ws://{}/api/v1/live", server.addr).into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", obst.token.as_deref().unwrap()).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(json!({"t":"subscribe","beds":["1","2"]}).to_string())).await.unwrap();
    let viewer = Arc::new(Mutex::new(Viewer::default()));
    let v = viewer.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let Ok(parsed) = serde_json::from_str::<Value>(&t) else { continue };
            let items = if let Value::Array(a) = parsed { a } else { vec![parsed] };
            let mut v = v.lock().unwrap();
            for m in items {
                match m["t"].as_str() {
                    Some("samples") if m["backfill"] != true => {
                        v.live_samples +=
                            m["samples"]["seq"].as_array().map_or(0, |a| a.len() as u64);
                    }
                    Some("heartbeat") => {
                        v.heartbeats += 1;
                        v.history_available = m["history_available"].as_bool();
                    }
                    _ => {}
                }
            }
        }
    });
    let seen = |f: fn(&Viewer) -> bool| f(&viewer.lock().unwrap());
    wait_for(10, "viewer receives live samples with history available", || async {
        seen(|v| v.live_samples > 0 && v.history_available == Some(true))
    })
    .await;

    // --- the outage ----------------------------------------------------------------------
    proxy.set_up(false);
    let cut = tokio::time::Instant::now();
    let stats = &server.core.ingest_stats;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    wait_for(30, "the server notices and tells viewers history is unavailable", || async {
        stats.storage_down.load(relaxed) && seen(|v| v.history_available == Some(false))
    })
    .await;
    let live_at_start = viewer.lock().unwrap().live_samples;
    let start_elapsed = cut.elapsed();
    // Waiting out the outage is the point of the test (not a synchronisation sleep).
    wait_for(OUTAGE.as_secs() + 30, "60 s of database outage", || async {
        cut.elapsed() >= OUTAGE
    })
    .await;
    let (live_during, beats_during) = {
        let v = viewer.lock().unwrap();
        (v.live_samples - live_at_start, v.heartbeats)
    };
    // 2 beds at 4 Hz for the rest of the outage; allow for a tenth of jitter and batching.
    let expected = ((OUTAGE - start_elapsed).as_secs_f64() * 8.0 * 0.9) as u64;
    assert!(
        live_during >= expected,
        "live view kept updating: {live_during} live samples during the outage, expected ≥ {expected}"
    );
    assert!(beats_during > 50, "heartbeats continued ({beats_during})");
    assert!(stats.storage_down.load(relaxed), "still down while the proxy is cut");
    assert!(
        stats.samples_shed.load(relaxed) > 0,
        "the full queue let work go instead of stalling the live view"
    );
    assert!(seen(|v| v.history_available == Some(false)), "banner state held during the outage");

    // --- the database returns -----------------------------------------------------------
    proxy.set_up(true);
    wait_for(60, "history available again", || async {
        !stats.storage_down.load(relaxed) && seen(|v| v.history_available == Some(true))
    })
    .await;
    // Everything numbered so far gets stored: held data at once, let-go data when the
    // gateway publishes its unacknowledged range again.
    wait_for(180, "every sample stored and acknowledged", || async {
        let mut ok = true;
        for s in &streams {
            ok &= admin.stream(s).await.is_some_and(|v| {
                u(&v, "missing_samples") == 0
                    && v["watermark"].as_u64().is_some()
                    && v["watermark"] == v["head_seq"]
            });
        }
        ok
    })
    .await;
    assert!(stats.samples_reclaimed.load(relaxed) > 0, "let-go samples came back and were stored");

    // A clean stop: the gateway says how many samples it numbered per device.
    stop.cancel();
    gateway.await.unwrap().unwrap();
    wait_for(20, "offline presence with final sequence numbers", || async {
        let g = admin.get_ok("/api/v1/gateways").await;
        g.as_array().unwrap().iter().any(|g| g["gateway"] == GATEWAY && g["presence"] == "offline")
    })
    .await;
    let gw = admin.get_ok("/api/v1/gateways").await;
    let gw = gw.as_array().unwrap().iter().find(|g| g["gateway"] == GATEWAY).unwrap().clone();
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for (i, s) in streams.iter().enumerate() {
        let sent = u(&gw["devices"][i], "next_seq");
        assert!(sent > (OUTAGE.as_secs() * 4), "{gw}");
        wait_for(30, "everything the gateway numbered is stored", || async {
            admin.stream(s).await.is_some_and(|v| u(&v, "stored_samples") == sent)
        })
        .await;
        let v = admin.stream(s).await.unwrap();
        assert_eq!(u(&v, "stored_samples"), sent, "stored = sent for {s}: {v}");
        assert_eq!(u(&v, "missing_samples"), 0, "{v}");
        assert_eq!(u(&v, "watermark"), sent - 1, "{v}");
        assert_eq!(u(&v, "rejected_payloads"), 0, "{v}");
        // In the database itself: every sequence number exactly once, rollups and counters
        // agree with the server's accounting.
        let (rows, distinct, lo, hi, dups): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq), \
             (SELECT duplicates_rejected FROM streams WHERE stream_id = $1) \
             FROM samples WHERE stream_key = (SELECT stream_key FROM streams WHERE stream_id = $1)",
        )
        .bind(s)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!((rows, distinct, lo, hi), (sent as i64, sent as i64, 0, sent as i64 - 1), "{s}");
        assert_eq!(dups as u64, u(&v, "duplicates_rejected"), "persisted duplicate count for {s}");
        let rolled: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(n), 0)::bigint FROM samples_1m \
             WHERE stream_key = (SELECT stream_key FROM streams WHERE stream_id = $1)",
        )
        .bind(s)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(rolled, sent as i64, "rollups count every stored sample once for {s}");
    }
    let _ = c.close().await;
    reader.abort();
    server.stop().await;
}
