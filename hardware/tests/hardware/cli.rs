//! The `ctg-sim` binary end to end: real processes, real pipes, a real pseudo-terminal.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hardware::corometrics::{Decoder, Message};
use hardware::sim::rng::Rng;
use hardware::sim::{JsonSample, Scenario, Simulator, WireEncoder, WireFaultKind};

const BIN: &str = env!("CARGO_BIN_EXE_ctg-sim");

fn ctg_sim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("ctg-sim runs")
}

fn json_lines(stdout: &[u8]) -> Vec<JsonSample> {
    std::str::from_utf8(stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The numbers of the decode summary line on stderr.
#[derive(Debug)]
struct Summary {
    samples: u64,
    frames: u64,
    discarded: u64,
}

fn summary(stderr: &[u8]) -> Summary {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line on stderr: {text:?}");
    let number_before = |what: &str| -> u64 {
        let i = lines[0].find(what).unwrap_or_else(|| panic!("{what:?} missing in {:?}", lines[0]));
        lines[0][..i].trim_end().rsplit([' ', ',', ':']).next().unwrap().parse().unwrap()
    };
    Summary {
        samples: number_before(" samples"),
        frames: number_before(" frames decoded"),
        discarded: number_before(" bytes discarded"),
    }
}

fn decode_bytes(bytes: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(["decode", "--wire", "corometrics115"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    // Write from a thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

fn run_args(scenario: &str, seed: &str, duration: &str, wire: &str) -> Vec<String> {
    [
        "run",
        "--scenario",
        scenario,
        "--seed",
        seed,
        "--duration",
        duration,
        "--speed",
        "max",
        "--wire",
        wire,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn run_piped_into_decode_yields_every_sample() {
    let mut run = Command::new(BIN)
        .args(run_args("late-decelerations", "7", "20m", "corometrics115"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let decode = Command::new(BIN)
        .args(["decode", "--wire", "corometrics115"])
        .stdin(Stdio::from(run.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(run.wait().unwrap().success());
    assert!(decode.status.success(), "{}", String::from_utf8_lossy(&decode.stderr));
    let lines = json_lines(&decode.stdout);
    assert_eq!(lines.len(), 4_800);
    let s = summary(&decode.stderr);
    assert_eq!(s.samples, 4_800);
    assert_eq!(s.discarded, 0);
    // Per tick: HR1, HR2, movement, two UA; modes once a minute; event marks as pressed.
    let marks = lines.iter().filter(|l| l.mark).count() as u64;
    assert_eq!(s.frames, 4_800 * 5 + 20 + marks);
    assert_eq!(lines[4_799].t_ms, 4_799 * 250);

    // The decoded samples are the simulated ones, at the wire's whole-bpm resolution.
    let json = ctg_sim(
        &run_args("late-decelerations", "7", "20m", "json")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(json.status.success());
    let sent = json_lines(&json.stdout);
    assert_eq!(sent.len(), 4_800);
    for (a, b) in sent.iter().zip(&lines) {
        assert_eq!(a.t_ms, b.t_ms);
        assert_eq!(a.fhr1.map(f32::round), b.fhr1, "at {} ms", a.t_ms);
        assert_eq!(a.toco, b.toco, "at {} ms", a.t_ms);
        assert_eq!(a.movement, b.movement);
        assert_eq!(a.mark, b.mark);
        assert!(a.mhr.is_some() && b.mhr.is_none(), "the Corometrics wire has no maternal channel");
    }
}

#[test]
fn garbage_between_frames_is_discarded_and_counted() {
    let out = ctg_sim(
        &run_args("late-decelerations", "7", "20m", "corometrics115")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success());
    let clean = out.stdout;
    // Random bytes (never ETX, which could complete a forged message) after random messages.
    let mut rng = Rng::new(99, 0);
    let mut dirty = Vec::with_capacity(clean.len() * 2);
    let mut injected = 0u64;
    for msg in clean.split_inclusive(|&b| b == 0x03) {
        dirty.extend_from_slice(msg);
        if rng.chance(0.05) {
            for _ in 0..rng.int(1, 40) {
                let b = rng.int(0, 254) as u8;
                dirty.push(if b >= 0x03 { b + 1 } else { b });
                injected += 1;
            }
        }
    }
    assert!(injected > 10_000, "{injected}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dirty.bin");
    std::fs::write(&path, &dirty).unwrap();
    let decode = ctg_sim(&["decode", "--wire", "corometrics115", "--in", path.to_str().unwrap()]);
    assert!(decode.status.success(), "{}", String::from_utf8_lossy(&decode.stderr));
    let s = summary(&decode.stderr);
    assert_eq!(json_lines(&decode.stdout).len(), 4_800);
    assert_eq!(s.samples, 4_800);
    assert_eq!(s.discarded, injected, "every injected byte, and only those, discarded");
    // And from stdin, the same.
    let via_stdin = decode_bytes(&dirty);
    assert_eq!(via_stdin.stdout, decode.stdout);
}

#[test]
fn wire_faults_lose_exactly_the_silent_ticks_and_nothing_else() {
    let out = ctg_sim(
        &run_args("wire-faults", "5", "20m", "corometrics115")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success());
    // The same faults, planned by the library from the same seed.
    let mut sim = Simulator::new(Scenario::WireFaults, 5);
    let mut wire = WireEncoder::for_scenario(Scenario::WireFaults, 5);
    let mut bytes = Vec::new();
    for _ in 0..4_800 {
        wire.encode_frame(&sim.next_frame(), &mut bytes);
    }
    assert_eq!(bytes, out.stdout, "the binary sends what the library encodes");
    let silent: u64 =
        wire.faults()
            .iter()
            .map(|f| match f.kind {
                WireFaultKind::Reboot { silent_ticks }
                | WireFaultKind::Unplugged { silent_ticks } => silent_ticks.min(4_800 - f.tick),
                _ => 0,
            })
            .sum();
    assert!(silent > 0);
    let decode = decode_bytes(&out.stdout);
    assert!(decode.status.success());
    let s = summary(&decode.stderr);
    assert_eq!(s.samples, 4_800 - silent, "faults: {:?}", wire.faults());
    assert!(s.discarded > 0);
    // Mode changes are reported by the decoder.
    let mut d = Decoder::new();
    d.push(&out.stdout);
    let modes: Vec<Message> = d.filter(|m| matches!(m, Message::Modes { .. })).collect();
    let distinct: std::collections::BTreeSet<String> =
        modes.iter().map(|m| format!("{m:?}")).collect();
    assert!(distinct.len() >= 2, "{distinct:?}");
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let args = |seed: &str| run_args("variable-decelerations", seed, "5m", "corometrics115");
    let a = Command::new(BIN).args(args("3")).output().unwrap();
    let b = Command::new(BIN).args(args("3")).output().unwrap();
    let c = Command::new(BIN).args(args("4")).output().unwrap();
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let mut with_out = args("3");
    with_out.extend(["--out".into(), path.to_str().unwrap().into()]);
    let d = Command::new(BIN).args(with_out).output().unwrap();
    assert!(d.status.success() && d.stdout.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), a.stdout);
}

#[test]
fn json_wire_has_one_object_per_sample_with_nulls() {
    let out = ctg_sim(&[
        "run",
        "--scenario",
        "signal-loss",
        "--seed",
        "2",
        "--duration",
        "90s",
        "--wire",
        "json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 360);
    let first = text.lines().next().unwrap();
    let keys: Vec<&str> = ["t_ms", "fhr1", "fhr2", "mhr", "toco", "movement", "mark"].to_vec();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(
        v.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        keys.iter().copied().collect()
    );
    assert!(text.contains(r#""fhr1":null"#), "signal loss shows as null");
    assert!(text.contains(r#""fhr2":null"#));
}

#[test]
fn list_names_every_scenario_with_a_description() {
    let out = ctg_sim(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), Scenario::ALL.len());
    for (line, sc) in lines.iter().zip(Scenario::ALL) {
        assert!(line.starts_with(sc.name()), "{line}");
        assert!(line.contains(sc.description()), "{line}");
    }
}

/// One clear line on stderr, a non-zero exit, no panic.
fn assert_clean_failure(args: &[&str], expect: &str) {
    let out = ctg_sim(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("RUST_"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_arguments_fail_with_one_clear_line() {
    assert_clean_failure(&["run", "--scenario", "nope"], "unknown scenario 'nope'");
    assert_clean_failure(
        &["run", "--scenario", "normal-labour", "--duration", "20x"],
        "bad duration '20x'",
    );
    assert_clean_failure(
        &["run", "--scenario", "normal-labour", "--duration", "20"],
        "bad duration '20'",
    );
    assert_clean_failure(
        &["run", "--scenario", "normal-labour", "--speed", "fast"],
        "bad speed 'fast'",
    );
    assert_clean_failure(
        &["run", "--scenario", "normal-labour", "--signal-loss", "95"],
        "--signal-loss 95 outside 0-90",
    );
    assert_clean_failure(&["run", "--replay", "/nonexistent/trace.fhr"], "/nonexistent/trace.fhr");
    assert_clean_failure(
        &["run", "--replay", "/nonexistent/trace.csv"],
        "unknown recording format",
    );
    assert_clean_failure(&["run", "--scenario", "normal-labour", "--wire", "xml"], "xml");
    assert_clean_failure(&["run", "--scenario", "normal-labour", "--bogus"], "--bogus");
    assert_clean_failure(&["run"], "--scenario");
    assert_clean_failure(
        &["decode", "--in", "/nonexistent/bytes.bin"],
        "cannot open /nonexistent/bytes.bin",
    );
    assert_clean_failure(&["decode", "--wire", "json"], "corometrics115");
    assert_clean_failure(
        &["plot", "--scenario", "normal-labour", "--png", "/nonexistent/dir/x.png"],
        "cannot write /nonexistent/dir/x.png",
    );
    assert_clean_failure(
        &["run", "--scenario", "normal-labour", "--serial", "/nonexistent/tty"],
        "cannot open serial port /nonexistent/tty",
    );
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.fhr");
    std::fs::write(&garbage, b"abc").unwrap();
    let out = ctg_sim(&["run", "--replay", garbage.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn output_reader_going_away_is_not_an_error() {
    let mut child = Command::new(BIN)
        .args(run_args("normal-labour", "1", "2h", "json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn speed_one_is_paced_in_real_time() {
    // Lower bound only: pacing can make a run slower than real time on a busy machine, never
    // faster.
    let start = Instant::now();
    let out = ctg_sim(&[
        "run",
        "--scenario",
        "normal-labour",
        "--duration",
        "2s",
        "--speed",
        "1",
        "--wire",
        "json",
    ]);
    let took = start.elapsed();
    assert!(out.status.success());
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 8);
    assert!(took >= Duration::from_millis(1_700), "8 ticks at 1x took {took:?}");
    let start = Instant::now();
    let out = ctg_sim(&[
        "run",
        "--scenario",
        "normal-labour",
        "--duration",
        "4s",
        "--speed",
        "4",
        "--wire",
        "json",
    ]);
    assert!(out.status.success());
    assert!(start.elapsed() >= Duration::from_millis(700));
}

#[test]
fn run_writes_to_a_pseudo_terminal() {
    use serialport::SerialPort;
    let (mut master, slave) = serialport::TTYPort::pair().expect("pseudo-terminal pair");
    let slave_path = slave.name().expect("slave has a path");
    master.set_timeout(Duration::from_millis(200)).unwrap();
    let child = Command::new(BIN)
        .args([
            "run",
            "--scenario",
            "normal-labour",
            "--seed",
            "3",
            "--duration",
            "30s",
            "--speed",
            "max",
        ])
        .args(["--wire", "corometrics115", "--serial", &slave_path])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut decoder = Decoder::new();
    let mut hr1 = 0;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    while hr1 < 120 && Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(n) => {
                decoder.push(&buf[..n]);
                while let Some(m) = decoder.next_message() {
                    hr1 += usize::from(matches!(m, Message::HeartRate1(_)));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(hr1, 120, "30 s = 120 ticks");
    assert_eq!(decoder.stats().bytes_discarded, 0);
    drop(slave);
}

#[test]
fn plot_writes_a_png_of_the_strip() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("strip.png");
    let out = ctg_sim(&[
        "plot",
        "--scenario",
        "normal-labour",
        "--seed",
        "1",
        "--duration",
        "10m",
        "--png",
        png.to_str().unwrap(),
        "--annotate",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let pixmap = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
    let expected = hardware::plot::CtgPlot::new(10 * 60_000);
    assert_eq!((pixmap.width(), pixmap.height()), (expected.width(), expected.height()));
}
