//! A clinical note from an English clinician–patient conversation, without a language model:
//! sentences are cleaned and rewritten into the third person, a ridge-regression scorer
//! (trained on conversation/note pairs) picks the ones a note would keep, conversation cues
//! place them under HISTORY / EXAMINATION / RESULTS / ASSESSMENT AND PLAN, and a template
//! written in the style of the training notes frames them.
//!
//! The scorer learns, for every sentence of a training conversation, which share of its words
//! the reference note uses; nothing of any particular note is stored except word weights.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{
    Sex, Speaker, clean_utterance, digits_and_units, find_age, guess_sex, parse_turns,
    remove_fillers, to_third_person,
};
use crate::learn::{Ridge, Sparse, Vocabulary};
use crate::text::split_sentences;

/// A sentence of the conversation, as heard and as the note would write it.
#[derive(Debug, Clone)]
struct Sentence {
    speaker: Speaker,
    /// Cleaned utterance text.
    raw: String,
    /// Third person, fillers removed, digits.
    text: String,
    /// Position of its turn in the conversation, 0–1.
    position: f32,
    question: bool,
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn sentences(dialogue: &str, sex: Sex) -> Vec<Sentence> {
    let turns = parse_turns(dialogue);
    let n = turns.len().max(1) as f32;
    let mut out = Vec::new();
    for (i, turn) in turns.iter().enumerate() {
        let cleaned = clean_utterance(&turn.text);
        for raw in split_sentences(&cleaned).into_iter().flat_map(|r| split_long(&cleaned[r])) {
            let text = digits_and_units(&remove_fillers(&to_third_person(turn.speaker, &raw, sex)));
            if text.is_empty() {
                continue;
            }
            out.push(Sentence {
                speaker: turn.speaker,
                question: raw.ends_with('?'),
                raw,
                text,
                position: i as f32 / n,
            });
        }
    }
    out
}

/// Sentences longer than this many words are split at discourse markers: unpunctuated
/// transcripts make whole monologues (examination, then plan) one "sentence".
const LONG_SENTENCE_WORDS: usize = 25;
/// Pieces shorter than this are merged with the next one.
const MIN_PIECE_WORDS: usize = 8;

static DISCOURSE_MARKER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\s+(?:okay|alright|all right|so|now|and then|well|but)\b"));

fn split_long(sentence: &str) -> Vec<String> {
    if sentence.split_whitespace().count() <= LONG_SENTENCE_WORDS {
        return vec![sentence.to_string()];
    }
    let mut cuts: Vec<usize> = DISCOURSE_MARKER.find_iter(sentence).map(|m| m.start()).collect();
    cuts.push(sentence.len());
    let mut pieces: Vec<String> = Vec::new();
    let mut buffer = String::new();
    let mut start = 0;
    for cut in cuts {
        let piece = sentence[start..cut].trim();
        start = cut;
        if piece.is_empty() {
            continue;
        }
        if !buffer.is_empty() {
            buffer.push(' ');
        }
        buffer.push_str(piece);
        if buffer.split_whitespace().count() >= MIN_PIECE_WORDS {
            pieces.push(std::mem::take(&mut buffer));
        }
    }
    if !buffer.is_empty() {
        match pieces.last_mut() {
            Some(last) => {
                last.push(' ');
                last.push_str(&buffer);
            }
            None => pieces.push(buffer),
        }
    }
    pieces
}

fn features(s: &Sentence) -> Vec<(String, f32)> {
    let w = words(&s.raw);
    let speaker = match s.speaker {
        Speaker::Clinician => "clinician",
        Speaker::Patient => "patient",
        Speaker::Other => "other",
    };
    let mut f: Vec<(String, f32)> = w.iter().map(|x| (format!("w:{x}"), 1.0)).collect();
    f.extend(w.windows(2).map(|p| (format!("b:{}_{}", p[0], p[1]), 1.0)));
    f.push((format!("speaker:{speaker}"), 1.0));
    f.push((format!("speaker_question:{speaker}_{}", s.question), 1.0));
    f.push(("question".into(), f32::from(u8::from(s.question))));
    f.push((format!("position:{}", (s.position * 5.0) as u32), 1.0));
    f.push((format!("length:{}", (w.len() / 4).min(6)), 1.0));
    f.push(("digit".into(), f32::from(u8::from(s.raw.chars().any(|c| c.is_ascii_digit())))));
    f
}

/// Share of the sentence's (rewritten) words that the reference note uses.
fn label(s: &Sentence, reference: &std::collections::HashSet<String>) -> f32 {
    let w = words(&s.text);
    if w.is_empty() {
        return 0.0;
    }
    w.iter().filter(|x| reference.contains(*x)).count() as f32 / w.len() as f32
}

/// A trained sentence scorer and the note's length budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteModel {
    vocabulary: Vocabulary,
    scorer: Ridge,
    /// Note length as a share of the conversation's words.
    pub length_ratio: f32,
}

