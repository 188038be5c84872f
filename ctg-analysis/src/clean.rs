//! Signal cleaning: which FHR samples are trustworthy enough to analyse.
//!
//! 1. A heart rate outside 50–220 bpm is not physiological (FIGO 2015): no value.
//! 2. A run of samples shorter than 5 s between two losses is a transducer catching noise: no
//!    value.
//! 3. A run shorter than 30 s that jumps by more than 25 bpm away from both of its neighbours in
//!    the same direction (a step up or down into the run and back) is a doubled, halved or
//!    maternal rate, not the fetus: no value. Neighbours are the last kept value before the run
//!    and the first value of the next run of at least 5 s after it, each searched up to 2 min
//!    away (so the decision is never more than 30 s + 2 min + 5 s late).
//!
//! The rules follow the preprocessing common to the FHRMA literature (Houzé de l'Aulnoit et al.
//! 2019); the bounded neighbour search is ours, so that a live stream gets final answers.

/// Lowest physiological FHR, bpm.
pub const FHR_MIN_BPM: f32 = 50.0;
/// Highest physiological FHR, bpm.
pub const FHR_MAX_BPM: f32 = 220.0;
/// Runs shorter than this (samples, 5 s) are dropped.
pub const MIN_RUN: usize = 20;
/// Runs shorter than this (samples, 30 s) are checked for jumps.
pub const SHORT_RUN: usize = 120;
/// A jump into and out of a short run larger than this (bpm) marks it as an artefact.
pub const JUMP_BPM: f32 = 25.0;
/// How far (samples, 2 min) a neighbour of a short run is searched.
pub const NEIGHBOUR_SEARCH: usize = 480;

pub(crate) fn in_range(v: f32) -> bool {
    (FHR_MIN_BPM..=FHR_MAX_BPM).contains(&v)
}

/// Streaming cleaner; see the module documentation for the rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cleaner {
    /// Outputs before this index are final.
    pub frontier: usize,
    /// The last kept sample (index, value).
    prev_kept: Option<(usize, f32)>,
    /// The run in progress at the frontier is already known to be long (kept).
    in_long_run: bool,
}

enum Decision {
    Keep,
    Drop,
    /// More data is needed.
    Wait,
}

impl Cleaner {
    /// Cleans what can be decided from `raw[..limit]`. `eod`: `limit` is the end of the data.
    /// Writes `out[frontier..]`.
    pub fn run(&mut self, raw: &[f32], limit: usize, eod: bool, out: &mut Vec<f32>) {
        out.truncate(self.frontier);
        let mut pos = self.frontier;
        while pos < limit {
            if self.in_long_run {
                while pos < limit && in_range(raw[pos]) {
                    out.push(raw[pos]);
                    self.prev_kept = Some((pos, raw[pos]));
                    pos += 1;
                }
                if pos == limit {
                    break;
                }
                self.in_long_run = false;
            }
            while pos < limit && !in_range(raw[pos]) {
                out.push(f32::NAN);
                pos += 1;
            }
            if pos == limit {
                break;
            }
            let start = pos;
            let end = run_end(raw, start, limit);
            let len = end - start;
            if len >= SHORT_RUN {
                for (i, &v) in raw.iter().enumerate().take(end).skip(start) {
                    out.push(v);
                    self.prev_kept = Some((i, v));
                }
                pos = end;
                self.in_long_run = end == limit;
                continue;
            }
            let decision = if end == limit && !eod {
                Decision::Wait
            } else if len < MIN_RUN {
                Decision::Drop
            } else {
                self.judge_short_run(raw, start, end, limit, eod)
            };
            match decision {
                Decision::Wait => break,
                Decision::Keep => {
                    for (i, &v) in raw.iter().enumerate().take(end).skip(start) {
                        out.push(v);
                        self.prev_kept = Some((i, v));
                    }
                }
                Decision::Drop => out.extend(std::iter::repeat_n(f32::NAN, len)),
            }
            pos = end;
        }
        self.frontier = pos;
    }

