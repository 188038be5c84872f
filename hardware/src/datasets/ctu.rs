//! CTU-UHB intrapartum CTG database in WFDB format: a text header `NNNN.hea` and a signal file
//! `NNNN.dat` of little-endian int16 pairs [FHR, UC] (WFDB format 16), gain 100 (value = raw /
//! gain), 0 = missing. Header comment lines `#key value` carry outcomes and descriptors.

use std::collections::BTreeMap;

use super::{DatasetError, Format, Recording};

/// One signal line of a WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct CtuSignal {
    pub format: u32,
    pub gain: f32,
    pub baseline: i32,
    pub units: String,
    pub initial_value: i32,
    /// WFDB checksum: the sum of all samples of the signal, modulo 2^16.
    pub checksum: u16,
    pub description: String,
}

/// A parsed WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct CtuHeader {
    pub record: String,
    pub sample_rate_hz: f32,
    pub samples: usize,
    pub dat_file: String,
    pub signals: Vec<CtuSignal>,
    pub meta: BTreeMap<String, String>,
}

fn err(msg: impl Into<String>) -> DatasetError {
    DatasetError::Format(msg.into())
}

/// Parses a `.hea` header.
pub fn parse_ctu_header(text: &str) -> Result<CtuHeader, DatasetError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut meta = BTreeMap::new();
    let first = lines.next().ok_or_else(|| err("empty WFDB header"))?;
    let f: Vec<&str> = first.split_whitespace().collect();
    if f.len() < 4 {
        return Err(err(format!(
            "WFDB record line {first:?}: expected name, signals, rate, samples"
        )));
    }
    let record = f[0].to_owned();
    let nsig: usize = f[1].parse().map_err(|_| err(format!("bad signal count {:?}", f[1])))?;
    let sample_rate_hz: f32 =
        f[2].parse().map_err(|_| err(format!("bad sampling rate {:?}", f[2])))?;
    let samples: usize = f[3].parse().map_err(|_| err(format!("bad sample count {:?}", f[3])))?;
    let mut signals = Vec::new();
    let mut dat_file = String::new();
    for line in lines {
        if let Some(comment) = line.strip_prefix('#') {
            // `#pH           7.14`: key and value separated by a run of spaces; keys may hold
            // single spaces ("Gest. weeks").
            if let Some(idx) = comment.find("  ").or_else(|| comment.rfind(' ')) {
                let (k, v) = comment.split_at(idx);
                let (k, v) = (k.trim(), v.trim());
                if !k.is_empty() && !v.is_empty() && !k.starts_with('-') {
                    meta.insert(k.to_owned(), v.to_owned());
                }
            }
            continue;
        }
        if signals.len() == nsig {
            continue;
        }
        let p: Vec<&str> = line.split_whitespace().collect();
        if p.len() < 9 {
            return Err(err(format!("WFDB signal line {line:?}: expected 9 fields")));
        }
        if dat_file.is_empty() {
            dat_file = p[0].to_owned();
        } else if dat_file != p[0] {
            return Err(err("signals spread over several .dat files are not supported"));
        }
        let format: u32 = p[1].parse().map_err(|_| err(format!("bad format {:?}", p[1])))?;
        // Gain field: `100(0)/bpm` = gain 100, baseline 0, units bpm; baseline and units optional.
        let (gain_part, units) = p[2].split_once('/').unwrap_or((p[2], ""));
        let (gain_text, baseline) = match gain_part.split_once('(') {
            Some((g, b)) => (
                g,
                b.trim_end_matches(')')
                    .parse()
                    .map_err(|_| err(format!("bad baseline in {:?}", p[2])))?,
            ),
            None => (gain_part, 0),
        };
        let gain: f32 = gain_text.parse().map_err(|_| err(format!("bad gain {:?}", p[2])))?;
        if gain <= 0.0 {
            return Err(err(format!("gain {gain} must be positive")));
        }
        signals.push(CtuSignal {
            format,
            gain,
            baseline,
            units: units.to_owned(),
            initial_value: p[5]
                .parse()
                .map_err(|_| err(format!("bad initial value {:?}", p[5])))?,
            checksum: p[6].parse::<i64>().map_err(|_| err(format!("bad checksum {:?}", p[6])))?
                as u16,
            description: p[8..].join(" "),
        });
    }
    if signals.len() != nsig {
        return Err(err(format!("header announces {nsig} signals, lists {}", signals.len())));
    }
    Ok(CtuHeader { record, sample_rate_hz, samples, dat_file, signals, meta })
}

