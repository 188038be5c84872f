//! Gateway benchmarks that print figures (no assertions on speed):
//!
//! 1. **Steady state**: the real `device-gateway` binary with 8 simulated beds at real-time
//!    4 Hz for 60 s against a real mosquitto and an acknowledging receiver: CPU (% of one core,
//!    from /proc/PID/stat) and peak RSS (VmHWM).
//! 2. **Outbox**: a 2-hour backlog of 8 beds (230,400 single-sample blocks) appended, then read
//!    back as backlog blocks by a replay pass: blocks/s, samples/s, MB/s.
//! 3. **End to end replay**: a gateway started on that 2-hour outbox replays it to mosquitto
//!    until the receiver holds every sample, at the default pace and unpaced.
//!
//! `cargo bench -p device-gateway`; `BENCH_QUICK=1` shortens every part (CI smoke run).

#[path = "../tests/device-gateway/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ctg_wire::{ClockQuality, Label, SampleBlock};
use device_gateway::backlog::{BacklogItem, BacklogPass, ReplayRange};
use device_gateway::outbox::{Outbox, OutboxLimits};
use hardware::sim::{Scenario, Simulator};

const BEDS: usize = 8;
const T0: i64 = 1_790_000_000_000;

fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that short.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("NOTE: gateway benchmark skipped (run it with `cargo bench -p device-gateway`)");
        return;
    }
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        steady_state().await;
        let dir = tempfile::tempdir().unwrap();
        outbox_throughput(dir.path());
        end_to_end_replay(dir.path()).await;
    });
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}

