//! Frames → the bytes a Corometrics 115-compatible monitor sends, with byte-level faults for the
//! `wire-faults` scenario.
//!
//! The encoding itself is [`crate::corometrics::MonitorEncoder`]; this adds what goes wrong on
//! a real serial line, planned from the seed so that the same run gives the same bytes:
//!
//! * garbage bytes between two messages (line noise; never an ETX, so noise can never complete
//!   a message and forge a value: the count of samples a decoder recovers is exact);
//! * a truncated frame (the last message of a tick loses its ETX and a data byte);
//! * a missing ETX (one message of a tick runs into the next header);
//! * a monitor reboot in the middle of the heart-rate message, silence while it boots, then a
//!   fresh start with its modes message;
//! * an unplugged cable: nothing at all for a while;
//! * a mode change (ultrasound ↔ fetal ECG, TOCO ↔ IUP).
//!
//! Every fault is logged ([`WireEncoder::faults`]) with its tick.

use crate::corometrics::{MonitorEncoder, MonitorMode, MovementReport, Tick};

use super::rng::Rng;
use super::truth::{WireFault, WireFaultKind, ticks};
use super::{Frame, Scenario};

/// Heart-rate mode characters the simulated monitor reports: ultrasound, fetal ECG.
pub const HR_MODES: [u8; 2] = [b'U', b'E'];
/// Uterine-activity mode characters: external TOCO, intrauterine pressure.
pub const UA_MODES: [u8; 2] = [b'T', b'I'];

const ETX: u8 = crate::corometrics::ETX;
/// Random stream for wire faults (distinct from the simulator's).
const FAULT_STREAM: u64 = 0x77;

/// The Corometrics tick for a frame. Heart rates are whole bpm on this wire (rounded); the
/// maternal heart rate has no message of its own and is not sent.
pub fn frame_to_tick(frame: &Frame) -> Tick {
    let s = &frame.sample;
    let whole = |b: Option<ctg_wire::Bpm>| b.map(|b| b.as_f32().round() as u16);
    Tick {
        hr1: whole(s.fhr1),
        hr2: whole(s.fhr2),
        ua: [frame.ua[0].map(ctg_wire::Toco::value), frame.ua[1].map(ctg_wire::Toco::value)],
        movement: match s.movement {
            Some(ctg_wire::Movement::Detected) => MovementReport::Movement,
            Some(ctg_wire::Movement::None) => MovementReport::None,
            None => MovementReport::NotFitted,
        },
        mark: s.mark,
        paper_out: false,
        annotation: None,
    }
}

#[derive(Debug, Clone)]
struct Faults {
    rng: Rng,
    next: u64,
    /// Kinds still to play in the current round (each round plays every kind, in a random order).
    round: Vec<u8>,
}

const KINDS: u8 = 6;

/// Encodes frames for the Corometrics wire, injecting faults when asked to.
#[derive(Debug, Clone)]
pub struct WireEncoder {
    encoder: MonitorEncoder,
    modes: (usize, usize),
    faults: Option<Faults>,
    log: Vec<WireFault>,
    /// No bytes for ticks before this one.
    silent_until: u64,
    /// The monitor is rebooting: a fresh encoder at the end of the silence.
    rebooting: bool,
    scratch: Vec<u8>,
}

impl WireEncoder {
    /// A monitor in Update mode with ultrasound and TOCO transducers, and a clean line.
    pub fn clean() -> Self {
        Self {
            encoder: MonitorEncoder::new(MonitorMode::Update, HR_MODES[0], UA_MODES[0]),
            modes: (0, 0),
            faults: None,
            log: Vec::new(),
            silent_until: 0,
            rebooting: false,
            scratch: Vec::with_capacity(64),
        }
    }

    /// A monitor on a faulty line: faults every 40–120 s from the first minute on.
    pub fn faulty(seed: u64) -> Self {
        let mut rng = Rng::new(seed, FAULT_STREAM);
        let next = ticks(rng.range(30.0, 60.0));
        Self { faults: Some(Faults { rng, next, round: Vec::new() }), ..Self::clean() }
    }

    /// The wire a scenario calls for: faulty for `wire-faults`, clean otherwise.
    pub fn for_scenario(scenario: Scenario, seed: u64) -> Self {
        if scenario.has_wire_faults() { Self::faulty(seed) } else { Self::clean() }
    }

    /// Faults injected so far.
    pub fn faults(&self) -> &[WireFault] {
        &self.log
    }

    /// Appends the bytes sent during `frame`'s tick (none while the line is silent).
    pub fn encode_frame(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        let t = frame.tick;
        if t < self.silent_until {
            return;
        }
        if self.rebooting {
            self.encoder = MonitorEncoder::new(
                MonitorMode::Update,
                HR_MODES[self.modes.0],
                UA_MODES[self.modes.1],
            );
            self.rebooting = false;
        }
        let fault = match &mut self.faults {
            Some(f) if t >= f.next => Some(Self::draw_fault(f, t)),
            _ => None,
        };
        self.scratch.clear();
        self.encoder.encode_tick(t, &frame_to_tick(frame), &mut self.scratch);
        let Some(kind) = fault else {
            out.extend_from_slice(&self.scratch);
            return;
        };
        let kind = self.apply(kind, t, out);
        self.log.push(WireFault { tick: t, kind });
    }

