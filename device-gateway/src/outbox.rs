//! The durable outbox: an append-only log of segment files holding every sample block and device
//! event before it is published, plus the per-stream sequence state, so that nothing read from a
//! device is lost by a crash, a broker outage or a restart.
//!
//! # Files
//!
//! `{state_dir}/outbox/{id:020}.seg`, `id` increasing. A segment is the magic `CTGOBX1\n` and
//! then records:
//!
//! ```text
//! len u32 LE | crc32 u32 LE (of the len bytes and the payload) | payload (len bytes)
//! payload = kind u8, then:
//!   1 checkpoint   u32 n, n × (label, next_seq u64, next_event_id u64, has_wm u8, wm u64,
//!                  has_dropped u8, dropped_through u64)
//!   2 block        label, wire-encoded sample block (ctg-wire, version 1)
//!   3 event        label, wire JSON of the device event
//!   4 ack          label, through_seq u64
//!   5 stream init  label, next_seq u64, next_event_id u64
//!   6 dropped      label, last_seq u64 (the size bound gave up everything unacknowledged up to it)
//! label = u8 length, bytes
//! ```
//!
//! Every segment starts with a checkpoint of all streams, so deleting old segments never loses a
//! stream's next sequence number. Recovery max-merges checkpoints and records in file order
//! (every field only grows), cuts a torn or corrupt tail (a `kill -9` or power cut in the middle
//! of a write) and starts a fresh active segment.
//!
//! # Deletion
//!
//! A segment is deleted when the server's watermark of every stream covers its blocks (sequence
//! ≤ watermark) and its events (event `seq` ≤ watermark: the sample that followed the event is
//! stored, and it was published after the event). The active segment is never deleted.
//!
//! # Bound
//!
//! When the segments exceed `max_bytes`, the oldest is given up even though unacknowledged
//! ("drop oldest": live data matters more than old data on a central monitor), and the caller
//! announces the lost ranges with `samples_dropped` events.
//!
//! All I/O here is synchronous and small; the caller decides when to fsync ([`Outbox::sync`],
//! or [`Outbox::sync_handle`] from a blocking thread for group commit).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ctg_wire::{DeviceEvent, Label, SampleBlock};

const MAGIC: &[u8; 8] = b"CTGOBX1\n";
/// Largest record payload accepted on read; a longer length field means corruption.
const MAX_RECORD: usize = 1 << 20;
const RECORD_HEADER: usize = 8;

const KIND_CHECKPOINT: u8 = 1;
const KIND_BLOCK: u8 = 2;
const KIND_EVENT: u8 = 3;
const KIND_ACK: u8 = 4;
const KIND_STREAM_INIT: u8 = 5;
const KIND_DROPPED: u8 = 6;

/// Why the outbox could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("state directory {0} is in use by another gateway process")]
    Locked(PathBuf),
    #[error("stream {0} has no sequence state yet")]
    UnknownStream(Label),
    #[error("stream {stream}: block starts at {got}, expected the next sequence number {expected}")]
    SequenceGap { stream: Label, expected: u64, got: u64 },
    #[error("stream {stream}: event id {got}, expected {expected}")]
    EventIdGap { stream: Label, expected: u64, got: u64 },
    #[error("record of {0} bytes is too large for the outbox")]
    TooLarge(usize),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OutboxError + use<> {
    let path = path.to_owned();
    move |source| OutboxError::Io { op, path, source }
}

/// Size limits of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    pub max_bytes: u64,
    pub segment_bytes: u64,
}

/// What the outbox knows durably about one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamState {
    /// Sequence number the next sample gets.
    pub next_seq: u64,
    /// Id the next device event gets.
    pub next_event_id: u64,
    /// The server's acknowledgement watermark, once heard.
    pub watermark: Option<u64>,
    /// Highest sequence number given up by the size bound (every unacknowledged sample up to
    /// it is gone from the outbox; announced again on each connection until acknowledged).
    pub dropped_through: Option<u64>,
}

impl StreamState {
    /// Whether sequence `seq` is covered by the watermark.
    pub fn covers(&self, seq: u64) -> bool {
        self.watermark.is_some_and(|w| seq <= w)
    }

    /// Samples appended and not acknowledged.
    pub fn unacked(&self) -> u64 {
        self.next_seq.saturating_sub(self.watermark.map_or(0, |w| w + 1))
    }

    fn merge(&mut self, other: &StreamState) {
        self.next_seq = self.next_seq.max(other.next_seq);
        self.next_event_id = self.next_event_id.max(other.next_event_id);
        self.watermark = self.watermark.max(other.watermark);
        self.dropped_through = self.dropped_through.max(other.dropped_through);
    }
}

/// What one segment holds of one stream (kept in memory for every segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegStream {
    min_seq: u64,
    max_seq: u64,
    /// Receive time of the block holding `min_seq`.
    min_rx_ms: i64,
    /// Highest `seq` field of an event (the sample that followed it).
    max_event_seq: Option<u64>,
    has_blocks: bool,
}

#[derive(Debug, Clone)]
struct SegmentMeta {
    id: u64,
    path: PathBuf,
    /// Valid bytes (records end here).
    len: u64,
    streams: BTreeMap<Label, SegStream>,
}

