//! Bluetooth LE codecs, pure: characteristic values in, typed values out, and back.
//!
//! * [`sfloat`]: IEEE 11073-20601 16-bit SFLOAT, the number format of the health profiles.
//! * [`bp`]: Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36),
//!   Blood Pressure Feature (0x2A49), with replayable cuff [`bp::fixtures`].
//! * [`racp`]: Record Access Control Point (0x2A52) requests and responses.
//! * [`ctg_probe`]: our open GATT profile for wireless CTG probes (documented byte by byte in
//!   `hardware/docs/ctg-probe-profile.md`).
//!
//! Radio access (btleplug) lives in the gateway and the app behind a trait; these codecs are
//! what both sides share. Every decoder returns a [`BleError`] for short or malformed input.

pub mod bp;
pub mod ctg_probe;
pub mod racp;
pub mod sfloat;

use serde::{Deserialize, Serialize};

/// The Bluetooth base UUID `00000000-0000-1000-8000-00805F9B34FB`.
pub const BLUETOOTH_BASE_UUID: u128 = 0x0000_0000_0000_1000_8000_0080_5f9b_34fb;

/// The 128-bit form of a 16-bit SIG-assigned UUID (e.g. `0x1810` →
/// `00001810-0000-1000-8000-00805F9B34FB`), as `u128` for `uuid::Uuid::from_u128`.
pub const fn sig_uuid(short: u16) -> u128 {
    BLUETOOTH_BASE_UUID | ((short as u128) << 96)
}

/// The 16-bit alias of a UUID built on the Bluetooth base UUID, if it is one.
pub const fn sig_short(uuid: u128) -> Option<u16> {
    if uuid & !(0xffff_u128 << 96) == BLUETOOTH_BASE_UUID {
        Some((uuid >> 96) as u16)
    } else {
        None
    }
}

/// Formats a UUID the usual way (`0000180f-0000-1000-8000-00805f9b34fb`).
pub fn uuid_string(uuid: u128) -> String {
    let h = format!("{uuid:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// SIG-assigned 16-bit UUIDs used by the codecs here.
pub mod uuids {
    /// Blood Pressure service.
    pub const BLOOD_PRESSURE_SERVICE: u16 = 0x1810;
    /// Blood Pressure Measurement (indicate).
    pub const BLOOD_PRESSURE_MEASUREMENT: u16 = 0x2A35;
    /// Intermediate Cuff Pressure (notify), same layout as the measurement.
    pub const INTERMEDIATE_CUFF_PRESSURE: u16 = 0x2A36;
    /// Blood Pressure Feature (read).
    pub const BLOOD_PRESSURE_FEATURE: u16 = 0x2A49;
    /// Record Access Control Point (write, indicate).
    pub const RECORD_ACCESS_CONTROL_POINT: u16 = 0x2A52;
    /// Current Time (some cuffs refuse writes to it: never trust a device clock blindly).
    pub const CURRENT_TIME: u16 = 0x2A2B;
    /// Battery service and its Battery Level characteristic (percent, u8).
    pub const BATTERY_SERVICE: u16 = 0x180F;
    pub const BATTERY_LEVEL: u16 = 0x2A19;
    /// Device Information service.
    pub const DEVICE_INFORMATION_SERVICE: u16 = 0x180A;
    /// Client Characteristic Configuration descriptor (enables notify / indicate).
    pub const CLIENT_CHARACTERISTIC_CONFIGURATION: u16 = 0x2902;
}

/// Why a characteristic value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BleError {
    #[error("value ends at byte {len}, needs {need} bytes for {what}")]
    Truncated { what: &'static str, need: usize, len: usize },
    #[error("{extra} unexpected bytes after the {what}")]
    TrailingBytes { what: &'static str, extra: usize },
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: u32 },
    #[error("reserved bits set in {field}: 0x{value:x}")]
    ReservedBits { field: &'static str, value: u32 },
    #[error("unknown {field} {value}")]
    Unknown { field: &'static str, value: u8 },
    #[error("{0}")]
    Invalid(String),
}

/// Reads little-endian fields with clear errors for short input.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BleError> {
        let end = self.pos + n;
        let out = self.buf.get(self.pos..end).ok_or(BleError::Truncated {
            what,
            need: end,
            len: self.buf.len(),
        })?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, BleError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, BleError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails when bytes are left over.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), BleError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(BleError::TrailingBytes { what, extra }),
        }
    }
}

