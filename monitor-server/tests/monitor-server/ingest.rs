//! Ingest against a real mosquitto: validation, idempotent storage, watermarks, presence.

use ctg_wire::{DeviceEvent, EventKind, Heartbeat, SampleBlock, Topic, TopicKind};
use monitor_server::model::Role;
use monitor_server::store::SampleQuery;
use serde_json::Value;
use test_support::Mosquitto;

use super::common::{TestGateway, TestServer, block, sim_samples, wait_for};

fn mosquitto() -> Mosquitto {
    Mosquitto::start().expect("mosquitto must be installed (cargo xtask setup)")
}

async fn stored(
    core: &monitor_server::Core,
    stream: &ctg_wire::StreamId,
) -> Vec<monitor_server::model::StoredSample> {
    let key = core.registry().stream_key(stream).expect("stream registered");
    core.store
        .samples(
            key,
            SampleQuery {
                from_seq: 0,
                to_seq: None,
                from_ms: i64::MIN,
                to_ms: i64::MAX,
                limit: 1_000_000,
            },
        )
        .await
        .unwrap()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[tokio::test]
async fn stores_blocks_and_publishes_the_watermark_after_commit() {
    let broker = mosquitto();
    let server = TestServer::start(Some(broker.url()), |_| {}).await;
    let gw = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    let s = gw.stream("bed-1");
    let samples = sim_samples(400, 11);
    // One live sample at a time, then a multi-sample block.
    for i in 0..40u64 {
        gw.publish_block(&s, &block(i, &samples[i as usize..=i as usize], false)).await;
    }
    gw.publish_block(&s, &block(40, &samples[40..400], false)).await;
    wait_for(10, "watermark 399", || async { gw.ack(&s) == Some(399) }).await;
    // Once the watermark says so, every sample up to it is in the database.
    let rows = stored(&server.core, &s).await;
    assert_eq!(rows.len(), 400);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            (r.seq, r.sample, r.rx_ms),
            (i as u64, samples[i], super::common::T0 + i as i64 * 250)
        );
    }
    let admin = server.staff("ops", Role::Admin).await;
    let v = admin.stream("site-a/gw1/bed-1").await.unwrap();
    assert_eq!(
        (n(&v, "stored_samples"), n(&v, "missing_samples"), n(&v, "duplicates_rejected")),
        (400, 0, 0)
    );
    assert_eq!(n(&v, "watermark"), 399);
    assert!(v["patient"].is_null(), "unbound streams are unassigned");
    assert!(v["last_sample_age_ms"].as_u64().unwrap() < 10_000);
    server.stop().await;
}

#[tokio::test]
async fn duplicates_and_replays_are_counted_never_stored_twice() {
    let broker = mosquitto();
    let server = TestServer::start(Some(broker.url()), |_| {}).await;
    let gw = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    let s = gw.stream("dev");
    let samples = sim_samples(100, 12);
    gw.publish_block(&s, &block(0, &samples[..60], false)).await;
    // The same block again (QoS 1 redelivery), and a replay overlapping it.
    gw.publish_block(&s, &block(0, &samples[..60], false)).await;
    gw.publish_block(&s, &block(50, &samples[50..100], true)).await;
    wait_for(10, "watermark 99", || async { gw.ack(&s) == Some(99) }).await;
    let admin = server.staff("ops", Role::Admin).await;
    let v = admin.stream("site-a/gw1/dev").await.unwrap();
    assert_eq!(n(&v, "stored_samples"), 100);
    assert_eq!(n(&v, "duplicates_rejected"), 60 + 10);
    assert_eq!(n(&v, "missing_samples"), 0);
    assert_eq!(stored(&server.core, &s).await.len(), 100);
    server.stop().await;
}

