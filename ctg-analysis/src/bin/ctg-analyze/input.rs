//! Reading the traces `ctg-analyze` accepts: FHRMA `.fhr`/`.fhrm`, CTU-UHB `.hea`/`.dat`, and the
//! JSON-lines stream of `ctg-sim run --wire json`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ctg_analysis::{FetalChannel, Sample};
use hardware::datasets::{Recording, read_recording};
use hardware::sim::JsonSample;

/// A trace ready for analysis.
#[derive(Debug)]
pub struct Trace {
    pub name: String,
    pub samples: Vec<Sample>,
    /// Second stage of labour from the file's header (CTU-UHB `Pos. II.st.`), seconds.
    pub second_stage_s: Option<f64>,
}

pub fn read_trace(path: &Path, channel: FetalChannel) -> Result<Trace> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "jsonl" | "json" | "ndjson") {
        return read_json_lines(path, channel);
    }
    let rec = read_recording(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(from_recording(&rec, channel))
}

pub fn from_recording(rec: &Recording, channel: FetalChannel) -> Trace {
    let n = rec.len();
    let at = |v: &[Option<f32>], i: usize| v.get(i).copied().flatten();
    let samples = (0..n)
        .map(|i| Sample {
            fhr: channel.pick(at(&rec.fhr1, i), at(&rec.fhr2, i)),
            mhr: at(&rec.mhr, i),
            toco: at(&rec.toco, i),
            movement: false,
        })
        .collect();
    // CTU-UHB gives the sample index where the second stage starts (`Pos. II.st.`; -1 = none).
    let second_stage_s = rec
        .meta
        .get("Pos. II.st.")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|&v| v >= 0.0)
        .map(|v| v / f64::from(Recording::SAMPLE_RATE_HZ));
    Trace { name: rec.name.clone(), samples, second_stage_s }
}

fn read_json_lines(path: &Path, channel: FetalChannel) -> Result<Trace> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut samples: Vec<Sample> = Vec::new();
    let mut first_t: Option<i64> = None;
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let js: JsonSample = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a ctg-sim JSON sample", path.display(), k + 1))?;
        let t0 = *first_t.get_or_insert(js.t_ms);
        let offset = js.t_ms - t0;
        if offset < 0 || offset % 250 != 0 {
            bail!(
                "{}:{}: t_ms {} is not on the 250 ms grid after {}",
                path.display(),
                k + 1,
                js.t_ms,
                t0
            );
        }
        let index = (offset / 250) as usize;
        if index < samples.len() {
            bail!("{}:{}: t_ms {} goes back in time", path.display(), k + 1, js.t_ms);
        }
        if index - samples.len() > 4 * 3600 * 24 {
            bail!("{}:{}: a gap of more than a day before t_ms {}", path.display(), k + 1, js.t_ms);
        }
        // Samples never received are "no value", not interpolated.
        samples.resize(index, Sample::EMPTY);
        let s = js.to_sample();
        samples.push(Sample::from_wire(&s, channel));
    }
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("trace").to_owned();
    Ok(Trace { name, samples, second_stage_s: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_fill_missing_ticks_and_refuse_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"t_ms\":0,\"fhr1\":140,\"fhr2\":null,\"mhr\":80,\"toco\":10,\"movement\":\"none\",\"mark\":false}\n\
             {\"t_ms\":500,\"fhr1\":141,\"fhr2\":null,\"mhr\":null,\"toco\":11,\"movement\":\"detected\",\"mark\":false}\n",
        )
        .unwrap();
        let t = read_trace(&p, FetalChannel::Merged).unwrap();
        assert_eq!(t.samples.len(), 3);
        assert_eq!(t.samples[1], Sample::EMPTY);
        assert_eq!(t.samples[2].fhr, Some(141.0));
        assert!(t.samples[2].movement);
        std::fs::write(&p, "{\"t_ms\":0}\n").unwrap();
        let e = read_trace(&p, FetalChannel::Merged).unwrap_err();
        assert!(format!("{e:#}").contains(":1:"), "{e:#}");
    }
}
