//! Backlog replay: one forward pass over the outbox that turns the stored single-sample live
//! blocks of the requested sequence ranges into backlog blocks of up to 1200 samples, in
//! sequence order per stream, plus the device events that were never delivered.
//!
//! A backlog block's sample `i` is, by the wire contract, received at `rx_utc_ms + i × 250 ms`.
//! Samples are only merged into one block while that holds to within half a sample period
//! (125 ms) and their clock quality agrees, so replayed receive times are as faithful as live
//! ones to within 125 ms; a gap in time (a cable pulled for a minute) starts a new block.
//!
//! The pass is pure logic over [`Outbox::read`]; pacing and publishing belong to the caller.

use std::collections::{BTreeMap, VecDeque};

use ctg_wire::block::MAX_SAMPLES;
use ctg_wire::{DeviceEvent, Label, SAMPLE_PERIOD_MS, SampleBlock};

use crate::outbox::{Outbox, OutboxError, Position, Record};

/// Bytes read from the outbox per step.
const READ_STEP: usize = 64 * 1024;
/// Blocks kept ready before reading more.
const QUEUE_LOW: usize = 4;

/// What to replay of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayRange {
    /// Half-open sequence ranges `[from, to)`.
    pub seqs: Vec<(u64, u64)>,
    /// Events with an id below this are replayed (unless the watermark covers them).
    pub events_below: u64,
}

impl ReplayRange {
    fn contains(&self, seq: u64) -> bool {
        self.seqs.iter().any(|&(a, b)| (a..b).contains(&seq))
    }

    /// Adds another range (duplicates are harmless: receivers de-duplicate).
    pub fn merge(&mut self, other: &ReplayRange) {
        self.seqs.extend(other.seqs.iter().copied().filter(|(a, b)| a < b));
        self.seqs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.seqs.len());
        for (a, b) in self.seqs.drain(..) {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.seqs = merged;
        self.events_below = self.events_below.max(other.events_below);
    }

    fn first(&self) -> Option<u64> {
        self.seqs.iter().map(|r| r.0).min()
    }
}

/// One thing to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum BacklogItem {
    Block { stream: Label, block: SampleBlock },
    Event { stream: Label, event: DeviceEvent },
}

/// Merges consecutive stored samples of one stream into backlog blocks.
#[derive(Debug, Default)]
struct Builder {
    block: Option<SampleBlock>,
}

impl Builder {
    /// Adds sample `i` of a stored block; returns a finished block when this one cannot join.
    fn push(&mut self, stored: &SampleBlock, i: usize) -> Option<SampleBlock> {
        let seq = stored.first_seq + i as u64;
        let rx = stored.sample_time_ms(i);
        let dev = stored.device_time_ms.map(|d| d + i as i64 * SAMPLE_PERIOD_MS);
        let sample = stored.samples[i];
        if let Some(b) = &mut self.block {
            let n = b.samples.len() as i64;
            let near =
                |t: i64, t0: i64| (t - (t0 + n * SAMPLE_PERIOD_MS)).abs() <= SAMPLE_PERIOD_MS / 2;
            let joins = b.samples.len() < MAX_SAMPLES
                && b.first_seq + n as u64 == seq
                && near(rx, b.rx_utc_ms)
                && b.clock == stored.clock
                && match (b.device_time_ms, dev) {
                    (None, None) => true,
                    (Some(d0), Some(d)) => near(d, d0),
                    _ => false,
                };
            if joins {
                b.samples.push(sample);
                return None;
            }
        }
        let fresh = SampleBlock {
            first_seq: seq,
            rx_utc_ms: rx,
            device_time_ms: dev,
            clock: stored.clock,
            backlog: true,
            samples: vec![sample],
        };
        self.block.replace(fresh)
    }
}

/// One replay pass (see the module documentation).
#[derive(Debug)]
pub struct BacklogPass {
    ranges: BTreeMap<Label, ReplayRange>,
    pos: Position,
    end: Position,
    builders: BTreeMap<Label, Builder>,
    queue: VecDeque<BacklogItem>,
    reading_done: bool,
    records: Vec<Record>,
}