    fn judge_short_run(
        &self,
        raw: &[f32],
        start: usize,
        end: usize,
        limit: usize,
        eod: bool,
    ) -> Decision {
        let prev = self.prev_kept.filter(|&(i, _)| start - i <= NEIGHBOUR_SEARCH).map(|(_, v)| v);
        // The first value of the next run of at least MIN_RUN samples within the search span.
        let mut j = end;
        let next = loop {
            let r = (j..limit.min(end + NEIGHBOUR_SEARCH)).find(|&k| in_range(raw[k]));
            let Some(r) = r else {
                if limit >= end + NEIGHBOUR_SEARCH || eod {
                    break None;
                }
                return Decision::Wait;
            };
            let r_end = run_end(raw, r, limit);
            if r_end - r >= MIN_RUN {
                break Some(raw[r]);
            }
            if r_end == limit && !eod {
                return Decision::Wait;
            }
            j = r_end;
        };
        match (prev, next) {
            (Some(p), Some(n)) => {
                let into = raw[start] - p;
                let out_of = raw[end - 1] - n;
                let step_down = into < -JUMP_BPM && out_of < -JUMP_BPM;
                let step_up = into > JUMP_BPM && out_of > JUMP_BPM;
                if step_down || step_up { Decision::Drop } else { Decision::Keep }
            }
            _ => Decision::Keep,
        }
    }
}

fn run_end(raw: &[f32], start: usize, limit: usize) -> usize {
    (start..limit).find(|&k| !in_range(raw[k])).unwrap_or(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean_all(raw: &[f32]) -> Vec<f32> {
        let mut c = Cleaner::default();
        let mut out = Vec::new();
        c.run(raw, raw.len(), false, &mut out);
        c.run(raw, raw.len(), true, &mut out);
        out
    }

    fn seg(v: f32, n: usize) -> Vec<f32> {
        vec![v; n]
    }

    #[test]
    fn out_of_range_and_tiny_islands_are_removed() {
        let mut raw = seg(140.0, 200);
        raw.extend(seg(f32::NAN, 10));
        raw.extend(seg(141.0, 10)); // 2.5 s island
        raw.extend(seg(f32::NAN, 10));
        raw.extend(seg(240.0, 40)); // out of range
        raw.extend(seg(140.0, 200));
        let out = clean_all(&raw);
        assert_eq!(out.len(), raw.len());
        assert!(out[210..220].iter().all(|v| v.is_nan()));
        assert!(out[230..270].iter().all(|v| v.is_nan()));
        assert_eq!(out[0], 140.0);
        assert_eq!(out[300], 140.0);
    }

    #[test]
    fn a_short_halved_run_is_removed_but_a_short_normal_one_kept() {
        let mut raw = seg(140.0, 200);
        raw.extend(seg(f32::NAN, 8));
        raw.extend(seg(70.0, 60)); // 15 s at half the rate
        raw.extend(seg(f32::NAN, 8));
        raw.extend(seg(142.0, 60)); // 15 s close to the neighbours: kept
        raw.extend(seg(f32::NAN, 8));
        raw.extend(seg(141.0, 200));
        let out = clean_all(&raw);
        assert!(out[208..268].iter().all(|v| v.is_nan()));
        assert!(out[276..336].iter().all(|v| *v == 142.0));
    }

    #[test]
    fn streaming_in_small_steps_gives_the_batch_answer() {
        let mut raw = Vec::new();
        for k in 0..30 {
            let v = if k % 3 == 0 { 75.0 } else { 140.0 + k as f32 };
            raw.extend(seg(v, 20 + (k * 37) % 150));
            raw.extend(seg(f32::NAN, 5 + (k * 53) % 700));
        }
        let batch = clean_all(&raw);
        let mut c = Cleaner::default();
        let mut out = Vec::new();
        for limit in (0..raw.len()).step_by(7) {
            c.run(&raw[..limit], limit, false, &mut out);
            // Provisional views from a clone never change the committed state.
            let mut view = c.clone();
            let mut tail = out.clone();
            view.run(&raw[..limit], limit, true, &mut tail);
            assert_eq!(tail.len(), limit);
        }
        c.run(&raw, raw.len(), false, &mut out);
        c.run(&raw, raw.len(), true, &mut out);
        assert_eq!(out.len(), batch.len());
        assert!(out.iter().zip(&batch).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
