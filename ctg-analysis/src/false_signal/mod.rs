//! False signal: stretches where the "FHR" channel is not the fetal heart (the Doppler picked up
//! the maternal pulse, or tracked noise at half or double the rate).
//!
//! A two-level stack of gradient-boosted trees judges every 4-s chunk that has an FHR value:
//! level 1 from hand-made features of the chunk and its surroundings (coincidence with the
//! maternal channel when there is one, otherwise the pattern evidence: level against the fetal
//! reference, jumps in and out of the segment, variability, halving and doubling, labour stage);
//! level 2 adds the level-1 answers of the neighbouring chunks so that a segment is judged as a
//! whole. The model was trained offline on the expert-annotated FHRMA false-signal recordings
//! (`ctg-analyze train false-signal`, see README.md) and is embedded in `model.json`.
//!
//! A chunk's answer is final once the signal 2 min after it (its features' reach) and the level-1
//! answers 2 min further are final: see [`latency_s`].

mod features;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use features::{
    ChunkSums, L1Context, LAG_UNITS, MAX_WINDOW_UNITS, N_L1, N_L2, REF_AHEAD, REF_BLOCK, Reference,
    Runs, UNIT, UnitSums,
};
pub use features::{L1_NAMES, L2_EXTRA};

use crate::gbt::{CompiledModel, Model};

/// Samples per judged chunk (4 s).
pub const CHUNK: usize = 16;
/// How far (samples, 2 min) the segment features look back and ahead.
pub const SEGMENT_REACH: usize = 480;
/// Level-1 features read this many samples past their chunk.
const L1_AHEAD: usize = if MAX_WINDOW_UNITS * UNIT > SEGMENT_REACH + 16 {
    MAX_WINDOW_UNITS * UNIT
} else {
    SEGMENT_REACH + 16
};
/// The unit sums of a sample read the maternal channel this many samples ahead.
const LAG_SAMPLES: usize = (LAG_UNITS + 1) * UNIT;
/// Level-2 features read level-1 answers this many chunks ahead (10 min).
const L2_AHEAD: usize = 600 * crate::SAMPLE_RATE_HZ as usize / CHUNK;
/// A chunk is a false signal when the level-2 probability reaches this.
pub const THRESHOLD: f32 = 0.5;

/// How long after a sample its false-signal judgement is final, seconds.
pub fn latency_s() -> f64 {
    (L1_AHEAD + CHUNK * (L2_AHEAD + 2) + LAG_SAMPLES) as f64 / crate::SAMPLE_RATE_HZ as f64
}

/// The two embedded models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Models {
    /// How the models were made (command, data, figures).
    pub provenance: String,
    pub l1: Model,
    pub l2: Model,
}

impl Models {
    /// Parses and validates a model file.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let m: Models =
            serde_json::from_str(text).map_err(|e| format!("false-signal model: {e}"))?;
        m.l1.validate(&L1_NAMES).map_err(|e| format!("false-signal level-1 model: {e}"))?;
        m.l2.validate(&features::l2_names())
            .map_err(|e| format!("false-signal level-2 model: {e}"))?;
        Ok(m)
    }

    /// The models embedded at build time.
    pub fn embedded() -> Result<&'static Models, String> {
        static MODELS: OnceLock<Result<Models, String>> = OnceLock::new();
        MODELS
            .get_or_init(|| Models::from_json(include_str!("model.json")))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The embedded models compiled for evaluation.
    pub(crate) fn compiled() -> Result<&'static Compiled, String> {
        static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
        COMPILED
            .get_or_init(|| {
                Models::embedded().map(|m| Compiled { l1: m.l1.compile(), l2: m.l2.compile() })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The models as the detector evaluates them.
#[derive(Debug)]
pub(crate) struct Compiled {
    l1: CompiledModel,
    l2: CompiledModel,
}

/// A stretch judged to be a false signal, seconds from the start of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseSignalPeriod {
    pub start_s: f64,
    pub end_s: f64,
    pub provisional: bool,
}

/// Inputs, sample-aligned (NaN = no value).
pub(crate) struct FalseSignalInputs<'a> {
    pub raw: &'a [f32],
    /// The cleaner's output (final up to the limit passed with it).
    pub clean: &'a [f32],
    pub mhr: &'a [f32],
    pub toco: &'a [f32],
}

