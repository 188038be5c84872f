//! A long outage with a small outbox: the oldest samples are given up, announced with
//! `samples_dropped`, the alarm is visible, and every sequence number is either delivered or
//! declared dropped.

use std::time::Duration;

use ctg_wire::EventKind;

use crate::receiver::Receiver;
use crate::{Running, SITE, config_text, http_get, metric, mosquitto, parse, sim_devices};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_drops_the_oldest_announces_it_and_accounts_for_every_number() {
    let mut broker = mosquitto();
    let rx = Receiver::start(broker.port(), SITE, "gw-full");
    let state = tempfile::tempdir().unwrap();
    // 1 MiB outbox in 64 KiB segments; two fast beds fill it in seconds.
    // A short ack timeout: what was published while the receiver had not yet resubscribed to
    // the restarted broker is published again soon.
    let outbox = "[outbox]\nmax_mib = 1\nsegment_kib = 64\nsync = \"periodic\"\nsync_interval_ms = 200\nack_timeout_s = 5";
    let text = config_text(
        broker.port(),
        "gw-full",
        state.path(),
        outbox,
        &sim_devices(2, "normal-labour", 200.0),
    );
    let gw = Running::start(parse(&text)).await;
    let http = gw.http.unwrap();
    assert!(
        rx.wait_for(Duration::from_secs(20), |s| s
            .streams
            .values()
            .filter(|l| l.samples.len() > 100)
            .count()
            == 2)
            .await
    );

    broker.stop();
    let mut full_seen = false;
    let mut dropped_both = false;
    for _ in 0..600 {
        let (_, m) = http_get(http, "/metrics").await;
        full_seen |= metric(&m, "ctg_gateway_outbox_full") == Some(1.0);
        let bytes = metric(&m, "ctg_gateway_outbox_bytes").unwrap();
        assert!(bytes <= 1024.0 * 1024.0, "the bound holds: {bytes}");
        dropped_both = ["bed-1", "bed-2"].iter().all(|d| {
            metric(&m, &format!("ctg_gateway_samples_dropped_total{{device=\"{d}\"}}"))
                .is_some_and(|v| v > 0.0)
        });
        if full_seen && dropped_both {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(full_seen, "outbox_full alarm raised");
    assert!(dropped_both, "oldest samples given up");

    broker.start_again().unwrap();
    let (_, m) = http_get(http, "/metrics").await;
    let next: Vec<u64> = ["bed-1", "bed-2"]
        .iter()
        .map(|d| {
            metric(&m, &format!("ctg_gateway_next_sequence{{device=\"{d}\"}}")).unwrap() as u64
        })
        .collect();
    let accounted = rx
        .wait_for(Duration::from_secs(60), |s| {
            ["bed-1", "bed-2"].iter().zip(&next).all(|(d, n)| {
                s.streams.get(*d).and_then(|l| l.contiguous_from(0)).is_some_and(|c| c + 1 >= *n)
            })
        })
        .await;
    assert!(accounted, "{:?}", ["bed-1", "bed-2"].map(|d| rx.stream(d).contiguous_from(0)));
    assert!(
        crate::wait_acked(http, 2000.0, Duration::from_secs(60)).await,
        "the receiver caught up"
    );
    gw.stop().await;
    let offline = rx.wait_offline().await;
    let s = rx.snapshot();
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    for (i, d) in offline.devices.iter().enumerate() {
        let log = rx.stream(d.device.as_str());
        assert!(log.conflicts.is_empty());
        assert!(d.next_seq >= next[i]);
        // Every number is either stored or declared dropped, and only the dropped are missing.
        let missing: Vec<u64> = (0..d.next_seq)
            .filter(|n| !log.samples.contains_key(n) && !log.dropped.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: {} unaccounted {:?}..{:?} of {}; next at restart {:?}",
            d.device,
            missing.len(),
            missing.first(),
            missing.last(),
            d.next_seq,
            next
        );
        assert!(!log.dropped.is_empty());
        assert!(log.events.values().any(|(e, _, _)| matches!(&e.kind, EventKind::SamplesDropped { reason, .. } if reason == "outbox_full")));
        // The oldest went, not the newest: what was given up lies before what was replayed.
        let last_dropped = *log.dropped.iter().next_back().unwrap();
        assert!(log.samples.contains_key(&(last_dropped + 1)));
    }
    assert!(s.heartbeats.iter().any(|h| h.outbox_full), "the heartbeat carries the alarm");
}
