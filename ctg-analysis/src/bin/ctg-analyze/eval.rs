//! `ctg-analyze eval`: agreement with reference analyses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ctg_analysis::metrics::{
    BaselineAgreement, Confusion, EventCounts, baseline_agreement, match_events, median,
    score_false_signal,
};
use ctg_analysis::{Analyzer, Config, FetalChannel};
use hardware::datasets::list_files;
use serde::Serialize;

use crate::input::read_trace;

/// Reference events of one recording (WMFB reference format), seconds.
#[derive(Debug, Default)]
pub struct ReferenceEvents {
    pub accelerations: Vec<(f64, f64)>,
    pub decelerations: Vec<(f64, f64)>,
}

/// Parses `ACC start_min end_min` / `DEC start_min end_min` lines (`#` comments).
pub fn parse_reference_events(text: &str, what: &str) -> Result<ReferenceEvents> {
    let mut r = ReferenceEvents::default();
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            anyhow::anyhow!("{what}:{}: expected `ACC|DEC start_min end_min`, got {line:?}", k + 1)
        };
        if f.len() != 3 {
            return Err(bad());
        }
        let s: f64 = f[1].parse().map_err(|_| bad())?;
        let e: f64 = f[2].parse().map_err(|_| bad())?;
        if !(s.is_finite() && e.is_finite() && e >= s) {
            return Err(bad());
        }
        match f[0] {
            "ACC" => r.accelerations.push((s * 60.0, e * 60.0)),
            "DEC" => r.decelerations.push((s * 60.0, e * 60.0)),
            _ => return Err(bad()),
        }
    }
    Ok(r)
}

/// Parses a baseline file: one value per line.
pub fn parse_baseline(text: &str, what: &str) -> Result<Vec<f32>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            let v: f32 = l
                .trim()
                .parse()
                .with_context(|| format!("{what}:{}: not a number: {l:?}", k + 1))?;
            if !v.is_finite() {
                bail!("{what}:{}: not a finite number: {l:?}", k + 1);
            }
            Ok(v)
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct MorphologyFile {
    pub file: String,
    pub baseline: Option<BaselineAgreement>,
    pub accelerations: EventCounts,
    pub decelerations: EventCounts,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub files: usize,
    pub median_madi_pct: Option<f64>,
    pub median_rmsd_bpm: Option<f64>,
    pub median_over_15_bpm_pct: Option<f64>,
    pub median_acc_sensitivity: Option<f64>,
    pub median_acc_ppv: Option<f64>,
    pub median_acc_f1: Option<f64>,
    pub median_dec_sensitivity: Option<f64>,
    pub median_dec_ppv: Option<f64>,
    pub median_dec_f1: Option<f64>,
    pub pooled_accelerations: EventCounts,
    pub pooled_decelerations: EventCounts,
}

/// Reads one analysis in the WMFB reference format (`NAME.txt`, `NAME_baseline.csv`), `None`
/// when `dir` has none for `name`.
fn read_reference(dir: &Path, name: &str) -> Result<Option<(ReferenceEvents, Vec<f32>)>> {
    let ev_path = dir.join(format!("{name}.txt"));
    let bl_path = dir.join(format!("{name}_baseline.csv"));
    if !ev_path.exists() || !bl_path.exists() {
        return Ok(None);
    }
    let ev_text = std::fs::read_to_string(&ev_path)
        .with_context(|| format!("reading {}", ev_path.display()))?;
    let ev = parse_reference_events(&ev_text, &ev_path.display().to_string())?;
    let bl_text = std::fs::read_to_string(&bl_path)
        .with_context(|| format!("reading {}", bl_path.display()))?;
    let bl = parse_baseline(&bl_text, &bl_path.display().to_string())?;
    Ok(Some((ev, bl)))
}

