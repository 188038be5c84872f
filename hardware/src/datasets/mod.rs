//! Readers for the CTG recordings used for replay, tests and benchmarks: FHRMA `.fhr`/`.fhrm` and
//! CTU-UHB WFDB `.hea`/`.dat`. Parsers are pure functions over bytes; [`read_recording`] is the
//! thin file adapter that picks the format from the file name.
//!
//! The recordings themselves are never part of this repository. [`datasets_dir`] finds them.

mod ctu;
mod fhrma;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use ctu::{CtuHeader, CtuSignal, parse_ctu_dat, parse_ctu_header};
pub use fhrma::{parse_fhr, parse_fhrm};

/// Environment variable naming the datasets directory; defaults to `../shared/datasets` next to
/// the workspace root.
pub const DATASETS_ENV: &str = "CTG_DATASETS";

/// The datasets directory, if it exists: `$CTG_DATASETS`, else `../shared/datasets` relative to
/// the workspace root (found from this crate's manifest directory at build time, or from the
/// current directory).
pub fn datasets_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(DATASETS_ENV) {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    let candidates = workspace
        .into_iter()
        .chain(std::env::current_dir().ok())
        .map(|root| root.join("..").join("shared").join("datasets"));
    candidates.into_iter().find(|p| p.is_dir())
}

/// For tests and benchmarks: the datasets directory, or a clear note on stderr and `None`.
pub fn datasets_dir_or_note(what: &str) -> Option<PathBuf> {
    let dir = datasets_dir();
    if dir.is_none() {
        eprintln!(
            "NOTE: {what} skipped: datasets not found (set {DATASETS_ENV} or place them at ../shared/datasets)"
        );
    }
    dir
}

/// Which file format a recording came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// FHRMA `.fhr`: FHR1, FHR2, TOCO.
    Fhr,
    /// FHRMA `.fhrm`: FHR1, FHR2, MHR, TOCO, quality bits.
    Fhrm,
    /// CTU-UHB WFDB: FHR and UC.
    CtuUhb,
}

/// A recording at 4 Hz. Every channel vector has `len()` entries; `None` is no signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub name: String,
    pub format: Format,
    pub fhr1: Vec<Option<f32>>,
    /// Empty when the format has no second FHR channel.
    pub fhr2: Vec<Option<f32>>,
    /// Empty when the format has no maternal channel.
    pub mhr: Vec<Option<f32>>,
    pub toco: Vec<Option<f32>>,
    /// FHRMA `.fhrm` quality byte per sample (b0 FHR1 ok, b1 FHR1 from ECG, b2 FHR2 ok, b3 FHR2
    /// from ECG, b4 MHR ok, b5 MHR from toco belt, b6 internal pressure); empty otherwise.
    pub quality: Vec<u8>,
    /// Header facts (CTU-UHB outcome and descriptor comments such as `pH`, `Apgar5`).
    pub meta: BTreeMap<String, String>,
}

impl Recording {
    /// Samples per second (always 4 for the supported formats).
    pub const SAMPLE_RATE_HZ: u32 = 4;

    pub fn len(&self) -> usize {
        self.fhr1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fhr1.is_empty()
    }

    pub fn duration_s(&self) -> f64 {
        self.len() as f64 / f64::from(Self::SAMPLE_RATE_HZ)
    }

    /// FHR as used in the literature on these datasets: max(FHR1, FHR2) per sample, ignoring a
    /// missing channel.
    pub fn fhr(&self) -> Vec<Option<f32>> {
        if self.fhr2.is_empty() {
            return self.fhr1.clone();
        }
        self.fhr1
            .iter()
            .zip(&self.fhr2)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => Some(a.max(*b)),
                (a, b) => a.or(*b),
            })
            .collect()
    }

    /// Fraction of samples with an FHR value (merged channels).
    pub fn fhr_valid_fraction(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.fhr().iter().filter(|v| v.is_some()).count() as f64 / self.len() as f64
    }
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: unknown recording format (expected .fhr, .fhrm, .hea or .dat)")]
    UnknownFormat { path: PathBuf },
    #[error("{0}")]
    Format(String),
}

