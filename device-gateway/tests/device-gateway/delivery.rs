//! Delivery with a healthy broker: exact accounting, presence, heartbeats, metrics, restarts
//! and the acknowledgement sync of a fresh state directory.

use std::time::Duration;

use ctg_wire::{Ack, PresenceState, StreamId, Topic, TopicKind};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::receiver::Receiver;
use crate::{
    Running, SITE, assert_exact, config_text, http_get, metric, mosquitto, parse, sim_devices,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_beds_arrive_exactly_once_and_numbering_survives_a_restart() {
    let broker = mosquitto();
    let state = tempfile::tempdir().unwrap();
    let rx = Receiver::start(broker.port(), SITE, "gw-delivery");
    let text = config_text(
        broker.port(),
        "gw-delivery",
        state.path(),
        "",
        &sim_devices(3, "normal-labour", 8.0),
    );

    let gw = Running::start(parse(&text)).await;
    let http = gw.http.expect("endpoint bound on port 0");
    let enough = rx
        .wait_for(Duration::from_secs(30), |s| {
            (1..=3).all(|i| {
                s.streams.get(format!("bed-{i}").as_str()).is_some_and(|l| l.samples.len() >= 150)
            })
        })
        .await;
    assert!(
        enough,
        "samples from three beds: {:?}",
        rx.snapshot().streams.keys().collect::<Vec<_>>()
    );

    // Health and metrics while running.
    let acked = rx
        .wait_for(Duration::from_secs(10), |s| {
            s.streams.values().all(|l| l.acked.is_some_and(|a| a > 100))
        })
        .await;
    assert!(acked);
    let (code, body) = http_get(http, "/health").await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["devices"].as_array().unwrap().len(), 3);
    let (code, m) = http_get(http, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metric(&m, "ctg_gateway_samples_read_total{device=\"bed-2\"}").unwrap() >= 150.0,
        "{m}"
    );
    assert!(
        metric(&m, "ctg_gateway_samples_acknowledged_total{device=\"bed-2\"}").unwrap() > 100.0
    );
    assert_eq!(metric(&m, "ctg_gateway_mqtt_connected"), Some(1.0));
    assert_eq!(metric(&m, "ctg_gateway_decode_frames_rejected_total{device=\"bed-1\"}"), Some(0.0));
    assert!(metric(&m, "ctg_gateway_outbox_fsyncs_total").unwrap() > 0.0);
    let (code, _) = http_get(http, "/nope").await;
    assert_eq!(code, 404);

    gw.stop().await;
    let offline = rx.wait_offline().await;
    let s = rx.snapshot();
    assert_eq!(offline.state, PresenceState::Offline);
    assert_eq!(offline.reason, "clean_stop");
    assert!(s.presence.iter().any(|p| p.state == PresenceState::Online));
    assert!(!s.heartbeats.is_empty(), "heartbeats every second in this test");
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    // Everything numbered before the stop arrived, exactly.
    let mut first_run = Vec::new();
    for d in &offline.devices {
        let log = rx.stream(d.device.as_str());
        assert_exact(&log, d.device.as_str(), Some(d.next_seq));
        // A healthy link needs no backlog after the first connection: only samples numbered
        // before the broker accepted the gateway (a loaded machine can read one or two while the
        // TCP connect is pending) may travel on the backlog topic, never a later one.
        let first_live = *log.live_seqs.first().expect("live samples");
        assert!(
            log.backlog_blocks.iter().all(|&(first, n)| first + n as u64 <= first_live),
            "backlog after the first live sample of {}: {:?} (first live {first_live})",
            d.device,
            log.backlog_blocks
        );
        assert_eq!(log.deliveries as usize, log.samples.len(), "no sample delivered twice");
        first_run.push(d.next_seq);
    }
    assert_eq!(offline.devices.iter().map(|d| d.bed.as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);

    // Same state directory: numbering continues, nothing is reused.
    let gw = Running::start(parse(&text)).await;
    let more = rx
        .wait_for(Duration::from_secs(30), |s| {
            (1..=3).zip(&first_run).all(|(i, n)| {
                s.streams
                    .get(format!("bed-{i}").as_str())
                    .is_some_and(|l| l.samples.len() as u64 >= n + 40)
            })
        })
        .await;
    assert!(more);
    gw.stop().await;
    let offline = rx.wait_offline().await;
    for (d, before) in offline.devices.iter().zip(first_run) {
        let log = rx.stream(d.device.as_str());
        assert!(d.next_seq > before);
        assert_exact(&log, d.device.as_str(), Some(d.next_seq));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_gateway_continues_after_the_servers_watermark() {
    let broker = mosquitto();
    // The server already stored samples 0..=999 of bed-1 from an earlier installation.
    let (client, mut el) =
        AsyncClient::new(MqttOptions::new("old-server", "127.0.0.1", broker.port()), 10);
    let topic =
        Topic::device(&StreamId::parse_parts(SITE, "gw-fresh", "bed-1").unwrap(), TopicKind::Ack);
    client
        .publish(topic, QoS::AtLeastOnce, true, Ack::new(999, crate::receiver::wall_ms()).encode())
        .await
        .unwrap();
    loop {
        if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.unwrap() {
            break;
        }
    }
    drop(client);

    let rx = Receiver::start(broker.port(), SITE, "gw-fresh");
    let state = tempfile::tempdir().unwrap();
    let text = config_text(
        broker.port(),
        "gw-fresh",
        state.path(),
        "",
        &sim_devices(2, "normal-labour", 8.0),
    );
    let gw = Running::start(parse(&text)).await;
    let got = rx
        .wait_for(Duration::from_secs(20), |s| {
            s.streams.values().filter(|l| l.samples.len() >= 20).count() == 2
        })
        .await;
    assert!(got);
    gw.stop().await;
    let last = rx.wait_offline().await.devices;
    let bed1 = rx.stream("bed-1");
    assert_eq!(bed1.seqs().first(), Some(&1000), "continues at watermark + 1");
    let bed2 = rx.stream("bed-2");
    assert_eq!(bed2.seqs().first(), Some(&0), "a stream the server never saw starts at 0");
    assert_eq!(bed1.seqs(), (1000..last[0].next_seq).collect::<Vec<_>>());
    // Event ids of a fresh stream start high, above anything an earlier installation used.
    let first_event = *bed1.events.keys().next().expect("link event");
    assert!(first_event > 1 << 40, "{first_event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_watermark_gets_the_range_published_again() {
    let broker = mosquitto();
    let rx = Receiver::start(broker.port(), SITE, "gw-stall");
    rx.acking.store(false, std::sync::atomic::Ordering::Relaxed);
    let state = tempfile::tempdir().unwrap();
    let text = config_text(
        broker.port(),
        "gw-stall",
        state.path(),
        "[outbox]\nack_timeout_s = 5",
        &sim_devices(1, "normal-labour", 4.0),
    );
    let gw = Running::start(parse(&text)).await;
    // The server stores nothing for a while (its database is away): after 5 s without a moving
    // watermark the gateway publishes the unacknowledged range again on the backlog topic.
    let replayed = rx
        .wait_for(Duration::from_secs(20), |s| s.streams.values().any(|l| l.backlog_samples > 0))
        .await;
    assert!(replayed, "backlog republication after a stuck watermark");
    rx.acking.store(true, std::sync::atomic::Ordering::Relaxed);
    let http = gw.http.unwrap();
    let mut emptied = false;
    for _ in 0..100 {
        let (_, text) = http_get(http, "/metrics").await;
        if metric(&text, "ctg_gateway_outbox_samples").is_some_and(|v| v < 10.0) {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(emptied, "acknowledged samples leave the outbox");
    gw.stop().await;
    let last = rx.wait_offline().await.devices;
    assert_exact(&rx.stream("bed-1"), "bed-1", Some(last[0].next_seq));
}
