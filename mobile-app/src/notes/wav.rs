//! 16-bit PCM WAV files, written by hand: the format a recorder hands to the drafter and the
//! server accepts (`audio/wav`). Pure: bytes in memory, no I/O.

/// Encodes interleaved 16-bit samples as a canonical RIFF/WAVE file (a 44-byte header).
/// `None` when the data cannot fit a WAV file (over 4 GiB) or the format is meaningless.
pub fn encode_pcm16(samples: &[i16], sample_rate: u32, channels: u16) -> Option<Vec<u8>> {
    if sample_rate == 0 || channels == 0 {
        return None;
    }
    let data_len = u32::try_from(samples.len().checked_mul(2)?).ok()?;
    let riff_len = data_len.checked_add(36)?;
    let block_align = channels.checked_mul(2)?;
    let byte_rate = sample_rate.checked_mul(u32::from(block_align))?;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Some(out)
}

/// A quick check that `bytes` starts like a WAV file (RIFF/WAVE), before sending it anywhere.
pub fn looks_like_wav(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_decode_to_the_same_samples() {
        let samples: Vec<i16> = (0..1600).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
        let wav = encode_pcm16(&samples, 16_000, 1).unwrap();
        assert!(looks_like_wav(&wav));
        assert_eq!(wav.len(), 44 + 3200);
        let (audio, info) = ai_notes::audio::decode_wav(std::io::Cursor::new(&wav)).unwrap();
        assert_eq!((audio.sample_rate, info.channels), (16_000, 1));
        assert_eq!(audio.samples.len(), samples.len());
        let back: Vec<i16> = audio.samples.iter().map(|s| (s * 32768.0).round() as i16).collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn meaningless_formats_are_refused() {
        assert_eq!(encode_pcm16(&[0; 4], 0, 1), None);
        assert_eq!(encode_pcm16(&[0; 4], 16_000, 0), None);
        assert!(!looks_like_wav(b"RIFF\0\0\0\0AVI "));
    }
}
