//! One 4 Hz input sample of the analysis.

use serde::{Deserialize, Serialize};

/// The channels the analysis reads, one sample every 250 ms. `None` is "no value"; a heart rate
/// is never 0.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Fetal heart rate, bpm.
    pub fhr: Option<f32>,
    /// Maternal heart rate, bpm, when a maternal channel is recorded.
    pub mhr: Option<f32>,
    /// Uterine activity (TOCO units or mmHg).
    pub toco: Option<f32>,
    /// The fetal movement detector fired during this sample.
    pub movement: bool,
}

impl Sample {
    pub const EMPTY: Sample = Sample { fhr: None, mhr: None, toco: None, movement: false };
}

/// Which fetal channel of a monitor sample is analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetalChannel {
    /// The larger of FHR1 and FHR2 per sample, the merge rule of the FHRMA literature (two
    /// transducers on one fetus).
    #[default]
    Merged,
    /// FHR1 only (first twin, or the only transducer).
    Fhr1,
    /// FHR2 only (second twin).
    Fhr2,
}

impl FetalChannel {
    /// The FHR of this channel from two transducer values.
    pub fn pick(self, fhr1: Option<f32>, fhr2: Option<f32>) -> Option<f32> {
        match self {
            FetalChannel::Fhr1 => fhr1,
            FetalChannel::Fhr2 => fhr2,
            FetalChannel::Merged => match (fhr1, fhr2) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

impl Sample {
    /// From a wire sample (as the server receives it).
    pub fn from_wire(s: &ctg_wire::Sample, channel: FetalChannel) -> Self {
        Sample {
            fhr: channel.pick(s.fhr1.map(ctg_wire::Bpm::as_f32), s.fhr2.map(ctg_wire::Bpm::as_f32)),
            mhr: s.mhr.map(ctg_wire::Bpm::as_f32),
            toco: s.toco.map(|t| f32::from(t.value())),
            movement: s.movement == Some(ctg_wire::Movement::Detected),
        }
    }
}

/// Converts an optional value to the internal representation (NaN for "no value"), refusing
/// values that are not finite.
pub(crate) fn to_nan(v: Option<f32>) -> f32 {
    match v {
        Some(x) if x.is_finite() => x,
        _ => f32::NAN,
    }
}

pub(crate) fn from_nan(v: f32) -> Option<f32> {
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_channel_takes_the_larger_present_value() {
        let m = FetalChannel::Merged;
        assert_eq!(m.pick(Some(120.0), Some(125.0)), Some(125.0));
        assert_eq!(m.pick(None, Some(125.0)), Some(125.0));
        assert_eq!(m.pick(None, None), None);
        assert_eq!(FetalChannel::Fhr2.pick(Some(1.0), None), None);
    }

    #[test]
    fn wire_samples_convert() {
        let w = ctg_wire::Sample {
            fhr1: ctg_wire::Bpm::from_f32(140.25),
            mhr: ctg_wire::Bpm::from_f32(80.0),
            toco: ctg_wire::Toco::new(20),
            movement: Some(ctg_wire::Movement::Detected),
            ..ctg_wire::Sample::EMPTY
        };
        let s = Sample::from_wire(&w, FetalChannel::Fhr1);
        assert_eq!(
            s,
            Sample { fhr: Some(140.25), mhr: Some(80.0), toco: Some(20.0), movement: true }
        );
    }

    #[test]
    fn non_finite_values_are_no_value() {
        assert!(to_nan(Some(f32::INFINITY)).is_nan());
        assert!(to_nan(None).is_nan());
        assert_eq!(from_nan(to_nan(Some(3.0))), Some(3.0));
    }
}
