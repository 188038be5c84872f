//! Counters and gauges of one gateway, rendered in the Prometheus text format, and the health
//! summary. Written by the core and the device sources, read by the HTTP endpoint.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ctg_wire::Label;
use serde::Serialize;

use crate::device::DeviceMetrics;

/// Per-stream delivery counters (configured devices).
#[derive(Debug, Default)]
pub struct StreamMetrics {
    /// Samples published on the live topic.
    pub published_live: AtomicU64,
    /// Samples published on the backlog topic.
    pub published_backlog: AtomicU64,
    /// Samples the server's watermark newly covered.
    pub acknowledged: AtomicU64,
    /// Samples given up by the full-outbox policy.
    pub dropped: AtomicU64,
    pub events: AtomicU64,
    /// Current watermark + 1 (0: none yet).
    pub watermark_next: AtomicU64,
    /// Next sequence number.
    pub next_seq: AtomicU64,
}

/// Everything the endpoint shows.
#[derive(Debug)]
pub struct GatewayMetrics {
    pub started: Instant,
    pub devices: Vec<(Label, Arc<DeviceMetrics>, Arc<StreamMetrics>)>,
    pub mqtt_connected: AtomicBool,
    pub mqtt_connects: AtomicU64,
    pub mqtt_pubacks: AtomicU64,
    pub bad_acks: AtomicU64,
    pub backlog_blocks: AtomicU64,
    pub outbox_samples: AtomicU64,
    pub outbox_bytes: AtomicU64,
    pub outbox_segments: AtomicU64,
    pub outbox_oldest_age_ms: AtomicU64,
    pub outbox_full: AtomicBool,
    pub outbox_write_errors: AtomicU64,
    pub outbox_fsyncs: AtomicU64,
    pub clock_out_of_range: AtomicU64,
    pub state: Mutex<&'static str>,
}

impl GatewayMetrics {
    pub fn new(devices: Vec<(Label, Arc<DeviceMetrics>, Arc<StreamMetrics>)>) -> Self {
        Self {
            started: Instant::now(),
            devices,
            mqtt_connected: AtomicBool::new(false),
            mqtt_connects: AtomicU64::new(0),
            mqtt_pubacks: AtomicU64::new(0),
            bad_acks: AtomicU64::new(0),
            backlog_blocks: AtomicU64::new(0),
            outbox_samples: AtomicU64::new(0),
            outbox_bytes: AtomicU64::new(0),
            outbox_segments: AtomicU64::new(0),
            outbox_oldest_age_ms: AtomicU64::new(0),
            outbox_full: AtomicBool::new(false),
            outbox_write_errors: AtomicU64::new(0),
            outbox_fsyncs: AtomicU64::new(0),
            clock_out_of_range: AtomicU64::new(0),
            state: Mutex::new("starting"),
        }
    }