async fn steady_state() {
    let duration = if quick() { Duration::from_secs(10) } else { Duration::from_secs(60) };
    let broker = test_support::Mosquitto::start().expect("mosquitto (cargo xtask setup)");
    let rx = receiver::Receiver::start(broker.port(), "bench", "gw-bench");
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_device-gateway"))
        .args([
            "simulate",
            "--broker",
            &broker.url(),
            "--beds",
            &BEDS.to_string(),
            "--site",
            "bench",
            "--gateway-id",
            "gw-bench",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("device-gateway binary");
    let pid = child.id();
    // Warm up: connected, streaming.
    let up = rx
        .wait_for(Duration::from_secs(30), |s| {
            s.streams.values().filter(|l| l.samples.len() >= 8).count() == BEDS
        })
        .await;
    assert!(up, "gateway streaming");
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let n0: usize = rx.snapshot().streams.values().map(|l| l.samples.len()).sum();
    tokio::time::sleep(duration).await;
    let (cpu1, wall) = (cpu_seconds(pid), t0.elapsed().as_secs_f64());
    let snapshot = rx.snapshot();
    let n1: usize = snapshot.streams.values().map(|l| l.samples.len()).sum();
    let mut latency: Vec<i64> =
        snapshot.streams.values().flat_map(|l| l.live_latency_ms.iter().copied()).collect();
    latency.sort_unstable();
    let pct =
        |p: f64| latency.get(((latency.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let cpu_pct = 100.0 * (cpu1 - cpu0) / wall;
    println!(
        "steady state: {BEDS} simulated beds at 4 Hz for {:.0} s (release build, real mosquitto, sync = always)",
        wall
    );
    println!(
        "  samples delivered  {} ({:.1}/s, expected {})",
        n1 - n0,
        (n1 - n0) as f64 / wall,
        BEDS * 4
    );
    println!("  CPU                {cpu_pct:.2} % of one core (target <= 2 %)");
    println!(
        "  RSS                {:.1} MiB now, peak {:.1} MiB (target <= 20 MB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  latency            first byte of a sample's tick -> live delivery to a subscriber: p50 {} ms, p99 {} ms, max {} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "                     (includes the sample's own 250 ms tick: a 4 Hz frame is complete when the next one starts)"
    );
}

/// Realistic samples: the simulator's trace.
fn trace(bed: usize, n: usize) -> Vec<ctg_wire::Sample> {
    let mut sim = Simulator::new(Scenario::NormalLabour, bed as u64 + 1);
    (0..n).map(|_| sim.next_frame().sample).collect()
}

fn samples_per_bed() -> usize {
    if quick() { 4 * 60 * 10 } else { 4 * 3600 * 2 }
}

fn outbox_throughput(dir: &std::path::Path) {
    let n = samples_per_bed();
    let limits = OutboxLimits { max_bytes: 512 << 20, segment_bytes: 4 << 20 };
    let traces: Vec<Vec<ctg_wire::Sample>> = (0..BEDS).map(|b| trace(b, n)).collect();
    let labels: Vec<Label> = (1..=BEDS).map(|i| Label::new(format!("bed-{i}")).unwrap()).collect();
    let (mut o, _) = Outbox::open(dir, limits).unwrap();
    for l in &labels {
        o.init_stream(l, 0, 0).unwrap();
    }
    let t = Instant::now();
    let mut bytes = 0u64;
    for i in 0..n {
        for (b, (l, trace)) in labels.iter().zip(&traces).enumerate() {
            let block = SampleBlock {
                first_seq: i as u64,
                rx_utc_ms: T0 + i as i64 * 250 + b as i64,
                clock: ClockQuality::Synchronised,
                samples: vec![trace[i]],
                ..Default::default()
            };
            bytes += o.append_block(l, &block).unwrap() as u64;
            o.maintain().unwrap();
        }
    }
    o.sync().unwrap();
    let append = t.elapsed().as_secs_f64();
    let blocks = (n * BEDS) as f64;
    println!(
        "outbox: {} beds x {} h = {} single-sample blocks, {:.1} MiB on disk",
        BEDS,
        n / 14_400,
        n * BEDS,
        o.total_bytes() as f64 / 1048576.0
    );
    println!(
        "  append             {:.0} blocks/s, {:.1} MB/s (write(2) per block, one fsync at the end)",
        blocks / append,
        bytes as f64 / append / 1e6
    );

    let ranges: BTreeMap<Label, ReplayRange> = labels
        .iter()
        .map(|l| (l.clone(), ReplayRange { seqs: vec![(0, n as u64)], events_below: 0 }))
        .collect();
    let t = Instant::now();
    let mut pass = BacklogPass::new(&o, ranges).unwrap();
    let (mut out_blocks, mut out_samples, mut out_bytes) = (0u64, 0u64, 0u64);
    while let Some(item) = pass.next(&o).unwrap() {
        if let BacklogItem::Block { block, .. } = item {
            out_blocks += 1;
            out_samples += block.samples.len() as u64;
            out_bytes += block.encode().len() as u64;
        }
    }
    let replay = t.elapsed().as_secs_f64();
    assert_eq!(out_samples, blocks as u64, "every sample replayed");
    println!(
        "  replay pass        {:.2} s: {:.0} backlog blocks/s, {:.0} samples/s, {:.1} MB/s read from the outbox, {:.1} MB/s of payload",
        replay,
        out_blocks as f64 / replay,
        out_samples as f64 / replay,
        o.total_bytes() as f64 / replay / 1e6,
        out_bytes as f64 / replay / 1e6
    );
    println!(
        "                     {out_blocks} blocks of up to 1200 samples, {:.1} MiB of payload",
        out_bytes as f64 / 1048576.0
    );
}

async fn end_to_end_replay(dir: &std::path::Path) {
    let n = samples_per_bed() as u64;
    for (label, rate) in [("default pace (20 blocks/s)", 20u32), ("unpaced (1000 blocks/s)", 1000)]
    {
        let broker = test_support::Mosquitto::start().expect("mosquitto (cargo xtask setup)");
        let rx = receiver::Receiver::start(broker.port(), "bench", "gw-replay");
        // A copy of the 2-hour outbox for each run (the first run empties its copy).
        let state = tempfile::tempdir().unwrap();
        let out = state.path().join("outbox");
        std::fs::create_dir_all(&out).unwrap();
        for e in std::fs::read_dir(dir.join("outbox")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
        let devices: String = (1..=BEDS)
            .map(|i| format!("[[device]]\nid = \"bed-{i}\"\nkind = \"simulator\"\nseed = {i}\n"))
            .collect();
        let text = format!(
            "[gateway]\nid = \"gw-replay\"\nsite = \"bench\"\nstate_dir = \"{}\"\n[broker]\nurl = \"{}\"\n[http]\nlisten = \"off\"\n[outbox]\nbacklog_blocks_per_s = {rate}\n{devices}",
            state.path().display(),
            broker.url()
        );
        let gw =
            device_gateway::Gateway::start(device_gateway::Config::from_toml_str(&text).unwrap())
                .await
                .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let t = Instant::now();
        let task = tokio::spawn(gw.run(async move {
            let _ = stopped.await;
        }));
        let done = rx
            .wait_for(Duration::from_secs(600), |s| {
                s.streams.len() == BEDS
                    && s.streams.values().all(|l| l.contiguous_from(0).is_some_and(|c| c + 1 >= n))
            })
            .await;
        let secs = t.elapsed().as_secs_f64();
        let _ = stop.send(());
        let _ = task.await;
        let s = rx.snapshot();
        let blocks: usize = s.streams.values().map(|l| l.backlog_blocks.len()).sum();
        let samples: u64 = s.streams.values().map(|l| l.backlog_samples).sum();
        println!(
            "end-to-end replay of the 2-hour backlog to mosquitto, {label}: {} in {secs:.1} s: {:.0} blocks/s, {:.0} samples/s",
            if done { "complete" } else { "INCOMPLETE" },
            blocks as f64 / secs,
            samples as f64 / secs
        );
    }
}