/// Scores every `*.fhr` in `signals` that has a reference in `reference`: our analysis, or with
/// `method` another analysis stored in the same format (to measure how two published methods
/// agree with the same indices).
pub fn morphology(
    signals: &Path,
    reference: &Path,
    method: Option<&Path>,
    config: &Config,
) -> Result<(Vec<MorphologyFile>, Summary)> {
    let files =
        list_files(signals, "fhr").with_context(|| format!("listing {}", signals.display()))?;
    let mut out = Vec::new();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let Some((ev, ref_bl)) = read_reference(reference, &name)? else { continue };
        let trace = read_trace(&path, FetalChannel::Merged)?;
        let fhr: Vec<Option<f32>> = trace.samples.iter().map(|s| s.fhr).collect();
        let (baseline, accs, decs) = match method {
            Some(dir) => {
                let Some((ev, bl)) = read_reference(dir, &name)? else { continue };
                (bl.into_iter().map(Some).collect(), ev.accelerations, ev.decelerations)
            }
            None => {
                let mut analyzer = Analyzer::new(config.clone())?;
                analyzer.push(&trace.samples);
                let a = analyzer.analysis();
                let accs: Vec<(f64, f64)> =
                    a.accelerations.iter().map(|e| (e.start_s, e.end_s)).collect();
                let decs: Vec<(f64, f64)> =
                    a.decelerations.iter().map(|e| (e.start_s, e.end_s)).collect();
                (a.baseline_bpm, accs, decs)
            }
        };
        out.push(MorphologyFile {
            file: name,
            baseline: baseline_agreement(&fhr, &ref_bl, &baseline),
            accelerations: match_events(&ev.accelerations, &accs, &fhr),
            decelerations: match_events(&ev.decelerations, &decs, &fhr),
        });
    }
    if out.is_empty() {
        bail!("no recording in {} has a reference in {}", signals.display(), reference.display());
    }
    let med = |f: &dyn Fn(&MorphologyFile) -> Option<f64>| median(out.iter().filter_map(f));
    let mut pa = EventCounts::default();
    let mut pd = EventCounts::default();
    for f in &out {
        pa.add(&f.accelerations);
        pd.add(&f.decelerations);
    }
    let summary = Summary {
        files: out.len(),
        median_madi_pct: med(&|f| f.baseline.map(|b| b.madi_pct)),
        median_rmsd_bpm: med(&|f| f.baseline.map(|b| b.rmsd_bpm)),
        median_over_15_bpm_pct: med(&|f| f.baseline.map(|b| b.over_15_bpm_pct)),
        median_acc_sensitivity: med(&|f| f.accelerations.sensitivity()),
        median_acc_ppv: med(&|f| f.accelerations.ppv()),
        median_acc_f1: med(&|f| f.accelerations.f1()),
        median_dec_sensitivity: med(&|f| f.decelerations.sensitivity()),
        median_dec_ppv: med(&|f| f.decelerations.ppv()),
        median_dec_f1: med(&|f| f.decelerations.f1()),
        pooled_accelerations: pa,
        pooled_decelerations: pd,
    };
    Ok((out, summary))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}", 100.0 * v))
}

pub fn print_morphology(files: &[MorphologyFile], s: &Summary) {
    println!(
        "{:<10} {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5}",
        "file", "MADI%", "RMSD", ">15%", "accSe", "accPP", "accF1", "decSe", "decPP", "decF1"
    );
    for f in files {
        let (m, r, o) = f.baseline.map_or(("-".into(), "-".into(), "-".into()), |b| {
            (
                format!("{:.2}", b.madi_pct),
                format!("{:.2}", b.rmsd_bpm),
                format!("{:.2}", b.over_15_bpm_pct),
            )
        });
        println!(
            "{:<10} {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5}",
            f.file,
            m,
            r,
            o,
            pct(f.accelerations.sensitivity()),
            pct(f.accelerations.ppv()),
            pct(f.accelerations.f1()),
            pct(f.decelerations.sensitivity()),
            pct(f.decelerations.ppv()),
            pct(f.decelerations.f1())
        );
    }
    let f2 = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
    println!(
        "{:<10} {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5}",
        "median",
        f2(s.median_madi_pct),
        f2(s.median_rmsd_bpm),
        f2(s.median_over_15_bpm_pct),
        pct(s.median_acc_sensitivity),
        pct(s.median_acc_ppv),
        pct(s.median_acc_f1),
        pct(s.median_dec_sensitivity),
        pct(s.median_dec_ppv),
        pct(s.median_dec_f1)
    );
    let (a, d) = (&s.pooled_accelerations, &s.pooled_decelerations);
    println!(
        "{:<10} {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5}",
        "pooled",
        "",
        "",
        "",
        pct(a.sensitivity()),
        pct(a.ppv()),
        pct(a.f1()),
        pct(d.sensitivity()),
        pct(d.ppv()),
        pct(d.f1())
    );
    println!(
        "{} files; pooled events: acc {}/{}/{} dec {}/{}/{} (matched/reference/detected)",
        s.files, a.matched, a.reference, a.detected, d.matched, d.reference, d.detected
    );
}

/// One expert-annotated recording of the false-signal dataset.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Annotation {
    pub filename: String,
    pub dataset: String,
    #[serde(rename = "TS_FHR")]
    pub ts_fhr: Vec<[i64; 2]>,
    #[serde(rename = "FS_FHR")]
    pub fs_fhr: Vec<[i64; 2]>,
    /// Sample (1-based) where the second stage starts, or a note such as "Antepartum".
    pub stage2_start: Option<serde_json::Value>,
}

