//! FHRMA binary recordings (Boudet et al.), 4 Hz, little-endian:
//! `.fhr`: u32 start timestamp, then per sample u16 FHR1×4, u16 FHR2×4, u8 TOCO×2, u8 reserved.
//! `.fhrm`: u32 start timestamp, then per sample u16 FHR1×4, u16 FHR2×4, u16 MHR×4, u8 TOCO×2,
//! u8 quality bits. A heart-rate value of 0 means no signal.

use std::collections::BTreeMap;

use super::{DatasetError, Format, Recording};

fn hr(raw: u16) -> Option<f32> {
    (raw != 0).then(|| f32::from(raw) / 4.0)
}

fn body<'a>(name: &str, bytes: &'a [u8], stride: usize) -> Result<&'a [u8], DatasetError> {
    if bytes.len() < 4 {
        return Err(DatasetError::Format(format!("{name}: shorter than its 4-byte header")));
    }
    let body = &bytes[4..];
    if !body.len().is_multiple_of(stride) {
        return Err(DatasetError::Format(format!(
            "{name}: {} bytes after the header is not a whole number of {stride}-byte samples",
            body.len()
        )));
    }
    Ok(body)
}

/// Parses a `.fhr` file.
pub fn parse_fhr(name: &str, bytes: &[u8]) -> Result<Recording, DatasetError> {
    let body = body(name, bytes, 6)?;
    let n = body.len() / 6;
    let mut r = empty(name, Format::Fhr, n);
    for s in body.chunks_exact(6) {
        r.fhr1.push(hr(u16::from_le_bytes([s[0], s[1]])));
        r.fhr2.push(hr(u16::from_le_bytes([s[2], s[3]])));
        r.toco.push(Some(f32::from(s[4]) / 2.0));
    }
    Ok(r)
}

/// Parses a `.fhrm` file.
pub fn parse_fhrm(name: &str, bytes: &[u8]) -> Result<Recording, DatasetError> {
    let body = body(name, bytes, 8)?;
    let n = body.len() / 8;
    let mut r = empty(name, Format::Fhrm, n);
    for s in body.chunks_exact(8) {
        r.fhr1.push(hr(u16::from_le_bytes([s[0], s[1]])));
        r.fhr2.push(hr(u16::from_le_bytes([s[2], s[3]])));
        r.mhr.push(hr(u16::from_le_bytes([s[4], s[5]])));
        r.toco.push(Some(f32::from(s[6]) / 2.0));
        r.quality.push(s[7]);
    }
    Ok(r)
}

fn empty(name: &str, format: Format, n: usize) -> Recording {
    let with_mhr = format == Format::Fhrm;
    Recording {
        name: name.to_owned(),
        format,
        fhr1: Vec::with_capacity(n),
        fhr2: Vec::with_capacity(n),
        mhr: Vec::with_capacity(if with_mhr { n } else { 0 }),
        toco: Vec::with_capacity(n),
        quality: Vec::with_capacity(if with_mhr { n } else { 0 }),
        meta: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fhr_layout() {
        let mut b = vec![0, 0, 0, 0];
        b.extend_from_slice(&[0x30, 0x02, 0, 0, 40, 0]); // 140 bpm, no FHR2, TOCO 20
        b.extend_from_slice(&[0, 0, 0x32, 0x02, 0, 0]); // no FHR1, FHR2 140.5, TOCO 0
        let r = parse_fhr("t", &b).unwrap();
        assert_eq!(r.fhr1, vec![Some(140.0), None]);
        assert_eq!(r.fhr2, vec![None, Some(140.5)]);
        assert_eq!(r.toco, vec![Some(20.0), Some(0.0)]);
        assert!(r.mhr.is_empty());
    }

    #[test]
    fn parses_fhrm_layout() {
        let mut b = vec![0, 0, 0, 0];
        b.extend_from_slice(&[0x30, 0x02, 0, 0, 0x48, 0x01, 30, 0b1_0001]);
        let r = parse_fhrm("t", &b).unwrap();
        assert_eq!(r.mhr, vec![Some(82.0)]);
        assert_eq!(r.toco, vec![Some(15.0)]);
        assert_eq!(r.quality, vec![0b1_0001]);
    }

    #[test]
    fn rejects_partial_samples() {
        assert!(parse_fhr("t", &[0, 0, 0]).is_err());
        assert!(parse_fhr("t", &[0, 0, 0, 0, 1]).is_err());
        assert!(parse_fhrm("t", &[0, 0, 0, 0, 1, 2, 3, 4, 5, 6]).is_err());
        assert_eq!(parse_fhr("t", &[0, 0, 0, 0]).unwrap().len(), 0);
    }
}