/// Reads a recording, choosing the parser from the extension. For CTU-UHB either the `.hea` or
/// the `.dat` path may be given; the other is looked up beside it.
pub fn read_recording(path: &Path) -> Result<Recording, DatasetError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| DatasetError::Io { path: p.to_owned(), source })
    };
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("recording").to_owned();
    match path.extension().and_then(|e| e.to_str()) {
        Some("fhr") => parse_fhr(&name, &read(path)?),
        Some("fhrm") => parse_fhrm(&name, &read(path)?),
        Some("hea") | Some("dat") => {
            let hea = path.with_extension("hea");
            let header_text = String::from_utf8_lossy(&read(&hea)?).into_owned();
            let header = parse_ctu_header(&header_text)?;
            let dat = hea.with_file_name(&header.dat_file);
            parse_ctu_dat(&header, &read(&dat)?)
        }
        _ => Err(DatasetError::UnknownFormat { path: path.to_owned() }),
    }
}

/// Lists the files with extension `ext` directly in `dir`, sorted by name.
pub fn list_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, DatasetError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|source| DatasetError::Io { path: dir.to_owned(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_fhr_takes_the_larger_present_value() {
        let r = Recording {
            name: "x".into(),
            format: Format::Fhr,
            fhr1: vec![Some(120.0), None, Some(130.0), None],
            fhr2: vec![Some(125.0), Some(140.0), None, None],
            mhr: vec![],
            toco: vec![None; 4],
            quality: vec![],
            meta: BTreeMap::new(),
        };
        assert_eq!(r.fhr(), vec![Some(125.0), Some(140.0), Some(130.0), None]);
        assert_eq!(r.fhr_valid_fraction(), 0.75);
    }

    /// Known values of real files, checked against the published descriptions of the datasets.
    #[test]
    fn real_recordings_read_with_known_values() {
        let Some(dir) = datasets_dir_or_note("dataset reader check") else { return };

        let train01 = read_recording(&dir.join("fhrma/train/train01.fhr")).unwrap();
        assert_eq!(train01.len(), 14007, "samples = (84046 - 4) / 6");
        assert_eq!(train01.fhr1[1000], Some(78.0), "raw 312 / 4");
        assert_eq!(train01.fhr2[1000], None, "raw 0 = no signal");
        assert_eq!(train01.toco[1000], Some(83.0), "raw 166 / 2");
        // The WMFB reference has one baseline value per sample of the same recording.
        let reference =
            std::fs::read_to_string(dir.join("fhrma/wmfb-reference-train/train01_baseline.csv"))
                .unwrap();
        assert_eq!(reference.lines().count(), train01.len());

        let ctu = read_recording(&dir.join("ctu-uhb/1001.hea")).unwrap();
        assert_eq!(ctu.len(), 19200, "header says 19200 samples");
        assert_eq!(ctu.fhr1[0], Some(150.5), "header initial value 15050 at gain 100");
        assert_eq!(ctu.toco[0], Some(7.0), "header initial value 700 at gain 100");
        assert_eq!(ctu.meta.get("pH").map(String::as_str), Some("7.14"));
        assert_eq!(ctu.meta.get("Gest. weeks").map(String::as_str), Some("37"));
        // ~14-19 % of CTU-UHB FHR samples are missing on average; any one record is in (0, 1).
        let v = ctu.fhr_valid_fraction();
        assert!(v > 0.5 && v <= 1.0, "{v}");

        let fhrm = list_files(&dir.join("fhrma-false-signal/train"), "fhrm").unwrap();
        assert_eq!(fhrm.len(), 591);
        let r = read_recording(&dir.join("fhrma-false-signal/train/DopMHRTrain0003.fhrm")).unwrap();
        assert_eq!(r.name, "DopMHRTrain0003");
        assert_eq!(r.len(), 11824, "samples = (94596 - 4) / 8");
        assert_eq!(r.mhr.len(), r.len());
        assert_eq!(r.quality.len(), r.len());
        assert_eq!(r.fhr1[5000], Some(93.75), "raw 375 / 4");
        assert_eq!(r.mhr[5000], Some(103.25), "raw 413 / 4");
        assert_eq!(r.toco[5000], Some(58.5), "raw 117 / 2");
        assert_eq!(r.mhr.iter().flatten().count(), 10168, "MHR present in 10168 samples");
    }

    #[test]
    fn unknown_extension_is_a_clear_error() {
        let e = read_recording(Path::new("/nonexistent/trace.csv")).unwrap_err();
        assert!(e.to_string().contains("unknown recording format"), "{e}");
        let e = read_recording(Path::new("/nonexistent/trace.fhr")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/trace.fhr"), "{e}");
    }
}