impl SegmentMeta {
    fn new(id: u64, path: PathBuf) -> Self {
        Self { id, path, len: 0, streams: BTreeMap::new() }
    }

    fn note_block(&mut self, stream: &Label, first: u64, last: u64, rx_ms: i64) {
        let e = self.streams.entry(stream.clone()).or_insert(SegStream {
            min_seq: first,
            max_seq: last,
            min_rx_ms: rx_ms,
            max_event_seq: None,
            has_blocks: false,
        });
        if !e.has_blocks || first < e.min_seq {
            e.min_seq = first;
            e.min_rx_ms = rx_ms;
        }
        e.max_seq = if e.has_blocks { e.max_seq.max(last) } else { last };
        e.has_blocks = true;
    }

    fn note_event(&mut self, stream: &Label, seq: u64) {
        let e = self.streams.entry(stream.clone()).or_insert(SegStream {
            min_seq: 0,
            max_seq: 0,
            min_rx_ms: 0,
            max_event_seq: None,
            has_blocks: false,
        });
        e.max_event_seq = Some(e.max_event_seq.map_or(seq, |s| s.max(seq)));
    }

    fn covered(&self, state: &BTreeMap<Label, StreamState>) -> bool {
        self.streams.iter().all(|(label, s)| {
            let st = state.get(label).copied().unwrap_or_default();
            (!s.has_blocks || st.covers(s.max_seq)) && s.max_event_seq.is_none_or(|e| st.covers(e))
        })
    }
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Block { stream: Label, block: SampleBlock },
    Event { stream: Label, event: DeviceEvent },
}

/// Where a reader is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What recovery found when the outbox was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub records: u64,
    pub blocks: u64,
    /// Bytes of torn or corrupt records cut from segment ends.
    pub truncated_bytes: u64,
    /// Human-readable notes on what was cut and why.
    pub notes: Vec<String>,
}

/// A range of samples given up because the outbox was full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub stream: Label,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Result of applying a watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckOutcome {
    /// How many samples the watermark newly covers.
    pub newly_acked: u64,
    /// The server knows samples this gateway had not numbered yet (reinstall, or state lost
    /// in a power cut): the next sequence number jumped from the first to the second value.
    pub jumped: Option<(u64, u64)>,
    pub segments_deleted: usize,
}

/// Figures for heartbeats and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    /// Samples stored and not acknowledged (each live block holds one sample).
    pub samples: u64,
    pub bytes: u64,
    pub segments: usize,
    /// Receive time of the oldest unacknowledged sample, Unix ms.
    pub oldest_rx_ms: Option<i64>,
    /// No room for another segment: the next rotation gives up the oldest data.
    pub full: bool,
}

/// The outbox of one gateway. Not thread-safe by design: one task owns it.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    limits: OutboxLimits,
    /// Closed segments, oldest first; the active one is the last entry.
    segments: Vec<SegmentMeta>,
    active: File,
    streams: BTreeMap<Label, StreamState>,
    _lock: File,
    buf: Vec<u8>,
}

impl Outbox {
    /// Opens (creating if needed) the outbox in `state_dir`, recovering whatever a previous run
    /// left, and starts a fresh active segment.
    pub fn open(state_dir: &Path, limits: OutboxLimits) -> Result<(Outbox, Recovery), OutboxError> {
        let dir = state_dir.join("outbox");
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let lock_path = state_dir.join("gateway.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OutboxError::Locked(state_dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(OutboxError::Io { op: "lock", path: lock_path, source: e });
            }
        }