/// L2 penalty of the sentence scorer.
const RIDGE_ALPHA: f32 = 3.0;
/// Notes are about a third as long as the conversations they come from (ACI-Bench training
/// split: 0.32–0.40 by source).
const LENGTH_RATIO: f32 = 0.35;

impl NoteModel {
    /// Trains the sentence scorer on (conversation, reference note) pairs.
    pub fn train<'a>(examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut named = Vec::new();
        let mut targets = Vec::new();
        for (dialogue, note) in examples {
            let reference: std::collections::HashSet<String> = words(note).into_iter().collect();
            for s in sentences(dialogue, guess_sex(dialogue)) {
                targets.push(label(&s, &reference));
                named.push(features(&s));
            }
        }
        let vocabulary = Vocabulary::build(named.iter().map(Vec::as_slice), 2);
        let x: Vec<Sparse> = named.iter().map(|n| vocabulary.vectorize(n)).collect();
        let scorer = Ridge::fit(&x, &targets, vocabulary.len(), RIDGE_ALPHA, 200);
        Self { vocabulary, scorer, length_ratio: LENGTH_RATIO }
    }

    /// Writes a note for `dialogue`.
    pub fn write(&self, dialogue: &str) -> String {
        let sex = guess_sex(dialogue);
        let all = sentences(dialogue, sex);
        let chosen = self.select(&all);
        let parts = place(&all, &chosen);
        render(&all, &parts, sex, find_age(dialogue))
    }

    fn select(&self, all: &[Sentence]) -> Vec<usize> {
        let scores: Vec<f32> = all
            .iter()
            .map(|s| self.scorer.predict(&self.vocabulary.vectorize(&features(s))))
            .collect();
        let total: usize = all.iter().map(|s| words(&s.raw).len()).sum();
        let budget = self.length_ratio * total as f32;
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut chosen = Vec::new();
        let mut used = 0usize;
        for i in order {
            if used as f32 >= budget {
                break;
            }
            used += words(&all[i].text).len();
            chosen.push(i);
        }
        chosen.sort_unstable();
        chosen
    }
}

fn re(pattern: &str) -> Regex {
    // Patterns are compile-time constants covered by tests; a bad one is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

static EXAM_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"physical exam|examin|take a (?:quick )?look|listen to (?:your|his|her) (?:heart|lungs)|on exam",
    )
});
static RESULTS_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"x-ray|mri|results|lab work|labs|ct scan|echocardiogram|ultrasound|blood work")
});
static PLAN_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"assessment and plan|my assessment|my plan|for your first problem|so for your|let's talk about (?:your|the) plan|in terms of (?:your|the) plan",
    )
});

/// Chosen sentences by note part: history, examination, results, assessment and plan.
struct Parts {
    history: Vec<usize>,
    exam: Vec<usize>,
    results: Vec<usize>,
    plan: Vec<usize>,
}

/// Places sentences by where the conversation turns to examination, results and plan (the
/// order clinicians follow).
fn place(all: &[Sentence], chosen: &[usize]) -> Parts {
    let mut exam = None;
    let mut results = None;
    let mut plan = None;
    for (i, s) in all.iter().enumerate() {
        let r = s.raw.to_ascii_lowercase();
        if exam.is_none() && EXAM_CUE.is_match(&r) {
            exam = Some(i);
        }
        let after_exam = exam.is_none_or(|e| i > e);
        let clinician = s.speaker == Speaker::Clinician;
        if results.is_none() && clinician && after_exam && RESULTS_CUE.is_match(&r) {
            results = Some(i);
        }
        if plan.is_none() && clinician && after_exam && PLAN_CUE.is_match(&r) {
            plan = Some(i);
        }
    }
    let mut parts = Parts { history: vec![], exam: vec![], results: vec![], plan: vec![] };
    for &i in chosen {
        let at = |m: Option<usize>| m.is_some_and(|m| i >= m);
        if at(plan) {
            parts.plan.push(i);
        } else if at(results) {
            parts.results.push(i);
        } else if at(exam) {
            parts.exam.push(i);
        } else {
            parts.history.push(i);
        }
    }
    parts
}