impl BacklogPass {
    /// A pass over everything appended so far; `None` when there is nothing to look for.
    pub fn new(outbox: &Outbox, ranges: BTreeMap<Label, ReplayRange>) -> Option<Self> {
        let ranges: BTreeMap<Label, ReplayRange> =
            ranges.into_iter().filter(|(_, r)| !r.seqs.is_empty() || r.events_below > 0).collect();
        let start = ranges
            .iter()
            .map(|(label, r)| {
                let from = r.first().unwrap_or_else(|| {
                    outbox.stream(label).and_then(|s| s.watermark).map_or(0, |w| w + 1)
                });
                outbox.first_position_for(label, from)
            })
            .min()?;
        Some(Self {
            ranges,
            pos: start,
            end: outbox.end_position(),
            builders: BTreeMap::new(),
            queue: VecDeque::new(),
            reading_done: false,
            records: Vec::new(),
        })
    }

    /// Streams this pass covers.
    pub fn ranges(&self) -> &BTreeMap<Label, ReplayRange> {
        &self.ranges
    }

    /// The next item to publish, reading the outbox as needed; `None` when the pass is over.
    pub fn next(&mut self, outbox: &Outbox) -> Result<Option<BacklogItem>, OutboxError> {
        while self.queue.len() < QUEUE_LOW && !self.reading_done {
            self.read_step(outbox)?;
        }
        Ok(self.queue.pop_front())
    }

    /// Puts back an item that could not be published (the connection was busy).
    pub fn unpop(&mut self, item: BacklogItem) {
        self.queue.push_front(item);
    }