        let mut ids: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(io_err("list", &dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();

        let mut recovery = Recovery::default();
        let mut streams: BTreeMap<Label, StreamState> = BTreeMap::new();
        let mut segments = Vec::new();
        for id in &ids {
            let path = segment_path(&dir, *id);
            match recover_segment(*id, &path, &mut streams, &mut recovery)? {
                Some(meta) => segments.push(meta),
                None => {
                    std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
                    recovery.notes.push(format!("{}: no valid header, removed", path.display()));
                }
            }
        }
        recovery.segments = segments.len();
        let next_id = ids.last().map_or(1, |i| i + 1);
        let (active, meta) = create_segment(&dir, next_id, &streams, &mut Vec::new())?;
        segments.push(meta);
        let mut outbox = Outbox {
            dir,
            limits,
            segments,
            active,
            streams,
            _lock: lock,
            buf: Vec::with_capacity(256),
        };
        outbox.delete_covered()?;
        Ok((outbox, recovery))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn limits(&self) -> OutboxLimits {
        self.limits
    }

    /// The state of a stream, if the outbox has any.
    pub fn stream(&self, stream: &Label) -> Option<&StreamState> {
        self.streams.get(stream)
    }

    /// Every stream the outbox knows, configured or not (a removed device's backlog still
    /// drains).
    pub fn streams(&self) -> impl Iterator<Item = (&Label, &StreamState)> {
        self.streams.iter()
    }

    /// Starts a stream's numbering (after the acknowledgement sync of a fresh state).
    pub fn init_stream(
        &mut self,
        stream: &Label,
        next_seq: u64,
        next_event_id: u64,
    ) -> Result<(), OutboxError> {
        let mut rec = std::mem::take(&mut self.buf);
        rec.clear();
        rec.push(KIND_STREAM_INIT);
        put_label(&mut rec, stream);
        rec.extend_from_slice(&next_seq.to_le_bytes());
        rec.extend_from_slice(&next_event_id.to_le_bytes());
        let r = self.write_record(&rec);
        self.buf = rec;
        r?;
        let st = self.streams.entry(stream.clone()).or_default();
        st.merge(&StreamState { next_seq, next_event_id, ..Default::default() });
        Ok(())
    }

    /// Appends a block; its first sequence number must be the stream's next one.
    /// Returns the bytes written.
    pub fn append_block(
        &mut self,
        stream: &Label,
        block: &SampleBlock,
    ) -> Result<usize, OutboxError> {
        let st =
            *self.streams.get(stream).ok_or_else(|| OutboxError::UnknownStream(stream.clone()))?;
        if block.first_seq != st.next_seq {
            return Err(OutboxError::SequenceGap {
                stream: stream.clone(),
                expected: st.next_seq,
                got: block.first_seq,
            });
        }
        let mut rec = std::mem::take(&mut self.buf);
        rec.clear();
        rec.push(KIND_BLOCK);
        put_label(&mut rec, stream);
        block.encode_into(&mut rec);
        let r = self.write_record(&rec);
        let len = rec.len();
        self.buf = rec;
        r?;
        let last = block.last_seq();
        if let Some(active) = self.segments.last_mut() {
            active.note_block(stream, block.first_seq, last, block.rx_utc_ms);
        }
        if let Some(st) = self.streams.get_mut(stream) {
            st.next_seq = last + 1;
        }
        Ok(len + RECORD_HEADER)
    }

    /// Appends an event; its id must be the stream's next event id.
    pub fn append_event(&mut self, stream: &Label, event: &DeviceEvent) -> Result<(), OutboxError> {
        let st =
            *self.streams.get(stream).ok_or_else(|| OutboxError::UnknownStream(stream.clone()))?;
        if event.id != st.next_event_id {
            return Err(OutboxError::EventIdGap {
                stream: stream.clone(),
                expected: st.next_event_id,
                got: event.id,
            });
        }
        let mut rec = std::mem::take(&mut self.buf);
        rec.clear();
        rec.push(KIND_EVENT);
        put_label(&mut rec, stream);
        rec.extend_from_slice(&event.encode());
        let r = self.write_record(&rec);
        self.buf = rec;
        r?;
        if let Some(active) = self.segments.last_mut() {
            active.note_event(stream, event.seq);
        }
        if let Some(st) = self.streams.get_mut(stream) {
            st.next_event_id = event.id + 1;
        }
        Ok(())
    }

    /// After a failed write: keeps the numbering moving in memory so this process never reuses
    /// a sequence number or event id (the record goes out without durability).
    pub fn advance_unwritten(&mut self, stream: &Label, next_seq: u64, next_event_id: Option<u64>) {
        let st = self.streams.entry(stream.clone()).or_default();
        st.next_seq = st.next_seq.max(next_seq);
        if let Some(id) = next_event_id {
            st.next_event_id = st.next_event_id.max(id);
        }
    }

    /// Applies the server's watermark for a stream, then deletes the segments it fully covers.
    /// Watermarks never go back; a lower one is ignored.
    pub fn ack(&mut self, stream: &Label, through_seq: u64) -> Result<AckOutcome, OutboxError> {
        let mut outcome = AckOutcome::default();
        let st = self.streams.entry(stream.clone()).or_default();
        if st.watermark.is_some_and(|w| w >= through_seq) {
            return Ok(outcome);
        }
        // Only samples this gateway numbered count; a watermark beyond them is a jump.
        let old_end = st.watermark.map_or(0, |w| w + 1);
        outcome.newly_acked = (through_seq + 1).min(st.next_seq).saturating_sub(old_end);
        st.watermark = Some(through_seq);
        if through_seq >= st.next_seq {
            outcome.jumped = Some((st.next_seq, through_seq + 1));
            st.next_seq = through_seq + 1;
        }
        let mut rec = std::mem::take(&mut self.buf);
        rec.clear();
        rec.push(KIND_ACK);
        put_label(&mut rec, stream);
        rec.extend_from_slice(&through_seq.to_le_bytes());
        let r = self.write_record(&rec);
        self.buf = rec;
        r?;
        outcome.segments_deleted = self.delete_covered()?;
        Ok(outcome)
    }

    /// Closes the active segment when it is full and starts the next; then enforces the size
    /// bound, returning the ranges given up (the caller announces them). Call after appends.
    pub fn maintain(&mut self) -> Result<Vec<Dropped>, OutboxError> {
        let active_len = self.segments.last().map_or(0, |s| s.len);
        if active_len >= self.limits.segment_bytes {
            self.rotate()?;
        }
        let mut dropped = Vec::new();
        while self.total_bytes() > self.limits.max_bytes && self.segments.len() > 1 {
            // Remove the file first: if that fails the segment stays known (and counted).
            std::fs::remove_file(&self.segments[0].path)
                .map_err(io_err("remove", &self.segments[0].path))?;
            let seg = self.segments.remove(0);
            for (label, s) in &seg.streams {
                if !s.has_blocks {
                    continue;
                }
                let st = self.streams.get(label).copied().unwrap_or_default();
                let first = st.watermark.map_or(0, |w| w + 1).max(s.min_seq);
                if s.max_seq >= first {
                    dropped.push(Dropped {
                        stream: label.clone(),
                        first_seq: first,
                        last_seq: s.max_seq,
                    });
                    if let Some(st) = self.streams.get_mut(label) {
                        st.dropped_through = st.dropped_through.max(Some(s.max_seq));
                    }
                }
            }
            sync_dir(&self.dir)?;
        }
        for d in &dropped {
            let mut rec = std::mem::take(&mut self.buf);
            rec.clear();
            rec.push(KIND_DROPPED);
            put_label(&mut rec, &d.stream);
            rec.extend_from_slice(&d.last_seq.to_le_bytes());
            let r = self.write_record(&rec);
            self.buf = rec;
            r?;
        }
        Ok(dropped)
    }

    /// Forces everything written so far to stable storage.
    pub fn sync(&self) -> Result<(), OutboxError> {
        let path = &self.segments.last().expect("active segment").path;
        self.active.sync_data().map_err(io_err("fsync", path))
    }

    /// A handle on the active segment for an fsync on another thread (group commit). Earlier
    /// segments were synced when they were closed.
    pub fn sync_handle(&self) -> Result<File, OutboxError> {
        let path = &self.segments.last().expect("active segment").path;
        self.active.try_clone().map_err(io_err("dup", path))
    }

    /// Bytes of all segments on disk.
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Figures for heartbeats and metrics.
    pub fn depth(&self) -> Depth {
        let samples = self.streams.values().map(StreamState::unacked).sum();
        let mut oldest: Option<i64> = None;
        for (label, st) in &self.streams {
            if st.unacked() == 0 {
                continue;
            }
            let want = st.watermark.map_or(0, |w| w + 1);
            // The first segment holding unacknowledged blocks of the stream; interpolate at 4 Hz
            // from its first block (exact while the stream ran without interruption).
            let found = self.segments.iter().find_map(|seg| {
                let s = seg.streams.get(label)?;
                (s.has_blocks && s.max_seq >= want).then(|| {
                    s.min_rx_ms + want.saturating_sub(s.min_seq) as i64 * ctg_wire::SAMPLE_PERIOD_MS
                })
            });
            if let Some(t) = found {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        let bytes = self.total_bytes();
        Depth {
            samples,
            bytes,
            segments: self.segments.len(),
            oldest_rx_ms: oldest,
            full: bytes + self.limits.segment_bytes > self.limits.max_bytes,
        }
    }

    /// The position of the first record that may hold `stream`'s sample `seq` or a later one,
    /// or an event placed at or after it.
    pub fn first_position_for(&self, stream: &Label, seq: u64) -> Position {
        let seg = self
            .segments
            .iter()
            .find(|seg| {
                seg.streams.get(stream).is_some_and(|s| {
                    (s.has_blocks && s.max_seq >= seq) || s.max_event_seq.is_some_and(|e| e >= seq)
                })
            })
            .or(self.segments.last())
            .expect("active segment");
        Position { segment: seg.id, offset: 0 }
    }

    /// The end of the log now.
    pub fn end_position(&self) -> Position {
        let seg = self.segments.last().expect("active segment");
        Position { segment: seg.id, offset: seg.len }
    }

    /// Reads records from `pos` onwards until about `max_bytes` were read or the end of the log
    /// (as of now). Checkpoints, inits and acks are skipped. Advances `pos`. A segment deleted
    /// since `pos` was taken is skipped (its data was acknowledged or given up).
    pub fn read(
        &self,
        pos: &mut Position,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<(), OutboxError> {
        let mut budget = max_bytes;
        while budget > 0 {
            let Some(seg) = self.segments.iter().find(|s| s.id >= pos.segment) else {
                return Ok(());
            };
            if seg.id != pos.segment {
                *pos = Position { segment: seg.id, offset: 0 };
            }
            let start = pos.offset.max(MAGIC.len() as u64);
            if start >= seg.len {
                if seg.id == self.segments.last().map_or(0, |s| s.id) {
                    pos.offset = seg.len;
                    return Ok(());
                }
                *pos = Position { segment: seg.id + 1, offset: 0 };
                continue;
            }
            let want = ((seg.len - start) as usize).min(budget.max(MAX_RECORD.min(64 * 1024)));
            let mut f = File::open(&seg.path).map_err(io_err("open", &seg.path))?;
            f.seek(SeekFrom::Start(start)).map_err(io_err("seek", &seg.path))?;
            let mut chunk = vec![0u8; want];
            f.read_exact(&mut chunk).map_err(io_err("read", &seg.path))?;
            let mut at = 0usize;
            while at + RECORD_HEADER <= chunk.len() {
                let len =
                    u32::from_le_bytes(chunk[at..at + 4].try_into().expect("4 bytes")) as usize;
                if at + RECORD_HEADER + len > chunk.len() {
                    if at == 0 {
                        // One record longer than the chunk: read it whole.
                        let mut big = vec![0u8; RECORD_HEADER + len];
                        f.seek(SeekFrom::Start(start)).map_err(io_err("seek", &seg.path))?;
                        f.read_exact(&mut big).map_err(io_err("read", &seg.path))?;
                        chunk = big;
                        continue;
                    }
                    break;
                }
                let payload = &chunk[at + RECORD_HEADER..at + RECORD_HEADER + len];
                if let Some(rec) = parse_payload(payload) {
                    match rec {
                        Parsed::Block(stream, block) => out.push(Record::Block { stream, block }),
                        Parsed::Event(stream, event) => out.push(Record::Event { stream, event }),
                        _ => {}
                    }
                }
                at += RECORD_HEADER + len;
            }
            pos.offset = start + at as u64;
            budget = budget.saturating_sub(at.max(1));
        }
        Ok(())
    }

    fn write_record(&mut self, payload: &[u8]) -> Result<(), OutboxError> {
        if payload.len() > MAX_RECORD {
            return Err(OutboxError::TooLarge(payload.len()));
        }
        let seg = self.segments.last_mut().expect("active segment");
        let frame = frame_record(payload);
        if let Err(source) = self.active.write_all(&frame) {
            // Cut whatever part of the record reached the file so the log stays well-formed.
            let _ = self.active.set_len(seg.len);
            let _ = self.active.seek(SeekFrom::Start(seg.len));
            return Err(OutboxError::Io { op: "write", path: seg.path.clone(), source });
        }
        seg.len += frame.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), OutboxError> {
        self.sync()?;
        let id = self.segments.last().map_or(1, |s| s.id + 1);
        let (file, meta) = create_segment(&self.dir, id, &self.streams, &mut self.buf)?;
        self.active = file;
        self.segments.push(meta);
        self.delete_covered()?;
        Ok(())
    }

    /// Deletes closed segments whose every block and event the watermarks cover.
    fn delete_covered(&mut self) -> Result<usize, OutboxError> {
        let n_closed = self.segments.len().saturating_sub(1);
        let mut deleted = 0;
        let mut kept = Vec::with_capacity(self.segments.len());
        let mut result = Ok(());
        for (i, seg) in std::mem::take(&mut self.segments).into_iter().enumerate() {
            if result.is_ok() && i < n_closed && seg.covered(&self.streams) {
                match std::fs::remove_file(&seg.path) {
                    Ok(()) => {
                        deleted += 1;
                        continue;
                    }
                    Err(source) => {
                        result =
                            Err(OutboxError::Io { op: "remove", path: seg.path.clone(), source })
                    }
                }
            }
            kept.push(seg);
        }
        self.segments = kept;
        result?;
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn frame_record(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn put_label(out: &mut Vec<u8>, label: &Label) {
    out.push(label.as_str().len() as u8);
    out.extend_from_slice(label.as_str().as_bytes());
}

fn take_label(p: &[u8]) -> Option<(Label, &[u8])> {
    let (&n, rest) = p.split_first()?;
    let n = usize::from(n);
    let text = std::str::from_utf8(rest.get(..n)?).ok()?;
    Some((Label::new(text).ok()?, &rest[n..]))
}

fn take_u64(p: &[u8]) -> Option<(u64, &[u8])> {
    let bytes: [u8; 8] = p.get(..8)?.try_into().ok()?;
    Some((u64::from_le_bytes(bytes), &p[8..]))
}

enum Parsed {
    Checkpoint(Vec<(Label, StreamState)>),
    Block(Label, SampleBlock),
    Event(Label, DeviceEvent),
    Ack(Label, u64),
    Init(Label, u64, u64),
    Dropped(Label, u64),
}

fn parse_payload(p: &[u8]) -> Option<Parsed> {
    let (&kind, rest) = p.split_first()?;
    match kind {
        KIND_CHECKPOINT => {
            let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let mut rest = &rest[4..];
            let mut out = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let (label, r) = take_label(rest)?;
                let (next_seq, r) = take_u64(r)?;
                let (next_event_id, r) = take_u64(r)?;
                let (&has, r) = r.split_first()?;
                let (wm, r) = take_u64(r)?;
                let (&has_dropped, r) = r.split_first()?;
                let (dropped, r) = take_u64(r)?;
                out.push((
                    label,
                    StreamState {
                        next_seq,
                        next_event_id,
                        watermark: (has == 1).then_some(wm),
                        dropped_through: (has_dropped == 1).then_some(dropped),
                    },
                ));
                rest = r;
            }
            rest.is_empty().then_some(Parsed::Checkpoint(out))
        }
        KIND_BLOCK => {
            let (label, r) = take_label(rest)?;
            Some(Parsed::Block(label, SampleBlock::decode(r).ok()?))
        }
        KIND_EVENT => {
            let (label, r) = take_label(rest)?;
            Some(Parsed::Event(label, DeviceEvent::decode(r).ok()?))
        }
        KIND_ACK => {
            let (label, r) = take_label(rest)?;
            let (through, r) = take_u64(r)?;
            r.is_empty().then_some(Parsed::Ack(label, through))
        }
        KIND_DROPPED => {
            let (label, r) = take_label(rest)?;
            let (last, r) = take_u64(r)?;
            r.is_empty().then_some(Parsed::Dropped(label, last))
        }
        KIND_STREAM_INIT => {
            let (label, r) = take_label(rest)?;
            let (next_seq, r) = take_u64(r)?;
            let (next_event_id, r) = take_u64(r)?;
            r.is_empty().then_some(Parsed::Init(label, next_seq, next_event_id))
        }
        _ => None,
    }
}

fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))
}

/// Creates segment `id` with a checkpoint of `streams`, synced, and its directory entry synced.
fn create_segment(
    dir: &Path,
    id: u64,
    streams: &BTreeMap<Label, StreamState>,
    scratch: &mut Vec<u8>,
) -> Result<(File, SegmentMeta), OutboxError> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io_err("create", &path))?;
    scratch.clear();
    scratch.push(KIND_CHECKPOINT);
    scratch.extend_from_slice(&(streams.len() as u32).to_le_bytes());
    for (label, st) in streams {
        put_label(scratch, label);
        scratch.extend_from_slice(&st.next_seq.to_le_bytes());
        scratch.extend_from_slice(&st.next_event_id.to_le_bytes());
        scratch.push(u8::from(st.watermark.is_some()));
        scratch.extend_from_slice(&st.watermark.unwrap_or(0).to_le_bytes());
        scratch.push(u8::from(st.dropped_through.is_some()));
        scratch.extend_from_slice(&st.dropped_through.unwrap_or(0).to_le_bytes());
    }
    if scratch.len() > MAX_RECORD {
        return Err(OutboxError::TooLarge(scratch.len()));
    }
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&frame_record(scratch));
    file.write_all(&bytes).map_err(io_err("write", &path))?;
    file.sync_all().map_err(io_err("fsync", &path))?;
    sync_dir(dir)?;
    let mut meta = SegmentMeta::new(id, path);
    meta.len = bytes.len() as u64;
    Ok((file, meta))
}

/// Reads one segment, merging its state into `streams`. Cuts a torn or corrupt tail. Returns
/// `None` when the file does not even have a valid header (a crash while creating it).
fn recover_segment(
    id: u64,
    path: &Path,
    streams: &mut BTreeMap<Label, StreamState>,
    recovery: &mut Recovery,
) -> Result<Option<SegmentMeta>, OutboxError> {
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(io_err("open", path))?;
    let file_len = file.metadata().map_err(io_err("stat", path))?.len();
    let mut r = BufReader::with_capacity(64 * 1024, &file);
    let mut magic = [0u8; 8];
    if r.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Ok(None);
    }
    let mut meta = SegmentMeta::new(id, path.to_owned());
    let mut at = MAGIC.len() as u64;
    let mut header = [0u8; RECORD_HEADER];
    let mut payload = Vec::new();
    let problem = loop {
        if at == file_len {
            break None;
        }
        if let Err(e) = r.read_exact(&mut header) {
            break Some(format!("torn record header at byte {at}: {e}"));
        }
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len == 0 || len > MAX_RECORD {
            break Some(format!("bad record length {len} at byte {at}"));
        }
        payload.resize(len, 0);
        if let Err(e) = r.read_exact(&mut payload) {
            break Some(format!("torn record at byte {at}: {e}"));
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&header[..4]);
        h.update(&payload);
        if h.finalize() != crc {
            break Some(format!("checksum mismatch at byte {at}"));
        }
        let Some(parsed) = parse_payload(&payload) else {
            // Intact (checksum good) but not understood: skip it rather than cut what follows.
            recovery
                .notes
                .push(format!("{}: skipped an unreadable record at byte {at}", path.display()));
            at += (RECORD_HEADER + len) as u64;
            continue;
        };
        recovery.records += 1;
        match parsed {
            Parsed::Checkpoint(list) => {
                for (label, st) in list {
                    streams.entry(label).or_default().merge(&st);
                }
            }
            Parsed::Init(label, next_seq, next_event_id) => {
                streams.entry(label).or_default().merge(&StreamState {
                    next_seq,
                    next_event_id,
                    ..Default::default()
                });
            }
            Parsed::Dropped(label, last) => {
                let st = streams.entry(label).or_default();
                st.dropped_through = st.dropped_through.max(Some(last));
            }
            Parsed::Block(label, block) => {
                recovery.blocks += 1;
                let last = block.last_seq();
                meta.note_block(&label, block.first_seq, last, block.rx_utc_ms);
                let st = streams.entry(label).or_default();
                st.next_seq = st.next_seq.max(last + 1);
            }
            Parsed::Event(label, event) => {
                meta.note_event(&label, event.seq);
                let st = streams.entry(label).or_default();
                st.next_event_id = st.next_event_id.max(event.id + 1);
            }
            Parsed::Ack(label, through) => {
                let st = streams.entry(label).or_default();
                st.watermark = st.watermark.max(Some(through));
                st.next_seq = st.next_seq.max(through + 1);
            }
        }
        at += (RECORD_HEADER + len) as u64;
    };
    if let Some(why) = problem {
        drop(r);
        recovery.truncated_bytes += file_len - at;
        recovery.notes.push(format!("{}: {why}; cut {} bytes", path.display(), file_len - at));
        file.set_len(at).map_err(io_err("truncate", path))?;
        file.sync_all().map_err(io_err("fsync", path))?;
    }
    meta.len = at;
    Ok(Some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctg_wire::{Bpm, EventKind, Sample};

    const T0: i64 = 1_790_000_000_000;

    fn limits() -> OutboxLimits {
        OutboxLimits { max_bytes: 1 << 30, segment_bytes: 1 << 20 }
    }

    fn label(s: &str) -> Label {
        Label::new(s).unwrap()
    }

    fn block(seq: u64) -> SampleBlock {
        SampleBlock {
            first_seq: seq,
            rx_utc_ms: T0 + seq as i64 * 250,
            samples: vec![Sample {
                fhr1: Bpm::from_whole(120 + (seq % 40) as u16),
                ..Sample::EMPTY
            }],
            ..Default::default()
        }
    }

    fn read_all(o: &Outbox) -> Vec<Record> {
        let mut pos = Position { segment: 0, offset: 0 };
        let mut out = Vec::new();
        o.read(&mut pos, usize::MAX, &mut out).unwrap();
        out
    }

    fn seqs(records: &[Record], stream: &Label) -> Vec<u64> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Block { stream: s, block } if s == stream => Some(block.first_seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn blocks_survive_reopen_and_sequence_continues() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        {
            let (mut o, rec) = Outbox::open(dir.path(), limits()).unwrap();
            assert_eq!(rec, Recovery::default());
            o.init_stream(&a, 0, 0).unwrap();
            for s in 0..100 {
                o.append_block(&a, &block(s)).unwrap();
            }
            let e = DeviceEvent::new(0, T0, 50, EventKind::PaperOut { active: true });
            o.append_event(&a, &e).unwrap();
            assert!(matches!(
                o.append_block(&a, &block(7)),
                Err(OutboxError::SequenceGap { expected: 100, .. })
            ));
        }
        let (o, rec) = Outbox::open(dir.path(), limits()).unwrap();
        assert_eq!(rec.blocks, 100);
        assert_eq!(o.stream(&a).unwrap().next_seq, 100);
        assert_eq!(o.stream(&a).unwrap().next_event_id, 1);
        let records = read_all(&o);
        assert_eq!(seqs(&records, &a), (0..100).collect::<Vec<_>>());
        assert!(
            records.iter().any(|r| matches!(r, Record::Event { event, .. } if event.seq == 50))
        );
    }

    #[test]
    fn second_process_on_the_same_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Outbox::open(dir.path(), limits()).unwrap();
        assert!(matches!(Outbox::open(dir.path(), limits()), Err(OutboxError::Locked(_))));
    }

