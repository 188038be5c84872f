//! The live WebSocket feed: history then live samples, patient stamps, re-binding, slow viewers.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::StatusCode;
use monitor_server::model::Role;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::common::{Http, TestGateway, TestServer, block, sim_samples, wait_for};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn request(
    server: &TestServer,
    token: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = format!("ws://{}/api/v1/live", server.addr).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

async fn open(server: &TestServer, http: &Http, beds: &[&str]) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(request(server, http.token.as_deref().unwrap()))
            .await
            .unwrap();
    ws.send(Message::text(json!({"t":"subscribe","beds":beds}).to_string())).await.unwrap();
    ws
}

/// Reads messages (frames may hold arrays) until `pred` matches one; returns everything read.
async fn read_until(ws: &mut Ws, secs: u64, mut pred: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("timed out waiting for a live message");
        let Some(Ok(Message::Text(t))) = msg else {
            panic!("socket ended: {msg:?}; seen {seen:?}")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let items = if let Value::Array(a) = v { a } else { vec![v] };
        for m in items {
            let hit = pred(&m);
            seen.push(m);
            if hit {
                return seen;
            }
        }
    }
}

async fn ward(server: &TestServer) -> (Http, Http) {
    let admin = server.staff("admin1", Role::Admin).await;
    for (i, bed) in ["1", "2"].iter().enumerate() {
        admin.put(&format!("/api/v1/beds/{bed}"), json!({"display_order": i})).await;
    }
    (admin, server.staff("obst", Role::Obstetrician).await)
}

