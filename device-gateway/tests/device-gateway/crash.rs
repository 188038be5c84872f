//! The real `device-gateway` binary killed with SIGKILL mid-stream, several times, and
//! restarted: nothing read from a device before the kill is lost, no sequence number is reused.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ctg_wire::PresenceState;

use crate::receiver::Receiver;
use crate::{SITE, assert_exact, config_text, mosquitto, sim_devices};

fn spawn(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_device-gateway"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start device-gateway")
}

fn total(rx: &Receiver) -> usize {
    ["bed-1", "bed-2"].iter().map(|d| rx.stream(d).samples.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_and_restart_loses_and_duplicates_nothing() {
    let broker = mosquitto();
    let rx = Receiver::start(broker.port(), SITE, "gw-crash");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("gateway.toml");
    let log = dir.path().join("gateway.log");
    std::fs::write(
        &config,
        config_text(broker.port(), "gw-crash", &state, "", &sim_devices(2, "normal-labour", 8.0)),
    )
    .unwrap();

    // Three kills at different moments: each time the gateway is streaming (some samples are in
    // flight, some written and unpublished, some published and unacknowledged).
    for (round, more) in [60usize, 150, 90].into_iter().enumerate() {
        let mut child = spawn(&config, &log);
        let target = total(&rx) + more;
        let streaming = rx.wait_for(Duration::from_secs(30), |s| {
            s.streams.values().map(|l| l.samples.len()).sum::<usize>() >= target
        });
        let ok = streaming.await;
        assert!(
            ok,
            "round {round}: streaming; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed, not exited");
        assert!(
            !rx.snapshot().presence.iter().any(|p| p.reason == "clean_stop"),
            "a killed gateway never says goodbye"
        );
    }

    // Restart and stop cleanly: the offline presence tells how far each stream was numbered.
    let child = spawn(&config, &log);
    let target = total(&rx) + 80;
    assert!(
        rx.wait_for(Duration::from_secs(30), |s| s
            .streams
            .values()
            .map(|l| l.samples.len())
            .sum::<usize>()
            >= target)
            .await
    );
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "clean exit after SIGTERM; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let clean = rx
        .wait_for(Duration::from_secs(10), |s| {
            s.presence
                .last()
                .is_some_and(|p| p.state == PresenceState::Offline && p.reason == "clean_stop")
        })
        .await;
    assert!(clean);
    let s = rx.snapshot();
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    for d in &s.presence.last().unwrap().devices {
        let log = rx.stream(d.device.as_str());
        // Every number the gateway ever gave out arrived, none with two different samples.
        let n = assert_exact(&log, d.device.as_str(), Some(d.next_seq));
        assert!(n >= 150, "{}: {n}", d.device);
    }
    let gateway_log = std::fs::read_to_string(&log).unwrap();
    assert!(!gateway_log.contains("panicked"), "{gateway_log}");
}