#[tokio::test]
async fn bad_payloads_are_rejected_counted_and_change_nothing_stored() {
    let broker = mosquitto();
    let server =
        TestServer::start(Some(broker.url()), |c| c.ingest.sites = vec!["site-a".into()]).await;
    let gw = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    let s = gw.stream("dev");
    let samples = sim_samples(20, 13);
    gw.publish_block(&s, &block(0, &samples, false)).await;
    wait_for(10, "first block stored", || async { gw.ack(&s) == Some(19) }).await;
    let before = stored(&server.core, &s).await;

    let samples_topic = Topic::device(&s, TopicKind::Samples);
    let good = block(20, &samples[..4], false).encode();
    // FHR 900 bpm in the first sample of the FHR1 section.
    let mut fhr900 = good.clone();
    fhr900[22..24].copy_from_slice(&(900u16 * 4).to_le_bytes());
    let mut trailing = good.clone();
    trailing.push(0);
    let mut version2 = good.clone();
    version2[0] = 2;
    // The same sequence numbers as stored samples but other values, with one absurd value: the
    // whole block is refused, and the stored samples stay as they were.
    let mut conflicting = block(0, &sim_samples(20, 77), false).encode();
    conflicting[22..24].copy_from_slice(&(900u16 * 4).to_le_bytes());
    for payload in [
        b"garbage".to_vec(),
        Vec::new(),
        fhr900,
        trailing,
        version2,
        conflicting,
        good[..good.len() - 1].to_vec(),
    ] {
        gw.publish_raw(&samples_topic, payload).await;
    }
    // A sequence number storage cannot hold.
    let huge = SampleBlock { first_seq: u64::MAX - 1, ..block(0, &samples[..1], false) };
    gw.publish_raw(&samples_topic, huge.encode()).await;
    // Bad events, presence and heartbeat.
    gw.publish_raw(&Topic::device(&s, TopicKind::Events), br#"{"v":1,"id":1}"#.to_vec()).await;
    gw.publish_raw(&Topic::presence(&gw.site, &gw.gateway), b"{}".to_vec()).await;
    gw.publish_raw(&Topic::heartbeat(&gw.site, &gw.gateway), br#"{"v":9}"#.to_vec()).await;
    // Topics outside the scheme, invalid labels, and a site this server does not serve.
    gw.publish_raw("ctg/v1/site-a/gw.1/heartbeat", b"{}".to_vec()).await;
    gw.publish_raw("ctg/v1/site-a/g%w/dev/samples", good.clone()).await;
    gw.publish_raw("ctg/v1/other-site/gw1/dev/samples", good.clone()).await;
    // A valid block after all that: the ingest is still running.
    gw.publish_block(&s, &block(20, &samples[..4], false)).await;
    wait_for(10, "block after the bad ones stored", || async { gw.ack(&s) == Some(23) }).await;

    let admin = server.staff("ops", Role::Admin).await;
    let ingest = admin.get_ok("/api/v1/ingest").await;
    let rej = &ingest["rejected"];
    assert_eq!(n(rej, "invalid_block"), 7, "{ingest}");
    assert_eq!(n(rej, "sequence_range"), 1);
    assert_eq!(n(rej, "invalid_event"), 1);
    assert_eq!(n(rej, "invalid_presence"), 1);
    assert_eq!(n(rej, "invalid_heartbeat"), 1);
    assert_eq!(n(rej, "topic"), 2);
    assert_eq!(n(rej, "unknown_site"), 1);
    let v = admin.stream("site-a/gw1/dev").await.unwrap();
    assert_eq!(
        n(&v, "rejected_payloads"),
        9,
        "per-stream count of block and event rejections: {v}"
    );
    assert_eq!(n(&v, "stored_samples"), 24);
    let after = stored(&server.core, &s).await;
    assert_eq!(&after[..20], &before[..], "stored samples were altered");
    assert!(
        admin
            .get_ok("/api/v1/streams")
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["site"] == "site-a")
    );
    server.stop().await;
}

#[tokio::test]
async fn backlog_fills_gaps_in_order_and_dropped_ranges_move_the_watermark() {
    let broker = mosquitto();
    let server = TestServer::start(Some(broker.url()), |_| {}).await;
    let gw = TestGateway::connect(&broker.url(), "site-a", "amb").await;
    let s = gw.stream("probe");
    let samples = sim_samples(300, 14);
    // Live first after an outage: 200..300 arrive while 0..200 are still in the outbox.
    gw.publish_block(&s, &block(0, &samples[..50], false)).await;
    gw.publish_block(&s, &block(200, &samples[200..300], false)).await;
    wait_for(10, "live part stored", || async { gw.ack(&s) == Some(49) }).await;
    let admin = server.staff("ops", Role::Admin).await;
    wait_for(10, "stored 150", || async {
        n(&admin.stream("site-a/amb/probe").await.unwrap(), "stored_samples") == 150
    })
    .await;
    let v = admin.stream("site-a/amb/probe").await.unwrap();
    assert_eq!(n(&v, "missing_samples"), 150, "{v}");
    assert_eq!(n(&v, "watermark"), 49);
    // The backlog replays 50..150; 150..200 were given up by the gateway.
    gw.publish_block(&s, &block(50, &samples[50..150], true)).await;
    wait_for(10, "watermark 149", || async { gw.ack(&s) == Some(149) }).await;
    let dropped = DeviceEvent::new(
        1,
        super::common::T0,
        200,
        EventKind::SamplesDropped { first_seq: 150, last_seq: 199, reason: "outbox full".into() },
    );
    gw.publish_raw(&Topic::device(&s, TopicKind::Events), dropped.encode()).await;
    wait_for(10, "watermark past the dropped range", || async { gw.ack(&s) == Some(299) }).await;
    let v = admin.stream("site-a/amb/probe").await.unwrap();
    assert_eq!(
        (n(&v, "stored_samples"), n(&v, "missing_samples"), n(&v, "dropped_samples")),
        (250, 50, 50)
    );
    let rows = stored(&server.core, &s).await;
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(rows.iter().filter(|r| (50..150).contains(&r.seq)).all(|r| r.backlog));
    assert!(rows.iter().all(|r| r.seq < 150 || r.seq >= 200));
    server.stop().await;
}

#[tokio::test]
async fn presence_heartbeat_last_will_and_the_heartbeat_timeout() {
    let broker = mosquitto();
    let server = TestServer::start(Some(broker.url()), |c| c.ingest.gateway_timeout_s = 5).await;
    let admin = server.staff("ops", Role::Admin).await;
    let online = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|g| g["gateway"] == "gw1")
            .map(|g| g["online"].as_bool().unwrap())
    };

    // A gateway with a last will, as device-gateway registers it.
    let (host, port) = monitor_server::config::parse_mqtt_url(&broker.url()).unwrap();
    let mut opts = rumqttc::MqttOptions::new("will-gw", host, port);
    opts.set_keep_alive(std::time::Duration::from_secs(5));
    let (site, gw) =
        (ctg_wire::Label::new("site-a").unwrap(), ctg_wire::Label::new("gw1").unwrap());
    let will = ctg_wire::Presence {
        v: 1,
        state: ctg_wire::PresenceState::Offline,
        at_ms: monitor_server::now_ms(),
        reason: "connection_lost".into(),
        software: String::new(),
        devices: vec![],
    };
    opts.set_last_will(rumqttc::LastWill::new(
        Topic::presence(&site, &gw),
        will.encode(),
        rumqttc::QoS::AtLeastOnce,
        true,
    ));
    let (will_client, mut ev) = rumqttc::AsyncClient::new(opts, 100);
    let task = tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    // Online, published over the connection that carries the will: once the server sees it,
    // the will is registered.
    let mut online_msg = will.clone();
    online_msg.state = ctg_wire::PresenceState::Online;
    online_msg.reason.clear();
    will_client
        .publish(Topic::presence(&site, &gw), rumqttc::QoS::AtLeastOnce, true, online_msg.encode())
        .await
        .unwrap();
    wait_for(10, "gateway online", || async {
        online(&admin.get_ok("/api/v1/gateways").await) == Some(true)
    })
    .await;

    // Killing the connection without DISCONNECT fires the last will.
    task.abort();
    wait_for(20, "last will: offline", || async {
        online(&admin.get_ok("/api/v1/gateways").await) == Some(false)
    })
    .await;
    let g = admin.get_ok("/api/v1/gateways").await;
    assert_eq!(g[0]["reason"], "connection_lost", "{g}");

    // Heartbeats bring it back; when they stop, the server's own timeout takes it offline.
    let hb = Heartbeat {
        v: 1,
        at_ms: monitor_server::now_ms(),
        uptime_s: 1,
        outbox_blocks: 3,
        outbox_bytes: 10,
        outbox_oldest_age_ms: 100,
        outbox_full: false,
        devices: vec![],
    };
    let tg = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    tg.publish_raw(&Topic::heartbeat(&site, &gw), hb.encode()).await;
    wait_for(10, "heartbeat: online", || async {
        online(&admin.get_ok("/api/v1/gateways").await) == Some(true)
    })
    .await;
    assert_eq!(admin.get_ok("/api/v1/gateways").await[0]["outbox_blocks"], 3);
    let t = std::time::Instant::now();
    wait_for(15, "timeout: offline", || async {
        online(&admin.get_ok("/api/v1/gateways").await) == Some(false)
    })
    .await;
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(4),
        "offline too early: {:?}",
        t.elapsed()
    );
    drop(tg);
    server.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_and_watermarks_are_republished() {
    let broker = mosquitto();
    let server = TestServer::start(Some(broker.url()), |_| {}).await;
    let gw = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    let s = gw.stream("dev");
    let samples = sim_samples(80, 15);
    gw.publish_block(&s, &block(0, &samples[..40], false)).await;
    wait_for(10, "watermark 39", || async { gw.ack(&s) == Some(39) }).await;
    let dir = server.stop().await;
    // While the server is down the broker keeps its persistent session's messages.
    gw.publish_block(&s, &block(40, &samples[40..80], false)).await;
    let server = TestServer::start_in(dir, Some(broker.url()), |_| {}).await;
    wait_for(10, "watermark 79 after restart", || async { gw.ack(&s) == Some(79) }).await;
    let admin = server.staff("ops", Role::Admin).await;
    let v = admin.stream("site-a/gw1/dev").await.unwrap();
    assert_eq!((n(&v, "stored_samples"), n(&v, "missing_samples")), (80, 0));
    // A reinstalled gateway reads the retained watermark from a fresh subscription.
    let fresh = TestGateway::connect(&broker.url(), "site-a", "gw1").await;
    wait_for(10, "retained watermark", || async { fresh.ack(&s) == Some(79) }).await;
    server.stop().await;
}
