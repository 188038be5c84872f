//! What a monitor emits every 250 ms: the encoder side used by the simulator.

use serde::{Deserialize, Serialize};

use super::{Message, MovementReport, ResponseType, encode};

/// Ticks (250 ms) between two unsolicited modes messages: once a minute.
const MODES_EVERY_TICKS: u64 = 240;
/// Ticks between two paper-out messages while the paper is out: once a second.
const PAPER_OUT_EVERY_TICKS: u64 = 4;

/// How the monitor decides what to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// The monitor pushes everything and ignores the host.
    Update,
    /// The monitor sends only the types the host asked for, and nothing before the first request.
    TransmitReceive,
}

/// Everything the monitor measured during one 250 ms tick.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tick {
    /// Heart rate 1, bpm; `None` is sent as the pen-lift sentinel.
    pub hr1: Option<u16>,
    /// Heart rate 2, bpm.
    pub hr2: Option<u16>,
    /// The two uterine-activity readings of the tick (8/s); `None` is sent as `"128"`.
    pub ua: [Option<u8>; 2],
    pub movement: MovementReport,
    /// The event-mark button was pressed during this tick.
    pub mark: bool,
    /// The recorder is out of paper.
    pub paper_out: bool,
    /// Text entered on the monitor during this tick.
    pub annotation: Option<String>,
}

/// Encodes a monitor's output tick by tick.
///
/// Per tick, in this order: modes (when due), HR1, UA (first reading), HR2, fetal movement, UA
/// (second reading), event mark, annotation, paper out. Heart rate 1 leads the tick so a receiver
/// can use it as the tick marker. Modes are sent at the first tick, after [`set_modes`] changes
/// them, after a request that names them, and once a minute. Paper out is sent when it becomes
/// active, then once a second while active, and once with `'0'` when it clears.
///
/// [`set_modes`]: MonitorEncoder::set_modes
#[derive(Debug, Clone)]
pub struct MonitorEncoder {
    mode: MonitorMode,
    hr_mode: u8,
    ua_mode: u8,
    requested: [bool; 8],
    modes_due: bool,
    last_modes_tick: Option<u64>,
    paper_out: bool,
    last_paper_out_tick: Option<u64>,
}

impl MonitorEncoder {
    /// `hr_mode` and `ua_mode` are the raw mode characters sent in modes messages.
    pub fn new(mode: MonitorMode, hr_mode: u8, ua_mode: u8) -> Self {
        Self {
            mode,
            hr_mode,
            ua_mode,
            requested: [false; 8],
            modes_due: true,
            last_modes_tick: None,
            paper_out: false,
            last_paper_out_tick: None,
        }
    }

    pub fn mode(&self) -> MonitorMode {
        self.mode
    }

    /// Switches between Update and Transmit/Receive; a Transmit/Receive monitor keeps the last
    /// request it received.
    pub fn set_mode(&mut self, mode: MonitorMode) {
        self.mode = mode;
    }

    /// Changes the transducer modes; a change is announced at the next tick.
    pub fn set_modes(&mut self, hr_mode: u8, ua_mode: u8) {
        if (hr_mode, ua_mode) != (self.hr_mode, self.ua_mode) {
            self.hr_mode = hr_mode;
            self.ua_mode = ua_mode;
            self.modes_due = true;
        }
    }

    /// A host request (Transmit/Receive): from now on only these types are streamed. A request
    /// naming modes is answered with a modes message at the next tick.
    pub fn request(&mut self, types: &[ResponseType]) {
        self.requested = [false; 8];
        for t in types {
            self.requested[t.index()] = true;
        }
        if self.requested[ResponseType::Modes.index()] {
            self.modes_due = true;
        }
    }

    fn wants(&self, t: ResponseType) -> bool {
        match self.mode {
            MonitorMode::Update => true,
            MonitorMode::TransmitReceive => self.requested[t.index()],
        }
    }

