//! Normalisation of transcripts before extraction: full-width forms to ASCII, kanji numerals and
//! English number words to digits, ASCII lower case. The result keeps a map back to the original
//! text (see [`MappedText`]), so extraction works on a regular form while every statement still
//! quotes the transcript exactly.

use super::mapped::MappedText;

/// Normalises `original` for extraction (both languages: Japanese transcripts contain English
/// abbreviations such as BP or FHR, English ones rarely contain kanji).
pub fn normalize(original: &str) -> MappedText {
    let folded = fold_width(&MappedText::identity(original));
    let kanji = kanji_numerals(&folded);
    let words = english_number_words(&kanji);
    words.map_chars(|c| Some(c.to_ascii_lowercase()))
}

/// Full-width ASCII variants to ASCII, the ideographic space to a space, and the many dashes and
/// minus signs that transcribers use to `-`.
pub fn fold_width(text: &MappedText) -> MappedText {
    text.map_chars(|c| {
        Some(match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{00A0}' => ' ',
            '\u{2212}' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{FF70}' => '-',
            '\u{2215}' => '/',
            _ => c,
        })
    })
}

fn kanji_digit(c: char) -> Option<u64> {
    Some(match c {
        '〇' | '零' => 0,
        '一' => 1,
        '二' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn kanji_small_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' => 10,
        '百' => 100,
        '千' => 1000,
        _ => return None,
    })
}

fn kanji_large_unit(c: char) -> Option<u64> {
    Some(match c {
        '万' => 10_000,
        '億' => 100_000_000,
        _ => return None,
    })
}

fn is_numeral_char(c: char) -> bool {
    c.is_ascii_digit()
        || kanji_digit(c).is_some()
        || kanji_small_unit(c).is_some()
        || kanji_large_unit(c).is_some()
}

/// Words that contain kanji numerals without meaning a quantity; converting them would invent
/// numbers (一過性 "transient", 十二指腸 "duodenum", 十分 "enough"...).
const NON_NUMERIC_WORDS: &[&str] = &[
    "一緒",
    "一般",
    "一番",
    "一応",
    "一旦",
    "一部",
    "一方",
    "一定",
    "一生",
    "一切",
    "一体",
    "一瞬",
    "一気",
    "一層",
    "一向",
    "一途",
    "一致",
    "一過性",
    "一時的",
    "一昨日",
    "一昨年",
    "唯一",
    "統一",
    "同一",
    "均一",
    "万一",
    "万が一",
    "十分",
    "十二指腸",
    "三叉",
    "五十肩",
    "一酸化",
    "二酸化",
    "四季",
    "七夕",
    "千葉",
    "九州",
    "四国",
    "三重",
    "一人暮らし",
    "一通り",
    "一杯",
    "一言",
];