    fn read_step(&mut self, outbox: &Outbox) -> Result<(), OutboxError> {
        if self.pos >= self.end {
            self.finish();
            return Ok(());
        }
        let mut records = std::mem::take(&mut self.records);
        records.clear();
        let before = self.pos;
        outbox.read(&mut self.pos, READ_STEP, &mut records)?;
        for rec in records.drain(..) {
            match rec {
                Record::Block { stream, block } => {
                    let Some(range) = self.ranges.get(&stream) else { continue };
                    let covered = outbox.stream(&stream).copied().unwrap_or_default();
                    for i in 0..block.samples.len() {
                        let seq = block.first_seq + i as u64;
                        if !range.contains(seq) || covered.covers(seq) {
                            continue;
                        }
                        if let Some(done) =
                            self.builders.entry(stream.clone()).or_default().push(&block, i)
                        {
                            self.queue.push_back(BacklogItem::Block {
                                stream: stream.clone(),
                                block: done,
                            });
                        }
                    }
                }
                Record::Event { stream, event } => {
                    let Some(range) = self.ranges.get(&stream) else { continue };
                    let covered = outbox.stream(&stream).is_some_and(|s| s.covers(event.seq));
                    if event.id < range.events_below && !covered {
                        self.queue.push_back(BacklogItem::Event { stream, event });
                    }
                }
            }
        }
        self.records = records;
        if self.pos >= self.end || self.pos == before {
            self.finish();
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.reading_done = true;
        for (stream, b) in std::mem::take(&mut self.builders) {
            if let Some(block) = b.block {
                self.queue.push_back(BacklogItem::Block { stream, block });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::OutboxLimits;
    use ctg_wire::{Bpm, ClockQuality, EventKind, Sample};

    const T0: i64 = 1_790_000_000_000;

    fn label(s: &str) -> Label {
        Label::new(s).unwrap()
    }

    fn live(seq: u64, rx: i64) -> SampleBlock {
        SampleBlock {
            first_seq: seq,
            rx_utc_ms: rx,
            clock: ClockQuality::Synchronised,
            samples: vec![Sample {
                fhr1: Bpm::from_whole(100 + (seq % 100) as u16),
                ..Sample::EMPTY
            }],
            ..Default::default()
        }
    }

    fn drain(pass: &mut BacklogPass, o: &Outbox) -> Vec<BacklogItem> {
        let mut out = Vec::new();
        while let Some(i) = pass.next(o).unwrap() {
            out.push(i);
        }
        out
    }

    fn range(from: u64, to: u64, events_below: u64) -> ReplayRange {
        ReplayRange { seqs: vec![(from, to)], events_below }
    }

    #[test]
    fn consecutive_samples_merge_into_blocks_of_at_most_1200_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) =
            Outbox::open(dir.path(), OutboxLimits { max_bytes: 1 << 30, segment_bytes: 64 * 1024 })
                .unwrap();
        let (a, b) = (label("a"), label("b"));
        o.init_stream(&a, 0, 0).unwrap();
        o.init_stream(&b, 0, 0).unwrap();
        for s in 0..3000u64 {
            // Receive jitter of a few ms keeps samples on the grid.
            let jitter = [0, 7, -9, 3][(s % 4) as usize];
            o.append_block(&a, &live(s, T0 + s as i64 * 250 + jitter)).unwrap();
            o.append_block(&b, &live(s, T0 + s as i64 * 250)).unwrap();
            o.maintain().unwrap();
        }
        o.ack(&b, 2499).unwrap();
        let ranges =
            BTreeMap::from([(a.clone(), range(100, 3000, 0)), (b.clone(), range(0, 3000, 0))]);
        let mut pass = BacklogPass::new(&o, ranges).unwrap();
        let items = drain(&mut pass, &o);
        let mut got: BTreeMap<Label, Vec<u64>> = BTreeMap::new();
        for item in &items {
            let BacklogItem::Block { stream, block } = item else { panic!("no events stored") };
            assert!(block.backlog);
            assert!(block.samples.len() <= MAX_SAMPLES);
            let decoded = SampleBlock::decode(&block.encode()).unwrap();
            assert_eq!(&decoded, block);
            for (seq, t, s) in block.iter_seq() {
                assert_eq!(s.fhr1, Bpm::from_whole(100 + (seq % 100) as u16));
                assert!((t - (T0 + seq as i64 * 250)).abs() <= 9, "times stay within the jitter");
                got.entry(stream.clone()).or_default().push(seq);
            }
        }
        assert_eq!(got[&a], (100..3000).collect::<Vec<_>>());
        assert_eq!(
            got[&b],
            (2500..3000).collect::<Vec<_>>(),
            "acknowledged samples are not replayed"
        );
        let a_blocks = items
            .iter()
            .filter(|i| matches!(i, BacklogItem::Block { stream, .. } if stream == &a))
            .count();
        assert_eq!(a_blocks, 3, "2900 samples: 1200 + 1200 + 500");
    }

    #[test]
    fn a_gap_in_time_starts_a_new_block() {
        let dir = tempfile::tempdir().unwrap();
        let (mut o, _) =
            Outbox::open(dir.path(), OutboxLimits { max_bytes: 1 << 30, segment_bytes: 1 << 20 })
                .unwrap();
        let a = label("a");
        o.init_stream(&a, 0, 0).unwrap();
        for s in 0..10u64 {
            let rx = T0 + s as i64 * 250 + if s >= 5 { 60_000 } else { 0 }; // a minute unplugged
            o.append_block(&a, &live(s, rx)).unwrap();
        }
        let e = DeviceEvent::new(
            0,
            T0 + 1300,
            5,
            EventKind::CableSilence { active: true, silent_ms: 3000 },
        );
        o.append_event(&a, &e).unwrap();
        let mut pass =
            BacklogPass::new(&o, BTreeMap::from([(a.clone(), range(0, 10, 1))])).unwrap();
        let items = drain(&mut pass, &o);
        let blocks: Vec<(u64, usize, i64)> = items
            .iter()
            .filter_map(|i| match i {
                BacklogItem::Block { block, .. } => {
                    Some((block.first_seq, block.samples.len(), block.rx_utc_ms))
                }
                _ => None,
            })
            .collect();
        assert_eq!(blocks, vec![(0, 5, T0), (5, 5, T0 + 5 * 250 + 60_000)]);
        assert!(items.contains(&BacklogItem::Event { stream: a.clone(), event: e.clone() }));
        // Once the watermark covers the event's place, it is not replayed again.
        o.ack(&a, 5).unwrap();
        let mut pass =
            BacklogPass::new(&o, BTreeMap::from([(a.clone(), range(6, 10, 1))])).unwrap();
        assert!(drain(&mut pass, &o).iter().all(|i| matches!(i, BacklogItem::Block { .. })));
    }

    #[test]
    fn ranges_merge() {
        let mut r = range(10, 20, 3);
        r.merge(&ReplayRange { seqs: vec![(15, 30), (40, 41), (5, 5)], events_below: 2 });
        assert_eq!(r, ReplayRange { seqs: vec![(10, 30), (40, 41)], events_below: 3 });
    }
}
