//! Full-note evaluation on ACI-Bench: the conversation note writer is trained on the training
//! split and scored with ROUGE-1/2/L against the reference notes; copying the transcript as the
//! note is scored alongside as the published lower anchor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::corpus::AciEncounter;
use super::rouge::{RougeScores, mean_f1, score};
use crate::dialogue::note::NoteModel;
use crate::soap::Lang;

/// ROUGE F1 × 100.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RougeRow {
    pub n: usize,
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

impl RougeRow {
    fn of(scores: &[RougeScores]) -> Self {
        let (rouge1, rouge2, rouge_l) = mean_f1(scores);
        Self { n: scores.len(), rouge1, rouge2, rouge_l }
    }
}

/// Figures of one evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AciSummary {
    pub generated: RougeRow,
    /// The transcript copied as the note.
    pub transcript_copy: RougeRow,
    /// Generated notes by source corpus (aci, virtassist, virtscribe).
    pub by_dataset: BTreeMap<String, RougeRow>,
}

impl AciSummary {
    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::from("ACI-Bench full-note ROUGE (F1 × 100)\n");
        s.push_str(&format!(
            "{:<28} {:>4} {:>8} {:>8} {:>8}\n",
            "system", "n", "ROUGE-1", "ROUGE-2", "ROUGE-L"
        ));
        let mut row = |name: &str, r: &RougeRow| {
            s.push_str(&format!(
                "{name:<28} {:>4} {:>8.2} {:>8.2} {:>8.2}\n",
                r.n, r.rouge1, r.rouge2, r.rouge_l
            ));
        };
        row("ai-notes (generated)", &self.generated);
        for (k, v) in &self.by_dataset {
            row(&format!("  subset {k}"), v);
        }
        row("transcript copied as note", &self.transcript_copy);
        s.trim_end().to_string()
    }
}

/// Result with up to `show` (generated, reference) examples.
#[derive(Debug, Clone)]
pub struct AciResult {
    pub summary: AciSummary,
    pub shown: Vec<(String, String)>,
}

/// Evaluation errors.
#[derive(Debug, thiserror::Error)]
pub enum AciError {
    #[error("the training split is empty")]
    NoTraining,
}

/// Trains on `train`, writes a note for every encounter of `test` and scores it.
pub fn evaluate(
    train: &[AciEncounter],
    test: &[AciEncounter],
    show: usize,
) -> Result<AciResult, AciError> {
    if train.is_empty() {
        return Err(AciError::NoTraining);
    }
    let model = NoteModel::train(train.iter().map(|e| (e.dialogue.as_str(), e.note.as_str())));
    let mut generated = Vec::new();
    let mut copies = Vec::new();
    let mut by: BTreeMap<String, Vec<RougeScores>> = BTreeMap::new();
    let mut shown = Vec::new();
    for e in test {
        let note = model.write(&e.dialogue);
        let s = score(&note, &e.note, Lang::En);
        generated.push(s);
        by.entry(if e.dataset.is_empty() { "unknown".into() } else { e.dataset.clone() })
            .or_default()
            .push(s);
        copies.push(score(&e.dialogue, &e.note, Lang::En));
        if shown.len() < show {
            shown.push((note, e.note.clone()));
        }
    }
    Ok(AciResult {
        summary: AciSummary {
            generated: RougeRow::of(&generated),
            transcript_copy: RougeRow::of(&copies),
            by_dataset: by.into_iter().map(|(k, v)| (k, RougeRow::of(&v))).collect(),
        },
        shown,
    })
}
