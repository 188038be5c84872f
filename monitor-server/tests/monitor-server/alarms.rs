//! Live analysis and alarms through the whole server: samples over MQTT, `analysis` and `alarm`
//! messages on the live feed stamped with the patient, the alarm history, and acknowledgement
//! (authenticated, audited, shown to every viewer of the bed).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use monitor_server::model::Role;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::common::{Http, TestGateway, TestServer, block, wait_for};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(server: &TestServer, http: &Http, beds: &[&str]) -> Ws {
    let mut req = format!("ws://{}/api/v1/live", server.addr).into_client_request().unwrap();
    let token = http.token.as_deref().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(json!({"t":"subscribe","beds":beds}).to_string())).await.unwrap();
    ws
}

/// Reads messages (frames may hold arrays) until `pred` matches one; returns that one.
async fn read_until(
    ws: &mut Ws,
    secs: u64,
    what: &str,
    mut pred: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
        let Some(Ok(Message::Text(t))) = msg else {
            panic!("socket ended waiting for {what}: {msg:?}")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let items = if let Value::Array(a) = v { a } else { vec![v] };
        for m in items {
            if pred(&m) {
                return m;
            }
        }
    }
}

/// The demo's late-deceleration bed: scenario and seed as the demo plays them.
fn late_decelerations(minutes: u64) -> Vec<ctg_wire::Sample> {
    hardware::sim::simulate(
        hardware::sim::Scenario::LateDecelerations,
        1003,
        minutes * 60 * 4,
        &hardware::sim::SimOptions::default(),
    )
    .unwrap()
    .samples()
}

