//! Pure CTG analysis: signal cleaning and quality, baseline, variability, accelerations,
//! decelerations (with type and timing against contractions), contractions, false signal
//! (maternal heart rate recorded as fetal), and per-window classification in FIGO 2015,
//! NICHD 2008 and JSOG five-level terms, plus a Dawes–Redman-style antenatal summary.
//!
//! No I/O, no clock: samples go in (4 Hz), results come out, deterministically. The same
//! [`Analyzer`] serves a whole recording ([`analyze`]) and a live stream ([`Analyzer::push`]
//! then [`Analyzer::refresh`]); both give identical results on identical samples.
//!
//! ```
//! use ctg_analysis::{Analyzer, Config, Sample};
//!
//! let mut a = Analyzer::new(Config::default()).unwrap();
//! // 20 minutes at 140 bpm with a little variability.
//! let samples: Vec<Sample> = (0..4800)
//!     .map(|i| Sample { fhr: Some(140.0 + (i % 40) as f32 / 5.0), toco: Some(10.0), ..Sample::EMPTY })
//!     .collect();
//! a.push(&samples);
//! let r = a.analysis();
//! assert!((r.baseline_bpm[2400].unwrap() - 144.0).abs() < 3.0);
//! assert_eq!(r.windows.len(), 2);
//! ```
//!
//! Modules: [`clean`] (quality), [`baseline`], [`events`], [`contractions`], [`variability`],
//! [`false_signal`], [`classify`], [`antenatal`], and [`metrics`] (agreement indices used by
//! `ctg-analyze eval`). Algorithms and their evaluation are described in README.md.

pub mod analyzer;
pub mod antenatal;
pub mod baseline;
pub mod classify;
pub mod clean;
pub mod config;
pub mod contractions;
pub mod events;
pub mod false_signal;
pub mod gbt;
pub mod metrics;
pub mod sample;
mod signal;
pub mod variability;

pub use analyzer::{Analysis, Analyzer, analyze};
pub use classify::{BaselineClass, Figo, JsogDeceleration, Nichd, Reason, Window};
pub use config::{Config, ConfigError};
pub use contractions::Contraction;
pub use events::{Acceleration, Deceleration, DecelerationKind, Severity};
pub use false_signal::FalseSignalPeriod;
pub use sample::{FetalChannel, Sample};
pub use variability::{Minute, VariabilityClass};

/// Samples per second of every input and output series.
pub const SAMPLE_RATE_HZ: u32 = 4;

/// Why an analyzer could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded false-signal model is unusable (a build defect; tests guard against it).
    #[error("{0}")]
    Model(String),
}