/// The streaming false-signal detector.
#[derive(Debug, Clone, Default)]
pub(crate) struct FalseSignalStage {
    models: Option<&'static Compiled>,
    stage2_start: Option<usize>,
    sums: UnitSums,
    /// Units whose sums are final.
    sums_final: usize,
    runs: Runs,
    reference: Reference,
    medians_final: usize,
    levels_final: usize,
    /// Level-1 features of chunks from `l1_base` on (older ones are no longer needed).
    l1_feats: Vec<[f32; N_L1]>,
    l1_base: usize,
    /// Level-1 probability per chunk (NaN: no FHR in the chunk).
    p1: Vec<f32>,
    p1_final: usize,
    p1_sums: ChunkSums,
    p2: Vec<f32>,
    p2_final: usize,
    /// Sample flags before this index are final.
    pub frontier: usize,
    /// Scratch (kept for its allocations): chunks awaiting a model answer, and their level-2
    /// rows.
    todo: Vec<usize>,
    l2_rows: Vec<[f32; N_L2]>,
}

impl FalseSignalStage {
    pub fn new(models: &'static Compiled, stage2_start: Option<usize>) -> Self {
        Self { models: Some(models), stage2_start, ..Self::default() }
    }

    /// Makes room for `more` samples.
    pub fn reserve(&mut self, more: usize) {
        self.sums.reserve(more);
        let chunks = more / CHUNK + 1;
        self.l1_feats.reserve(chunks);
        self.p1.reserve(chunks);
        self.p1_sums.reserve(chunks);
        self.p2.reserve(chunks);
    }

    /// Finalises what the inputs allow: `inp.clean` is final below `limit`, the raw channels
    /// are final as they arrive. Writes `flags[frontier..]`.
    pub fn advance(&mut self, inp: &FalseSignalInputs<'_>, limit: usize, flags: &mut Vec<bool>) {
        let n = inp.raw.len();
        let sums_limit = limit.min(n.saturating_sub(LAG_SAMPLES));
        self.sums.extend(inp, sums_limit, n, false);
        self.sums_final = self.sums.units();
        let final_samples = self.sums_final * UNIT;
        self.runs.extend(inp.raw, n);
        let blocks = final_samples / REF_BLOCK;
        self.reference.extend_medians(inp.raw, blocks, n);
        self.medians_final = blocks;
        self.reference.extend_levels(blocks.saturating_sub(REF_AHEAD), blocks);
        self.levels_final = self.reference.levels.len();
        // Chunk c is final when its reach is final and its reference block exists.
        let by_reach = final_samples.saturating_sub(L1_AHEAD) / CHUNK;
        let by_ref = self.levels_final * REF_BLOCK / CHUNK;
        let l1_upto = by_reach.min(by_ref);
        self.compute_l1(inp, l1_upto, final_samples);
        self.p1_final = self.p1.len();
        self.extend_chunk_sums(self.p1_final);
        let l2_upto = self.p1_final.saturating_sub(L2_AHEAD + 1);
        self.compute_l2(l2_upto, self.p1_final, final_samples);
        self.p2_final = self.p2.len();
        self.write_flags(inp.raw, flags, self.p2_final * CHUNK);
        self.frontier = flags.len();
        // Level-1 features are kept only while level 2 still needs them.
        if self.p2_final > self.l1_base + 4096 {
            let drop = self.p2_final - self.l1_base;
            self.l1_feats.drain(..drop);
            self.l1_base = self.p2_final;
        }
    }

    /// Provisional flags from the frontier to the end of the inputs; the committed state is
    /// restored afterwards.
    pub fn provisional(&mut self, inp: &FalseSignalInputs<'_>, flags: &mut Vec<bool>) {
        let n = inp.raw.len();
        self.sums.extend(inp, n, n, true);
        let blocks = n.div_ceil(REF_BLOCK);
        self.reference.extend_medians(inp.raw, blocks, n);
        self.reference.extend_levels(blocks, blocks);
        let chunks = n.div_ceil(CHUNK);
        self.compute_l1(inp, chunks, n);
        self.extend_chunk_sums(chunks);
        self.compute_l2(chunks, chunks, n);
        self.write_flags(inp.raw, flags, n);
        self.sums.truncate(self.sums_final);
        self.reference.truncate(self.medians_final, self.levels_final);
        self.l1_feats.truncate(self.p1_final.saturating_sub(self.l1_base));
        self.p1.truncate(self.p1_final);
        self.p1_sums.truncate(self.p1_final);
        self.p2.truncate(self.p2_final);
    }

    fn extend_chunk_sums(&mut self, upto: usize) {
        let (base, feats) = (self.l1_base, &self.l1_feats);
        let f = |c: usize| {
            if c >= base { feats.get(c - base).map_or(f32::NAN, |x| x[0]) } else { f32::NAN }
        };
        self.p1_sums.extend(&self.p1, &f, upto);
    }

