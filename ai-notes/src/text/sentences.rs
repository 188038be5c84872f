//! Sentence segmentation for Japanese and English transcripts.

use std::ops::Range;

/// Abbreviations after which a full stop does not end a sentence (lower case, without the dot).
const ABBREVIATIONS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "approx", "e.g", "i.e", "fig", "b.p",
    "p.o", "b.i.d", "t.i.d", "q.i.d", "a.m", "p.m", "wt", "ht", "temp",
];

/// Byte ranges of the sentences of `text`, trimmed, in order. Boundaries: 。！？!? always, a
/// newline always, and `.` when followed by white space or the end (not after a known
/// abbreviation, and never inside a number such as 61.5).
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next = iter.peek().map(|&(_, n)| n);
        let end_here = match c {
            '。' | '！' | '？' | '!' | '?' | '\n' => true,
            '.' => {
                next.is_none_or(char::is_whitespace)
                    && !is_abbreviation(&text[start..i])
                    && !preceded_by_initial(&text[start..i])
            }
            _ => false,
        };
        if end_here {
            let mut end = i + c.len_utf8();
            // Closing quotes and brackets belong to the sentence they close.
            while let Some(&(j, q)) = iter.peek() {
                if matches!(q, '」' | '』' | '）' | ')' | '"' | '\'') {
                    end = j + q.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            push_trimmed(text, start..end, &mut out);
            start = end;
        }
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn is_abbreviation(before: &str) -> bool {
    let last = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
    let last = last.to_ascii_lowercase();
    ABBREVIATIONS.contains(&last.as_str())
}

fn preceded_by_initial(before: &str) -> bool {
    let last = before.rsplit(char::is_whitespace).next().unwrap_or("");
    last.len() == 1 && last.chars().all(|c| c.is_ascii_uppercase())
}

fn push_trimmed(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    let (a, b) = (r.start + lead, r.end - trail);
    if a < b && text[a..b].chars().any(char::is_alphanumeric) {
        out.push(a..b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(s: &str) -> Vec<&str> {
        split_sentences(s).into_iter().map(|r| &s[r]).collect()
    }

    #[test]
    fn english() {
        assert_eq!(
            sentences("Weight 61.5 kg. Dr. Sato saw her.  Plan: return in 2 weeks"),
            vec!["Weight 61.5 kg.", "Dr. Sato saw her.", "Plan: return in 2 weeks"]
        );
        assert_eq!(
            sentences("Any headache? No. J. Smith agrees."),
            vec!["Any headache?", "No.", "J. Smith agrees."]
        );
    }

    #[test]
    fn japanese() {
        assert_eq!(
            sentences("妊娠32週3日です。血圧は128の82、体重は61.5キロです。「はい」と。"),
            vec!["妊娠32週3日です。", "血圧は128の82、体重は61.5キロです。", "「はい」と。"]
        );
    }

    #[test]
    fn empty_and_punctuation_only() {
        assert!(sentences("").is_empty());
        assert!(sentences(" 。。 \n ").is_empty());
    }
}