async fn admit_and_bind(http: &Http, pid: &str, name: &str, bed: &str, stream: &str) -> i64 {
    let (s, a) = http
        .post(
            "/api/v1/admissions",
            json!({"patient_id":pid,"name":name,"ga_weeks":39,"ga_days":2,"bed":bed}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["admission"]["admission_id"].as_i64().unwrap();
    let (s, b) =
        http.put(&format!("/api/v1/admissions/{id}/binding"), json!({"stream_id": stream})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    id
}

fn seqs(m: &Value) -> Vec<u64> {
    m["samples"]["seq"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_viewer_gets_the_bed_its_history_then_live_samples_all_stamped_with_the_patient() {
    let server = TestServer::start(None, |_| {}).await;
    let (_admin, obst) = ward(&server).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-1");
    admit_and_bind(&obst, "P-7", "伊藤 葵", "1", &s.to_string()).await;
    let samples = sim_samples(120, 31);
    gw.publish_block(&s, &block(0, &samples[..100], false)).await;
    wait_for(10, "stored", || async { gw.ack(&s) == Some(99) }).await;

    let mut ws = open(&server, &obst, &["1", "2"]).await;
    let seen = read_until(&mut ws, 10, |m| m["t"] == "history").await;
    assert_eq!(seen[0]["t"], "hello");
    assert_eq!(seen[0]["stale_after_ms"], 3000);
    let bed1 = seen.iter().find(|m| m["t"] == "bed" && m["bed"] == "1").unwrap();
    assert_eq!(bed1["patient"]["name"], "伊藤 葵");
    assert_eq!(bed1["stream"], s.to_string());
    let history = seen.last().unwrap();
    assert_eq!(history["patient"]["patient_id"], "P-7");
    assert_eq!(seqs(history), (0..100).collect::<Vec<_>>());
    let bed2 = read_until(&mut ws, 10, |m| m["t"] == "bed" && m["bed"] == "2").await;
    assert!(bed2.last().unwrap()["patient"].is_null(), "an empty bed shows nobody");

    for i in 100..120u64 {
        gw.publish_block(&s, &block(i, &samples[i as usize..=i as usize], false)).await;
    }
    let mut live = Vec::new();
    read_until(&mut ws, 10, |m| {
        if m["t"] == "samples" {
            assert_eq!(
                m["patient"]["name"], "伊藤 葵",
                "every live message carries the bound patient"
            );
            assert_eq!(m["bed"], "1");
            live.extend(seqs(m));
        }
        live.last() == Some(&119)
    })
    .await;
    assert_eq!(live, (100..120).collect::<Vec<_>>());
    let hb = read_until(&mut ws, 5, |m| m["t"] == "heartbeat").await;
    let pulse = hb.last().unwrap()["beds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["bed"] == "1")
        .unwrap()
        .clone();
    assert!(pulse["age_ms"].as_i64().unwrap() < 5000, "{pulse}");
    assert_eq!(pulse["head_seq"], 119);
    server.stop().await;
}

#[tokio::test]
async fn a_re_binding_breaks_the_trace_and_never_shows_data_under_the_new_patient() {
    let server = TestServer::start(None, |_| {}).await;
    let (_admin, obst) = ward(&server).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-1");
    let first = admit_and_bind(&obst, "P-A", "患者 A", "1", &s.to_string()).await;
    let samples = sim_samples(100, 32);
    gw.publish_block(&s, &block(0, &samples[..40], false)).await;
    wait_for(10, "stored", || async { gw.ack(&s) == Some(39) }).await;
    let mut ws = open(&server, &obst, &["1"]).await;
    let seen = read_until(&mut ws, 10, |m| m["t"] == "history").await;
    let old_binding =
        seen.iter().find(|m| m["t"] == "bed").unwrap()["binding_id"].as_i64().unwrap();

    // Patient A leaves, patient B takes the bed and the same device.
    obst.post(&format!("/api/v1/admissions/{first}/discharge"), json!({})).await;
    let seen = read_until(&mut ws, 10, |m| m["t"] == "bed" && m["patient"].is_null()).await;
    assert!(seen.iter().all(|m| m["t"] != "samples" || m["patient"]["patient_id"] == "P-A"));
    admit_and_bind(&obst, "P-B", "患者 B", "1", &s.to_string()).await;
    // Admission and binding are two steps: the bed first shows B without a device, then bound.
    let seen = read_until(&mut ws, 10, |m| {
        m["t"] == "bed" && m["patient"]["patient_id"] == "P-B" && !m["binding_id"].is_null()
    })
    .await;
    let new_bed = seen.last().unwrap();
    let new_binding = new_bed["binding_id"].as_i64().unwrap();
    assert_ne!(new_binding, old_binding);
    // B's trace starts empty: A's samples are not hers.
    let history = read_until(&mut ws, 10, |m| m["t"] == "history").await;
    assert!(seqs(history.last().unwrap()).is_empty(), "{history:?}");

    gw.publish_block(&s, &block(40, &samples[40..60], false)).await;
    let mut got = Vec::new();
    read_until(&mut ws, 10, |m| {
        if m["t"] == "samples" {
            assert_eq!(m["binding_id"], new_binding);
            assert_eq!(m["patient"]["name"], "患者 B");
            got.extend(seqs(m));
        }
        got.last() == Some(&59)
    })
    .await;
    assert_eq!(got.first(), Some(&40));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_viewer_is_reset_and_told_while_other_viewers_get_everything() {
    let server = TestServer::start(None, |c| c.live.viewer_queue = 512).await;
    let (_admin, obst) = ward(&server).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-1");
    admit_and_bind(&obst, "P-S", "slow test", "1", &s.to_string()).await;

    // The slow viewer: a tiny receive buffer and nobody reading it.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    let stream = sock.connect(server.addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(
        request(&server, obst.token.as_deref().unwrap()),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    slow.send(Message::text(json!({"t":"subscribe","beds":["1"]}).to_string())).await.unwrap();
    let mut fast = open(&server, &obst, &["1"]).await;
    read_until(&mut fast, 10, |m| m["t"] == "history").await;

    // When the server gives up on the slow viewer, it starts reading and looks for the reason.
    let core = server.core.clone();
    let slow_reader = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while core.hub.stats().viewers_reset == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the slow viewer was never reset");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut last = None;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(30), slow.next()).await
        {
            if let Message::Text(t) = m {
                last = Some(t.to_string());
            }
        }
        last
    });

    let samples = sim_samples(40, 33);
    let blocks = 4000u64;
    let per = 10u64;
    // The publisher stays at most 200 blocks ahead of what the fast viewer has read, so a test
    // process starved of CPU cannot make the fast viewer look slow; the slow viewer, which reads
    // nothing, still overflows.
    let (read_tx, mut read_rx) = tokio::sync::watch::channel(0u64);
    let publisher = {
        let client = gw.client.clone();
        let s = s.clone();
        tokio::spawn(async move {
            for b in 0..blocks {
                read_rx.wait_for(|read| b * per <= read + 200 * per).await.unwrap();
                let blk = block(b * per, &samples[..per as usize], false);
                client
                    .publish(
                        ctg_wire::Topic::device(&s, ctg_wire::TopicKind::Samples),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        blk.encode(),
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let mut next = 0u64;
    read_until(&mut fast, 120, |m| {
        if m["t"] == "samples" {
            for q in seqs(m) {
                assert_eq!(q, next, "the fast viewer lost or reordered samples");
                next += 1;
            }
            read_tx.send_replace(next);
        }
        assert_ne!(m["t"], "reset", "the fast viewer must not be reset");
        next == blocks * per
    })
    .await;
    publisher.await.unwrap();
    let told = slow_reader.await.unwrap();
    let told: Value = serde_json::from_str(
        told.as_deref().expect("the slow viewer got a message before the close"),
    )
    .unwrap();
    assert_eq!(told["t"], "reset", "{told}");
    assert_eq!(told["reason"], "slow_consumer");
    assert_eq!(server.core.hub.stats().viewers_reset, 1);
    server.stop().await;
}

#[tokio::test]
async fn the_live_feed_needs_a_clinician_session_and_our_origin() {
    let server = TestServer::start(None, |_| {}).await;
    let (admin, obst) = ward(&server).await;
    let url = format!("ws://{}/api/v1/live", server.addr);
    let err = tokio_tungstenite::connect_async(url.clone()).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let err = tokio_tungstenite::connect_async(request(&server, admin.token.as_deref().unwrap()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let mut req = request(&server, obst.token.as_deref().unwrap());
    req.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let mut ws = open(&server, &obst, &["1"]).await;
    read_until(&mut ws, 5, |m| m["t"] == "bed").await;
    server.stop().await;
}
