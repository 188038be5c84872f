//! The alarm engine: pure state machines that turn per-condition observations into raise and
//! clear transitions, with hysteresis, minimum durations and priorities. No I/O, no clock: every
//! observation carries its time (sample time for clinical conditions, so a simulator running
//! faster than real time raises alarms at the same points of the trace; wall-clock time for a
//! stale stream).
//!
//! Rules:
//! * A condition must be observed at its alarm level for `raise_after_ms` before it raises, and at
//!   its normal level for `clear_after_ms` before an active alarm clears. Readings between the two
//!   levels ([`Level::Hold`]) keep the current state and restart both timers (hysteresis).
//! * [`Level::CannotAssess`] (a window that is mostly missing) never raises and never clears: an
//!   alarm is not raised on data that cannot be judged, and an active one is not declared over
//!   because the signal went away. Signal loss has its own technical alarm.
//! * An alarm that becomes worse while active is re-raised at the higher priority (a new alarm,
//!   so it sounds again even if the lower one was acknowledged). It never de-escalates while
//!   active.
//! * Acknowledgement silences an active alarm until its condition clears; a recurrence after
//!   that raises a new alarm.

use std::collections::BTreeMap;

use crate::model::{AlarmKind, AlarmPriority, Millis};

/// What one observation says about a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The alarm condition holds, at this priority.
    Alarm(AlarmPriority),
    /// Clearly normal (past the clearing threshold).
    Normal,
    /// Between the raising and clearing thresholds: keep the current state.
    Hold,
    /// Not enough valid signal to judge.
    CannotAssess,
}

/// Timing of one kind of alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub raise_after_ms: Millis,
    pub clear_after_ms: Millis,
}

/// The timing of each kind. Clinical conditions are already judged over windows of minutes by
/// the analysis, so short confirmations suffice; technical ones react within seconds.
pub const fn rule(kind: AlarmKind) -> Rule {
    match kind {
        // A whole 10-min window (or at least 5 min of it) is already behind the classification.
        AlarmKind::Pathological => Rule { raise_after_ms: 30_000, clear_after_ms: 180_000 },
        // The deceleration is prolonged once it has lasted 2 min (NICHD, JSOG); the analysis
        // reports it at that point.
        AlarmKind::ProlongedDeceleration => Rule { raise_after_ms: 0, clear_after_ms: 30_000 },
        // On top of the 3-min mean below 100 bpm the condition itself requires.
        AlarmKind::Bradycardia => Rule { raise_after_ms: 60_000, clear_after_ms: 60_000 },
        AlarmKind::Tachysystole => Rule { raise_after_ms: 0, clear_after_ms: 120_000 },
        // Coincidence over a minute, confirmed for 30 s: short pushes of the maternal pulse
        // through the fetal channel are common and not worth an alarm.
        AlarmKind::MaternalHeartRate => Rule { raise_after_ms: 30_000, clear_after_ms: 60_000 },
        AlarmKind::SignalLoss => Rule { raise_after_ms: 30_000, clear_after_ms: 15_000 },
        // The page already shows a stale bed at once; the stored alarm needs it to last.
        AlarmKind::StaleStream => Rule { raise_after_ms: 2_000, clear_after_ms: 2_000 },
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Raise { kind: AlarmKind, priority: AlarmPriority },
    Clear { kind: AlarmKind },
}

/// One condition's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tracker {
    active: Option<AlarmPriority>,
    acknowledged: bool,
    /// Since when the condition has been at its alarm level.
    alarm_since: Option<Millis>,
    normal_since: Option<Millis>,
}

impl Tracker {
    fn observe(&mut self, kind: AlarmKind, level: Level, t: Millis) -> Vec<Transition> {
        let r = rule(kind);
        let mut out = Vec::new();
        match level {
            Level::Alarm(p) => {
                self.normal_since = None;
                let since = match self.alarm_since {
                    // A clock going backwards (a new trace) starts the confirmation again.
                    Some(s) if s <= t => s,
                    _ => t,
                };
                self.alarm_since = Some(since);
                if t - since >= r.raise_after_ms {
                    match self.active {
                        None => {
                            self.active = Some(p);
                            self.acknowledged = false;
                            out.push(Transition::Raise { kind, priority: p });
                        }
                        Some(current) if p > current => {
                            self.active = Some(p);
                            self.acknowledged = false;
                            out.push(Transition::Clear { kind });
                            out.push(Transition::Raise { kind, priority: p });
                        }
                        Some(_) => {}
                    }
                }
            }
            Level::Normal => {
                self.alarm_since = None;
                let since = match self.normal_since {
                    Some(s) if s <= t => s,
                    _ => t,
                };
                self.normal_since = Some(since);
                if self.active.is_some() && t - since >= r.clear_after_ms {
                    self.active = None;
                    self.acknowledged = false;
                    out.push(Transition::Clear { kind });
                }
            }
            Level::Hold | Level::CannotAssess => {
                self.alarm_since = None;
                self.normal_since = None;
            }
        }
        out
    }
}

