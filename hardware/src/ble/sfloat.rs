//! IEEE 11073-20601 16-bit SFLOAT: a 4-bit signed exponent (high nibble) and a 12-bit signed
//! mantissa; value = mantissa × 10^exponent. Five raw values are reserved for special meanings
//! and are tested on the raw 16 bits, before sign extension.

use serde::{Deserialize, Serialize};

const RAW_NAN: u16 = 0x07FF;
const RAW_NRES: u16 = 0x0800;
const RAW_POSITIVE_INFINITY: u16 = 0x07FE;
const RAW_NEGATIVE_INFINITY: u16 = 0x0802;
const RAW_RESERVED: u16 = 0x0801;

/// Mantissa range of the 12-bit two's-complement field.
pub const MANTISSA_MIN: i16 = -2048;
pub const MANTISSA_MAX: i16 = 2047;
/// Exponent range of the 4-bit two's-complement field.
pub const EXPONENT_MIN: i8 = -8;
pub const EXPONENT_MAX: i8 = 7;

/// One SFLOAT value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SFloat {
    /// `mantissa × 10^exponent`. Build checked values with [`SFloat::new`] or
    /// [`SFloat::from_f64`]; fields outside the 12/4-bit ranges, or that spell a special value,
    /// cannot be sent as written (see [`SFloat::to_raw`]).
    Value {
        mantissa: i16,
        exponent: i8,
    },
    /// Not a number (0x07FF): e.g. a cuff that does not compute the mean arterial pressure.
    NaN,
    /// Not at this resolution (0x0800).
    NRes,
    PositiveInfinity,
    NegativeInfinity,
    /// 0x0801, reserved for future use.
    Reserved,
}

impl SFloat {
    /// A checked value: `None` when a field is out of range or the pair spells a special value
    /// (exponent 0 with mantissa 2046, 2047, -2048, -2047 or -2046).
    pub fn new(mantissa: i16, exponent: i8) -> Option<Self> {
        let v = Self::Value { mantissa, exponent };
        v.is_encodable().then_some(v)
    }

    fn is_encodable(&self) -> bool {
        match *self {
            Self::Value { mantissa, exponent } => {
                (MANTISSA_MIN..=MANTISSA_MAX).contains(&mantissa)
                    && (EXPONENT_MIN..=EXPONENT_MAX).contains(&exponent)
                    && !(exponent == 0 && (mantissa >= 2046 || mantissa <= -2046))
            }
            _ => true,
        }
    }

    /// Decodes the raw 16 bits (already assembled from little-endian bytes).
    pub const fn from_raw(raw: u16) -> Self {
        match raw {
            RAW_NAN => Self::NaN,
            RAW_NRES => Self::NRes,
            RAW_POSITIVE_INFINITY => Self::PositiveInfinity,
            RAW_NEGATIVE_INFINITY => Self::NegativeInfinity,
            RAW_RESERVED => Self::Reserved,
            _ => {
                // Sign-extend the 12-bit mantissa and the 4-bit exponent with arithmetic shifts.
                let mantissa = ((raw << 4) as i16) >> 4;
                let exponent = (raw as i16 >> 12) as i8;
                Self::Value { mantissa, exponent }
            }
        }
    }

    /// The raw 16 bits. A `Value` that [`SFloat::new`] would refuse is sent as NaN: a receiver
    /// must never read a number other than the one meant.
    pub const fn to_raw(&self) -> u16 {
        match *self {
            Self::Value { mantissa, exponent } => {
                if mantissa < MANTISSA_MIN
                    || mantissa > MANTISSA_MAX
                    || exponent < EXPONENT_MIN
                    || exponent > EXPONENT_MAX
                    || (exponent == 0 && (mantissa >= 2046 || mantissa <= -2046))
                {
                    return RAW_NAN;
                }
                ((exponent as u16 & 0x0F) << 12) | (mantissa as u16 & 0x0FFF)
            }
            Self::NaN => RAW_NAN,
            Self::NRes => RAW_NRES,
            Self::PositiveInfinity => RAW_POSITIVE_INFINITY,
            Self::NegativeInfinity => RAW_NEGATIVE_INFINITY,
            Self::Reserved => RAW_RESERVED,
        }
    }

    /// Little-endian bytes as sent over the air.
    pub const fn to_le_bytes(&self) -> [u8; 2] {
        self.to_raw().to_le_bytes()
    }

    pub const fn from_le_bytes(b: [u8; 2]) -> Self {
        Self::from_raw(u16::from_le_bytes(b))
    }

    /// The number, or `None` for every special value (NaN, NRes, ±infinity, reserved): none of
    /// them is a measurement.
    pub fn to_f64(&self) -> Option<f64> {
        match *self {
            Self::Value { mantissa, exponent } => {
                let m = f64::from(mantissa);
                // Dividing by an exact power of ten rounds once, so 1234e-1 reads 123.4 exactly.
                Some(if exponent >= 0 {
                    m * 10f64.powi(exponent.into())
                } else {
                    m / 10f64.powi((-exponent).into())
                })
            }
            _ => None,
        }
    }