    pub fn set_state(&self, state: &'static str) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    pub fn state(&self) -> &'static str {
        self.state.lock().map_or("unknown", |s| *s)
    }

    /// The device's counters by slot index.
    pub fn stream(&self, index: usize) -> Option<&StreamMetrics> {
        self.devices.get(index).map(|(_, _, s)| s.as_ref())
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(4096);
        let g = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let b = |v: &AtomicBool| u64::from(v.load(Ordering::Relaxed));

        let _ =
            writeln!(s, "# HELP ctg_gateway_info Software version.\n# TYPE ctg_gateway_info gauge");
        let _ = writeln!(s, "ctg_gateway_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        gauge(
            &mut s,
            "ctg_gateway_uptime_seconds",
            "Seconds since start.",
            self.started.elapsed().as_secs(),
        );

        type DevCounter = fn(&DeviceMetrics) -> u64;
        let device_counters: [(&str, &str, &str, DevCounter); 7] = [
            ("ctg_gateway_bytes_read_total", "counter", "Bytes read from the device.", |d| {
                d.bytes_read.load(Ordering::Relaxed)
            }),
            (
                "ctg_gateway_samples_read_total",
                "counter",
                "4 Hz samples framed from the device.",
                |d| d.samples_read.load(Ordering::Relaxed),
            ),
            ("ctg_gateway_decode_messages_total", "counter", "Device messages decoded.", |d| {
                d.messages_decoded.load(Ordering::Relaxed)
            }),
            (
                "ctg_gateway_decode_frames_rejected_total",
                "counter",
                "Device frames rejected (bad data, missing ETX, too long).",
                |d| d.frames_rejected.load(Ordering::Relaxed),
            ),
            (
                "ctg_gateway_decode_bytes_discarded_total",
                "counter",
                "Device bytes discarded (noise, rejected frames).",
                |d| d.bytes_discarded.load(Ordering::Relaxed),
            ),
            (
                "ctg_gateway_values_out_of_range_total",
                "counter",
                "Device values outside the wire contract, sent as no value.",
                |d| d.values_out_of_range.load(Ordering::Relaxed),
            ),
            (
                "ctg_gateway_device_link_losses_total",
                "counter",
                "Times the device connection was lost.",
                |d| d.link_losses.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, f) in device_counters {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (label, d, _) in &self.devices {
                let _ = writeln!(s, "{name}{{device=\"{label}\"}} {}", f(d));
            }
        }
        let _ = writeln!(
            s,
            "# HELP ctg_gateway_device_connected Whether the device is delivering bytes.\n# TYPE ctg_gateway_device_connected gauge"
        );
        for (label, d, _) in &self.devices {
            let _ = writeln!(
                s,
                "ctg_gateway_device_connected{{device=\"{label}\"}} {}",
                b(&d.connected)
            );
        }

        let _ = writeln!(
            s,
            "# HELP ctg_gateway_samples_published_total Samples handed to the broker connection, by topic.\n# TYPE ctg_gateway_samples_published_total counter"
        );
        for (label, _, st) in &self.devices {
            let _ = writeln!(
                s,
                "ctg_gateway_samples_published_total{{device=\"{label}\",topic=\"samples\"}} {}",
                g(&st.published_live)
            );
            let _ = writeln!(
                s,
                "ctg_gateway_samples_published_total{{device=\"{label}\",topic=\"backlog\"}} {}",
                g(&st.published_backlog)
            );
        }
        type StreamCounter = fn(&StreamMetrics) -> u64;
        let stream_counters: [(&str, &str, &str, StreamCounter); 5] = [
            (
                "ctg_gateway_samples_acknowledged_total",
                "counter",
                "Samples the server's watermark covered.",
                |m| m.acknowledged.load(Ordering::Relaxed),
            ),
            (
                "ctg_gateway_samples_dropped_total",
                "counter",
                "Samples given up because the outbox was full.",
                |m| m.dropped.load(Ordering::Relaxed),
            ),
            ("ctg_gateway_events_total", "counter", "Device events recorded.", |m| {
                m.events.load(Ordering::Relaxed)
            }),
            ("ctg_gateway_next_sequence", "gauge", "Sequence number of the next sample.", |m| {
                m.next_seq.load(Ordering::Relaxed)
            }),
            (
                "ctg_gateway_watermark_next",
                "gauge",
                "Server watermark + 1 (0 before the first acknowledgement).",
                |m| m.watermark_next.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, f) in stream_counters {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (label, _, st) in &self.devices {
                let _ = writeln!(s, "{name}{{device=\"{label}\"}} {}", f(st));
            }
        }

        gauge(
            &mut s,
            "ctg_gateway_outbox_samples",
            "Samples stored and not yet acknowledged.",
            g(&self.outbox_samples),
        );
        gauge(
            &mut s,
            "ctg_gateway_outbox_bytes",
            "Bytes of outbox segments on disk.",
            g(&self.outbox_bytes),
        );
        gauge(
            &mut s,
            "ctg_gateway_outbox_segments",
            "Outbox segment files.",
            g(&self.outbox_segments),
        );
        let _ = writeln!(
            s,
            "# HELP ctg_gateway_outbox_oldest_age_seconds Age of the oldest unacknowledged sample.\n# TYPE ctg_gateway_outbox_oldest_age_seconds gauge"
        );
        let _ = writeln!(
            s,
            "ctg_gateway_outbox_oldest_age_seconds {:.3}",
            g(&self.outbox_oldest_age_ms) as f64 / 1000.0
        );
        gauge(
            &mut s,
            "ctg_gateway_outbox_full",
            "1 while the outbox is at its bound (oldest data is being given up).",
            b(&self.outbox_full),
        );
        counter(
            &mut s,
            "ctg_gateway_outbox_write_errors_total",
            "Failed outbox writes.",
            g(&self.outbox_write_errors),
        );
        counter(
            &mut s,
            "ctg_gateway_outbox_fsyncs_total",
            "Outbox fsyncs (group commits).",
            g(&self.outbox_fsyncs),
        );
        gauge(
            &mut s,
            "ctg_gateway_mqtt_connected",
            "1 while connected to the broker.",
            b(&self.mqtt_connected),
        );
        counter(
            &mut s,
            "ctg_gateway_mqtt_connects_total",
            "Successful broker connections.",
            g(&self.mqtt_connects),
        );
        counter(
            &mut s,
            "ctg_gateway_mqtt_pubacks_total",
            "PUBACKs received from the broker.",
            g(&self.mqtt_pubacks),
        );
        counter(
            &mut s,
            "ctg_gateway_backlog_blocks_published_total",
            "Backlog blocks published.",
            g(&self.backlog_blocks),
        );
        counter(
            &mut s,
            "ctg_gateway_bad_acks_total",
            "Acknowledgement messages that broke the wire contract.",
            g(&self.bad_acks),
        );
        counter(
            &mut s,
            "ctg_gateway_clock_out_of_range_total",
            "Receive times outside 2000-2100 (clock not set), clamped and flagged unsynchronised.",
            g(&self.clock_out_of_range),
        );
        s
    }

    /// The health summary.
    pub fn health(&self) -> Health {
        let devices: Vec<DeviceHealth> = self
            .devices
            .iter()
            .map(|(label, d, st)| DeviceHealth {
                device: label.to_string(),
                connected: d.connected.load(Ordering::Relaxed),
                samples_read: d.samples_read.load(Ordering::Relaxed),
                next_seq: st.next_seq.load(Ordering::Relaxed),
            })
            .collect();
        let mqtt_connected = self.mqtt_connected.load(Ordering::Relaxed);
        let outbox_full = self.outbox_full.load(Ordering::Relaxed);
        let state = self.state();
        let ok = state == "running"
            && mqtt_connected
            && !outbox_full
            && devices.iter().all(|d| d.connected);
        Health {
            status: if ok { "ok" } else { "degraded" },
            state,
            uptime_s: self.started.elapsed().as_secs(),
            mqtt_connected,
            outbox_samples: self.outbox_samples.load(Ordering::Relaxed),
            outbox_bytes: self.outbox_bytes.load(Ordering::Relaxed),
            outbox_oldest_age_ms: self.outbox_oldest_age_ms.load(Ordering::Relaxed),
            outbox_full,
            devices,
        }
    }
}

fn gauge(s: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

fn counter(s: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok` when running, connected, the outbox not full and every device delivering.
    pub status: &'static str,
    /// `starting`, `waiting_for_ack_sync`, `running`, `stopping`.
    pub state: &'static str,
    pub uptime_s: u64,
    pub mqtt_connected: bool,
    pub outbox_samples: u64,
    pub outbox_bytes: u64,
    pub outbox_oldest_age_ms: u64,
    pub outbox_full: bool,
    pub devices: Vec<DeviceHealth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceHealth {
    pub device: String,
    pub connected: bool,
    pub samples_read: u64,
    pub next_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_prometheus_text_with_one_line_per_device() {
        let m = GatewayMetrics::new(vec![
            (Label::new("bed-1").unwrap(), Arc::default(), Arc::default()),
            (Label::new("bed-2").unwrap(), Arc::default(), Arc::default()),
        ]);
        m.devices[1].1.samples_read.store(42, Ordering::Relaxed);
        m.devices[0].2.published_backlog.store(7, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("ctg_gateway_samples_read_total{device=\"bed-2\"} 42\n"), "{text}");
        assert!(text.contains(
            "ctg_gateway_samples_published_total{device=\"bed-1\",topic=\"backlog\"} 7\n"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("ctg_gateway_"), "{line}");
        }
        // Every metric has HELP and TYPE.
        let names: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        for n in names {
            assert!(text.contains(&format!("# TYPE {n} ")), "{n}");
        }
        assert_eq!(m.health().status, "degraded", "not running yet");
    }
}