/// The alarm state of one binding (one patient's stream).
#[derive(Debug, Clone, Default)]
pub struct AlarmEngine {
    trackers: BTreeMap<AlarmKind, Tracker>,
}

impl AlarmEngine {
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine that starts with these alarms active (open alarms found in the store after a
    /// restart), so they clear when their condition does instead of being raised twice.
    pub fn with_active(active: impl IntoIterator<Item = (AlarmKind, AlarmPriority, bool)>) -> Self {
        let mut e = Self::new();
        for (kind, priority, acknowledged) in active {
            let t = e.trackers.entry(kind).or_default();
            t.active = Some(priority);
            t.acknowledged = acknowledged;
        }
        e
    }

    /// Feeds one observation of a condition at time `t`.
    pub fn observe(&mut self, kind: AlarmKind, level: Level, t: Millis) -> Vec<Transition> {
        self.trackers.entry(kind).or_default().observe(kind, level, t)
    }

    /// Silences an active alarm until its condition clears. Returns false when there is no
    /// active, unacknowledged alarm of that kind.
    pub fn acknowledge(&mut self, kind: AlarmKind) -> bool {
        match self.trackers.get_mut(&kind) {
            Some(t) if t.active.is_some() && !t.acknowledged => {
                t.acknowledged = true;
                true
            }
            _ => false,
        }
    }

    /// The priority of the active alarm of a kind, if any.
    pub fn active(&self, kind: AlarmKind) -> Option<AlarmPriority> {
        self.trackers.get(&kind).and_then(|t| t.active)
    }

    /// Active and not acknowledged: what should sound.
    pub fn sounding(&self) -> Vec<(AlarmKind, AlarmPriority)> {
        self.trackers
            .iter()
            .filter(|(_, t)| !t.acknowledged)
            .filter_map(|(k, t)| t.active.map(|p| (*k, p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmKind::*;
    use AlarmPriority::*;

    /// Feeds `level` every second from `from` to `to` (inclusive) and collects the transitions.
    fn run(
        e: &mut AlarmEngine,
        kind: AlarmKind,
        level: Level,
        from: i64,
        to: i64,
    ) -> Vec<Transition> {
        (from..=to).step_by(1000).flat_map(|t| e.observe(kind, level, t)).collect()
    }

    #[test]
    fn raises_only_after_the_minimum_duration_and_once() {
        let mut e = AlarmEngine::new();
        let r = rule(SignalLoss);
        assert!(run(&mut e, SignalLoss, Level::Alarm(Low), 0, r.raise_after_ms - 1000).is_empty());
        assert_eq!(
            e.observe(SignalLoss, Level::Alarm(Low), r.raise_after_ms),
            vec![Transition::Raise { kind: SignalLoss, priority: Low }]
        );
        assert!(run(&mut e, SignalLoss, Level::Alarm(Low), r.raise_after_ms, 120_000).is_empty());
        assert_eq!(e.active(SignalLoss), Some(Low));
    }

    #[test]
    fn a_condition_that_flickers_below_the_duration_never_raises() {
        let mut e = AlarmEngine::new();
        for cycle in 0..20 {
            let t0 = cycle * 40_000;
            assert!(run(&mut e, SignalLoss, Level::Alarm(Low), t0, t0 + 20_000).is_empty());
            assert!(run(&mut e, SignalLoss, Level::Hold, t0 + 21_000, t0 + 39_000).is_empty());
        }
        assert_eq!(e.active(SignalLoss), None);
    }

    #[test]
    fn clears_only_after_normal_for_the_clearing_time_and_hold_keeps_it() {
        let mut e = AlarmEngine::new();
        run(&mut e, Bradycardia, Level::Alarm(High), 0, 60_000);
        assert_eq!(e.active(Bradycardia), Some(High));
        // Between the thresholds for a long time: still active.
        assert!(run(&mut e, Bradycardia, Level::Hold, 61_000, 600_000).is_empty());
        // Normal, interrupted before the clearing time: still active.
        assert!(run(&mut e, Bradycardia, Level::Normal, 601_000, 640_000).is_empty());
        e.observe(Bradycardia, Level::Hold, 641_000);
        assert!(run(&mut e, Bradycardia, Level::Normal, 642_000, 701_000).is_empty());
        assert_eq!(
            e.observe(Bradycardia, Level::Normal, 702_000),
            vec![Transition::Clear { kind: Bradycardia }]
        );
        assert_eq!(e.active(Bradycardia), None);
    }

    #[test]
    fn cannot_assess_never_raises_and_never_clears() {
        let mut e = AlarmEngine::new();
        assert!(run(&mut e, Pathological, Level::CannotAssess, 0, 3_600_000).is_empty());
        assert_eq!(e.active(Pathological), None);
        run(&mut e, Pathological, Level::Alarm(High), 3_601_000, 3_700_000);
        assert_eq!(e.active(Pathological), Some(High));
        assert!(run(&mut e, Pathological, Level::CannotAssess, 3_701_000, 7_200_000).is_empty());
        assert_eq!(e.active(Pathological), Some(High));
    }

    #[test]
    fn acknowledgement_silences_until_clear_and_a_recurrence_raises_again() {
        let mut e = AlarmEngine::new();
        run(&mut e, ProlongedDeceleration, Level::Alarm(High), 0, 5_000);
        assert_eq!(e.sounding(), vec![(ProlongedDeceleration, High)]);
        assert!(e.acknowledge(ProlongedDeceleration));
        assert!(!e.acknowledge(ProlongedDeceleration), "already acknowledged");
        assert!(e.sounding().is_empty());
        // Still present: no new alarm, still silent.
        assert!(run(&mut e, ProlongedDeceleration, Level::Alarm(High), 6_000, 60_000).is_empty());
        assert!(e.sounding().is_empty());
        let cleared = run(&mut e, ProlongedDeceleration, Level::Normal, 61_000, 100_000);
        assert_eq!(cleared, vec![Transition::Clear { kind: ProlongedDeceleration }]);
        let again = run(&mut e, ProlongedDeceleration, Level::Alarm(High), 101_000, 102_000);
        assert_eq!(again, vec![Transition::Raise { kind: ProlongedDeceleration, priority: High }]);
        assert_eq!(e.sounding(), vec![(ProlongedDeceleration, High)]);
    }

    #[test]
    fn acknowledging_nothing_is_refused() {
        let mut e = AlarmEngine::new();
        assert!(!e.acknowledge(Tachysystole));
    }

    #[test]
    fn a_worse_condition_re_raises_at_the_higher_priority_and_never_de_escalates() {
        let mut e = AlarmEngine::new();
        run(&mut e, Pathological, Level::Alarm(Medium), 0, 30_000);
        assert_eq!(e.active(Pathological), Some(Medium));
        e.acknowledge(Pathological);
        let t = run(&mut e, Pathological, Level::Alarm(High), 31_000, 61_000);
        assert_eq!(
            t,
            vec![
                Transition::Clear { kind: Pathological },
                Transition::Raise { kind: Pathological, priority: High }
            ]
        );
        assert_eq!(e.sounding(), vec![(Pathological, High)], "the escalation sounds again");
        assert!(run(&mut e, Pathological, Level::Alarm(Medium), 62_000, 200_000).is_empty());
        assert_eq!(e.active(Pathological), Some(High));
    }

    #[test]
    fn kinds_are_independent() {
        let mut e = AlarmEngine::new();
        run(&mut e, Tachysystole, Level::Alarm(Medium), 0, 0);
        run(&mut e, SignalLoss, Level::Normal, 0, 100_000);
        assert_eq!(e.active(Tachysystole), Some(Medium));
        assert_eq!(e.active(SignalLoss), None);
    }

    #[test]
    fn a_clock_going_backwards_restarts_the_confirmation() {
        let mut e = AlarmEngine::new();
        run(&mut e, SignalLoss, Level::Alarm(Low), 100_000, 120_000);
        // A new trace starting at 0: 20 s of it are not yet the 30 s required.
        assert!(run(&mut e, SignalLoss, Level::Alarm(Low), 0, 20_000).is_empty());
        assert_eq!(e.observe(SignalLoss, Level::Alarm(Low), 30_000).len(), 1);
    }

    #[test]
    fn restored_alarms_clear_instead_of_raising_twice() {
        let mut e = AlarmEngine::with_active([(StaleStream, Medium, true)]);
        assert!(e.sounding().is_empty());
        assert!(run(&mut e, StaleStream, Level::Alarm(Medium), 0, 10_000).is_empty());
        assert_eq!(
            run(&mut e, StaleStream, Level::Normal, 11_000, 13_000),
            vec![Transition::Clear { kind: StaleStream }]
        );
    }
}
