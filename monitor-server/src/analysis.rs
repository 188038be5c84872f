//! Where CTG analysis plugs in (integrating `ctg-analysis` is a later issue).
//!
//! The plan, so the rest of the server already leaves room for it:
//! * the ingest hands every accepted run of samples of a bound stream to an [`Analyzer`]
//!   (after the live fan-out, off the latency path);
//! * the analyzer keeps per-stream state (baseline, variability, events, classification) and
//!   returns [`AnalysisUpdate`]s;
//! * updates are stored (a results table behind the `Store` trait), stamped with the binding like
//!   samples, and fanned out as a live `analysis` message; the page draws baseline and events on
//!   the trace and shows the classification in the bed tile's `analysis` slot (already laid out);
//! * alarms raised by the analysis join the stale-data and gateway-offline alarms of the page.

use ctg_wire::StreamId;
use serde::Serialize;

use crate::model::{Millis, StoredSample};

/// One result of analysing a stream.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalysisUpdate {
    /// Baseline estimate over a window, bpm.
    Baseline { from_seq: u64, to_seq: u64, bpm: f32 },
    /// A detected event (acceleration, deceleration, contraction) on the trace.
    Event { from_seq: u64, to_seq: u64, label: String },
    /// The current classification (e.g. JSOG level) and when it was computed.
    Classification { at_ms: Millis, system: String, level: String, provisional: bool },
}

/// Analyses streams incrementally.
pub trait Analyzer: Send + Sync + std::fmt::Debug {
    /// Accepted samples of a stream, in sequence order; returns what changed.
    fn on_samples(&self, stream: &StreamId, samples: &[StoredSample]) -> Vec<AnalysisUpdate>;
}

/// The analyzer used until `ctg-analysis` is integrated: it reports nothing, and the page shows
/// the analysis slot as "not analysed" rather than as normal.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAnalysis;

impl Analyzer for NoAnalysis {
    fn on_samples(&self, _stream: &StreamId, _samples: &[StoredSample]) -> Vec<AnalysisUpdate> {
        Vec::new()
    }
}