async fn admit_and_bind(http: &Http, pid: &str, bed: &str, stream: &str) -> i64 {
    let (s, a) = http
        .post(
            "/api/v1/admissions",
            json!({"patient_id":pid,"name":"渡辺 凛","ga_weeks":39,"ga_days":0,"bed":bed}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["admission"]["admission_id"].as_i64().unwrap();
    let (s, b) =
        http.put(&format!("/api/v1/admissions/{id}/binding"), json!({"stream_id": stream})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    id
}

fn is_alarm(m: &Value, kind: &str) -> bool {
    m["t"] == "alarm" && m["alarm"]["kind"] == kind
}

#[tokio::test]
async fn late_decelerations_raise_a_stored_alarm_that_a_clinician_acknowledges() {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    admin.put("/api/v1/beds/4", json!({"display_order": 4})).await;
    let obst = server.staff("obst", Role::Obstetrician).await;
    let midwife = server.staff("mw", Role::Midwife).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-4");
    let admission = admit_and_bind(&obst, "P-4", "4", &s.to_string()).await;
    let mut ws = open(&server, &obst, &["4"]).await;

    // Eight minutes of trace, sent faster than real time: the analysis runs on sample time.
    let samples = late_decelerations(8);
    for (i, chunk) in samples.chunks(40).enumerate() {
        gw.publish_block(&s, &block(i as u64 * 40, chunk, false)).await;
    }
    // Each evaluation sends its analysis, then its alarm changes. The alarm may come from the
    // last evaluation of the trace (a burst is judged in fewer steps on a loaded machine), so the
    // analysis checked below is the one sent with it, not a later one that may never come.
    let mut analysis = None;
    let alarm = read_until(&mut ws, 60, "a pathological-pattern alarm", |m| {
        if m["t"] == "analysis" {
            analysis = Some(m.clone());
        }
        is_alarm(m, "pathological")
    })
    .await;
    assert_eq!(alarm["bed"], "4");
    assert_eq!(alarm["patient"]["patient_id"], "P-4", "stamped with the bound patient");
    assert_eq!(alarm["alarm"]["admission_id"], admission);
    assert_eq!(alarm["alarm"]["stream"], s.to_string());
    assert!(alarm["alarm"]["acknowledged_ms"].is_null());
    let alarm_id = alarm["alarm"]["alarm_id"].as_i64().unwrap();
    assert!(alarm_id > 0, "{alarm}");
    assert!(alarm["alarm"]["detail"].as_str().unwrap().starts_with("JSOG level"), "{alarm}");

    // The analysis on the feed: a baseline, late decelerations, a judged window.
    let analysis = analysis.expect("an analysis before the alarm");
    assert_eq!(analysis["patient"]["patient_id"], "P-4");
    let baseline: Vec<f64> =
        analysis["baseline"]["bpm"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert!(
        baseline.len() > 20 && baseline.iter().all(|b| (100.0..=170.0).contains(b)),
        "{}",
        analysis["baseline"]
    );
    let late = analysis["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "deceleration" && e["class"] == "late")
        .count();
    assert!(late >= 1, "{}", analysis["events"]);
    assert_eq!(analysis["classification"]["status"], "assessed");
    assert!(analysis["classification"]["jsog_level"].as_u64().unwrap() >= 3);

    // Stored: in the history, open.
    let list = obst.get_ok(&format!("/api/v1/alarms?admission_id={admission}&open=true")).await;
    let stored = list["alarms"].as_array().unwrap();
    assert!(stored.iter().any(|a| a["alarm_id"] == alarm_id), "{list}");

    // A new viewer gets the analysis and the open alarm right after the history.
    let mut ws2 = open(&server, &midwife, &["4"]).await;
    read_until(&mut ws2, 10, "history", |m| m["t"] == "history").await;
    read_until(&mut ws2, 10, "the analysis snapshot", |m| m["t"] == "analysis").await;
    read_until(&mut ws2, 10, "the open alarm", |m| m["alarm"]["alarm_id"] == alarm_id).await;

    // Acknowledgement: clinicians only, once, recorded with who and when.
    let ack = format!("/api/v1/alarms/{alarm_id}/acknowledge");
    assert_eq!(admin.post(&ack, json!({})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(server.http().post(&ack, json!({})).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        midwife.post("/api/v1/alarms/999999/acknowledge", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    let (st, rec) = midwife.post(&ack, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{rec}");
    assert_eq!(rec["acknowledged_by"], "mw");
    assert!(rec["acknowledged_ms"].as_i64().is_some());
    assert_eq!(obst.post(&ack, json!({})).await.0, StatusCode::CONFLICT, "the first one stands");
    // Every viewer of the bed sees it acknowledged (the page drops it from the alarm list).
    let seen = read_until(&mut ws, 10, "the acknowledgement", |m| {
        m["t"] == "alarm"
            && m["alarm"]["alarm_id"] == alarm_id
            && !m["alarm"]["acknowledged_ms"].is_null()
    })
    .await;
    assert_eq!(seen["alarm"]["acknowledged_by"], "mw");
    assert!(seen["alarm"]["cleared_ms"].is_null(), "acknowledged, not over");

    // Audited with the patient.
    let audit = admin.get_ok("/api/v1/audit?limit=50").await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "alarm.acknowledge" && e["outcome"] == "ok")
        .cloned()
        .unwrap_or_else(|| panic!("no audit entry: {audit}"));
    assert_eq!(entry["actor"], "mw");
    assert!(entry["target"].as_str().unwrap().contains("patient:P-4"), "{entry}");

    // The stream has stopped: a stale-stream alarm follows, and stays in the history.
    read_until(&mut ws, 15, "a stale-stream alarm", |m| is_alarm(m, "stale_stream")).await;
    wait_for(10, "alarms in the history", || async {
        let l = obst.get_ok(&format!("/api/v1/alarms?admission_id={admission}")).await;
        let kinds: Vec<String> = l["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.contains(&"stale_stream".to_owned()) && kinds.contains(&"pathological".to_owned())
    })
    .await;
    assert!(server.core.analysis.stats().evaluations > 0);
    server.stop().await;
}

/// Regression: backlog arriving after newer live data (an ambulance back online) used to be
/// stored and drawn but never analysed, so the decelerations it held were never marked.
#[tokio::test]
async fn backfilled_trace_is_analysed_and_its_decelerations_marked_live_and_in_history() {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    admin.put("/api/v1/beds/4", json!({"display_order": 4})).await;
    let obst = server.staff("obst", Role::Obstetrician).await;
    let gw = TestGateway::connect(&server.broker_url, "amb", "gw1").await;
    let s = gw.stream("bed-4");
    let admission = admit_and_bind(&obst, "P-4", "4", &s.to_string()).await;
    let mut ws = open(&server, &obst, &["4"]).await;

    // Sixteen minutes of trace; minutes 4 to 12 are missing while the link is down.
    let samples = late_decelerations(16);
    let hole = 4 * 60 * 4..12 * 60 * 4;
    for (i, chunk) in samples.chunks(40).enumerate() {
        let first = i as u64 * 40;
        if !hole.contains(&first) {
            gw.publish_block(&s, &block(first, chunk, false)).await;
        }
    }
    let end = samples.len() as u64;
    let in_hole = |m: &Value, kind: &str| -> usize {
        m["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["kind"] == kind)
                    .filter(|e| e["peak_seq"].as_u64().is_some_and(|p| hole.contains(&p)))
                    .count()
            })
            .unwrap_or(0)
    };
    let live = read_until(&mut ws, 60, "the live trace analysed", |m| {
        m["t"] == "analysis" && m["analysed_to_seq"].as_u64() == Some(end)
    })
    .await;
    assert_eq!(in_hole(&live, "deceleration"), 0, "nothing marked where nothing arrived");
    assert_eq!(in_hole(&live, "contraction"), 0);

    // The link returns: the gateway backfills the hole on the backlog topic.
    for (i, chunk) in samples[hole.start as usize..hole.end as usize].chunks(40).enumerate() {
        gw.publish_block(&s, &block(hole.start + i as u64 * 40, chunk, true)).await;
    }
    let filled = read_until(&mut ws, 30, "the backfilled trace analysed", |m| {
        m["t"] == "analysis" && in_hole(m, "deceleration") >= 1
    })
    .await;
    assert_eq!(filled["analysed_to_seq"].as_u64(), Some(end), "no new sample time");
    assert!(in_hole(&filled, "contraction") >= 2, "{}", filled["events"]);
    assert!(
        filled["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["class"] == "late"
                && e["peak_seq"].as_u64().is_some_and(|p| hole.contains(&p))),
        "{}",
        filled["events"]
    );
    let hole_len = hole.end - hole.start;
    wait_for(10, "every late sample counted", || async {
        let v = admin.get_ok("/api/v1/ingest").await;
        v["analysis"]["late_samples_analysed"].as_u64() == Some(hole_len)
    })
    .await;
    let v = admin.get_ok("/api/v1/ingest").await;
    assert_eq!(v["analysis"]["late_samples_not_analysed"], 0, "{v}");
    assert!(v["analysis"]["reanalyses"].as_u64().unwrap() >= 1, "{v}");

    // Scrolled back: the stored history of minutes 10 to 16 comes with its own analysis, the
    // minutes before it read as context and not returned.
    wait_for(10, "the whole trace stored", || async {
        obst.stream(&s.to_string()).await.is_some_and(|v| v["stored_samples"] == end)
    })
    .await;
    let t0 = super::common::T0;
    let (from, to) = (t0 + 10 * 60_000, t0 + 16 * 60_000);
    let h = obst
        .get_ok(&format!("/api/v1/admissions/{admission}/history?from_ms={from}&to_ms={to}"))
        .await;
    let seg = &h["segments"][0];
    assert_eq!(seg["samples"]["seq"][0], 10 * 60 * 4, "history starts at from_ms");
    let marks = &seg["analysis"];
    assert_eq!(marks["baseline"]["from_seq"], 10 * 60 * 4);
    let baseline: Vec<f64> =
        marks["baseline"]["bpm"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert!(baseline.len() > 50 && baseline.iter().all(|b| (100.0..=170.0).contains(b)), "{marks}");
    let late = marks["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "deceleration" && e["class"] == "late")
        .count();
    assert!(late >= 1, "{marks}");
    server.stop().await;
}

#[tokio::test]
async fn an_unbound_stream_is_not_analysed_and_unbinding_clears_its_alarms() {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    admin.put("/api/v1/beds/1", json!({"display_order": 1})).await;
    let obst = server.staff("obst", Role::Obstetrician).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let loose = gw.stream("bed-9");
    // Samples of a stream bound to nobody are stored but never analysed.
    gw.publish_block(&loose, &block(0, &late_decelerations(1), false)).await;
    wait_for(10, "stored", || async { gw.ack(&loose) == Some(239) }).await;
    assert_eq!(server.core.analysis.stats().samples_analysed, 0);

    // Bound: a trace with no fetal heart rate at all raises signal loss, never a clinical alarm.
    let s = gw.stream("bed-1");
    let admission = admit_and_bind(&obst, "P-1", "1", &s.to_string()).await;
    let mut ws = open(&server, &obst, &["1"]).await;
    let mut blank = late_decelerations(3);
    for x in &mut blank {
        x.fhr1 = None;
        x.fhr2 = None;
    }
    for (i, chunk) in blank.chunks(20).enumerate() {
        gw.publish_block(&s, &block(i as u64 * 20, chunk, false)).await;
    }
    let loss = read_until(&mut ws, 30, "a signal-loss alarm", |m| {
        if m["t"] == "alarm" {
            let kind = m["alarm"]["kind"].as_str().unwrap();
            assert!(["signal_loss", "stale_stream"].contains(&kind), "only technical alarms: {m}");
        }
        is_alarm(m, "signal_loss")
    })
    .await;
    assert_eq!(loss["alarm"]["priority"], "low");
    // The newest analysis, as a new viewer gets it.
    let mut ws2 = open(&server, &obst, &["1"]).await;
    let analysis = read_until(&mut ws2, 10, "an analysis", |m| m["t"] == "analysis").await;
    assert_ne!(analysis["classification"]["status"], "assessed", "{}", analysis["classification"]);

    // Unbinding ends the binding's alarms.
    let (st, _) =
        obst.call(Method::DELETE, &format!("/api/v1/admissions/{admission}/binding"), None).await;
    assert_eq!(st, StatusCode::OK);
    wait_for(10, "alarms closed", || async {
        let l = obst.get_ok(&format!("/api/v1/alarms?admission_id={admission}&open=true")).await;
        l["alarms"].as_array().unwrap().is_empty()
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn an_open_alarm_is_taken_up_after_a_restart_and_clears_with_its_condition() {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    admin.put("/api/v1/beds/2", json!({"display_order": 2})).await;
    let obst = server.staff("obst", Role::Obstetrician).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-2");
    let admission = admit_and_bind(&obst, "P-2", "2", &s.to_string()).await;
    let mut trace = late_decelerations(5);
    for x in &mut trace[..3 * 60 * 4] {
        x.fhr1 = None;
        x.fhr2 = None;
    }
    for (i, chunk) in trace[..3 * 60 * 4].chunks(20).enumerate() {
        gw.publish_block(&s, &block(i as u64 * 20, chunk, false)).await;
    }
    wait_for(20, "a signal-loss alarm", || async {
        let l = obst.get_ok(&format!("/api/v1/alarms?admission_id={admission}&open=true")).await;
        l["alarms"].as_array().unwrap().iter().any(|a| a["kind"] == "signal_loss")
    })
    .await;
    drop(gw);
    let dir = server.stop().await;

    let server = TestServer::start_in(dir, None, |_| {}).await;
    let obst = server.login("obst").await;
    let core = server.core.clone();
    wait_for(10, "open alarms taken up", || {
        let core = core.clone();
        async move {
            core.analysis.open_alarms().iter().any(|(_, a)| a.alarm.kind.as_str() == "signal_loss")
        }
    })
    .await;
    let (_, restored) = server
        .core
        .analysis
        .open_alarms()
        .into_iter()
        .find(|(_, a)| a.alarm.kind.as_str() == "signal_loss")
        .unwrap();
    let mut ws = open(&server, &obst, &["2"]).await;
    read_until(&mut ws, 10, "the open alarm after the history", |m| {
        m["t"] == "alarm" && m["alarm"]["alarm_id"] == restored.alarm_id
    })
    .await;

    // The signal comes back: the same alarm clears (no second one is raised).
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    for (i, chunk) in trace[3 * 60 * 4..].chunks(20).enumerate() {
        gw.publish_block(&s, &block(720 + i as u64 * 20, chunk, false)).await;
    }
    let cleared = read_until(&mut ws, 30, "the alarm cleared", |m| {
        m["t"] == "alarm"
            && m["alarm"]["kind"] == "signal_loss"
            && !m["alarm"]["cleared_ms"].is_null()
    })
    .await;
    assert_eq!(cleared["alarm"]["alarm_id"], restored.alarm_id);
    let all = obst.get_ok(&format!("/api/v1/alarms?admission_id={admission}")).await;
    let losses: Vec<&Value> =
        all["alarms"].as_array().unwrap().iter().filter(|a| a["kind"] == "signal_loss").collect();
    assert_eq!(losses.len(), 1, "{all}");
    assert!(losses[0]["cleared_ms"].as_i64().is_some());
    server.stop().await;
}
