//! Decoded messages → 4 Hz samples of the wire contract, plus the low-rate device events.
//!
//! # The framing rule
//!
//! A sample is one monitor tick (250 ms). Messages fill the open sample's slots: HR1, HR2 and
//! movement once each, uterine activity twice; marks are OR-ed in. The open sample is finished,
//! and the message starts the next one, when the message cannot belong to it:
//!
//! 1. a heart rate 1, always: HR1 comes once per tick, first in the tick, and marks it (a
//!    monitor that sends some values before HR1 gets them in the previous sample, a shift of less
//!    than one tick, never an extra or a missing sample);
//! 2. any message whose slot is already filled (a second HR2 or movement, a third UA), so that a
//!    lost HR1 frame does not merge two ticks;
//! 3. only while HR1 is silent (none received for [`HR1_SILENT_MS`], e.g. Transmit/Receive without
//!    HR1, or a monitor with only a TOCO transducer): any message arriving [`TICK_SPLIT_MS`] (¾ of
//!    a tick) or more after the sample opened, so a monitor sending UA at 4/s still gives 4 Hz.
//!    While HR1 flows, arrival times are ignored: a burst after a stalled serial read still
//!    splits into the right ticks.
//!
//! A sample is also finished as soon as it is **complete**: HR1, HR2, movement and both UA
//! readings received. Nothing else periodic can belong to it then (rule 2 would split on any of
//! them), so finishing early changes no sample; it only removes up to a tick of latency for a
//! monitor in Update mode, which sends all of them every tick. An event mark arriving after its
//! tick is complete is carried into the next sample (a shift of less than one tick, as for values
//! sent before HR1); a carried mark is only lost if the input ends right after it.
//!
//! [`Framer::poll`] finishes the open sample from a timer when nothing more of its tick can come
//! (see its documentation); [`Framer::flush`] finishes it unconditionally at the end of input.
//! Every finished sample carries `opened_ms`, the `now_ms` of its first message: what a gateway
//! stamps as its receive time.
//!
//! Values: the two UA readings of a tick are folded with `max`, so a contraction peak is never
//! lost (a sentinel counts as no reading; both sentinels give `None`). Heart rates outside
//! 30–240 bpm and UA above 127 are outside the wire contract: they become `None` and are counted
//! in [`FramerStats::out_of_range`], never clamped to a wrong number. Movement "not fitted" or
//! "disabled" is `None`. The Corometrics wire carries no signal quality (`Unknown`) and no
//! maternal heart rate channel of its own: HR2 is reported as FHR2.
//!
//! Modes and paper-out are reported when they change (the monitor repeats them); annotations as
//! they come.

use ctg_wire::{Bpm, Sample, Toco};
use serde::Serialize;

use super::Message;

/// While HR1 is silent, a message this long after the open sample began starts the next one.
pub const TICK_SPLIT_MS: i64 = 188;
/// HR1 counts as silent once none has arrived for this long.
pub const HR1_SILENT_MS: i64 = 1000;
/// While HR1 flows, [`Framer::poll`] finishes a sample this long after it opened: the next HR1
/// is overdue.
pub const POLL_HR1_OVERDUE_MS: i64 = 500;

/// What the framer produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FramerOutput {
    /// A finished 4 Hz sample and the time its first message arrived.
    Sample {
        sample: Sample,
        opened_ms: i64,
    },
    /// The transducer modes changed (raw mode characters).
    Modes {
        hr: u8,
        ua: u8,
    },
    /// The recorder ran out of paper (`true`) or was refilled (`false`).
    PaperOut(bool),
    Annotation(String),
}

/// Counters for monitoring a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FramerStats {
    pub samples: u64,
    /// Values the monitor sent that the wire contract cannot carry; each became `None`.
    pub out_of_range: u64,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Hr1,
    Hr2,
    Ua,
    Movement,
    Mark,
}

#[derive(Debug, Clone)]
struct Open {
    opened_ms: i64,
    sample: Sample,
    hr1: bool,
    hr2: bool,
    movement: bool,
    ua: u8,
}

impl Open {
    fn is_full(&self, slot: Slot) -> bool {
        match slot {
            Slot::Hr1 => true,
            Slot::Hr2 => self.hr2,
            Slot::Movement => self.movement,
            Slot::Ua => self.ua >= 2,
            Slot::Mark => false,
        }
    }

    /// Every periodic slot of a tick is filled.
    fn is_complete(&self) -> bool {
        self.hr1 && self.hr2 && self.movement && self.ua >= 2
    }
}

