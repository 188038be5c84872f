//! Transcripts: text segments with audio timestamps, as produced by a [`crate::Transcriber`] or
//! read back from JSON.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// One transcribed segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start and end in seconds from the beginning of the recording.
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
}

/// A transcript of one recording.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Transcript {
    /// Language code the transcriber used or detected ("ja", "en"), if known.
    #[serde(default)]
    pub language: Option<String>,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// The segments' texts joined into one text (without separators for Japanese, with spaces
    /// otherwise), and each segment's byte range in it.
    pub fn text_with_ranges(&self) -> (String, Vec<Range<usize>>) {
        let separator = if self.language.as_deref() == Some("ja") { "" } else { " " };
        let mut text = String::new();
        let mut ranges = Vec::with_capacity(self.segments.len());
        for seg in &self.segments {
            let t = seg.text.trim();
            if !text.is_empty() && !t.is_empty() {
                text.push_str(separator);
            }
            let start = text.len();
            text.push_str(t);
            ranges.push(start..text.len());
        }
        (text, ranges)
    }

    /// The joined text.
    pub fn text(&self) -> String {
        self.text_with_ranges().0
    }

    /// Total duration covered by the segments, in seconds.
    pub fn end_s(&self) -> f64 {
        self.segments.iter().map(|s| s.end_s).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_by_language() {
        let seg = |a: f64, b: f64, t: &str| Segment { start_s: a, end_s: b, text: t.into() };
        let ja = Transcript {
            language: Some("ja".into()),
            segments: vec![seg(0.0, 1.0, "血圧は"), seg(1.0, 2.0, " 百二十八")],
        };
        let (text, ranges) = ja.text_with_ranges();
        assert_eq!(text, "血圧は百二十八");
        assert_eq!(&text[ranges[1].clone()], "百二十八");
        let en = Transcript {
            language: Some("en".into()),
            segments: vec![seg(0.0, 1.0, " BP"), seg(1.0, 2.0, " 120/80")],
        };
        assert_eq!(en.text(), "BP 120/80");
        assert_eq!(en.end_s(), 2.0);
    }
}
