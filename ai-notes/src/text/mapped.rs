//! A string that remembers, for each of its characters, which bytes of an original text it came
//! from. Normalisation rewrites text (full-width forms, kanji numerals, number words); every
//! statement in a note must still point at the exact transcript span it came from.

use std::ops::Range;

/// Text derived from an original, with a source byte range for every character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedText {
    text: String,
    /// One entry per `char` of `text`: byte range in the original.
    origins: Vec<Range<usize>>,
    /// Byte offset in `text` of each char (parallel to `origins`), for byte → char lookups.
    byte_starts: Vec<usize>,
}

impl MappedText {
    /// The identity mapping of `original`.
    pub fn identity(original: &str) -> Self {
        let mut b = MappedBuilder::with_capacity(original.len());
        for (i, c) in original.char_indices() {
            b.push_char(c, i..i + c.len_utf8());
        }
        b.finish()
    }

    /// The derived text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Number of chars.
    pub fn char_len(&self) -> usize {
        self.origins.len()
    }

    /// Byte range in the original covered by the byte range `r` of this text. `r` must lie on
    /// char boundaries of this text; an empty range maps to an empty range at its position.
    pub fn origin_of(&self, r: Range<usize>) -> Range<usize> {
        let first = if r.start >= self.text.len() {
            self.origins.len()
        } else {
            self.char_index_at(r.start)
        };
        if r.is_empty() || first >= self.origins.len() {
            let at = self
                .origins
                .get(first)
                .map_or_else(|| self.origins.last().map_or(0, |o| o.end), |o| o.start);
            return at..at;
        }
        let last = self.char_index_at(r.end.saturating_sub(1));
        let start = self.origins[first..=last].iter().map(|o| o.start).min().unwrap_or(0);
        let end = self.origins[first..=last].iter().map(|o| o.end).max().unwrap_or(start);
        start..end
    }

    fn char_index_at(&self, byte: usize) -> usize {
        match self.byte_starts.binary_search(&byte) {
            Ok(i) => i,
            // Inside a multi-byte char: the char that contains it.
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Applies `f` to every char; `f` returns the replacement (possibly empty or several chars).
    pub fn map_chars(&self, mut f: impl FnMut(char) -> Option<char>) -> Self {
        let mut b = MappedBuilder::with_capacity(self.text.len());
        for (c, o) in self.text.chars().zip(&self.origins) {
            if let Some(r) = f(c) {
                b.push_char(r, o.clone());
            }
        }
        b.finish()
    }

    /// Replaces the byte ranges in `edits` (sorted, non-overlapping, on char boundaries) by their
    /// strings; each replacement char maps to the union of the replaced chars' origins.
    pub fn splice(&self, edits: &[(Range<usize>, String)]) -> Self {
        let mut b = MappedBuilder::with_capacity(self.text.len());
        let mut pos = 0;
        for (range, replacement) in edits {
            debug_assert!(range.start >= pos, "edits must be sorted and disjoint");
            self.copy_into(&mut b, pos..range.start);
            let origin = self.origin_of(range.clone());
            for c in replacement.chars() {
                b.push_char(c, origin.clone());
            }
            pos = range.end;
        }
        self.copy_into(&mut b, pos..self.text.len());
        b.finish()
    }

    fn copy_into(&self, b: &mut MappedBuilder, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        let first = self.char_index_at(r.start);
        for (c, o) in self.text[r].chars().zip(&self.origins[first..]) {
            b.push_char(c, o.clone());
        }
    }
}

/// Incremental construction of a [`MappedText`].
#[derive(Debug, Default)]
pub struct MappedBuilder {
    text: String,
    origins: Vec<Range<usize>>,
    byte_starts: Vec<usize>,
}

impl MappedBuilder {
    /// An empty builder with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            origins: Vec::with_capacity(bytes),
            byte_starts: Vec::with_capacity(bytes),
        }
    }

    /// Appends one char coming from `origin`.
    pub fn push_char(&mut self, c: char, origin: Range<usize>) {
        self.byte_starts.push(self.text.len());
        self.text.push(c);
        self.origins.push(origin);
    }

    /// The finished text.
    pub fn finish(self) -> MappedText {
        MappedText { text: self.text, origins: self.origins, byte_starts: self.byte_starts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_maps_replacements_to_the_replaced_span() {
        let original = "血圧は百二十八です";
        let m = MappedText::identity(original);
        let start = original.find('百').unwrap();
        let end = original.find('で').unwrap();
        let out = m.splice(&[(start..end, "128".to_string())]);
        assert_eq!(out.as_str(), "血圧は128です");
        let at = out.as_str().find("128").unwrap();
        assert_eq!(&original[out.origin_of(at..at + 3)], "百二十八");
        let de = out.as_str().find('で').unwrap();
        assert_eq!(&original[out.origin_of(de..out.as_str().len())], "です");
        // A span inside the replacement still maps to the whole replaced word.
        assert_eq!(&original[out.origin_of(at + 1..at + 2)], "百二十八");
    }

    #[test]
    fn map_chars_can_drop_and_replace() {
        let m = MappedText::identity("Ａ Ｂ");
        let out = m.map_chars(|c| if c == ' ' { None } else { Some(c.to_ascii_lowercase()) });
        assert_eq!(out.as_str(), "ＡＢ");
        assert_eq!(out.origin_of(3..6), 4..7);
    }

    #[test]
    fn empty_ranges_map_to_positions() {
        let m = MappedText::identity("abc");
        assert_eq!(m.origin_of(3..3), 3..3);
        assert_eq!(m.origin_of(1..1), 1..1);
        let empty = MappedText::identity("");
        assert_eq!(empty.origin_of(0..0), 0..0);
    }
}
