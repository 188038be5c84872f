//! Readers for the public dialogue-to-note corpora (CSV with quoted multi-line fields).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Corpus reading errors.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} has no column {column:?} (is it the right corpus file?)")]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{path} contains no records")]
    Empty { path: PathBuf },
}

/// One ACI-Bench encounter: dialogue and reference note.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AciEncounter {
    #[serde(default)]
    pub dataset: String,
    #[serde(default)]
    pub encounter_id: String,
    pub dialogue: String,
    pub note: String,
}

/// One MTS-Dialog pair: a dialogue and the note section written from it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MtsPair {
    #[serde(rename = "ID", alias = "id", default)]
    pub id: String,
    pub section_header: String,
    #[serde(default)]
    pub section_text: String,
    pub dialogue: String,
}

fn read<T: for<'de> Deserialize<'de>>(
    path: &Path,
    required: &[&'static str],
) -> Result<Vec<T>, CorpusError> {
    let err = |message: String| CorpusError::Read { path: path.to_path_buf(), message };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    for column in required {
        if !headers.iter().any(|h| h.trim().eq_ignore_ascii_case(column)) {
            return Err(CorpusError::MissingColumn { path: path.to_path_buf(), column });
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.deserialize::<T>().enumerate() {
        out.push(record.map_err(|e| err(format!("record {}: {e}", i + 1)))?);
    }
    if out.is_empty() {
        return Err(CorpusError::Empty { path: path.to_path_buf() });
    }
    Ok(out)
}

/// Reads an ACI-Bench CSV (`dataset, encounter_id, dialogue, note`).
pub fn read_aci(path: &Path) -> Result<Vec<AciEncounter>, CorpusError> {
    read(path, &["dialogue", "note"])
}

/// Reads an MTS-Dialog CSV (`ID, section_header, section_text, dialogue`).
pub fn read_mts(path: &Path) -> Result<Vec<MtsPair>, CorpusError> {
    read(path, &["section_header", "dialogue"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_multiline_fields_and_missing_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "dataset,encounter_id,dialogue,note\nx,D1,\"[doctor] hi , \"\"sam\"\"\n[patient] hello\",\"CHIEF COMPLAINT\n\nPain.\"\n").unwrap();
        let v = read_aci(&p).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].dialogue, "[doctor] hi , \"sam\"\n[patient] hello");
        assert_eq!(v[0].note, "CHIEF COMPLAINT\n\nPain.");
        let q = dir.path().join("b.csv");
        std::fs::write(&q, "ID,text\n1,x\n").unwrap();
        assert!(matches!(
            read_mts(&q),
            Err(CorpusError::MissingColumn { column: "section_header", .. })
        ));
        assert!(matches!(read_aci(&dir.path().join("none.csv")), Err(CorpusError::Read { .. })));
    }
}
