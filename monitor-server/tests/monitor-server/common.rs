//! Helpers shared by the integration tests: a server on port 0 with a fresh database, a small
//! HTTP client, an MQTT test gateway and condition waits with deadlines (never fixed sleeps).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ctg_wire::{Label, Sample, SampleBlock, StreamId, Topic, TopicKind};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use monitor_server::api::handlers::{NewStaffRequest, create_staff_account};
use monitor_server::model::Role;
use monitor_server::{App, Config, Core};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The password of every test account.
pub const PASSWORD: &str = "test-password-1";
/// Gateway receive time of sequence number 0 in test blocks (2026-09-21).
pub const T0: i64 = 1_790_000_000_000;

/// Polls `cond` every 20 ms until it holds or `secs` pass.
pub async fn wait_for<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration for tests: temporary data directory, port 0, cheap password hashing.
pub fn test_config(dir: &std::path::Path, mqtt_url: Option<String>) -> Config {
    let mut c = Config { data_dir: dir.to_path_buf(), ..Config::default() };
    c.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.mqtt.url = mqtt_url;
    c.embedded_broker.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    // Unique per data directory (a restarted server keeps its broker session), at most 23 bytes.
    let h = dir
        .to_string_lossy()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    c.mqtt.client_id = format!("srv-{:016x}", h);
    c.auth.argon2_memory_kib = 8 * 1024;
    c.auth.argon2_iterations = 1;
    c.ingest.batch_max_delay_ms = 20;
    c
}

/// A running server with its own database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    pub broker_url: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server (embedded broker when `mqtt_url` is `None`).
    pub async fn start(mqtt_url: Option<String>, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, mqtt_url, tweak).await
    }

    /// Starts a server over an existing data directory (restarts).
    pub async fn start_in(
        dir: tempfile::TempDir,
        mqtt_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = test_config(dir.path(), mqtt_url);
        tweak(&mut config);
        let app = App::start(config).await.expect("server starts");
        let addr = app.local_addr().unwrap();
        let core = app.core.clone();
        let broker_url = app.broker_url.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        // The server is up when the ingest has connected to the broker.
        let c = core.clone();
        wait_for(10, "ingest connected", || {
            let c = c.clone();
            async move { c.ingest_stats.connected.load(std::sync::atomic::Ordering::Relaxed) }
        })
        .await;
        Self { addr, core, broker_url, dir, stop: Some(tx), task: Some(task) }
    }

    /// Stops the server gracefully and returns its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn http(&self) -> Http {
        Http::new(self.addr)
    }

    /// Creates a staff account and returns a client logged in as it (bearer token).
    pub async fn staff(&self, username: &str, role: Role) -> Http {
        create_staff_account(
            &self.core,
            NewStaffRequest {
                username: username.into(),
                display_name: format!("{username} san"),
                role,
                password: PASSWORD.into(),
            },
        )
        .await
        .unwrap();
        self.login(username).await
    }

    pub async fn login(&self, username: &str) -> Http {
        let mut h = self.http();
        let (status, body) = h
            .call(
                Method::POST,
                "/api/v1/login",
                Some(
                    serde_json::json!({"username": username, "password": PASSWORD, "bearer": true}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        h.token = Some(body["token"].as_str().unwrap().to_owned());
        h
    }
}

/// A minimal HTTP/1.1 JSON client.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self { client: Client::builder(TokioExecutor::new()).build_http(), addr, token: None }
    }

    /// Sends a request with optional JSON body and extra headers; returns status, headers and body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, hyper::HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).unwrap())).unwrap_or_default();
        let resp = self.client.request(req.body(Full::new(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    /// Sends a raw body with a content type; returns status, headers and body.
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, hyper::HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req = req.header("content-type", content_type);
        let resp =
            self.client.request(req.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, b) = self.raw(method, path, body, &[]).await;
        let v = if b.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&b).unwrap_or(Value::String(String::from_utf8_lossy(&b).into()))
        };
        (s, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// GET that must succeed.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// The `GET /api/v1/streams` entry of one stream.
    pub async fn stream(&self, stream: &str) -> Option<Value> {
        let all = self.get_ok("/api/v1/streams").await;
        all.as_array().unwrap().iter().find(|s| s["stream_id"] == stream).cloned()
    }
}

/// A test gateway: a plain MQTT client that publishes what the test tells it to (QoS 1).
pub struct TestGateway {
    pub client: AsyncClient,
    pub site: Label,
    pub gateway: Label,
    task: JoinHandle<()>,
    pub acks: tokio::sync::watch::Receiver<Vec<(String, u64)>>,
}

impl TestGateway {
    /// Connects to `broker_url` and subscribes to the acknowledgements of its streams.
    pub async fn connect(broker_url: &str, site: &str, gateway: &str) -> Self {
        let (host, port) = monitor_server::config::parse_mqtt_url(broker_url).unwrap();
        let mut opts = MqttOptions::new(format!("tg-{gateway}"), host, port);
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut ev) = AsyncClient::new(opts, 10_000);
        let (site, gateway) = (Label::new(site).unwrap(), Label::new(gateway).unwrap());
        client.subscribe(Topic::ack_filter(&site, &gateway), QoS::AtLeastOnce).await.unwrap();
        let (tx, rx) = tokio::sync::watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if let (Some(Topic::Device { stream, kind: TopicKind::Ack }), Ok(ack)) =
                            (Topic::parse(&p.topic), ctg_wire::Ack::decode(&p.payload))
                        {
                            tx.send_modify(|v| v.push((stream.to_string(), ack.through_seq)));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Self { client, site, gateway, task, acks: rx }
    }

    pub fn stream(&self, device: &str) -> StreamId {
        StreamId::new(self.site.clone(), self.gateway.clone(), Label::new(device).unwrap())
    }

    pub async fn publish_raw(&self, topic: &str, payload: Vec<u8>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
    }

    pub async fn publish_block(&self, stream: &StreamId, block: &SampleBlock) {
        let kind = if block.backlog { TopicKind::Backlog } else { TopicKind::Samples };
        self.publish_raw(&Topic::device(stream, kind), block.encode()).await;
    }

    /// The highest watermark received for a stream.
    pub fn ack(&self, stream: &StreamId) -> Option<u64> {
        let s = stream.to_string();
        self.acks.borrow().iter().filter(|(k, _)| *k == s).map(|(_, v)| *v).max()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Samples from the simulator (normal labour), deterministic per seed.
pub fn sim_samples(n: usize, seed: u64) -> Vec<Sample> {
    hardware::sim::simulate(
        hardware::sim::Scenario::NormalLabour,
        seed,
        n as u64,
        &hardware::sim::SimOptions::default(),
    )
    .expect("simulator runs")
    .samples()
}

/// A block of simulated samples with sequence numbers `first..first + samples.len()`.
pub fn block(first: u64, samples: &[Sample], backlog: bool) -> SampleBlock {
    SampleBlock {
        first_seq: first,
        rx_utc_ms: T0 + first as i64 * 250,
        device_time_ms: None,
        clock: ctg_wire::ClockQuality::Synchronised,
        backlog,
        samples: samples.to_vec(),
    }
}
