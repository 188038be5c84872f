//! `ctg-sim decode`: Corometrics bytes → JSON lines, with a summary on stderr.

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hardware::corometrics::{Decoder, Framer, FramerOutput};
use hardware::sim::{JsonSample, TICK_MS};

use crate::{DecodeArgs, Wire};

pub fn decode(args: &DecodeArgs) -> Result<()> {
    if args.wire != Wire::Corometrics115 {
        bail!("decode reads the corometrics115 wire only");
    }
    let mut input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut decoder = Decoder::new();
    let mut framer = Framer::new();
    let start = Instant::now();
    let mut samples: u64 = 0;
    let mut modes_reports: u64 = 0;
    let mut annotations: u64 = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let mut emit = |outputs: Vec<FramerOutput>, out: &mut BufWriter<_>| -> Result<()> {
        for o in outputs {
            match o {
                FramerOutput::Sample { sample, .. } => {
                    let line = JsonSample::new(samples as i64 * TICK_MS, &sample).to_line();
                    writeln!(out, "{line}").context("write failed")?;
                    samples += 1;
                }
                FramerOutput::Modes { .. } => modes_reports += 1,
                FramerOutput::Annotation(_) => annotations += 1,
                FramerOutput::PaperOut(_) => {}
            }
        }
        Ok(())
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read failed"),
        };
        // Arrival time only matters to the framer while heart rate 1 is silent.
        let now_ms = start.elapsed().as_millis() as i64;
        decoder.push(&buf[..n]);
        while let Some(msg) = decoder.next_message() {
            emit(framer.push(msg, now_ms), &mut out)?;
        }
    }
    decoder.discard_pending();
    emit(framer.flush(start.elapsed().as_millis() as i64), &mut out)?;
    out.flush().context("write failed")?;
    let d = decoder.stats();
    let f = framer.stats();
    eprintln!(
        "ctg-sim decode: {samples} samples, {} frames decoded, {} bytes discarded, {} frames rejected, {} out-of-range values, {modes_reports} mode reports, {annotations} annotations",
        d.messages, d.bytes_discarded, d.frames_rejected, f.out_of_range
    );
    Ok(())
}