fn sentence_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn render(all: &[Sentence], parts: &Parts, sex: Sex, age: Option<u32>) -> String {
    let line = |ids: &[usize]| -> String {
        ids.iter()
            .map(|&i| {
                let s = &all[i];
                let t = if s.speaker == Speaker::Patient
                    && (s.text.starts_with("she ") || s.text.starts_with("he "))
                {
                    format!("The patient reports {}", s.text)
                } else {
                    s.text.clone()
                };
                sentence_case(&t)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let sex_word = match sex {
        Sex::Female => "female",
        Sex::Male => "male",
    };
    let age = age.map(|a| format!("{a}-")).unwrap_or_default();
    [
        "CHIEF COMPLAINT".to_string(),
        String::new(),
        "HISTORY OF PRESENT ILLNESS".to_string(),
        String::new(),
        format!("The patient is a {age}year-old {sex_word} who presents today."),
        line(&parts.history),
        String::new(),
        "REVIEW OF SYSTEMS".to_string(),
        String::new(),
        "PHYSICAL EXAMINATION".to_string(),
        String::new(),
        line(&parts.exam),
        String::new(),
        "RESULTS".to_string(),
        String::new(),
        line(&parts.results),
        String::new(),
        "ASSESSMENT AND PLAN".to_string(),
        String::new(),
        line(&parts.plan),
        "• Medical Reasoning:".to_string(),
        "• Medical Treatment:".to_string(),
        "• Patient Education and Counseling:".to_string(),
        String::new(),
        "Patient Agreements: The patient understands and agrees with the recommended medical treatment plan.".to_string(),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAIN: [(&str, &str); 2] = [
        (
            "[doctor] hi, how are you?\n[patient] i have had a headache for three days.\n[doctor] okay. let's do a physical exam. your lungs are clear.\n[doctor] for your headache, i'm going to prescribe ibuprofen.",
            "HISTORY OF PRESENT ILLNESS\nThe patient has had a headache for 3 days.\nPHYSICAL EXAMINATION\nLungs are clear.\nASSESSMENT AND PLAN\nHeadache. I am going to prescribe ibuprofen.",
        ),
        (
            "[doctor] what brings you in?\n[patient] my knee hurts when i walk.\n[doctor] the weather is nice.\n[doctor] on exam your knee is swollen.\n[doctor] so for your knee, i'm going to order an x-ray.",
            "HISTORY OF PRESENT ILLNESS\nHis knee hurts when he walks.\nPHYSICAL EXAMINATION\nThe knee is swollen.\nASSESSMENT AND PLAN\nKnee pain. I am going to order an x-ray.",
        ),
    ];

    #[test]
    fn writes_sections_in_the_third_person() {
        let mut model = NoteModel::train(TRAIN);
        // Keep every sentence: this test is about rewriting and placement, not selection.
        model.length_ratio = 1.0;
        let note = model.write(
            "[doctor] hi.\n[patient] i have had a headache for two weeks and my knee hurts.\n[doctor] let's do a physical exam. your knee is swollen.\n[doctor] so for your headache, i'm going to prescribe ibuprofen.",
        );
        let history = note.split("PHYSICAL EXAMINATION").next().unwrap();
        assert!(
            history.contains("The patient reports he has had a headache for 2 weeks"),
            "{note}"
        );
        let exam =
            note.split("PHYSICAL EXAMINATION").nth(1).unwrap().split("RESULTS").next().unwrap();
        assert!(exam.contains("His knee is swollen"), "{note}");
        let plan = note.split("ASSESSMENT AND PLAN").nth(1).unwrap();
        assert!(plan.contains("prescribe ibuprofen"), "{note}");
    }

    #[test]
    fn long_unpunctuated_turns_are_split_at_discourse_markers() {
        let turn = "your lungs are clear and your heart sounds normal with no murmurs okay so for your knee pain i am going to order an x-ray and prescribe some ibuprofen for you";
        let pieces = split_long(turn);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert!(pieces[0].ends_with("no murmurs"));
        assert!(pieces[1].starts_with("okay so for your knee"));
        assert_eq!(split_long("a short one"), vec!["a short one"]);
    }

    #[test]
    fn the_length_budget_limits_the_note() {
        let mut model = NoteModel::train(TRAIN);
        let dialogue = TRAIN[0].0;
        model.length_ratio = 1.0;
        let long = model.write(dialogue);
        model.length_ratio = 0.2;
        let short = model.write(dialogue);
        assert!(short.len() < long.len(), "{short}\n---\n{long}");
    }
}
