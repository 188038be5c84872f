//! Replay of a dataset recording as a frame source.

use ctg_wire::sample::Qualities;
use ctg_wire::{Bpm, Sample, SignalQuality, Toco};

use super::{Frame, FrameSource};
use crate::datasets::Recording;

/// Plays a [`Recording`] frame by frame (4 Hz). Pacing (1× or faster) is the caller's business.
#[derive(Debug, Clone)]
pub struct Replay {
    recording: Recording,
    next: usize,
}

impl Replay {
    pub fn new(recording: Recording) -> Self {
        Self { recording, next: 0 }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// Number of frames in the whole recording.
    pub fn len(&self) -> usize {
        self.recording.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recording.is_empty()
    }

    /// The frame at index `i`, if the recording has one.
    pub fn frame(&self, i: usize) -> Option<Frame> {
        let r = &self.recording;
        if i >= r.len() {
            return None;
        }
        let at = |v: &[Option<f32>]| v.get(i).copied().flatten();
        let fhr1 = at(&r.fhr1).and_then(Bpm::from_f32);
        let fhr2 = at(&r.fhr2).and_then(Bpm::from_f32);
        let mhr = at(&r.mhr).and_then(Bpm::from_f32);
        // External TOCO is 0-100 (IUP up to 127); anything else is not a value.
        let toco = at(&r.toco)
            .filter(|v| (0.0..=127.0).contains(v))
            .and_then(|v| Toco::new(v.round() as u8));
        let bits = r.quality.get(i).copied();
        let quality =
            |present: bool, has_channel: bool, ok_bit: u8| match (has_channel, present, bits) {
                (false, _, _) => SignalQuality::Unknown,
                (true, false, _) => SignalQuality::NoSignal,
                (true, true, Some(b)) if b & ok_bit != 0 => SignalQuality::Good,
                (true, true, Some(_)) => SignalQuality::Poor,
                (true, true, None) => SignalQuality::Unknown,
            };
        let sample = Sample {
            fhr1,
            fhr2,
            mhr,
            toco,
            movement: None,
            mark: false,
            quality: Qualities {
                fhr1: quality(fhr1.is_some(), true, 0x01),
                fhr2: quality(fhr2.is_some(), !r.fhr2.is_empty(), 0x04),
                mhr: quality(mhr.is_some(), !r.mhr.is_empty(), 0x10),
                toco: SignalQuality::Unknown,
            },
        };
        // Archives hold UA at 4 Hz: both 8 Hz values of a tick repeat it.
        Some(Frame { tick: i as u64, sample, ua: [toco, toco], truth: None })
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self) -> Option<Frame> {
        let f = self.frame(self.next)?;
        self.next += 1;
        Some(f)
    }
}

impl Iterator for Replay {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        FrameSource::next_frame(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::datasets::Format;

    #[test]
    fn replays_every_sample_with_no_value_as_none() {
        let r = Recording {
            name: "t".into(),
            format: Format::Fhrm,
            fhr1: vec![Some(140.25), None, Some(10.0)],
            fhr2: vec![None, None, None],
            mhr: vec![Some(80.0), Some(81.0), None],
            toco: vec![Some(12.4), Some(300.0), None],
            quality: vec![0x11, 0x00, 0x01],
            meta: BTreeMap::new(),
        };
        let frames: Vec<Frame> = Replay::new(r).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].sample.fhr1.map(Bpm::as_f32), Some(140.25));
        assert_eq!(frames[0].sample.quality.fhr1, SignalQuality::Good);
        assert_eq!(frames[0].sample.toco.map(Toco::value), Some(12));
        assert_eq!(frames[0].ua, [Toco::new(12), Toco::new(12)]);
        assert_eq!(frames[1].sample.fhr1, None);
        assert_eq!(frames[1].sample.quality.fhr1, SignalQuality::NoSignal);
        assert_eq!(
            frames[1].sample.quality.mhr,
            SignalQuality::Poor,
            "value present, ok bit clear"
        );
        assert_eq!(frames[1].sample.toco, None, "300 is not a TOCO value");
        assert_eq!(frames[2].sample.fhr1, None, "10 bpm is outside what a monitor reports");
        assert_eq!(frames[2].t_ms(), 500);
    }
}
