//! The JSON-lines form of a sample stream (`ctg-sim run --wire json`, `ctg-sim decode`):
//! one object per 250 ms sample, `null` for no value.
//!
//! ```text
//! {"t_ms":250,"fhr1":141.25,"fhr2":null,"mhr":84.5,"toco":12,"movement":"none","mark":false}
//! ```

use ctg_wire::sample::Qualities;
use ctg_wire::{Bpm, Movement, Sample, Toco};
use serde::{Deserialize, Serialize};

/// One line of the JSON sample stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JsonSample {
    /// Start of the sample, ms from the start of the stream.
    pub t_ms: i64,
    pub fhr1: Option<f32>,
    pub fhr2: Option<f32>,
    pub mhr: Option<f32>,
    pub toco: Option<u8>,
    /// `"none"` or `"detected"`; `null` when no movement detector is fitted.
    pub movement: Option<Movement>,
    pub mark: bool,
}

impl JsonSample {
    pub fn new(t_ms: i64, s: &Sample) -> Self {
        Self {
            t_ms,
            fhr1: s.fhr1.map(Bpm::as_f32),
            fhr2: s.fhr2.map(Bpm::as_f32),
            mhr: s.mhr.map(Bpm::as_f32),
            toco: s.toco.map(Toco::value),
            movement: s.movement,
            mark: s.mark,
        }
    }

    /// Back to a sample (quality is not part of the JSON form). Out-of-range values become
    /// `None`, as they would on the wire.
    pub fn to_sample(&self) -> Sample {
        Sample {
            fhr1: self.fhr1.and_then(Bpm::from_f32),
            fhr2: self.fhr2.and_then(Bpm::from_f32),
            mhr: self.mhr.and_then(Bpm::from_f32),
            toco: self.toco.and_then(Toco::new),
            movement: self.movement,
            mark: self.mark,
            quality: Qualities::default(),
        }
    }

    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        // Serialising plain numbers, options and a unit enum cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_documented_keys_in_order_and_nulls() {
        let s = Sample {
            fhr1: Bpm::from_f32(141.25),
            mhr: Bpm::from_f32(84.5),
            toco: Toco::new(12),
            movement: Some(Movement::None),
            ..Sample::EMPTY
        };
        let line = JsonSample::new(250, &s).to_line();
        assert_eq!(
            line,
            r#"{"t_ms":250,"fhr1":141.25,"fhr2":null,"mhr":84.5,"toco":12,"movement":"none","mark":false}"#
        );
        let back: JsonSample = serde_json::from_str(&line).unwrap();
        assert_eq!(back.to_sample(), Sample { quality: Qualities::default(), ..s });
    }
}
