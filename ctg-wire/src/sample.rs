//! One 4 Hz sample frame and the value types of its channels.
//!
//! "No value" is always `None`, never a number: a pen lift is not 0 bpm.

use serde::{Deserialize, Serialize};

/// A heart rate in quarter beats per minute (0.25 bpm resolution), within the range monitors
/// report: 30–240 bpm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Bpm(u16);

impl Bpm {
    /// Lowest rate a monitor reports, in bpm.
    pub const MIN_BPM: u16 = 30;
    /// Highest rate a monitor reports, in bpm.
    pub const MAX_BPM: u16 = 240;
    pub const MIN_QUARTERS: u16 = Self::MIN_BPM * 4;
    pub const MAX_QUARTERS: u16 = Self::MAX_BPM * 4;

    /// From quarter-bpm units; `None` outside 30–240 bpm.
    pub const fn from_quarters(q: u16) -> Option<Self> {
        if q >= Self::MIN_QUARTERS && q <= Self::MAX_QUARTERS { Some(Self(q)) } else { None }
    }

    /// From whole bpm; `None` outside 30–240 bpm.
    pub const fn from_whole(bpm: u16) -> Option<Self> {
        if bpm > Self::MAX_BPM { None } else { Self::from_quarters(bpm * 4) }
    }

    /// From a real number, rounded to the nearest 0.25 bpm; `None` when not finite or out of
    /// range.
    pub fn from_f32(bpm: f32) -> Option<Self> {
        if !bpm.is_finite() {
            return None;
        }
        let q = (bpm * 4.0).round();
        if q < f32::from(Self::MIN_QUARTERS) || q > f32::from(Self::MAX_QUARTERS) {
            return None;
        }
        Some(Self(q as u16))
    }

    pub const fn quarters(self) -> u16 {
        self.0
    }

    pub fn as_f32(self) -> f32 {
        f32::from(self.0) / 4.0
    }
}

impl TryFrom<f32> for Bpm {
    type Error = String;
    fn try_from(v: f32) -> Result<Self, String> {
        Self::from_f32(v).ok_or_else(|| format!("heart rate {v} outside 30-240 bpm"))
    }
}

impl From<Bpm> for f32 {
    fn from(b: Bpm) -> f32 {
        b.as_f32()
    }
}

/// Uterine activity: TOCO in relative units 0–100 or intrauterine pressure in mmHg up to 127.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Toco(u8);

impl Toco {
    pub const MAX: u8 = 127;

    pub const fn new(v: u8) -> Option<Self> {
        if v <= Self::MAX { Some(Self(v)) } else { None }
    }

    pub const fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Toco {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Self::new(v).ok_or_else(|| format!("uterine activity {v} above {}", Self::MAX))
    }
}

impl From<Toco> for u8 {
    fn from(t: Toco) -> u8 {
        t.0
    }
}

/// Fetal movement detector output for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    None,
    Detected,
}

/// Signal quality of one channel as the device (or the gateway) judged it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SignalQuality {
    /// The device does not report quality (the Corometrics wire has none).
    #[default]
    Unknown = 0,
    /// The transducer has no usable signal.
    NoSignal = 1,
    Poor = 2,
    Good = 3,
}

impl SignalQuality {
    pub const fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0 => Self::Unknown,
            1 => Self::NoSignal,
            2 => Self::Poor,
            _ => Self::Good,
        }
    }

    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// Per-channel signal quality of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Qualities {
    pub fhr1: SignalQuality,
    pub fhr2: SignalQuality,
    pub mhr: SignalQuality,
    pub toco: SignalQuality,
}

impl Qualities {
    /// Packs into one byte: bits 0–1 FHR1, 2–3 FHR2, 4–5 MHR, 6–7 TOCO.
    pub const fn pack(self) -> u8 {
        self.fhr1.bits()
            | (self.fhr2.bits() << 2)
            | (self.mhr.bits() << 4)
            | (self.toco.bits() << 6)
    }

    pub const fn unpack(b: u8) -> Self {
        Self {
            fhr1: SignalQuality::from_bits(b),
            fhr2: SignalQuality::from_bits(b >> 2),
            mhr: SignalQuality::from_bits(b >> 4),
            toco: SignalQuality::from_bits(b >> 6),
        }
    }

    pub fn is_unknown(&self) -> bool {
        *self == Self::default()
    }
}

/// A channel of a CTG stream, as named in events and APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Fhr1,
    Fhr2,
    Mhr,
    Toco,
    Movement,
}

/// One 4 Hz frame of every channel a CTG monitor provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Fetal heart rate, first transducer.
    pub fhr1: Option<Bpm>,
    /// Fetal heart rate, second transducer (twins).
    pub fhr2: Option<Bpm>,
    /// Maternal heart rate.
    pub mhr: Option<Bpm>,
    /// Uterine activity.
    pub toco: Option<Toco>,
    /// Fetal movement detector; `None` when not fitted or disabled.
    pub movement: Option<Movement>,
    /// An event mark was pressed during this sample.
    pub mark: bool,
    pub quality: Qualities,
}

impl Sample {
    /// A sample where every channel has no value.
    pub const EMPTY: Sample = Sample {
        fhr1: None,
        fhr2: None,
        mhr: None,
        toco: None,
        movement: None,
        mark: false,
        quality: Qualities {
            fhr1: SignalQuality::Unknown,
            fhr2: SignalQuality::Unknown,
            mhr: SignalQuality::Unknown,
            toco: SignalQuality::Unknown,
        },
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpm_keeps_quarter_resolution_and_range() {
        assert_eq!(Bpm::from_f32(140.25).unwrap().quarters(), 561);
        assert_eq!(Bpm::from_f32(140.1).unwrap().as_f32(), 140.0);
        assert_eq!(Bpm::from_whole(30).unwrap().as_f32(), 30.0);
        assert_eq!(Bpm::from_whole(240).unwrap().as_f32(), 240.0);
        assert!(Bpm::from_whole(0).is_none(), "0 bpm is a sentinel, not a rate");
        assert!(Bpm::from_whole(29).is_none());
        assert!(Bpm::from_whole(241).is_none());
        assert!(Bpm::from_f32(900.0).is_none());
        assert!(Bpm::from_f32(f32::NAN).is_none());
        assert!(Bpm::from_whole(u16::MAX).is_none());
    }

    #[test]
    fn qualities_pack_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(Qualities::unpack(b).pack(), b);
        }
    }

    #[test]
    fn toco_range() {
        assert!(Toco::new(0).is_some());
        assert!(Toco::new(127).is_some());
        assert!(Toco::new(128).is_none());
    }
}
