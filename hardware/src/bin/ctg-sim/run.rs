//! `ctg-sim run`: frames → bytes on stdout, a file or a serial port, paced or as fast as possible.

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hardware::sim::{JsonSample, WireEncoder};

use crate::{RunArgs, Wire};

/// How fast to emit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Speed {
    Max,
    /// Multiple of real time.
    Factor(f64),
}

fn parse_speed(s: &str) -> Result<Speed> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 10_000.0 => Ok(Speed::Factor(f)),
        _ => bail!("bad speed '{s}': expected 'max' or a factor of real time such as 1 or 10"),
    }
}

pub fn run(args: &RunArgs) -> Result<()> {
    let speed = parse_speed(&args.speed)?;
    let mut source = args.source.open()?;
    let sink: Box<dyn Write> = if let Some(path) = &args.out {
        Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )
    } else if let Some(path) = &args.serial {
        let path_str = path
            .to_str()
            .with_context(|| format!("serial port path {} is not UTF-8", path.display()))?;
        let port = serialport::new(path_str, args.baud)
            .timeout(Duration::from_secs(10))
            .open()
            .with_context(|| format!("cannot open serial port {}", path.display()))?;
        Box::new(port)
    } else {
        Box::new(std::io::stdout().lock())
    };
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    let mut wire = source
        .scenario
        .map_or_else(WireEncoder::clean, |(sc, seed)| WireEncoder::for_scenario(sc, seed));
    let mut bytes = Vec::with_capacity(128);
    let start = Instant::now();
    for n in 0..source.n_ticks {
        let Some(frame) = source.next() else { break };
        bytes.clear();
        match args.wire {
            Wire::Corometrics115 => wire.encode_frame(&frame, &mut bytes),
            Wire::Json => {
                bytes.extend_from_slice(
                    JsonSample::new(frame.t_ms(), &frame.sample).to_line().as_bytes(),
                );
                bytes.push(b'\n');
            }
        }
        if let Speed::Factor(f) = speed {
            // Tick n is due n × 250 ms / f after the start; a late tick is sent at once.
            let due = start + Duration::from_secs_f64(n as f64 * 0.25 / f);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        out.write_all(&bytes).context("write failed")?;
        if speed != Speed::Max {
            out.flush().context("write failed")?;
        }
    }
    out.flush().context("write failed")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds() {
        assert_eq!(parse_speed("max").unwrap(), Speed::Max);
        assert_eq!(parse_speed("1").unwrap(), Speed::Factor(1.0));
        assert_eq!(parse_speed("2.5").unwrap(), Speed::Factor(2.5));
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