    fn compute_l1(&mut self, inp: &FalseSignalInputs<'_>, upto: usize, limit: usize) {
        let Some(models) = self.models else { return };
        let ctx = L1Context {
            inp,
            sums: &self.sums,
            runs: &self.runs,
            reference: &self.reference,
            stage2_start: self.stage2_start,
            limit,
        };
        let mut x = [0f32; N_L1];
        // Features first, then the model over all the new chunks with FHR at once (see
        // `predict_each`); chunks without FHR stay NaN.
        let mut todo = std::mem::take(&mut self.todo);
        todo.clear();
        for c in self.p1.len()..upto {
            if features::l1(c, &ctx, &mut x) {
                todo.push(c);
            }
            self.l1_feats.push(x);
            self.p1.push(f32::NAN);
        }
        let (feats, base, p1) = (&self.l1_feats, self.l1_base, &mut self.p1);
        models.l1.predict_each(todo.len(), |j| &feats[todo[j] - base], |j, p| p1[todo[j]] = p);
        self.todo = todo;
    }

    fn compute_l2(&mut self, upto: usize, n_chunks: usize, limit: usize) {
        let Some(models) = self.models else { return };
        let mut x = [0f32; N_L2];
        // As in `compute_l1`, the model runs over the rows of a few chunks at a time.
        const BATCH: usize = 64;
        let mut todo = std::mem::take(&mut self.todo);
        let mut rows = std::mem::take(&mut self.l2_rows);
        todo.clear();
        rows.clear();
        let flush = |todo: &mut Vec<usize>, rows: &mut Vec<[f32; N_L2]>, p2: &mut Vec<f32>| {
            models.l2.predict_each(todo.len(), |j| &rows[j], |j, p| p2[todo[j]] = p);
            todo.clear();
            rows.clear();
        };
        for c in self.p2.len()..upto {
            self.p2.push(f32::NAN);
            if self.p1[c].is_nan() {
                continue;
            }
            let (seg, prev, next) = self.runs.chunk_segments(c, c * CHUNK, limit, L2_AHEAD);
            let l1 = &self.l1_feats[c - self.l1_base];
            features::l2(c, l1, &self.p1_sums, seg, prev, next, n_chunks, &mut x);
            todo.push(c);
            rows.push(x);
            if todo.len() == BATCH {
                flush(&mut todo, &mut rows, &mut self.p2);
            }
        }
        flush(&mut todo, &mut rows, &mut self.p2);
        self.todo = todo;
        self.l2_rows = rows;
    }

    fn write_flags(&self, raw: &[f32], flags: &mut Vec<bool>, upto: usize) {
        flags.truncate(self.frontier);
        for (i, r) in raw.iter().enumerate().take(upto).skip(self.frontier) {
            let p = self.p2.get(i / CHUNK).copied().unwrap_or(f32::NAN);
            flags.push(!r.is_nan() && p >= THRESHOLD);
        }
    }
}

/// Groups flagged samples into periods. Flagged samples separated only by missing samples (up to
/// 5 s) belong to one period. Periods ending after `final_until` are provisional.
pub(crate) fn periods(flags: &[bool], raw: &[f32], final_until: usize) -> Vec<FalseSignalPeriod> {
    const BRIDGE: usize = 20;
    let hz = crate::SAMPLE_RATE_HZ as f64;
    let mut out = Vec::new();
    let mut open: Option<(usize, usize)> = None;
    for (i, (&f, r)) in flags.iter().zip(raw).enumerate() {
        if f {
            open = match open {
                Some((s, e)) if i - e <= BRIDGE => Some((s, i + 1)),
                Some((s, e)) => {
                    out.push(FalseSignalPeriod {
                        start_s: s as f64 / hz,
                        end_s: e as f64 / hz,
                        provisional: e > final_until,
                    });
                    Some((i, i + 1))
                }
                None => Some((i, i + 1)),
            };
        } else if !r.is_nan()
            && let Some((s, e)) = open.take()
        {
            out.push(FalseSignalPeriod {
                start_s: s as f64 / hz,
                end_s: e as f64 / hz,
                provisional: e > final_until,
            });
        }
    }
    if let Some((s, e)) = open {
        out.push(FalseSignalPeriod {
            start_s: s as f64 / hz,
            end_s: e as f64 / hz,
            provisional: e > final_until,
        });
    }
    out
}

/// Feature rows of whole recordings, for training the models (`ctg-analyze train
/// false-signal`): one row per 4-s chunk with FHR.
pub mod training {
    use super::*;
    use crate::sample::{Sample, to_nan};

    /// Rows of one recording: `chunk_row[c]` is the row of chunk `c` (none without FHR).
    #[derive(Debug, Clone, Default)]
    pub struct Rows {
        pub n_features: usize,
        pub chunk_row: Vec<Option<u32>>,
        pub x: Vec<f32>,
    }

    impl Rows {
        pub fn row(&self, chunk: usize) -> Option<&[f32]> {
            let r = self.chunk_row.get(chunk).copied().flatten()? as usize;
            Some(&self.x[r * self.n_features..(r + 1) * self.n_features])
        }
    }

