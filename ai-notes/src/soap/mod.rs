//! Structuring a transcript into a SOAP draft, in Japanese or English, without a language model:
//! normalisation, sentence segmentation, extraction of measurements (with plausibility checks)
//! and symptoms (with negation), assignment of sentences to S/O/A/P, and rules that derive
//! Assessment statements and red flags. Every statement links back to its transcript span.

pub mod assess;
pub mod classify;
pub mod limits;
pub mod model;
pub mod symptoms;
pub mod vitals;

use std::ops::Range;

pub use model::*;

use crate::text::{MappedText, normalize, split_sentences};
use crate::transcript::Transcript;

/// Structures a plain-text transcript. `lang` is the language the note is written in (messages,
/// titles); extraction understands both languages in any transcript.
pub fn structure(transcript: &str, lang: Lang) -> SoapNote {
    structure_with_times(transcript, &[], lang)
}

/// Structures a timed transcript: spans also carry the audio time of the words they quote.
pub fn structure_transcript(transcript: &Transcript, lang: Lang) -> SoapNote {
    let (text, ranges) = transcript.text_with_ranges();
    let times: Vec<(Range<usize>, TimeRange)> = ranges
        .into_iter()
        .zip(&transcript.segments)
        .map(|(r, s)| (r, TimeRange { start_s: s.start_s, end_s: s.end_s }))
        .collect();
    structure_with_times(&text, &times, lang)
}

fn structure_with_times(text: &str, times: &[(Range<usize>, TimeRange)], lang: Lang) -> SoapNote {
    let norm = normalize(text);
    let spans = Spanner { original: text, norm: &norm, times };
    let mut classifier = classify::SectionClassifier::new();
    let mut statements = Vec::new();
    let mut vitals_out = Vec::new();
    let mut symptoms_out = Vec::new();
    let mut rejected = Vec::new();

    for sentence in split_sentences(norm.as_str()) {
        let found = vitals::extract(norm.as_str(), sentence.clone());
        let mentions = symptoms::extract(norm.as_str(), sentence.clone());
        let evidence = classify::Evidence { measurements: found.len(), symptoms: mentions.len() };
        let section = classifier.classify(&norm.as_str()[sentence.clone()], evidence);
        let source = spans.span(sentence.clone());
        statements.push(Statement {
            section,
            text: source.quote.clone(),
            origin: Origin::Transcript,
            source,
        });
        for e in found {
            match e {
                vitals::Extracted::Accepted { measurement, range } => vitals_out.push(Vital {
                    measurement,
                    section: Section::O,
                    source: spans.span(range),
                }),
                vitals::Extracted::Rejected { kind, reason, range } => {
                    rejected.push(Rejected { kind, reason, source: spans.span(range) });
                }
            }
        }
        for m in mentions {
            symptoms_out.push(Symptom {
                kind: m.kind,
                present: m.present,
                frequency: m.frequency,
                source: spans.span(m.range),
            });
        }
    }

    let (derived, red_flags) = assess::assess(&vitals_out, &symptoms_out, lang);
    statements.extend(derived);
    // Transcript order within each section; derived statements after the quoted ones.
    statements.sort_by_key(|s| (s.section, s.origin == Origin::Derived, s.source.start));

    SoapNote {
        language: lang,
        status: NoteStatus::Preliminary,
        generator: Generator::default(),
        transcript: text.to_string(),
        statements,
        vitals: vitals_out,
        symptoms: symptoms_out,
        red_flags,
        rejected,
    }
}

/// Turns normalised byte ranges into transcript spans.
struct Spanner<'a> {
    original: &'a str,
    norm: &'a MappedText,
    times: &'a [(Range<usize>, TimeRange)],
}

impl Spanner<'_> {
    fn span(&self, normalized: Range<usize>) -> SourceSpan {
        let r = self.norm.origin_of(normalized);
        let quote = self.original[r.clone()].trim();
        let lead = self.original[r.clone()].len() - self.original[r.clone()].trim_start().len();
        let (start, end) = (r.start + lead, r.start + lead + quote.len());
        let char_start = self.original[..start].chars().count();
        let char_end = char_start + quote.chars().count();
        let overlapping: Vec<&TimeRange> = self
            .times
            .iter()
            .filter(|(seg, _)| seg.start < end.max(start + 1) && start < seg.end)
            .map(|(_, t)| t)
            .collect();
        let time = match (overlapping.first(), overlapping.last()) {
            (Some(a), Some(b)) => Some(TimeRange { start_s: a.start_s, end_s: b.end_s }),
            _ => None,
        };
        SourceSpan { start, end, char_start, char_end, quote: quote.to_string(), time }
    }
}