    fn draw_fault(f: &mut Faults, t: u64) -> WireFaultKind {
        if f.round.is_empty() {
            f.round = (0..KINDS).collect();
            // Fisher–Yates with our own generator.
            for i in (1..f.round.len()).rev() {
                let j = f.rng.int(0, i as u64) as usize;
                f.round.swap(i, j);
            }
        }
        let k = f.round.pop().unwrap_or(0);
        let r = &mut f.rng;
        let kind = match k {
            0 => WireFaultKind::Garbage { bytes: r.int(1, 48) as u32 },
            1 => WireFaultKind::Truncated,
            2 => WireFaultKind::MissingEtx,
            3 => WireFaultKind::Reboot { silent_ticks: ticks(r.range(8.0, 25.0)) },
            4 => WireFaultKind::Unplugged { silent_ticks: ticks(r.range(5.0, 40.0)) },
            // The actual mode characters are filled in by `apply`.
            _ => WireFaultKind::ModeChange { hr_mode: 0, ua_mode: 0 },
        };
        // The next fault comes after this one's silence, if any.
        let silence = match kind {
            WireFaultKind::Reboot { silent_ticks } | WireFaultKind::Unplugged { silent_ticks } => {
                silent_ticks
            }
            _ => 0,
        };
        f.next = t + silence + ticks(r.range(40.0, 120.0));
        kind
    }

    /// Writes the tick's bytes in `self.scratch` to `out` with the fault applied; returns the
    /// fault as it was really applied.
    fn apply(&mut self, kind: WireFaultKind, t: u64, out: &mut Vec<u8>) -> WireFaultKind {
        let rng = match &mut self.faults {
            Some(f) => &mut f.rng,
            None => {
                out.extend_from_slice(&self.scratch);
                return kind;
            }
        };
        let bytes = &self.scratch;
        // Message boundaries: each message ends at its ETX.
        let ends: Vec<usize> =
            bytes.iter().enumerate().filter(|(_, b)| **b == ETX).map(|(i, _)| i + 1).collect();
        let starts: Vec<usize> =
            std::iter::once(0).chain(ends.iter().copied()).take(ends.len()).collect();
        match kind {
            WireFaultKind::Garbage { bytes: n } => {
                out.extend_from_slice(bytes);
                for _ in 0..n {
                    // Any byte but ETX (see the module documentation).
                    let b = rng.int(0, 254) as u8;
                    out.push(if b >= ETX { b + 1 } else { b });
                }
                kind
            }
            WireFaultKind::Truncated => {
                // The tick's last message loses its ETX and its last data byte.
                let cut = bytes.len().saturating_sub(2);
                out.extend_from_slice(&bytes[..cut]);
                kind
            }
            WireFaultKind::MissingEtx => {
                // One message, not the last, loses its ETX (the next header cuts it off).
                let k = rng.int(0, ends.len().saturating_sub(2) as u64) as usize;
                let drop_at = ends.get(k).map_or(bytes.len(), |e| e - 1);
                out.extend_from_slice(&bytes[..drop_at]);
                out.extend_from_slice(&bytes[(drop_at + 1).min(bytes.len())..]);
                kind
            }
            WireFaultKind::Reboot { silent_ticks } => {
                // Power dips in the middle of the heart-rate message: its header and part of
                // its digits go out, then nothing until the monitor has booted.
                let hr1 =
                    starts.iter().copied().find(|&s| bytes.get(s + 1) == Some(&0x60)).unwrap_or(0);
                out.extend_from_slice(&bytes[..hr1 + 4]);
                self.silent_until = t + silent_ticks;
                self.rebooting = true;
                kind
            }
            WireFaultKind::Unplugged { silent_ticks } => {
                self.silent_until = t + silent_ticks;
                kind
            }
            WireFaultKind::ModeChange { .. } => {
                out.extend_from_slice(bytes);
                let (hr, ua) = self.modes;
                // Swap one transducer or the other.
                self.modes = if rng.chance(0.5) { (1 - hr, ua) } else { (hr, 1 - ua) };
                let (hr_mode, ua_mode) = (HR_MODES[self.modes.0], UA_MODES[self.modes.1]);
                // Announced from the next tick on.
                self.encoder.set_modes(hr_mode, ua_mode);
                WireFaultKind::ModeChange { hr_mode, ua_mode }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corometrics::{Decoder, Message};
    use crate::sim::Simulator;

    #[test]
    fn clean_wire_is_the_monitor_encoding() {
        let mut sim = Simulator::new(Scenario::NormalLabour, 1);
        let mut w = WireEncoder::clean();
        let mut out = Vec::new();
        for _ in 0..240 {
            w.encode_frame(&sim.next_frame(), &mut out);
        }
        let mut d = Decoder::new();
        d.push(&out);
        let hr1 = d.by_ref().filter(|m| matches!(m, Message::HeartRate1(_))).count();
        assert_eq!(hr1, 240);
        assert_eq!(d.stats().bytes_discarded, 0);
        assert!(w.faults().is_empty());
    }

    #[test]
    fn every_fault_kind_is_played_in_twenty_minutes() {
        let mut sim = Simulator::new(Scenario::WireFaults, 3);
        let mut w = WireEncoder::for_scenario(Scenario::WireFaults, 3);
        let mut out = Vec::new();
        for _ in 0..4800 {
            w.encode_frame(&sim.next_frame(), &mut out);
        }
        let kinds: std::collections::BTreeSet<u8> = w
            .faults()
            .iter()
            .map(|f| match f.kind {
                WireFaultKind::Garbage { .. } => 0,
                WireFaultKind::Truncated => 1,
                WireFaultKind::MissingEtx => 2,
                WireFaultKind::Reboot { .. } => 3,
                WireFaultKind::Unplugged { .. } => 4,
                WireFaultKind::ModeChange { .. } => 5,
            })
            .collect();
        assert_eq!(kinds.len(), 6, "{:?}", w.faults());
    }
}