/// Folds [`Message`]s into 4 Hz [`Sample`]s; see the module documentation for the rule.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    open: Option<Open>,
    last_hr1_ms: Option<i64>,
    modes: Option<(u8, u8)>,
    paper_out: Option<bool>,
    /// An event mark that arrived after its tick was complete, for the next sample.
    pending_mark: bool,
    stats: FramerStats,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message received at `now_ms`; returns what it finished, in order.
    pub fn push(&mut self, msg: Message, now_ms: i64) -> Vec<FramerOutput> {
        let mut out = Vec::new();
        match msg {
            Message::Modes { hr, ua } => {
                if self.modes.replace((hr, ua)) != Some((hr, ua)) {
                    out.push(FramerOutput::Modes { hr, ua });
                }
            }
            Message::PaperOut(p) => {
                if self.paper_out.replace(p) != Some(p) {
                    out.push(FramerOutput::PaperOut(p));
                }
            }
            Message::Annotation(text) => out.push(FramerOutput::Annotation(text)),
            Message::HeartRate1(v) => {
                let bpm = self.bpm(v);
                let open = self.slot(Slot::Hr1, now_ms, &mut out);
                open.sample.fhr1 = bpm;
                open.hr1 = true;
                self.last_hr1_ms = Some(now_ms);
                self.finish_if_complete(&mut out);
            }
            Message::HeartRate2(v) => {
                let bpm = self.bpm(v);
                let open = self.slot(Slot::Hr2, now_ms, &mut out);
                open.sample.fhr2 = bpm;
                open.hr2 = true;
                self.finish_if_complete(&mut out);
            }
            Message::UterineActivity(v) => {
                let toco = v.and_then(|v| {
                    let t = Toco::new(v);
                    self.stats.out_of_range += u64::from(t.is_none());
                    t
                });
                let open = self.slot(Slot::Ua, now_ms, &mut out);
                open.sample.toco = open.sample.toco.max(toco);
                open.ua += 1;
                self.finish_if_complete(&mut out);
            }
            Message::FetalMovement(m) => {
                let open = self.slot(Slot::Movement, now_ms, &mut out);
                open.sample.movement = m.to_wire();
                open.movement = true;
                self.finish_if_complete(&mut out);
            }
            // With HR1 flowing and no sample open, the tick of this mark is already complete:
            // opening a sample for the mark alone would add a sample, so it waits for the next.
            Message::EventMark if self.open.is_none() && !self.hr1_silent(now_ms) => {
                self.pending_mark = true;
            }
            Message::EventMark => self.slot(Slot::Mark, now_ms, &mut out).sample.mark = true,
        }
        out
    }

    /// Timer hook: finishes the open sample when nothing more of its tick can arrive by `now_ms`:
    /// [`TICK_SPLIT_MS`] after it opened while HR1 is silent (a later message would start a new
    /// sample anyway), [`POLL_HR1_OVERDUE_MS`] while HR1 flows (the next HR1 is overdue; the
    /// monitor has gone quiet).
    pub fn poll(&mut self, now_ms: i64) -> Vec<FramerOutput> {
        let wait = if self.hr1_silent(now_ms) { TICK_SPLIT_MS } else { POLL_HR1_OVERDUE_MS };
        match &self.open {
            Some(o) if now_ms.saturating_sub(o.opened_ms) >= wait => {
                self.finish().into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// End of input (file end, link down): finishes the open sample whatever the time. Not for
    /// timers, which would split ticks; use [`poll`](Self::poll). `now_ms` is the time of the end
    /// of input; HR1 counts as silent from then on, so a stream that resumes is framed afresh.
    pub fn flush(&mut self, now_ms: i64) -> Vec<FramerOutput> {
        if self.last_hr1_ms.is_some_and(|t| t <= now_ms) {
            self.last_hr1_ms = None;
        }
        self.finish().into_iter().collect()
    }

    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// When the open sample received its first message (`now_ms` of that push), if one is open:
    /// what a gateway stamps the sample with when it is finished.
    pub fn open_since_ms(&self) -> Option<i64> {
        self.open.as_ref().map(|o| o.opened_ms)
    }

    fn hr1_silent(&self, now_ms: i64) -> bool {
        self.last_hr1_ms.is_none_or(|t| now_ms.saturating_sub(t) >= HR1_SILENT_MS)
    }

    fn bpm(&mut self, v: Option<u16>) -> Option<Bpm> {
        let v = v?;
        let bpm = Bpm::from_whole(v);
        self.stats.out_of_range += u64::from(bpm.is_none());
        bpm
    }

    fn finish(&mut self) -> Option<FramerOutput> {
        let open = self.open.take()?;
        self.stats.samples += 1;
        Some(FramerOutput::Sample { sample: open.sample, opened_ms: open.opened_ms })
    }

    fn finish_if_complete(&mut self, out: &mut Vec<FramerOutput>) {
        if self.open.as_ref().is_some_and(Open::is_complete) {
            out.extend(self.finish());
        }
    }

    /// The sample a message for `slot` at `now_ms` belongs to, finishing the open one first when
    /// the rule says so.
    fn slot(&mut self, slot: Slot, now_ms: i64, out: &mut Vec<FramerOutput>) -> &mut Open {
        let silent = self.hr1_silent(now_ms);
        let split = self.open.as_ref().is_some_and(|o| {
            o.is_full(slot) || (silent && now_ms.saturating_sub(o.opened_ms) >= TICK_SPLIT_MS)
        });
        if split {
            out.extend(self.finish());
        }
        let pending_mark = &mut self.pending_mark;
        self.open.get_or_insert_with(|| Open {
            opened_ms: now_ms,
            sample: Sample { mark: std::mem::take(pending_mark), ..Sample::EMPTY },
            hr1: false,
            hr2: false,
            movement: false,
            ua: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corometrics::MovementReport;
    use ctg_wire::Movement;

    fn samples(outs: &[FramerOutput]) -> Vec<Sample> {
        outs.iter()
            .filter_map(|o| match o {
                FramerOutput::Sample { sample, .. } => Some(*sample),
                _ => None,
            })
            .collect()
    }

    fn run(msgs: &[(i64, Message)]) -> (Vec<FramerOutput>, FramerStats) {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for (t, m) in msgs {
            out.extend(f.push(m.clone(), *t));
        }
        let end = msgs.last().map_or(0, |(t, _)| *t);
        out.extend(f.flush(end));
        (out, f.stats())
    }

    fn bpm(v: u16) -> Option<Bpm> {
        Bpm::from_whole(v)
    }

    #[test]
    fn one_sample_per_hr1_tick_with_ua_max() {
        use Message::*;
        let msgs = vec![
            (0, HeartRate1(Some(140))),
            (0, EventMark),
            (0, UterineActivity(Some(10))),
            (0, HeartRate2(None)),
            (0, FetalMovement(MovementReport::Movement)),
            (0, UterineActivity(Some(30))),
            (250, HeartRate1(None)),
            (250, UterineActivity(None)),
            (250, HeartRate2(Some(150))),
            (250, FetalMovement(MovementReport::NotFitted)),
            (250, UterineActivity(Some(20))),
        ];
        let (out, stats) = run(&msgs);
        let s = samples(&out);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].fhr1, s[0].fhr2, s[0].toco), (bpm(140), None, Toco::new(30)));
        assert_eq!((s[0].movement, s[0].mark), (Some(Movement::Detected), true));
        assert_eq!((s[1].fhr1, s[1].fhr2, s[1].toco), (None, bpm(150), Toco::new(20)));
        assert_eq!((s[1].movement, s[1].mark), (None, false));
        assert_eq!(stats, FramerStats { samples: 2, out_of_range: 0 });
    }

    #[test]
    fn a_complete_tick_is_finished_without_waiting_for_the_next() {
        use Message::*;
        let mut f = Framer::new();
        assert!(f.push(HeartRate1(Some(140)), 0).is_empty());
        assert!(f.push(UterineActivity(Some(10)), 2).is_empty());
        assert!(f.push(HeartRate2(None), 4).is_empty());
        assert!(f.push(FetalMovement(MovementReport::None), 6).is_empty());
        let out = f.push(UterineActivity(Some(12)), 8);
        assert_eq!(
            out,
            vec![FramerOutput::Sample {
                sample: Sample {
                    fhr1: bpm(140),
                    toco: Toco::new(12),
                    movement: Some(Movement::None),
                    ..Sample::EMPTY
                },
                opened_ms: 0,
            }]
        );
        // A mark after the complete tick goes to the next sample, and adds none.
        assert!(f.push(EventMark, 10).is_empty());
        assert!(f.push(HeartRate1(Some(141)), 250).is_empty());
        let s = samples(&f.flush(260));
        assert_eq!(s.len(), 1);
        assert!(s[0].mark);
        assert_eq!(f.stats().samples, 2);
    }

    #[test]
    fn both_ua_sentinels_stay_none() {
        use Message::*;
        let (out, _) = run(&[
            (0, HeartRate1(Some(140))),
            (0, UterineActivity(None)),
            (0, UterineActivity(None)),
        ]);
        assert_eq!(samples(&out)[0].toco, None);
    }

    #[test]
    fn out_of_range_values_become_none_and_are_counted() {
        use Message::*;
        let (out, stats) = run(&[
            (0, HeartRate1(Some(250))),
            (0, HeartRate2(Some(20))),
            (0, UterineActivity(Some(200))),
            (0, UterineActivity(Some(5))),
        ]);
        let s = samples(&out);
        assert_eq!((s[0].fhr1, s[0].fhr2, s[0].toco), (None, None, Toco::new(5)));
        assert_eq!(stats.out_of_range, 3);
    }

    #[test]
    fn burst_after_stalled_read_splits_by_hr1() {
        use Message::*;
        // Three ticks arrive in one read at the same time.
        let mut msgs = Vec::new();
        for hr in [140, 141, 142] {
            msgs.extend([
                (1000, HeartRate1(Some(hr))),
                (1000, UterineActivity(Some(1))),
                (1000, UterineActivity(Some(2))),
            ]);
        }
        let s = samples(&run(&msgs).0);
        assert_eq!(
            s.iter().map(|s| s.fhr1).collect::<Vec<_>>(),
            vec![bpm(140), bpm(141), bpm(142)]
        );
    }

    #[test]
    fn a_tick_split_across_two_reads_stays_one_sample_while_hr1_flows() {
        use Message::*;
        let msgs = vec![
            (0, HeartRate1(Some(140))),
            (0, UterineActivity(Some(1))),
            (200, HeartRate2(Some(150))),
            (200, UterineActivity(Some(2))),
            (250, HeartRate1(Some(141))),
        ];
        let s = samples(&run(&msgs).0);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].fhr1, s[0].fhr2, s[0].toco), (bpm(140), bpm(150), Toco::new(2)));
    }

    #[test]
    fn lost_hr1_frame_does_not_merge_ticks() {
        use Message::*;
        let msgs = vec![
            (0, HeartRate1(Some(140))),
            (0, HeartRate2(Some(150))),
            // tick 2: HR1 frame lost on the line
            (250, HeartRate2(Some(151))),
            (500, HeartRate1(Some(142))),
            (500, HeartRate2(Some(152))),
        ];
        let s = samples(&run(&msgs).0);
        assert_eq!(
            s.iter().map(|s| (s.fhr1, s.fhr2)).collect::<Vec<_>>(),
            vec![(bpm(140), bpm(150)), (None, bpm(151)), (bpm(142), bpm(152))]
        );
    }

    #[test]
    fn without_hr1_samples_follow_time() {
        use Message::*;
        // UA only, at 4/s (one reading per tick), with ±40 ms jitter.
        let times = [0, 260, 490, 790, 1000, 1240];
        let msgs: Vec<_> =
            times.iter().enumerate().map(|(i, &t)| (t, UterineActivity(Some(i as u8)))).collect();
        let s = samples(&run(&msgs).0);
        assert_eq!(
            s.iter().map(|s| s.toco.map(Toco::value)).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)]
        );
        // UA at 8/s: two readings per sample.
        let msgs: Vec<_> = (0..8).map(|i| (i * 125, UterineActivity(Some(i as u8)))).collect();
        let s = samples(&run(&msgs).0);
        assert_eq!(
            s.iter().map(|s| s.toco.map(Toco::value)).collect::<Vec<_>>(),
            vec![Some(1), Some(3), Some(5), Some(7)]
        );
    }

    #[test]
    fn poll_finishes_a_quiet_sample_and_not_an_early_one() {
        use Message::*;
        let mut f = Framer::new();
        assert_eq!(f.open_since_ms(), None);
        assert!(f.push(HeartRate1(Some(140)), 0).is_empty());
        assert!(f.push(UterineActivity(Some(3)), 20).is_empty());
        assert_eq!(f.open_since_ms(), Some(0));
        assert!(f.poll(300).is_empty(), "next HR1 not overdue yet");
        assert_eq!(samples(&f.poll(500)).len(), 1);
        assert_eq!(f.open_since_ms(), None);
        assert!(f.poll(10_000).is_empty());
        // HR1 silent now: UA-only samples are finished after ¾ tick.
        assert!(f.push(UterineActivity(Some(3)), 20_000).is_empty());
        assert!(f.poll(20_100).is_empty());
        assert_eq!(samples(&f.poll(20_000 + TICK_SPLIT_MS)).len(), 1);
    }

    #[test]
    fn modes_and_paper_out_are_reported_on_change() {
        use Message::*;
        let (out, _) = run(&[
            (0, Modes { hr: b'U', ua: b'T' }),
            (0, PaperOut(true)),
            (1000, PaperOut(true)),
            (60_000, Modes { hr: b'U', ua: b'T' }),
            (60_500, Modes { hr: b'E', ua: b'T' }),
            (61_000, PaperOut(false)),
            (61_000, Annotation("x".into())),
        ]);
        assert_eq!(
            out,
            vec![
                FramerOutput::Modes { hr: b'U', ua: b'T' },
                FramerOutput::PaperOut(true),
                FramerOutput::Modes { hr: b'E', ua: b'T' },
                FramerOutput::PaperOut(false),
                FramerOutput::Annotation("x".into()),
            ]
        );
    }

    #[test]
    fn clock_going_backwards_does_not_panic_or_split() {
        use Message::*;
        let (out, _) =
            run(&[(i64::MAX, HeartRate1(Some(140))), (i64::MIN, UterineActivity(Some(1)))]);
        assert_eq!(samples(&out).len(), 1);
    }
}