/// Parses the `.dat` of a CTU-UHB record (two format-16 signals, FHR then UC), verifying sizes
/// and the WFDB checksums.
pub fn parse_ctu_dat(header: &CtuHeader, bytes: &[u8]) -> Result<Recording, DatasetError> {
    if header.signals.len() != 2 || header.signals.iter().any(|s| s.format != 16) {
        return Err(err("expected two format-16 signals (FHR, UC)"));
    }
    if header.sample_rate_hz != 4.0 {
        return Err(err(format!("expected 4 Hz, header says {}", header.sample_rate_hz)));
    }
    let need = header.samples * 4;
    if bytes.len() != need {
        return Err(err(format!(
            "{}: {} bytes, header implies {need}",
            header.dat_file,
            bytes.len()
        )));
    }
    let (fs, us) = (&header.signals[0], &header.signals[1]);
    let mut fhr = Vec::with_capacity(header.samples);
    let mut uc = Vec::with_capacity(header.samples);
    let (mut sum_f, mut sum_u) = (0u16, 0u16);
    for s in bytes.chunks_exact(4) {
        let f = i16::from_le_bytes([s[0], s[1]]);
        let u = i16::from_le_bytes([s[2], s[3]]);
        sum_f = sum_f.wrapping_add(f as u16);
        sum_u = sum_u.wrapping_add(u as u16);
        let conv = |raw: i16, sig: &CtuSignal| {
            (raw != 0).then(|| (f32::from(raw) - sig.baseline as f32) / sig.gain)
        };
        fhr.push(conv(f, fs));
        uc.push(conv(u, us));
    }
    if sum_f != fs.checksum || sum_u != us.checksum {
        return Err(err(format!("{}: WFDB checksum mismatch (file damaged?)", header.dat_file)));
    }
    Ok(Recording {
        name: header.record.clone(),
        format: Format::CtuUhb,
        fhr1: fhr,
        fhr2: Vec::new(),
        mhr: Vec::new(),
        toco: uc,
        quality: Vec::new(),
        meta: header.meta.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEA: &str = "9999 2 4 2\n9999.dat 16 100(0)/bpm 12 0 14000 29000 0 FHR\n9999.dat 16 100/nd 12 0 500 500 0 UC\n#pH           7.21\n#Gest. weeks  40\n#-- Outcome measures\n";

    #[test]
    fn parses_header_and_data_with_checksums() {
        let h = parse_ctu_header(HEA).unwrap();
        assert_eq!(h.samples, 2);
        assert_eq!(h.dat_file, "9999.dat");
        assert_eq!(h.signals[0].description, "FHR");
        assert_eq!(h.meta["pH"], "7.21");
        assert_eq!(h.meta["Gest. weeks"], "40");
        let mut dat = Vec::new();
        for (f, u) in [(14000i16, 500i16), (15000, 0)] {
            dat.extend_from_slice(&f.to_le_bytes());
            dat.extend_from_slice(&u.to_le_bytes());
        }
        let r = parse_ctu_dat(&h, &dat).unwrap();
        assert_eq!(r.fhr1, vec![Some(140.0), Some(150.0)]);
        assert_eq!(r.toco, vec![Some(5.0), None]);
        dat[0] ^= 1;
        assert!(parse_ctu_dat(&h, &dat).unwrap_err().to_string().contains("checksum"));
        assert!(parse_ctu_dat(&h, &dat[..6]).is_err());
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert!(parse_ctu_header("").is_err());
        assert!(parse_ctu_header("1 2 4").is_err());
        assert!(parse_ctu_header("1 2 4 10\n1.dat 16 100 12 0 0 0 0 FHR\n").is_err());
        assert!(parse_ctu_header("1 1 4 10\n1.dat 16 abc 12 0 0 0 0 FHR\n").is_err());
    }
}
