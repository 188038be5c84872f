//! Gateway → real mosquitto → server, with the real `device-gateway` and its simulator: exact
//! accounting, including the duplicates a gateway's replay produces.

use std::time::Duration;

use monitor_server::model::Role;
use serde_json::Value;
use test_support::Mosquitto;
use tokio_util::sync::CancellationToken;

use super::common::{TestServer, wait_for};

const SITE: &str = "site-e";
const GATEWAY: &str = "gw-e";

fn beds() -> Vec<device_gateway::SimulatedBed> {
    ["normal-labour", "late-decelerations"]
        .iter()
        .enumerate()
        .map(|(i, scenario)| device_gateway::SimulatedBed {
            device: format!("bed-{}", i + 1),
            bed: format!("{}", i + 1),
            scenario: (*scenario).to_owned(),
            seed: 40 + i as u64,
        })
        .collect()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[tokio::test]
async fn gateway_to_server_accounting_is_exact_and_replays_are_rejected_as_duplicates() {
    let broker = Mosquitto::start().expect("mosquitto must be installed (cargo xtask setup)");
    let server = TestServer::start(Some(broker.url()), |_| {}).await;
    let state = tempfile::tempdir().unwrap();
    let mut cfg =
        device_gateway::Config::simulated(SITE, GATEWAY, &broker.url(), &beds(), state.path())
            .unwrap();
    // Re-publish what the server has not acknowledged after 2 s (the replay under test).
    cfg.outbox.ack_timeout = Duration::from_secs(2);
    let stop = CancellationToken::new();
    let gw_stop = stop.clone();
    let gateway = tokio::spawn(async move {
        device_gateway::run(cfg, async move { gw_stop.cancelled().await }).await
    });

    let admin = server.staff("ops", Role::Admin).await;
    let streams = [format!("{SITE}/{GATEWAY}/bed-1"), format!("{SITE}/{GATEWAY}/bed-2")];
    wait_for(20, "both streams store data", || async {
        let mut ok = true;
        for s in &streams {
            ok &= admin.stream(s).await.is_some_and(|v| u(&v, "stored_samples") >= 12);
        }
        ok
    })
    .await;

    // The server goes away for longer than the gateway's acknowledgement timeout: the gateway
    // re-publishes what is unacknowledged while the broker also keeps the originals for the
    // server's persistent session. Both arrive when the server returns.
    let dir = server.stop().await;
    let t = tokio::time::Instant::now();
    wait_for(10, "gateway keeps sampling while the server is down", || async {
        t.elapsed() > Duration::from_secs(4)
    })
    .await;
    let server = TestServer::start_in(dir, Some(broker.url()), |_| {}).await;
    let admin = server.login("ops").await;
    wait_for(30, "duplicates from the replay", || async {
        let mut dup = 0;
        for s in &streams {
            dup += admin.stream(s).await.map_or(0, |v| u(&v, "duplicates_rejected"));
        }
        dup > 0
    })
    .await;

    // A clean stop: the gateway publishes its final state, including how many samples it
    // numbered per device (next_seq).
    stop.cancel();
    gateway.await.unwrap().unwrap();
    wait_for(20, "offline presence with final sequence numbers", || async {
        let g = admin.get_ok("/api/v1/gateways").await;
        g.as_array().unwrap().iter().any(|g| g["gateway"] == GATEWAY && g["presence"] == "offline")
    })
    .await;
    let gw = admin.get_ok("/api/v1/gateways").await;
    let gw = gw.as_array().unwrap().iter().find(|g| g["gateway"] == GATEWAY).unwrap().clone();
    for (i, s) in streams.iter().enumerate() {
        let sent = u(&gw["devices"][i], "next_seq");
        assert!(sent > 20, "{gw}");
        wait_for(20, "everything the gateway numbered is stored", || async {
            admin.stream(s).await.is_some_and(|v| u(&v, "stored_samples") == sent)
        })
        .await;
        let v = admin.stream(s).await.unwrap();
        assert_eq!(u(&v, "stored_samples"), sent, "stored = sent for {s}: {v}");
        assert_eq!(u(&v, "missing_samples"), 0, "{v}");
        assert_eq!(u(&v, "watermark"), sent - 1, "{v}");
        assert_eq!(u(&v, "rejected_payloads"), 0, "{v}");
        assert!(!v["gateway_online"].as_bool().unwrap());
    }
    server.stop().await;
}
