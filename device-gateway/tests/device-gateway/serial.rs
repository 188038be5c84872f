//! Serial monitors on pseudo-terminals: the real `ctg-sim` binary writing Corometrics bytes to
//! one end of a socat pair, the gateway reading the other; garbage on the line; the cable
//! pulled out and plugged back.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ctg_wire::EventKind;
use hardware::corometrics::{MonitorEncoder, MonitorMode, MovementReport, Tick};
use test_support::PtyPair;

use crate::receiver::{Receiver, ReceiverState};
use crate::{Running, SITE, assert_exact, config_text, http_get, metric, mosquitto, parse};

fn serial_device(id: &str, path: &std::path::Path) -> String {
    format!(
        "[[device]]\nid = \"{id}\"\nbed = \"7\"\nkind = \"serial\"\npath = \"{}\"\nbaud = 9600\nprotocol = \"corometrics115\"\n",
        path.display()
    )
}

fn link_up_count(s: &ReceiverState, device: &str) -> usize {
    s.streams.get(device).map_or(0, |l| {
        l.event_kinds().iter().filter(|k| matches!(k, EventKind::Link { up: true, .. })).count()
    })
}

fn ctg_sim() -> std::path::PathBuf {
    test_support::workspace_binary("hardware", "ctg-sim").expect("the ctg-sim binary builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctg_sim_on_a_pty_every_tick_arrives_and_an_unplugged_cable_is_reported_within_5_s() {
    let sim = ctg_sim();
    let broker = mosquitto();
    let mut pty = PtyPair::start().expect("socat must be installed: run `cargo xtask setup`");
    let rx = Receiver::start(broker.port(), SITE, "gw-serial");
    let state = tempfile::tempdir().unwrap();
    let text = config_text(
        broker.port(),
        "gw-serial",
        state.path(),
        "",
        &serial_device("mon-1", &pty.host_end()),
    );
    let gw = Running::start(parse(&text)).await;
    assert!(
        rx.wait_for(Duration::from_secs(15), |s| link_up_count(s, "mon-1") >= 1).await,
        "port opened"
    );

    // 30 s of a monitor at 4x real time: 120 ticks, so exactly 120 samples.
    let status = Command::new(&sim)
        .args([
            "run",
            "--scenario",
            "normal-labour",
            "--seed",
            "3",
            "--duration",
            "30s",
            "--speed",
            "4",
            "--serial",
        ])
        .arg(pty.device_end())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        rx.wait_for(Duration::from_secs(10), |s| s
            .streams
            .get("mon-1")
            .is_some_and(|l| l.samples.len() >= 120))
            .await
    );
    // The monitor stopped talking: cable silence (no bytes), not signal loss.
    let silence = rx.wait_for(Duration::from_secs(10), |s| {
        s.streams.get("mon-1").is_some_and(|l| {
            l.event_kinds()
                .iter()
                .any(|k| matches!(k, EventKind::CableSilence { active: true, .. }))
        })
    });
    assert!(silence.await);
    let log = rx.stream("mon-1");
    assert_exact(&log, "mon-1", Some(120));
    assert!(
        log.samples.values().filter(|(s, _)| s.fhr1.is_some()).count() > 100,
        "real heart rates"
    );
    assert!(
        log.event_kinds().iter().any(|k| matches!(k, EventKind::ModeChange { .. })),
        "the monitor's modes message"
    );

    // A monitor streaming, then the cable (USB adapter) is pulled out.
    let mut running = Command::new(&sim)
        .args([
            "run",
            "--scenario",
            "normal-labour",
            "--seed",
            "4",
            "--duration",
            "10m",
            "--speed",
            "1",
            "--serial",
        ])
        .arg(pty.device_end())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        rx.wait_for(Duration::from_secs(15), |s| s
            .streams
            .get("mon-1")
            .is_some_and(|l| l.samples.len() >= 132))
            .await
    );
    let events_before = rx.stream("mon-1").events.len();
    pty.unplug();
    let pulled = Instant::now();
    let reported = rx
        .wait_for(Duration::from_secs(5), |s| {
            s.streams.get("mon-1").is_some_and(|l| {
                l.events.len() > events_before
                    && l.events.values().skip(events_before).any(|(e, _, _)| {
                        matches!(
                            e.kind,
                            EventKind::Link { up: false, .. }
                                | EventKind::CableSilence { active: true, .. }
                        )
                    })
            })
        })
        .await;
    assert!(reported, "unplugged cable reported within 5 s");
    eprintln!("unplugged cable reported after {} ms", pulled.elapsed().as_millis());
    let _ = running.kill();
    let _ = running.wait();

    // Plugged back in: the gateway reopens the port by itself and the stream continues.
    pty.plug_in().unwrap();
    assert!(
        rx.wait_for(Duration::from_secs(15), |s| link_up_count(s, "mon-1") >= 2).await,
        "port reopened"
    );
    let have = rx.stream("mon-1").samples.len();
    let status = Command::new(&sim)
        .args([
            "run",
            "--scenario",
            "normal-labour",
            "--seed",
            "5",
            "--duration",
            "10s",
            "--speed",
            "4",
            "--serial",
        ])
        .arg(pty.device_end())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        rx.wait_for(Duration::from_secs(10), |s| s
            .streams
            .get("mon-1")
            .is_some_and(|l| l.samples.len() >= have + 40))
            .await
    );
    gw.stop().await;
    let next = rx.wait_offline().await.devices[0].next_seq;
    assert_exact(&rx.stream("mon-1"), "mon-1", Some(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_reboot_mid_frame_are_counted_and_the_stream_continues() {
    let broker = mosquitto();
    let pty = PtyPair::start().expect("socat must be installed: run `cargo xtask setup`");
    let rx = Receiver::start(broker.port(), SITE, "gw-garbage");
    let state = tempfile::tempdir().unwrap();
    let text = config_text(
        broker.port(),
        "gw-garbage",
        state.path(),
        "",
        &serial_device("mon-1", &pty.host_end()),
    );
    let gw = Running::start(parse(&text)).await;
    let http = gw.http.unwrap();
    assert!(rx.wait_for(Duration::from_secs(15), |s| link_up_count(s, "mon-1") >= 1).await);

    // 400 ticks 20 ms apart; line noise between ticks (never an ETX, so it cannot complete a
    // message), and at tick 200 the monitor reboots in the middle of a heart-rate message.
    let device_end = pty.device_end();
    let writer = tokio::task::spawn_blocking(move || {
        let mut port = std::fs::OpenOptions::new().write(true).open(device_end).unwrap();
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut garbage_bytes = 0u64;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400u64 {
            let mut bytes = Vec::new();
            if i % 50 == 25 {
                for _ in 0..40 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let b = (seed % 255) as u8;
                    bytes.push(if b == 0x03 { 0xff } else { b });
                }
                garbage_bytes += 40;
            }
            if i == 200 {
                bytes.extend_from_slice(b"9`01"); // cut off by the reboot
                enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
            }
            let tick = Tick {
                hr1: Some(120 + (i % 40) as u16),
                hr2: None,
                ua: [Some((i % 90) as u8), Some((i % 90) as u8 + 1)],
                movement: MovementReport::None,
                ..Tick::default()
            };
            enc.encode_tick(i, &tick, &mut bytes);
            port.write_all(&bytes).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        garbage_bytes
    });
    let garbage_bytes = writer.await.unwrap();
    assert!(
        rx.wait_for(Duration::from_secs(10), |s| s
            .streams
            .get("mon-1")
            .is_some_and(|l| l.samples.len() >= 400))
            .await
    );
    let (_, m) = http_get(http, "/metrics").await;
    let discarded =
        metric(&m, "ctg_gateway_decode_bytes_discarded_total{device=\"mon-1\"}").unwrap();
    let rejected =
        metric(&m, "ctg_gateway_decode_frames_rejected_total{device=\"mon-1\"}").unwrap();
    assert!(
        discarded >= garbage_bytes as f64 * 0.9,
        "noise counted: {discarded} of {garbage_bytes}"
    );
    assert!(rejected >= 1.0, "the frame cut by the reboot is rejected");
    assert_eq!(
        metric(&m, "ctg_gateway_samples_read_total{device=\"mon-1\"}"),
        Some(400.0),
        "one sample per tick"
    );
    gw.stop().await;
    let log = rx.stream("mon-1");
    assert_exact(&log, "mon-1", Some(400));
    // The tick after the noise and the tick of the reboot still carry the right values.
    for i in [26u64, 201, 399] {
        let (s, _) = log.samples[&i];
        assert_eq!(s.fhr1.map(|b| b.as_f32()), Some(120.0 + (i % 40) as f32), "tick {i}");
        assert_eq!(
            s.toco.map(|t| t.value()),
            Some((i % 90) as u8 + 1),
            "UA folded with max, tick {i}"
        );
    }
}
