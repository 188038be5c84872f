//! Corometrics decoder throughput over realistic monitor traffic (target ≥ 100 MB/s).
//!
//! The stream is 20 minutes of a monitor in Update mode built with `MonitorEncoder`: FHR around a
//! drifting baseline with pen lifts, contractions every 3 minutes, movement, marks, an
//! annotation, a paper-out episode. It is fed in 4 KiB reads, as from a serial port. Variants:
//! clean; with 5 % of the bytes replaced by noise bursts; and the whole gateway path (decoder +
//! framer). Run: `cargo bench -p hardware --bench corometrics_decode`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardware::corometrics::{Decoder, Framer, MonitorEncoder, MonitorMode, MovementReport, Tick};

const TICKS: u64 = 20 * 60 * 4;
const READ: usize = 4096;

/// Small deterministic generator (xorshift64*) so every run measures the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn monitor_stream() -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
    let mut out = Vec::new();
    for i in 0..TICKS {
        let t = i as f64 / 4.0;
        let baseline = 140.0 + 8.0 * (t / 600.0).sin();
        let contraction = {
            let phase = t % 180.0;
            if phase < 70.0 { 60.0 * (std::f64::consts::PI * phase / 70.0).sin() } else { 0.0 }
        };
        let pen_lift = rng.below(100) < 3;
        let hr1 = (!pen_lift).then(|| (baseline + rng.below(11) as f64 - 5.0) as u16);
        let ua = |rng: &mut Rng| Some((12.0 + contraction + rng.below(3) as f64) as u8);
        let tick = Tick {
            hr1,
            hr2: None,
            ua: [ua(&mut rng), ua(&mut rng)],
            movement: if rng.below(200) == 0 {
                MovementReport::Movement
            } else {
                MovementReport::None
            },
            mark: rng.below(2000) == 0,
            paper_out: (2400..2440).contains(&i),
            annotation: (i == 1200).then(|| "Dr Sato: repositioned".to_string()),
        };
        enc.encode_tick(i, &tick, &mut out);
    }
    out
}

/// Replaces about `percent` % of the bytes with noise bursts of 1–16 random bytes, so some
/// frames are cut and rejected, as on a noisy line.
fn with_garbage(clean: &[u8], percent: u64) -> Vec<u8> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut out = Vec::with_capacity(clean.len());
    let mut i = 0;
    let target = clean.len() as u64 * percent / 100;
    let mut noise = 0;
    while i < clean.len() {
        if noise < target && rng.below(clean.len() as u64 / (target / 8 + 1) + 1) == 0 {
            let n = 1 + rng.below(16) as usize;
            out.extend((0..n).map(|_| rng.next() as u8));
            noise += n as u64;
            i += n;
        } else {
            out.push(clean[i]);
            i += 1;
        }
    }
    out
}

fn decode(bytes: &[u8]) -> (u64, u64) {
    let mut d = Decoder::new();
    let mut n = 0u64;
    for chunk in bytes.chunks(READ) {
        d.push(chunk);
        while let Some(m) = d.next_message() {
            black_box(&m);
            n += 1;
        }
    }
    (n, d.stats().bytes_discarded)
}

fn gateway_path(bytes: &[u8]) -> u64 {
    let mut d = Decoder::new();
    let mut f = Framer::new();
    let mut samples = 0u64;
    // Each read stamped as arriving 4096 bytes at 9600 baud (~4.3 s) after the previous one.
    for (k, chunk) in bytes.chunks(READ).enumerate() {
        let now = 1_700_000_000_000 + k as i64 * 4266;
        d.push(chunk);
        while let Some(m) = d.next_message() {
            samples += f.push(m, now).len() as u64;
        }
    }
    samples + f.flush(i64::MAX).len() as u64
}

fn bench(c: &mut Criterion) {
    let clean = monitor_stream();
    let noisy = with_garbage(&clean, 5);
    let (msgs, _) = decode(&clean);
    let (noisy_msgs, discarded) = decode(&noisy);
    eprintln!(
        "stream: {} bytes clean ({msgs} messages); noisy {} bytes, {:.1} % discarded, {noisy_msgs} messages",
        clean.len(),
        noisy.len(),
        100.0 * discarded as f64 / noisy.len() as f64
    );

    let mut g = c.benchmark_group("corometrics_decode");
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("clean_20min", |b| b.iter(|| decode(black_box(&clean))));
    g.throughput(Throughput::Bytes(noisy.len() as u64));
    g.bench_function("garbage_5pct_20min", |b| b.iter(|| decode(black_box(&noisy))));
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("decode_and_frame_20min", |b| b.iter(|| gateway_path(black_box(&clean))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