/// The 7-byte Date Time characteristic format (0x2A08): year u16, month, day, hours, minutes,
/// seconds. Year, month and day 0 mean "not known". A device clock is reported as read, never
/// corrected: cuff clocks drift and some cannot be set.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct DateTime {
    /// 1582–9999, or 0 when not known.
    pub year: u16,
    /// 1–12, or 0 when not known.
    pub month: u8,
    /// 1–31, or 0 when not known.
    pub day: u8,
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
}

impl DateTime {
    pub const LEN: usize = 7;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, BleError> {
        let year = r.u16("date-time year")?;
        let b = r.bytes(5, "date-time")?;
        let dt = Self { year, month: b[0], day: b[1], hours: b[2], minutes: b[3], seconds: b[4] };
        dt.validate()?;
        Ok(dt)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), BleError> {
        let checks: [(&'static str, u32, bool); 6] = [
            ("year", self.year.into(), self.year == 0 || (1582..=9999).contains(&self.year)),
            ("month", self.month.into(), self.month <= 12),
            ("day", self.day.into(), self.day <= 31),
            ("hours", self.hours.into(), self.hours <= 23),
            ("minutes", self.minutes.into(), self.minutes <= 59),
            ("seconds", self.seconds.into(), self.seconds <= 59),
        ];
        match checks.into_iter().find(|c| !c.2) {
            Some((field, value, _)) => Err(BleError::OutOfRange { field, value }),
            None => Ok(()),
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.year.to_le_bytes());
        out.extend_from_slice(&[self.month, self.day, self.hours, self.minutes, self.seconds]);
    }

    /// True when year, month and day are all known.
    pub fn is_date_known(&self) -> bool {
        self.year != 0 && self.month != 0 && self.day != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_uuids_expand_and_shorten() {
        assert_eq!(uuid_string(sig_uuid(0x1810)), "00001810-0000-1000-8000-00805f9b34fb");
        assert_eq!(sig_short(sig_uuid(0x2A35)), Some(0x2A35));
        assert_eq!(sig_short(ctg_probe::SERVICE_UUID), None);
    }

    #[test]
    fn date_time_reads_and_checks_ranges() {
        let bytes = [0xE9, 0x07, 5, 17, 8, 30, 15];
        let dt = DateTime::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            dt,
            DateTime { year: 2025, month: 5, day: 17, hours: 8, minutes: 30, seconds: 15 }
        );
        let mut out = Vec::new();
        dt.write(&mut out);
        assert_eq!(out, bytes);
        assert!(
            DateTime::read(&mut Reader::new(&[0, 0, 0, 0, 0, 0, 0])).unwrap().validate().is_ok()
        );
        assert_eq!(
            DateTime::read(&mut Reader::new(&[0xE9, 0x07, 13, 1, 0, 0, 0])),
            Err(BleError::OutOfRange { field: "month", value: 13 })
        );
        assert_eq!(
            DateTime::read(&mut Reader::new(&[0xE9, 0x07, 1, 1, 24, 0, 0])),
            Err(BleError::OutOfRange { field: "hours", value: 24 })
        );
        assert_eq!(
            DateTime::read(&mut Reader::new(&[0x10, 0x00, 1, 1, 0, 0, 0])),
            Err(BleError::OutOfRange { field: "year", value: 16 })
        );
        assert!(matches!(
            DateTime::read(&mut Reader::new(&[0xE9, 0x07, 1])),
            Err(BleError::Truncated { .. })
        ));
    }
}