impl Annotation {
    /// Per-sample labels: `Some(true)` false signal, `Some(false)` true signal. Periods are
    /// 1-based inclusive sample indices; where both are marked, false signal wins.
    pub fn labels(&self, n: usize) -> Vec<Option<bool>> {
        let mut l = vec![None; n];
        let mut mark = |periods: &[[i64; 2]], v: bool| {
            for p in periods {
                let a = (p[0].max(1) - 1) as usize;
                let b = (p[1].max(0) as usize).min(n);
                for x in l.iter_mut().take(b).skip(a) {
                    *x = Some(v);
                }
            }
        };
        mark(&self.ts_fhr, false);
        mark(&self.fs_fhr, true);
        l
    }

    /// Second stage start, seconds (0-based), when the annotation gives a sample index.
    pub fn second_stage_s(&self) -> Option<f64> {
        let v = self.stage2_start.as_ref()?.as_f64()?;
        (v >= 1.0).then(|| (v - 1.0) / 4.0)
    }
}

pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a list of false-signal annotations", path.display()))
}

/// Finds `name` in `dir` or its immediate subdirectories.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(name);
    if direct.is_file() {
        return Some(direct);
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(name))
        .find(|p| p.is_file())
}

#[derive(Debug, Serialize)]
pub struct FalseSignalReport {
    pub per_recording: Vec<(String, Confusion)>,
    pub per_dataset: BTreeMap<String, Confusion>,
    pub total: Confusion,
    pub recordings: usize,
}

/// Scores false-signal detection of the full analyzer against the expert labels.
pub fn false_signal(signals: &Path, labels: &Path, config: &Config) -> Result<FalseSignalReport> {
    let ann = read_annotations(labels)?;
    let mut report = FalseSignalReport {
        per_recording: Vec::new(),
        per_dataset: BTreeMap::new(),
        total: Confusion::default(),
        recordings: 0,
    };
    for a in &ann {
        let Some(path) = find_file(signals, &a.filename) else { continue };
        let trace = read_trace(&path, FetalChannel::Merged)?;
        let cfg = Config { second_stage_start_s: a.second_stage_s(), ..config.clone() };
        let mut analyzer = Analyzer::new(cfg)?;
        analyzer.push(&trace.samples);
        let flags = analyzer.false_signal_flags().to_vec();
        let present: Vec<bool> = trace.samples.iter().map(|s| s.fhr.is_some()).collect();
        let c = score_false_signal(&flags, &present, &a.labels(trace.samples.len()));
        report.per_recording.push((a.filename.clone(), c));
        report.per_dataset.entry(a.dataset.clone()).or_default().add(&c);
        report.total.add(&c);
        report.recordings += 1;
    }
    if report.recordings == 0 {
        bail!(
            "none of the {} annotated recordings of {} is in {}",
            ann.len(),
            labels.display(),
            signals.display()
        );
    }
    Ok(report)
}

pub fn print_false_signal(r: &FalseSignalReport) {
    let line = |name: &str, c: &Confusion| {
        println!(
            "{name:<14} sensitivity {:>6}  PPV {:>6}  accuracy {:>6}  (TP {} FP {} FN {} TN {})",
            pct(c.sensitivity()),
            pct(c.ppv()),
            pct(c.accuracy()),
            c.true_positive,
            c.false_positive,
            c.false_negative,
            c.true_negative
        );
    };
    let mut worst: Vec<&(String, Confusion)> = r.per_recording.iter().collect();
    worst.sort_by_key(|(_, c)| std::cmp::Reverse(c.false_positive + c.false_negative));
    println!("recordings with the most errors:");
    for (name, c) in worst.iter().take(10) {
        line(name, c);
    }
    for (k, c) in &r.per_dataset {
        line(k, c);
    }
    line("all", &r.total);
    println!("{} recordings", r.recordings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_files_parse_and_refuse_garbage() {
        let r = parse_reference_events("# c\nACC 1.0 1.5\nDEC 2 3\n", "x").unwrap();
        assert_eq!(r.accelerations, vec![(60.0, 90.0)]);
        assert_eq!(r.decelerations, vec![(120.0, 180.0)]);
        assert!(parse_reference_events("ACC 1\n", "x").is_err());
        assert!(parse_reference_events("FOO 1 2\n", "x").is_err());
        assert!(parse_reference_events("ACC 2 1\n", "x").is_err());
        assert_eq!(parse_baseline("1.5\n2\n", "x").unwrap(), vec![1.5, 2.0]);
        assert!(parse_baseline("1.5\nnan\n", "x").is_err());
    }

    #[test]
    fn labels_are_one_based_inclusive_and_false_wins() {
        let a = Annotation {
            filename: "x".into(),
            dataset: "d".into(),
            ts_fhr: vec![[1, 4]],
            fs_fhr: vec![[3, 3]],
            stage2_start: Some(serde_json::json!(9)),
        };
        assert_eq!(a.labels(5), vec![Some(false), Some(false), Some(true), Some(false), None]);
        assert_eq!(a.second_stage_s(), Some(2.0));
        let b = Annotation { stage2_start: Some(serde_json::json!("Antepartum")), ..a };
        assert_eq!(b.second_stage_s(), None);
    }
}
