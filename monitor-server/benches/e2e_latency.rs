//! End-to-end latency and server cost at 100 and 1,000 simulated beds.
//!
//! `cargo bench -p monitor-server --bench e2e_latency` (add `-- 100` to run one size only)
//!
//! * The server runs as a child process (the release `monitor-server serve`), with a real
//!   mosquitto as its broker when one is installed, else (or with `BENCH_BROKER=embedded`) the
//!   embedded broker inside the server process.
//! * Simulated beds are lightweight publishers in this process: gateways of 10 devices, each
//!   device sending one 4 Hz sample per block, its gateway receive time stamped when the sample is
//!   created.
//! * Viewers are WebSocket clients watching 50 beds each, as central monitor screens do.
//! * Latency = viewer receive time − sample creation time (same clock, milliseconds).
//! * CPU and RSS are read from /proc for the server process (and the broker, reported apart).
//!
//! Prints figures; asserts nothing about speed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ctg_wire::{ClockQuality, Label, SampleBlock, StreamId, Topic, TopicKind};
use futures::{SinkExt, StreamExt};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WARMUP: Duration = Duration::from_secs(8);
const MEASURE: Duration = Duration::from_secs(20);
const BEDS_PER_GATEWAY: usize = 10;
const BEDS_PER_VIEWER: usize = 50;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// CPU time (user + system) of a process in seconds, and its RSS and peak RSS in MiB.
fn proc_stats(pid: u32) -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    // USER_HZ is 100 on Linux.
    Some((ticks / 100.0, kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

struct Broker {
    child: Option<Child>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_mosquitto() -> Option<Broker> {
    let program = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let dir = tempfile::tempdir().ok()?;
    let port = free_port();
    let conf = dir.path().join("m.conf");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser {user}\nmax_queued_messages 1000000\n\
             max_inflight_messages 1000\nlog_dest none\n"
        ),
    )
    .ok()?;
    let child = Command::new(program)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Broker { child: Some(child), url: format!("mqtt://127.0.0.1:{port}"), _dir: dir })
}

struct Server {
    child: Child,
    http: String,
    /// The embedded broker's URL (used when no external broker is given).
    embedded_mqtt: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, broker: Option<&str>) -> Server {
    let exe = env!("CARGO_BIN_EXE_monitor-server");
    let http_port = free_port();
    let mqtt_port = free_port();
    let mqtt = match broker {
        Some(url) => format!("url = \"{url}\"\n"),
        None => String::new(),
    };
    let config = format!(
        "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[mqtt]\n{mqtt}[embedded_broker]\nlisten = \"127.0.0.1:{}\"\n\
         [live]\nmax_beds_per_viewer = {BEDS_PER_VIEWER}\n",
        dir.display(),
        mqtt_port
    );
    let cfg_path = dir.join("bench.toml");
    std::fs::write(&cfg_path, config).unwrap();
    let status = Command::new(exe)
        .args(["add-staff", "--config"])
        .arg(&cfg_path)
        .args(["--username", "bench", "--role", "obstetrician", "--display-name", "bench"])
        .env("MONITOR_STAFF_PASSWORD", "bench-password")
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(exe)
        .args(["add-staff", "--config"])
        .arg(&cfg_path)
        .args(["--username", "admin", "--role", "admin", "--display-name", "admin"])
        .env("MONITOR_STAFF_PASSWORD", "bench-password")
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        child,
        http: format!("127.0.0.1:{http_port}"),
        embedded_mqtt: format!("mqtt://127.0.0.1:{mqtt_port}"),
    }
}

