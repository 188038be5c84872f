//! A BLE CTG probe behind the `ProbeLink` trait: a fake peripheral (no radio on a build
//! machine) fed with the profile's real notification bytes, through the whole gateway.

use std::time::Duration;

use ctg_wire::{EventKind, SignalQuality};
use device_gateway::Gateway;
use device_gateway::ble::{LinkError, Notification, ProbeLink};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use hardware::ble::ctg_probe::{ProbeSample, SamplePacket};
use hardware::sim::{Scenario, Simulator};
use tokio::sync::mpsc;

use crate::receiver::Receiver;
use crate::{Running, SITE, assert_exact, config_text, mosquitto, parse};

/// What the test makes the fake radio do.
#[derive(Debug)]
enum Radio {
    Notify(Notification),
    /// The link drops (probe out of range).
    Drop,
}

#[derive(Debug)]
struct FakeProbe {
    script: mpsc::UnboundedReceiver<Radio>,
    connects: u32,
    /// Connection attempts that fail before one succeeds (probe still out of range).
    fail_next: u32,
}

impl ProbeLink for FakeProbe {
    fn connect(&mut self) -> BoxFuture<'_, Result<String, LinkError>> {
        async move {
            if self.fail_next > 0 {
                self.fail_next -= 1;
                return Err(LinkError("probe not found within 10 s".into()));
            }
            self.connects += 1;
            Ok(format!("fake probe, connection {}", self.connects))
        }
        .boxed()
    }

    fn next(&mut self) -> BoxFuture<'_, Option<Notification>> {
        async move {
            match self.script.recv().await? {
                Radio::Notify(n) => Some(n),
                Radio::Drop => {
                    self.fail_next = 1;
                    None
                }
            }
        }
        .boxed()
    }

    fn disconnect(&mut self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }
}

/// Real notification bytes: simulator samples packed by the profile's encoder.
fn packets(seed: u64, first_seq: u16, n_packets: usize) -> Vec<Vec<u8>> {
    let mut sim = Simulator::new(Scenario::NormalLabour, seed);
    (0..n_packets)
        .map(|k| {
            let samples =
                (0..4).map(|_| ProbeSample::from_wire(&sim.next_frame().sample)).collect();
            SamplePacket { first_seq: first_seq.wrapping_add(4 * k as u16), samples }
                .encode()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ble_probe_streams_fills_lost_notifications_and_reconnects() {
    let broker = mosquitto();
    let rx = Receiver::start(broker.port(), SITE, "gw-ble");
    let state = tempfile::tempdir().unwrap();
    let device =
        "[[device]]\nid = \"probe-1\"\nbed = \"home\"\nkind = \"ble\"\nname = \"CTG-Probe-0042\"\n";
    let text = config_text(broker.port(), "gw-ble", state.path(), "", device);
    let mut gateway = Gateway::start(parse(&text)).await.unwrap();
    let (radio, script) = mpsc::unbounded_channel();
    gateway
        .set_probe_link("probe-1", Box::new(FakeProbe { script, connects: 0, fail_next: 0 }))
        .unwrap();
    assert!(
        gateway
            .set_probe_link(
                "nope",
                Box::new(FakeProbe {
                    script: mpsc::unbounded_channel().1,
                    connects: 0,
                    fail_next: 0
                })
            )
            .is_err()
    );
    let gw = Running::start_with(gateway).await;

    // The probe wraps its 16-bit counter during the run; notification 3 is lost on the air.
    let first = packets(11, 65_528, 6);
    for (k, p) in first.iter().enumerate() {
        if k != 3 {
            radio.send(Radio::Notify(Notification::Samples(p.clone()))).unwrap();
        }
        // A probe notifies 4 samples once a second.
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    // Garbage from a misbehaving probe is counted and skipped.
    radio.send(Radio::Notify(Notification::Samples(vec![1, 2, 3]))).unwrap();
    assert!(
        rx.wait_for(Duration::from_secs(10), |s| s
            .streams
            .get("probe-1")
            .is_some_and(|l| l.samples.len() >= 24))
            .await
    );

    // Out of range: the link drops, the first reconnection fails, the second works; the probe
    // restarted meanwhile (its counter starts again).
    radio.send(Radio::Drop).unwrap();
    for p in packets(12, 0, 3) {
        radio.send(Radio::Notify(Notification::Samples(p))).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(15), |s| s
            .streams
            .get("probe-1")
            .is_some_and(|l| l.samples.len() >= 36))
            .await
    );
    gw.stop().await;

    let log = rx.stream("probe-1");
    assert_exact(&log, "probe-1", Some(36));
    // Samples 12..16 stand for the lost notification: no value, quality "no signal".
    for seq in 12..16 {
        let (s, _) = log.samples[&seq];
        assert_eq!(s.fhr1, None);
        assert_eq!(s.quality.fhr1, SignalQuality::NoSignal);
    }
    let (s, _) = log.samples[&0];
    assert!(
        s.fhr1.is_some() && s.quality.fhr1 != SignalQuality::Unknown,
        "probe quality is carried: {s:?}"
    );
    let links: Vec<bool> = log
        .event_kinds()
        .iter()
        .filter_map(|k| match k {
            EventKind::Link { up, .. } => Some(*up),
            _ => None,
        })
        .collect();
    assert_eq!(links, vec![true, false, true], "{:?}", log.event_kinds());
}
