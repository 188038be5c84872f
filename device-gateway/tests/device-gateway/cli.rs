//! The command line: `check-config` explains problems by key, `run` refuses a bad file without
//! panicking, `simulate` runs a gateway without a file and stops cleanly on SIGTERM.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ctg_wire::PresenceState;

use crate::receiver::Receiver;
use crate::{config_text, mosquitto, sim_devices};

fn gateway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_device-gateway"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn check_config_accepts_a_good_file_and_explains_bad_ones_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        config_text(
            1883,
            "gw-cli",
            &dir.path().join("state"),
            "",
            &sim_devices(2, "tachycardia", 1.0),
        ),
    )
    .unwrap();
    let o = gateway(&["check-config", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OK"));
    assert!(text(&o).contains("simulator tachycardia"), "summary lists devices: {}", text(&o));

    let cases = [
        ("baud = 9600", "baud = 7", "device[0].baud"),
        ("baud = 9600", "baud = 9600\nparity = \"even\"", "device[0].parity"),
        ("id = \"gw-cli\"", "id = \"gw cli\"", "gateway.id"),
        ("kind = \"serial\"", "kind = \"telepathy\"", "device[0].kind"),
    ];
    let serial = "[[device]]\nid = \"m\"\nkind = \"serial\"\npath = \"/dev/ttyUSB9\"\nbaud = 9600\nprotocol = \"corometrics115\"\n";
    let base = config_text(1883, "gw-cli", &dir.path().join("state"), "", serial);
    for (from, to, key) in cases {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, base.replacen(from, to, 1)).unwrap();
        let o = gateway(&["check-config", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", text(&o));
        assert!(text(&o).contains(key), "{key} named in: {}", text(&o));
        assert!(!text(&o).contains("panicked"));
        // `run` refuses it the same way, without starting.
        let o = gateway(&["run", "--config", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o).contains(key), "{}", text(&o));
    }

    // Files named by the configuration are checked too: TLS material, replay recordings.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.example.toml"))
            .unwrap()
            .replace("/var/lib/ctg-gateway", dir.path().join("state").to_str().unwrap());
    let ex = dir.path().join("example.toml");
    std::fs::write(&ex, example).unwrap();
    let o = gateway(&["check-config", ex.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for key in ["broker.tls.ca", "device[4].path"] {
        assert!(text(&o).contains(key), "{key}: {}", text(&o));
    }
    assert!(
        text(&o).contains("warning: device[0].path"),
        "a missing serial port is only a warning: {}",
        text(&o)
    );

    let o = gateway(&["check-config", "/nonexistent/gateway.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot read /nonexistent/gateway.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_runs_n_beds_without_a_file_and_stops_cleanly() {
    let o = gateway(&["simulate", "--broker", "mqtt://127.0.0.1:1", "--beds", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--beds 0"), "{}", text(&o));
    let o = gateway(&["simulate", "--broker", "mqtt://127.0.0.1:1", "--scenario", "nope"]);
    assert!(text(&o).contains("device[0].scenario"), "{}", text(&o));

    let broker = mosquitto();
    let rx = Receiver::start(broker.port(), "demo", "gw-smoke");
    let state = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_device-gateway"))
        .args([
            "simulate",
            "--broker",
            &broker.url(),
            "--beds",
            "3",
            "--scenario",
            "late-decelerations",
        ])
        .args(["--gateway-id", "gw-smoke", "--state-dir"])
        .arg(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let streaming = rx
        .wait_for(Duration::from_secs(20), |s| {
            s.streams.values().filter(|l| l.samples.len() >= 8).count() == 3
        })
        .await;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(streaming, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        rx.wait_for(Duration::from_secs(5), |s| s
            .presence
            .last()
            .is_some_and(|p| p.state == PresenceState::Offline && p.reason == "clean_stop"))
            .await
    );
    let s = rx.snapshot();
    assert_eq!(
        s.presence.last().unwrap().devices.iter().map(|d| d.device.as_str()).collect::<Vec<_>>(),
        ["bed-1", "bed-2", "bed-3"]
    );
}