    #[test]
    fn torn_tail_is_cut_and_nothing_before_it_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        let seg_path;
        {
            let (mut o, _) = Outbox::open(dir.path(), limits()).unwrap();
            o.init_stream(&a, 0, 0).unwrap();
            for s in 0..10 {
                o.append_block(&a, &block(s)).unwrap();
            }
            seg_path = o.segments.last().unwrap().path.clone();
        }
        // A kill -9 in the middle of the 11th write: half a record at the end.
        let full = frame_record(&{
            let mut p = vec![KIND_BLOCK];
            put_label(&mut p, &a);
            block(10).encode_into(&mut p);
            p
        });
        let mut f = OpenOptions::new().append(true).open(&seg_path).unwrap();
        f.write_all(&full[..full.len() / 2]).unwrap();
        drop(f);
        let (mut o, rec) = Outbox::open(dir.path(), limits()).unwrap();
        assert_eq!(rec.truncated_bytes, (full.len() / 2) as u64, "{rec:?}");
        assert_eq!(o.stream(&a).unwrap().next_seq, 10, "the torn sample was never published");
        o.append_block(&a, &block(10)).unwrap();
        assert_eq!(seqs(&read_all(&o), &a), (0..11).collect::<Vec<_>>());
    }

    #[test]
    fn corrupt_bytes_are_detected_by_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        let seg_path;
        {
            let (mut o, _) = Outbox::open(dir.path(), limits()).unwrap();
            o.init_stream(&a, 0, 0).unwrap();
            for s in 0..10 {
                o.append_block(&a, &block(s)).unwrap();
            }
            seg_path = o.segments.last().unwrap().path.clone();
        }
        let mut bytes = std::fs::read(&seg_path).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x40; // flip a bit in the last record
        std::fs::write(&seg_path, &bytes).unwrap();
        let (o, rec) = Outbox::open(dir.path(), limits()).unwrap();
        assert!(rec.notes.iter().any(|n| n.contains("checksum")), "{rec:?}");
        assert_eq!(seqs(&read_all(&o), &a), (0..9).collect::<Vec<_>>());
        // Garbage instead of a length: also cut, never a panic.
        let mut bytes = std::fs::read(&seg_path).unwrap();
        bytes.extend_from_slice(&[0xff; 5]);
        std::fs::write(&seg_path, &bytes).unwrap();
        drop(o);
        let (_o, rec) = Outbox::open(dir.path(), limits()).unwrap();
        assert_eq!(rec.truncated_bytes, 5);
    }

    #[test]
    fn acknowledged_segments_are_deleted_and_state_survives_their_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        let small = OutboxLimits { max_bytes: 1 << 30, segment_bytes: 4096 };
        {
            let (mut o, _) = Outbox::open(dir.path(), small).unwrap();
            o.init_stream(&a, 0, 0).unwrap();
            for s in 0..1000 {
                o.append_block(&a, &block(s)).unwrap();
                assert!(o.maintain().unwrap().is_empty());
            }
            let n = o.segments.len();
            assert!(n > 5, "{n}");
            let out = o.ack(&a, 499).unwrap();
            assert_eq!(out.newly_acked, 500);
            assert!(out.segments_deleted > 0 && out.segments_deleted < n);
            assert_eq!(o.depth().samples, 500);
            let first = seqs(&read_all(&o), &a)[0];
            assert!(first <= 500, "unacknowledged data is kept");
            o.ack(&a, 999).unwrap();
            assert_eq!(o.segments.len(), 1, "everything but the active segment deleted");
            assert_eq!(o.depth().samples, 0);
            assert_eq!(o.depth().oldest_rx_ms, None);
        }
        let (o, _) = Outbox::open(dir.path(), small).unwrap();
        let st = o.stream(&a).unwrap();
        assert_eq!((st.next_seq, st.watermark), (1000, Some(999)));
    }

    #[test]
    fn full_outbox_drops_oldest_and_reports_exact_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (label("bed-1"), label("bed-2"));
        let tight = OutboxLimits { max_bytes: 16 * 1024, segment_bytes: 4096 };
        let (mut o, _) = Outbox::open(dir.path(), tight).unwrap();
        o.init_stream(&a, 0, 0).unwrap();
        o.init_stream(&b, 0, 0).unwrap();
        o.ack(&b, 0).unwrap();
        let mut dropped = Vec::new();
        for s in 0..2000 {
            o.append_block(&a, &block(s)).unwrap();
            if s >= 1 {
                o.append_block(&b, &block(s)).unwrap();
            }
            dropped.extend(o.maintain().unwrap());
            assert!(o.total_bytes() <= tight.max_bytes);
        }
        assert!(o.depth().full);
        // The dropped ranges plus what is still stored are every sample, each once.
        for (stream, first) in [(&a, 0u64), (&b, 1u64)] {
            let mut all: Vec<u64> = dropped
                .iter()
                .filter(|d| &d.stream == stream)
                .flat_map(|d| d.first_seq..=d.last_seq)
                .collect();
            all.extend(seqs(&read_all(&o), stream));
            all.sort_unstable();
            assert_eq!(all, (first..2000).collect::<Vec<_>>(), "{stream}");
        }
        let oldest = o.depth().oldest_rx_ms.unwrap();
        let first_kept = seqs(&read_all(&o), &a)[0];
        assert_eq!(
            oldest,
            block(first_kept).rx_utc_ms.min(block(seqs(&read_all(&o), &b)[0]).rx_utc_ms)
        );
        // What was given up is remembered across a restart (to be announced again).
        let last_dropped_a = dropped.iter().filter(|d| d.stream == a).map(|d| d.last_seq).max();
        assert_eq!(last_dropped_a, Some(first_kept - 1));
        drop(o);
        let (o, _) = Outbox::open(dir.path(), tight).unwrap();
        assert_eq!(o.stream(&a).unwrap().dropped_through, last_dropped_a);
    }

    #[test]
    fn a_watermark_beyond_our_numbering_moves_it_forward() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        let (mut o, _) = Outbox::open(dir.path(), limits()).unwrap();
        o.init_stream(&a, 0, 0).unwrap();
        o.append_block(&a, &block(0)).unwrap();
        let out = o.ack(&a, 41).unwrap();
        assert_eq!(out.jumped, Some((1, 42)));
        assert_eq!(o.stream(&a).unwrap().next_seq, 42);
        assert_eq!(o.ack(&a, 10).unwrap(), AckOutcome::default(), "watermarks never go back");
        drop(o);
        let (o, _) = Outbox::open(dir.path(), limits()).unwrap();
        assert_eq!(o.stream(&a).unwrap().next_seq, 42);
    }

    #[test]
    fn reading_resumes_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let a = label("bed-1");
        let (mut o, _) =
            Outbox::open(dir.path(), OutboxLimits { max_bytes: 1 << 30, segment_bytes: 4096 })
                .unwrap();
        o.init_stream(&a, 0, 0).unwrap();
        for s in 0..500 {
            o.append_block(&a, &block(s)).unwrap();
            o.maintain().unwrap();
        }
        let mut pos = o.first_position_for(&a, 0);
        let mut got = Vec::new();
        loop {
            let mut out = Vec::new();
            o.read(&mut pos, 300, &mut out).unwrap();
            if out.is_empty() {
                break;
            }
            got.extend(seqs(&out, &a));
        }
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert_eq!(pos, o.end_position());
        let mid = o.first_position_for(&a, 400);
        assert!(mid.segment > o.first_position_for(&a, 0).segment);
    }
}