    /// Appends the bytes the monitor sends during tick `tick_index` (ticks are 250 ms apart and
    /// counted from any origin; an index lower than the previous one is taken as a restart).
    pub fn encode_tick(&mut self, tick_index: u64, tick: &Tick, out: &mut Vec<u8>) {
        let due = |last: Option<u64>, every: u64| {
            last.is_none_or(|l| tick_index < l || tick_index - l >= every)
        };

        if self.wants(ResponseType::Modes)
            && (self.modes_due || due(self.last_modes_tick, MODES_EVERY_TICKS))
        {
            encode(&Message::Modes { hr: self.hr_mode, ua: self.ua_mode }, out);
            self.modes_due = false;
            self.last_modes_tick = Some(tick_index);
        }
        if self.wants(ResponseType::HeartRate1) {
            encode(&Message::HeartRate1(tick.hr1), out);
        }
        // Marks and annotations early in the tick, so a receiver that finishes a sample as soon
        // as its periodic values are in (the `Framer`) keeps them in this tick's sample.
        if tick.mark && self.wants(ResponseType::EventMark) {
            encode(&Message::EventMark, out);
        }
        if let Some(text) = &tick.annotation
            && self.wants(ResponseType::Annotation)
        {
            encode(&Message::Annotation(text.clone()), out);
        }
        if self.wants(ResponseType::UterineActivity) {
            encode(&Message::UterineActivity(tick.ua[0]), out);
        }
        if self.wants(ResponseType::HeartRate2) {
            encode(&Message::HeartRate2(tick.hr2), out);
        }
        if self.wants(ResponseType::FetalMovement) {
            encode(&Message::FetalMovement(tick.movement), out);
        }
        if self.wants(ResponseType::UterineActivity) {
            encode(&Message::UterineActivity(tick.ua[1]), out);
        }
        if self.wants(ResponseType::PaperOut) {
            if tick.paper_out
                && (!self.paper_out || due(self.last_paper_out_tick, PAPER_OUT_EVERY_TICKS))
            {
                encode(&Message::PaperOut(true), out);
                self.last_paper_out_tick = Some(tick_index);
            } else if !tick.paper_out && self.paper_out {
                encode(&Message::PaperOut(false), out);
                self.last_paper_out_tick = None;
            }
        }
        self.paper_out = tick.paper_out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corometrics::Decoder;

    fn count(bytes: &[u8]) -> [usize; 8] {
        let mut d = Decoder::new();
        d.push(bytes);
        let mut n = [0; 8];
        for m in d.by_ref() {
            n[m.response_type().index()] += 1;
        }
        assert_eq!(d.stats().bytes_discarded, 0);
        n
    }

    fn tick() -> Tick {
        Tick { hr1: Some(140), hr2: None, ua: [Some(10), Some(12)], ..Tick::default() }
    }

    #[test]
    fn update_mode_sends_every_type_at_its_rate() {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut out = Vec::new();
        // Two minutes and one tick: modes at 0, 240 and 480.
        for i in 0..481 {
            let mut t = tick();
            t.mark = i == 10;
            t.annotation = (i == 20).then(|| "note".to_string());
            t.paper_out = (100..108).contains(&i); // 2 s out
            enc.encode_tick(i, &t, &mut out);
        }
        let n = count(&out);
        assert_eq!(n[ResponseType::HeartRate1.index()], 481);
        assert_eq!(n[ResponseType::HeartRate2.index()], 481);
        assert_eq!(n[ResponseType::UterineActivity.index()], 962);
        assert_eq!(n[ResponseType::FetalMovement.index()], 481);
        assert_eq!(n[ResponseType::Modes.index()], 3);
        assert_eq!(n[ResponseType::EventMark.index()], 1);
        assert_eq!(n[ResponseType::Annotation.index()], 1);
        // Out at ticks 100 and 104, cleared at 108.
        assert_eq!(n[ResponseType::PaperOut.index()], 3);
    }

    #[test]
    fn first_tick_bytes_are_exact() {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut out = Vec::new();
        enc.encode_tick(0, &tick(), &mut out);
        assert_eq!(out, b"9b0UT\x039`0140\x039a010\x039e000\x039f00\x039a012\x03");
    }

    #[test]
    fn modes_change_is_announced_once() {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let mut out = Vec::new();
        enc.encode_tick(0, &tick(), &mut out);
        enc.set_modes(b'U', b'T');
        enc.encode_tick(1, &tick(), &mut out);
        enc.set_modes(b'E', b'T');
        enc.encode_tick(2, &tick(), &mut out);
        enc.encode_tick(3, &tick(), &mut out);
        let mut d = Decoder::new();
        d.push(&out);
        let modes: Vec<_> = d.filter(|m| matches!(m, Message::Modes { .. })).collect();
        assert_eq!(
            modes,
            vec![Message::Modes { hr: b'U', ua: b'T' }, Message::Modes { hr: b'E', ua: b'T' }]
        );
    }

    #[test]
    fn transmit_receive_sends_only_what_was_requested() {
        let mut enc = MonitorEncoder::new(MonitorMode::TransmitReceive, b'U', b'T');
        let mut out = Vec::new();
        enc.encode_tick(0, &tick(), &mut out);
        assert!(out.is_empty(), "nothing before the first request");
        enc.request(&[ResponseType::UterineActivity, ResponseType::Modes]);
        for i in 1..=4 {
            enc.encode_tick(i, &tick(), &mut out);
        }
        let n = count(&out);
        assert_eq!(n[ResponseType::UterineActivity.index()], 8);
        assert_eq!(n[ResponseType::Modes.index()], 1);
        assert_eq!(n.iter().sum::<usize>(), 9);
    }

    #[test]
    fn paper_out_restarts_its_clock_after_a_tick_index_restart() {
        let mut enc = MonitorEncoder::new(MonitorMode::Update, b'U', b'T');
        let t = Tick { paper_out: true, ..tick() };
        let mut out = Vec::new();
        enc.encode_tick(1000, &t, &mut out);
        enc.encode_tick(0, &t, &mut out); // monitor restarted its count
        assert_eq!(count(&out)[ResponseType::PaperOut.index()], 2);
    }
}