/// Minimal HTTP/1.1 JSON request over a fresh connection.
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn login(addr: &str, user: &str) -> String {
    let (s, v) = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": user, "password": "bench-password", "bearer": true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

fn stream_of(bed: usize) -> StreamId {
    StreamId::new(
        Label::new("bench").unwrap(),
        Label::new(format!("gw{}", bed / BEDS_PER_GATEWAY)).unwrap(),
        Label::new(format!("d{}", bed % BEDS_PER_GATEWAY)).unwrap(),
    )
}

async fn run(beds: usize, broker: Option<&Broker>) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), broker.map(|b| b.url.as_str()));
    let admin = login(&server.http, "admin").await;
    let clin = login(&server.http, "bench").await;
    for bed in 0..beds {
        let (s, v) = http(
            &server.http,
            "PUT",
            &format!("/api/v1/beds/b{bed}"),
            Some(&admin),
            Some(json!({"display_order": bed})),
        )
        .await;
        assert_eq!(s, 204, "{v}");
        let (s, a) = http(
            &server.http,
            "POST",
            "/api/v1/admissions",
            Some(&clin),
            Some(json!({"patient_id": format!("P{bed}"), "name": format!("患者 {bed}"), "ga_weeks": 38, "ga_days": 0, "bed": format!("b{bed}")})),
        )
        .await;
        assert_eq!(s, 201, "{a}");
        let id = a["admission"]["admission_id"].as_i64().unwrap();
        let (s, v) = http(
            &server.http,
            "PUT",
            &format!("/api/v1/admissions/{id}/binding"),
            Some(&clin),
            Some(json!({"stream_id": stream_of(bed).to_string()})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let broker_url = broker.map_or_else(|| server.embedded_mqtt.clone(), |b| b.url.clone());

    // Viewers.
    let latencies = Arc::new(Mutex::new(Vec::<i64>::with_capacity(beds * 4 * 40)));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for chunk in (0..beds).collect::<Vec<_>>().chunks(BEDS_PER_VIEWER) {
        let names: Vec<String> = chunk.iter().map(|b| format!("b{b}")).collect();
        let mut req = format!("ws://{}/api/v1/live", server.http).into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {clin}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        ws.send(Message::text(json!({"t":"subscribe","beds": names}).to_string())).await.unwrap();
        let (lat, measuring, stop) = (latencies.clone(), measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(Ok(Message::Text(t)))) =
                    tokio::time::timeout(Duration::from_millis(500), ws.next()).await
                else {
                    continue;
                };
                let received = now_ms();
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                let v: Value = serde_json::from_str(&t).unwrap();
                let items = if let Value::Array(a) = v { a } else { vec![v] };
                for m in items {
                    if m["t"] == "samples" && m["backfill"] == false {
                        for rx in m["samples"]["rx"].as_array().unwrap() {
                            local.push(received - rx.as_i64().unwrap());
                        }
                    }
                }
            }
            lat.lock().await.extend(local);
        }));
    }

    // Simulated gateways: one MQTT connection per 10 beds, one 1-sample block per bed per 250 ms.
    let samples = hardware::sim::simulate(
        hardware::sim::Scenario::NormalLabour,
        5,
        2400,
        &Default::default(),
    )
    .unwrap()
    .samples();
    let samples = Arc::new(samples);
    let gateways = beds.div_ceil(BEDS_PER_GATEWAY);
    let (host, port) = {
        let rest = broker_url.trim_start_matches("mqtt://");
        let (h, p) = rest.rsplit_once(':').unwrap();
        (h.to_owned(), p.parse::<u16>().unwrap())
    };
    for g in 0..gateways {
        let mut opts = MqttOptions::new(format!("bench-gw{g}"), host.clone(), port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_inflight(1000);
        let (client, mut ev) = AsyncClient::new(opts, 10_000);
        let poll_stop = stop.clone();
        tokio::spawn(async move {
            while !poll_stop.load(Ordering::Relaxed) {
                if ev.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        let (samples, stop) = (samples.clone(), stop.clone());
        let first = g * BEDS_PER_GATEWAY;
        let last = ((g + 1) * BEDS_PER_GATEWAY).min(beds);
        tasks.push(tokio::spawn(async move {
            // Spread gateways over the sample period, as real ones are.
            tokio::time::sleep(Duration::from_millis((g as u64 * 250) / gateways as u64)).await;
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let created = now_ms();
                for bed in first..last {
                    let blk = SampleBlock {
                        first_seq: seq,
                        rx_utc_ms: created,
                        device_time_ms: None,
                        clock: ClockQuality::Synchronised,
                        backlog: false,
                        samples: vec![samples[(seq as usize + bed) % samples.len()]],
                    };
                    let _ = client
                        .publish(
                            Topic::device(&stream_of(bed), TopicKind::Samples),
                            QoS::AtLeastOnce,
                            false,
                            blk.encode(),
                        )
                        .await;
                }
                seq += 1;
            }
        }));
    }

    tokio::time::sleep(WARMUP).await;
    let pid = server.child.id();
    let broker_pid = broker.and_then(|b| b.child.as_ref().map(Child::id));
    let (cpu0, _, _) = proc_stats(pid).unwrap();
    let bcpu0 = broker_pid.and_then(proc_stats).map(|s| s.0);
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss, hwm) = proc_stats(pid).unwrap();
    let bcpu1 = broker_pid.and_then(proc_stats).map(|s| s.0);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let mut lat = latencies.lock().await.clone();
    lat.sort_unstable();
    let pct =
        |p: f64| lat.get(((lat.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(-1);
    let expected = (beds as f64 * 4.0 * wall) as usize;
    println!(
        "{beds:>5} beds | samples seen {:>7} of ~{expected:>7} | latency p50 {:>4} ms  p99 {:>4} ms  max {:>5} ms | server CPU {:>5.1} % of one core | RSS {:>6.1} MiB (peak {:>6.1}){}",
        lat.len(),
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or(-1),
        (cpu1 - cpu0) / wall * 100.0,
        rss,
        hwm,
        match (bcpu0, bcpu1) {
            (Some(a), Some(b)) => format!(" | mosquitto CPU {:.1} %", (b - a) / wall * 100.0),
            _ => " | broker embedded (in the server's figures)".to_owned(),
        }
    );
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1000] } else { sizes };
    // BENCH_BROKER=embedded measures the all-in-one installation (broker inside the server).
    let broker = if std::env::var("BENCH_BROKER").as_deref() == Ok("embedded") {
        None
    } else {
        start_mosquitto()
    };
    println!(
        "end-to-end latency (sample created at the simulated device -> received by a WebSocket viewer), {} s measured after {} s warm-up; broker: {}",
        MEASURE.as_secs(),
        WARMUP.as_secs(),
        if broker.is_some() { "mosquitto" } else { "embedded in the server" }
    );
    for beds in sizes {
        run(beds, broker.as_ref()).await;
    }
}