/// Parses a run of kanji/ASCII numerals ("百二十八", "二〇二五", "3千"). `None` when the run is
/// not a number on its own (e.g. a lone 万).
pub fn parse_kanji_number(run: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut current: Option<u64> = None;
    let mut any_digit_or_small = false;
    for c in run.chars() {
        if let Some(d) = c.to_digit(10).map(u64::from).or_else(|| kanji_digit(c)) {
            current = Some(current.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            any_digit_or_small = true;
        } else if let Some(m) = kanji_small_unit(c) {
            section = section.checked_add(current.unwrap_or(1).checked_mul(m)?)?;
            current = None;
            any_digit_or_small = true;
        } else if let Some(m) = kanji_large_unit(c) {
            let group = section + current.unwrap_or(0);
            if group == 0 {
                return None;
            }
            total = total.checked_add(group.checked_mul(m)?)?;
            section = 0;
            current = None;
        } else {
            return None;
        }
    }
    any_digit_or_small.then(|| total + section + current.unwrap_or(0))
}

/// Rewrites kanji numerals as ASCII digits, including decimals written 六十一.五 or 六十一点五.
pub fn kanji_numerals(text: &MappedText) -> MappedText {
    let s = text.as_str();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut edits = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let has_kanji = |a: usize, b: usize| chars[a..b].iter().any(|&(_, c)| !c.is_ascii_digit());
        if !is_numeral_char(c) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_numeral_char(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(s.len(), |&(b, _)| b);
        if !has_kanji(i, j) || is_non_numeric_word(s, start, end) {
            i = j;
            continue;
        }
        let Some(value) = parse_kanji_number(&s[start..end]) else {
            i = j;
            continue;
        };
        let mut replacement = value.to_string();
        let mut edit_end = end;
        // Decimal part: a point (. or 点) followed by positional digits.
        if let Some(&(_, p)) = chars.get(j)
            && (p == '.' || p == '点')
        {
            let mut k = j + 1;
            let mut digits = String::new();
            while let Some(&(_, d)) = chars.get(k) {
                match d.to_digit(10).map(u64::from).or_else(|| kanji_digit(d)) {
                    Some(v) => digits.push(char::from(b'0' + v as u8)),
                    None => break,
                }
                k += 1;
            }
            if !digits.is_empty() {
                replacement.push('.');
                replacement.push_str(&digits);
                edit_end = chars.get(k).map_or(s.len(), |&(b, _)| b);
                j = k;
            }
        }
        edits.push((start..edit_end, replacement));
        i = j;
    }
    text.splice(&edits)
}

fn is_non_numeric_word(s: &str, start: usize, end: usize) -> bool {
    NON_NUMERIC_WORDS.iter().any(|w| {
        // The word overlaps the numeral run: search a window around it.
        let lo = floor_char_boundary(s, start.saturating_sub(w.len()));
        let hi = ceil_char_boundary(s, (end + w.len()).min(s.len()));
        s[lo..hi].match_indices(w).any(|(p, m)| {
            let (a, b) = (lo + p, lo + p + m.len());
            a < end && b > start
        })
    })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn units_word(w: &str) -> Option<u64> {
    Some(match w {
        "zero" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        _ => return None,
    })
}

fn teens_word(w: &str) -> Option<u64> {
    Some(match w {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens_word(w: &str) -> Option<u64> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// A lower-cased word with its byte range and whether it directly follows the previous word
/// (only spaces or a hyphen between them).
struct Word {
    text: String,
    range: std::ops::Range<usize>,
    joined_to_prev: bool,
}

fn words_of(s: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut prev_end: Option<usize> = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'\'') {
                i += 1;
            }
            let joined = prev_end.is_some_and(|p| {
                let gap = &s[p..start];
                !gap.is_empty() && gap.bytes().all(|b| b == b' ' || b == b'-')
            });
            words.push(Word {
                text: s[start..i].to_ascii_lowercase(),
                range: start..i,
                joined_to_prev: joined,
            });
            prev_end = Some(i);
        } else {
            i += 1;
        }
    }
    words
}

/// Parses an English number phrase starting at word `i`: cardinals ("one hundred and forty"),
/// the spoken-hundreds form used for vital signs ("one twenty eight", "one oh five"), and
/// decimals ("sixty one point five"). Returns the digits and the index after the phrase.
fn parse_number_phrase(words: &[Word], i: usize) -> Option<(String, usize)> {
    let word = |k: usize| words.get(k).map(|w| w.text.as_str());
    let joined = |k: usize| words.get(k).is_some_and(|w| w.joined_to_prev);
    let below_hundred = |k: usize| -> Option<(u64, usize)> {
        let w = word(k)?;
        if let Some(v) = units_word(w).or_else(|| teens_word(w)) {
            return Some((v, k + 1));
        }
        let t = tens_word(w)?;
        match word(k + 1).and_then(units_word) {
            Some(u) if u > 0 && joined(k + 1) => Some((t + u, k + 2)),
            _ => Some((t, k + 1)),
        }
    };

    let (mut value, mut j) = if word(i) == Some("a")
        && matches!(word(i + 1), Some("hundred" | "thousand"))
        && joined(i + 1)
    {
        (1, i + 1)
    } else {
        below_hundred(i)?
    };
    let mut is_spoken_hundreds = false;
    if word(j) == Some("hundred") && joined(j) {
        value *= 100;
        j += 1;
        let k = if word(j) == Some("and") && joined(j) { j + 1 } else { j };
        if joined(k)
            && let Some((rest, after)) = below_hundred(k)
        {
            value += rest;
            j = after;
        }
    } else if (1..=9).contains(&value) && joined(j) {
        // "one twenty eight" = 128; "one oh five" = 105.
        if word(j) == Some("oh") && joined(j + 1) {
            if let Some(u) = word(j + 1).and_then(units_word) {
                value = value * 100 + u;
                j += 2;
                is_spoken_hundreds = true;
            }
        } else if let Some((rest, after)) = below_hundred(j)
            && rest >= 10
        {
            value = value * 100 + rest;
            j = after;
            is_spoken_hundreds = true;
        }
    }
    if !is_spoken_hundreds && word(j) == Some("thousand") && joined(j) {
        value *= 1000;
        j += 1;
        if joined(j)
            && let Some((rest, after)) = parse_number_phrase(words, j)
                .and_then(|(d, a)| d.parse::<u64>().ok().filter(|&r| r < 1000).map(|r| (r, a)))
        {
            value += rest;
            j = after;
        }
    }
    let mut digits = value.to_string();
    if word(j) == Some("point") && joined(j) {
        let mut k = j + 1;
        let mut decimals = String::new();
        while joined(k) {
            match word(k) {
                Some("oh") => decimals.push('0'),
                Some(w) => match units_word(w) {
                    Some(u) => decimals.push(char::from(b'0' + u as u8)),
                    None => break,
                },
                None => break,
            }
            k += 1;
        }
        if !decimals.is_empty() {
            digits.push('.');
            digits.push_str(&decimals);
            j = k;
        }
    }
    Some((digits, j))
}

/// Rewrites English number words as digits ("one twenty eight over eighty two" → "128 over 82").
pub fn english_number_words(text: &MappedText) -> MappedText {
    english_number_words_with(text, false)
}

/// Like [`english_number_words`]; with `keep_lone_one`, a lone "one" stays a word ("one of
/// them", "the right one"), as clinical prose writes it.
pub fn english_number_words_with(text: &MappedText, keep_lone_one: bool) -> MappedText {
    let s = text.as_str();
    let words = words_of(s);
    let mut edits = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match parse_number_phrase(&words, i) {
            Some((_, next)) if keep_lone_one && next == i + 1 && words[i].text == "one" => i += 1,
            Some((digits, next)) if next > i => {
                edits.push((words[i].range.start..words[next - 1].range.end, digits));
                i = next;
            }
            _ => i += 1,
        }
    }
    text.splice(&edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).as_str().to_string()
    }

    #[test]
    fn kanji_numbers() {
        assert_eq!(parse_kanji_number("百二十八"), Some(128));
        assert_eq!(parse_kanji_number("八十二"), Some(82));
        assert_eq!(parse_kanji_number("十"), Some(10));
        assert_eq!(parse_kanji_number("二〇二五"), Some(2025));
        assert_eq!(parse_kanji_number("千九百"), Some(1900));
        assert_eq!(parse_kanji_number("三万二千"), Some(32_000));
        assert_eq!(parse_kanji_number("3千"), Some(3000));
        assert_eq!(parse_kanji_number("万"), None);
    }

    #[test]
    fn japanese_sentences() {
        assert_eq!(norm("血圧は百二十八の八十二"), "血圧は128の82");
        assert_eq!(norm("体重は六十一.五キロ"), "体重は61.5キロ");
        assert_eq!(norm("体重は六十一点五キロ"), "体重は61.5キロ");
        assert_eq!(norm("妊娠三十二週三日"), "妊娠32週3日");
        assert_eq!(norm("血圧１２８／８２ｍｍＨｇ"), "血圧128/82mmhg");
        assert_eq!(norm("十二指腸と一過性の症状、十分です"), "十二指腸と一過性の症状、十分です");
        assert_eq!(norm("一日に五回"), "1日に5回");
    }

    #[test]
    fn english_numbers() {
        assert_eq!(norm("one twenty eight over eighty two"), "128 over 82");
        assert_eq!(norm("One hundred forty"), "140");
        assert_eq!(norm("one hundred and forty-two"), "142");
        assert_eq!(norm("sixty one point five kilograms"), "61.5 kilograms");
        assert_eq!(norm("Thirty two weeks and three days"), "32 weeks and 3 days");
        assert_eq!(norm("one oh five"), "105");
        assert_eq!(norm("a hundred and ten"), "110");
        assert_eq!(norm("two thousand five hundred grams"), "2500 grams");
        assert_eq!(norm("ninety-eight point six"), "98.6");
        // Punctuation separates numbers; "someone" is not a number.
        assert_eq!(norm("five, six"), "5, 6");
        assert_eq!(norm("someone said oh"), "someone said oh");
    }

    #[test]
    fn spans_map_back_to_words() {
        let original = "BP one twenty eight over eighty two";
        let n = normalize(original);
        assert_eq!(n.as_str(), "bp 128 over 82");
        let at = n.as_str().find("128").unwrap();
        assert_eq!(&original[n.origin_of(at..at + 3)], "one twenty eight");
    }
}
