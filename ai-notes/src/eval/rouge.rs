//! ROUGE-N (clipped n-gram counts) and ROUGE-L (longest common subsequence), as F1.
//!
//! Tokens: for English, lower-cased ASCII alphanumeric runs (everything else separates tokens,
//! as in the reference `rouge-score` package without stemming); for Japanese, single characters
//! (white space, punctuation and symbols dropped), the usual character-level ROUGE for text
//! without spaces.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::soap::Lang;

/// Precision, recall and F1 in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    fn from_counts(overlap: usize, candidate: usize, reference: usize) -> Self {
        if overlap == 0 || candidate == 0 || reference == 0 {
            return Self::default();
        }
        let p = overlap as f64 / candidate as f64;
        let r = overlap as f64 / reference as f64;
        Self { precision: p, recall: r, f1: 2.0 * p * r / (p + r) }
    }
}

/// Tokens of `text` for ROUGE in `lang`.
pub fn tokenize(text: &str, lang: Lang) -> Vec<String> {
    match lang {
        Lang::En => text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
        Lang::Ja => text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .map(|c| c.to_lowercase().collect::<String>())
            .collect(),
    }
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut m = HashMap::new();
    if n == 0 || tokens.len() < n {
        return m;
    }
    for w in tokens.windows(n) {
        *m.entry(w).or_insert(0) += 1;
    }
    m
}

/// ROUGE-N between token sequences: n-gram overlap with counts clipped to the reference's.
pub fn rouge_n(candidate: &[String], reference: &[String], n: usize) -> Prf {
    let c = ngram_counts(candidate, n);
    let r = ngram_counts(reference, n);
    let overlap: usize = c.iter().map(|(g, &k)| k.min(r.get(g).copied().unwrap_or(0))).sum();
    let total = |m: &HashMap<&[String], usize>| m.values().sum::<usize>();
    Prf::from_counts(overlap, total(&c), total(&r))
}

/// Length of the longest common subsequence (O(n·m) time, O(m) memory).
pub fn lcs_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(cur[j]) };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L: LCS-based precision, recall and F1 over whole texts.
pub fn rouge_l(candidate: &[String], reference: &[String]) -> Prf {
    Prf::from_counts(lcs_len(candidate, reference), candidate.len(), reference.len())
}

/// ROUGE-1, ROUGE-2 and ROUGE-L of one text pair.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScores {
    pub rouge1: Prf,
    pub rouge2: Prf,
    pub rouge_l: Prf,
}

/// All three scores of `candidate` against `reference`.
pub fn score(candidate: &str, reference: &str, lang: Lang) -> RougeScores {
    let c = tokenize(candidate, lang);
    let r = tokenize(reference, lang);
    RougeScores { rouge1: rouge_n(&c, &r, 1), rouge2: rouge_n(&c, &r, 2), rouge_l: rouge_l(&c, &r) }
}

/// Mean F1 × 100 over pairs (the way ACI-Bench and most papers report).
pub fn mean_f1(scores: &[RougeScores]) -> (f64, f64, f64) {
    if scores.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let n = scores.len() as f64;
    let m = |f: fn(&RougeScores) -> f64| 100.0 * scores.iter().map(f).sum::<f64>() / n;
    (m(|s| s.rouge1.f1), m(|s| s.rouge2.f1), m(|s| s.rouge_l.f1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hand_computed_english() {
        // candidate: the cat was found under the bed (7 tokens)
        // reference: the cat was under the bed (6 tokens)
        // unigrams: the×2 (ref 2), cat, was, under, bed → overlap 6; P 6/7, R 6/6.
        let s = score("The cat was found under the bed.", "the cat was under the bed", Lang::En);
        assert!(close(s.rouge1.precision, 6.0 / 7.0));
        assert!(close(s.rouge1.recall, 1.0));
        assert!(close(s.rouge1.f1, 2.0 * (6.0 / 7.0) / (6.0 / 7.0 + 1.0)));
        // bigrams: cand 6 (the cat, cat was, was found, found under, under the, the bed),
        // ref 5 (the cat, cat was, was under, under the, the bed) → overlap 4.
        assert!(close(s.rouge2.precision, 4.0 / 6.0));
        assert!(close(s.rouge2.recall, 4.0 / 5.0));
        // LCS = the cat was under the bed = 6.
        assert!(close(s.rouge_l.recall, 1.0));
        assert!(close(s.rouge_l.precision, 6.0 / 7.0));
    }

    #[test]
    fn counts_are_clipped() {
        // "the the the the" vs "the cat": overlap min(4, 1) = 1; P 1/4, R 1/2.
        let s = score("the the the the", "the cat", Lang::En);
        assert!(close(s.rouge1.precision, 0.25));
        assert!(close(s.rouge1.recall, 0.5));
        assert!(close(s.rouge1.f1, 2.0 * 0.25 * 0.5 / 0.75));
    }

    #[test]
    fn japanese_is_character_level() {
        assert_eq!(
            tokenize("血圧は、128です。", Lang::Ja),
            vec!["血", "圧", "は", "1", "2", "8", "で", "す"]
        );
        // 血圧正常 vs 血圧は正常: unigram overlap 4, P 4/4, R 4/5; LCS 4.
        let s = score("血圧正常", "血圧は正常", Lang::Ja);
        assert!(close(s.rouge1.precision, 1.0));
        assert!(close(s.rouge1.recall, 0.8));
        assert!(close(s.rouge_l.f1, 2.0 * 0.8 / 1.8));
        // bigrams: 血圧 圧正 正常 vs 血圧 圧は は正 正常 → 2 of 3, 2 of 4.
        assert!(close(s.rouge2.precision, 2.0 / 3.0));
        assert!(close(s.rouge2.recall, 0.5));
    }

    #[test]
    fn empty_texts_score_zero() {
        let s = score("", "something", Lang::En);
        assert_eq!(s.rouge1, Prf::default());
        assert_eq!(lcs_len::<u8>(&[], &[1, 2]), 0);
        assert_eq!(mean_f1(&[]), (0.0, 0.0, 0.0));
    }
}