    /// `value` at resolution `10^exponent` (e.g. exponent -1 for one decimal). NaN and the
    /// infinities map to their special values; `None` when the exponent is outside -8..=7 or the
    /// rounded mantissa does not fit.
    pub fn from_f64(value: f64, exponent: i8) -> Option<Self> {
        if !(EXPONENT_MIN..=EXPONENT_MAX).contains(&exponent) {
            return None;
        }
        if value.is_nan() {
            return Some(Self::NaN);
        }
        if value.is_infinite() {
            return Some(if value > 0.0 { Self::PositiveInfinity } else { Self::NegativeInfinity });
        }
        let scaled = if exponent >= 0 {
            value / 10f64.powi(exponent.into())
        } else {
            value * 10f64.powi((-exponent).into())
        };
        let m = scaled.round();
        if !(f64::from(MANTISSA_MIN)..=f64::from(MANTISSA_MAX)).contains(&m) {
            return None;
        }
        Self::new(m as i16, exponent)
    }

    pub const fn is_special(&self) -> bool {
        !matches!(self, Self::Value { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples() {
        assert_eq!(SFloat::from_raw(0x0002), SFloat::Value { mantissa: 2, exponent: 0 });
        assert_eq!(SFloat::from_raw(0x0002).to_f64(), Some(2.0));
        assert_eq!(SFloat::from_raw(0xF014), SFloat::Value { mantissa: 20, exponent: -1 });
        assert_eq!(SFloat::from_raw(0xF014).to_f64(), Some(2.0));
        assert_eq!(SFloat::from_raw(0xE0C8), SFloat::Value { mantissa: 200, exponent: -2 });
        assert_eq!(SFloat::from_raw(0xE0C8).to_f64(), Some(2.0));
        assert_eq!(SFloat::from_raw(0x1002), SFloat::Value { mantissa: 2, exponent: 1 });
        assert_eq!(SFloat::from_raw(0x1002).to_f64(), Some(20.0));
        assert_eq!(SFloat::from_raw(0x0B2E), SFloat::Value { mantissa: -1234, exponent: 0 });
        assert_eq!(SFloat::from_raw(0x0B2E).to_f64(), Some(-1234.0));
        for raw in [0x0002, 0xF014, 0xE0C8, 0x1002, 0x0B2E] {
            assert_eq!(SFloat::from_raw(raw).to_raw(), raw);
        }
    }

    #[test]
    fn special_values_are_tested_on_raw_bits() {
        assert_eq!(SFloat::from_raw(0x07FF), SFloat::NaN);
        assert_eq!(SFloat::from_raw(0x0800), SFloat::NRes);
        assert_eq!(SFloat::from_raw(0x07FE), SFloat::PositiveInfinity);
        assert_eq!(SFloat::from_raw(0x0802), SFloat::NegativeInfinity);
        assert_eq!(SFloat::from_raw(0x0801), SFloat::Reserved);
        for s in [
            SFloat::NaN,
            SFloat::NRes,
            SFloat::PositiveInfinity,
            SFloat::NegativeInfinity,
            SFloat::Reserved,
        ] {
            assert_eq!(s.to_f64(), None);
            assert_eq!(SFloat::from_raw(s.to_raw()), s);
        }
        // The same mantissas with another exponent are ordinary numbers.
        assert_eq!(SFloat::from_raw(0x17FF).to_f64(), Some(20470.0));
        assert_eq!(SFloat::from_raw(0xF800).to_f64(), Some(-204.8));
    }

    #[test]
    fn from_f64_rounds_to_the_resolution() {
        assert_eq!(SFloat::from_f64(120.0, 0), Some(SFloat::Value { mantissa: 120, exponent: 0 }));
        assert_eq!(
            SFloat::from_f64(16.04, -1),
            Some(SFloat::Value { mantissa: 160, exponent: -1 })
        );
        assert_eq!(SFloat::from_f64(12.34, -2).and_then(|s| s.to_f64()), Some(12.34));
        assert_eq!(SFloat::from_f64(3000.0, 0), None, "mantissa overflow");
        assert_eq!(SFloat::from_f64(36.55, -2), None, "3655 does not fit 12 bits");
        assert_eq!(SFloat::from_f64(3000.0, 1), Some(SFloat::Value { mantissa: 300, exponent: 1 }));
        assert_eq!(SFloat::from_f64(1.0, 8), None);
        assert_eq!(SFloat::from_f64(2046.0, 0), None, "would read as +INF");
        assert_eq!(SFloat::from_f64(f64::NAN, 0), Some(SFloat::NaN));
        assert_eq!(SFloat::from_f64(f64::NEG_INFINITY, 0), Some(SFloat::NegativeInfinity));
    }

    #[test]
    fn unencodable_values_are_sent_as_nan() {
        assert_eq!(SFloat::Value { mantissa: 5000, exponent: 0 }.to_raw(), 0x07FF);
        assert_eq!(SFloat::Value { mantissa: 1, exponent: 9 }.to_raw(), 0x07FF);
        assert_eq!(SFloat::Value { mantissa: -2048, exponent: 0 }.to_raw(), 0x07FF);
        assert_eq!(SFloat::new(-2048, 0), None);
        assert_eq!(SFloat::new(-2048, 1), Some(SFloat::Value { mantissa: -2048, exponent: 1 }));
    }

    proptest! {
        #[test]
        fn every_raw_value_round_trips(raw in any::<u16>()) {
            let s = SFloat::from_raw(raw);
            prop_assert_eq!(s.to_raw(), raw);
            prop_assert_eq!(SFloat::from_le_bytes(raw.to_le_bytes()), s);
            if let SFloat::Value { mantissa, exponent } = s {
                prop_assert_eq!(SFloat::new(mantissa, exponent), Some(s));
                let v = s.to_f64().unwrap();
                prop_assert_eq!(SFloat::from_f64(v, exponent), Some(s));
            }
        }
    }
}