    /// Names of the level-1 and level-2 features.
    pub fn l1_names() -> Vec<&'static str> {
        L1_NAMES.to_vec()
    }

    pub fn l2_names() -> Vec<&'static str> {
        features::l2_names()
    }

    struct Channels {
        raw: Vec<f32>,
        clean: Vec<f32>,
        mhr: Vec<f32>,
        toco: Vec<f32>,
    }

    fn channels(samples: &[Sample]) -> Channels {
        let raw: Vec<f32> = samples.iter().map(|s| to_nan(s.fhr)).collect();
        let mut clean = Vec::new();
        let mut cleaner = crate::clean::Cleaner::default();
        cleaner.run(&raw, raw.len(), true, &mut clean);
        Channels {
            clean,
            mhr: samples.iter().map(|s| to_nan(s.mhr)).collect(),
            toco: samples.iter().map(|s| to_nan(s.toco)).collect(),
            raw,
        }
    }

    /// Level-1 rows of a whole recording (computed as a batch run does).
    pub fn level1_rows(samples: &[Sample], stage2_start: Option<usize>) -> Rows {
        let ch = channels(samples);
        let n = ch.raw.len();
        let inp =
            FalseSignalInputs { raw: &ch.raw, clean: &ch.clean, mhr: &ch.mhr, toco: &ch.toco };
        let mut sums = UnitSums::default();
        sums.extend(&inp, n, n, true);
        let mut runs = Runs::default();
        runs.extend(&ch.raw, n);
        let mut reference = Reference::default();
        let blocks = n.div_ceil(REF_BLOCK);
        reference.extend_medians(&ch.raw, blocks, n);
        reference.extend_levels(blocks, blocks);
        let ctx = L1Context {
            inp: &inp,
            sums: &sums,
            runs: &runs,
            reference: &reference,
            stage2_start,
            limit: n,
        };
        let mut x = [0f32; N_L1];
        let mut rows = Rows { n_features: N_L1, ..Rows::default() };
        for c in 0..n.div_ceil(CHUNK) {
            if features::l1(c, &ctx, &mut x) {
                rows.chunk_row.push(Some((rows.x.len() / N_L1) as u32));
                rows.x.extend_from_slice(&x);
            } else {
                rows.chunk_row.push(None);
            }
        }
        rows
    }

    /// Level-2 rows from level-1 rows and level-1 probabilities per chunk (NaN without FHR).
    pub fn level2_rows(samples: &[Sample], l1: &Rows, p1: &[f32]) -> Rows {
        let raw: Vec<f32> = samples.iter().map(|s| to_nan(s.fhr)).collect();
        let n = raw.len();
        let mut runs = Runs::default();
        runs.extend(&raw, n);
        let mut sums = ChunkSums::default();
        let f = |c: usize| l1.row(c).map_or(f32::NAN, |x| x[0]);
        sums.extend(p1, &f, p1.len());
        let n_chunks = p1.len();
        let mut x = [0f32; N_L2];
        let mut rows = Rows { n_features: N_L2, ..Rows::default() };
        for c in 0..l1.chunk_row.len() {
            let Some(row) = l1.row(c) else {
                rows.chunk_row.push(None);
                continue;
            };
            let mut a = [0f32; N_L1];
            a.copy_from_slice(row);
            let (seg, prev, next) = runs.chunk_segments(c, c * CHUNK, n, L2_AHEAD);
            features::l2(c, &a, &sums, seg, prev, next, n_chunks, &mut x);
            rows.chunk_row.push(Some((rows.x.len() / N_L2) as u32));
            rows.x.extend_from_slice(&x);
        }
        rows
    }

    /// Per-sample flags from level-2 probabilities per chunk (NaN without FHR) at `threshold`
    /// ([`THRESHOLD`] is what the detector uses).
    pub fn flags(samples: &[Sample], p: &[f32], threshold: f32) -> Vec<bool> {
        samples
            .iter()
            .enumerate()
            .map(|(i, s)| s.fhr.is_some() && p.get(i / CHUNK).is_some_and(|&v| v >= threshold))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_loads_and_matches_the_features() {
        let m = Models::embedded().unwrap();
        assert_eq!(m.l1.features.len(), L1_NAMES.len());
        assert!(!m.provenance.is_empty());
    }

    #[test]
    fn periods_bridge_losses_but_not_true_signal() {
        let nan = f32::NAN;
        let raw = [1.0, 1.0, nan, nan, 1.0, 1.0, 1.0, 1.0];
        let flags = [true, true, false, false, true, false, true, true];
        let p = periods(&flags, &raw, 100);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].start_s, p[0].end_s), (0.0, 1.25));
        assert_eq!((p[1].start_s, p[1].end_s), (1.5, 2.0));
        assert!(!p[0].provisional);
        assert!(periods(&flags, &raw, 3)[1].provisional);
    }
}
