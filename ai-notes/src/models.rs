//! Identification and verification of Whisper model files before they are loaded.
//!
//! A model file is accepted when its checksum is one of:
//! - the SHA-1 values whisper.cpp publishes for its ggml conversions (`models/README.md` of
//!   ggml-org/whisper.cpp, table "Available models"; copied verbatim below);
//! - whisper.cpp's test stub `for-tests-ggml-tiny.bin` (no trained weights: it exercises the code
//!   path and timing, its text is meaningless) — reported as a test model, never as a trained one;
//! - a checksum the configuration pins (`[model] sha256 = "…"` or `sha1`) or lists
//!   (`[[checksums]]`), for models we do not know, such as fine-tuned Japanese ones.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::Digest;

/// Where users get models, for error messages and docs.
pub const MODEL_SOURCE: &str = "https://huggingface.co/ggerganov/whisper.cpp";

/// SHA-1 of the ggml models published by whisper.cpp (models/README.md, "Available models").
pub const PUBLISHED_SHA1: &[(&str, &str)] = &[
    ("tiny", "bd577a113a864445d4c299885e0cb97d4ba92b5f"),
    ("tiny.en", "c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
    ("base", "465707469ff3a37a2b9b8d8f89f2f99de7299dac"),
    ("base.en", "137c40403d78fd54d454da0f9bd998f78703390c"),
    ("small", "55356645c2b361a969dfd0ef2c5a50d530afd8d5"),
    ("small.en", "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022"),
    ("small.en-tdrz", "b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1"),
    ("medium", "fd9727b6e1217c2f614f9b698455c4ffd82463b4"),
    ("medium.en", "8c30f0e44ce9560643ebd10bbe50cd20eafd3723"),
    ("large-v1", "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299"),
    ("large-v2", "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6"),
    ("large-v2-q5_0", "00e39f2196344e901b3a2bd5814807a769bd1630"),
    ("large-v3", "ad82bf6a9043ceed055076d0fd39f5f186ff8062"),
    ("large-v3-q5_0", "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de"),
    ("large-v3-turbo", "4af2b29d7ec73d781377bfd1758ca957a807e941"),
    ("large-v3-turbo-q5_0", "e050f7970618a659205450ad97eb95a18d69c9ee"),
];

/// whisper.cpp's `models/for-tests-ggml-tiny.bin`: the tiny model's shape, no trained weights.
pub const TEST_STUB_NAME: &str = "for-tests-ggml-tiny";
const TEST_STUB_SHA256: &str = "c486fb9f14a28b1c1dc252741a431646cc573450c900b9d9c406e10294aa01e6";
const TEST_STUB_SHA1: &str = "51ee8a51afc6f27a39ea00053382ada4abd8057c";

/// The little-endian magic at the start of every ggml Whisper file ("ggml" as a u32).
const GGML_MAGIC: [u8; 4] = *b"lmgg";
/// Multilingual models have 51,865 tokens or more (large-v3: 51,866); English-only ones 51,864.
const MULTILINGUAL_MIN_VOCAB: i32 = 51_865;

/// A checksum entry supplied by configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksumEntry {
    pub name: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub sha1: Option<String>,
}

/// How a model file was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOrigin {
    /// A conversion published by whisper.cpp.
    Published,
    /// whisper.cpp's weightless test stub: real code path, meaningless text.
    TestStub,
    /// Pinned or listed by the configuration.
    Configured,
}

/// A verified model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedModel {
    pub path: PathBuf,
    pub name: String,
    pub origin: ModelOrigin,
    pub sha1: String,
    pub sha256: String,
    pub multilingual: bool,
}

impl VerifiedModel {
    /// One line for logs and provenance.
    pub fn describe(&self) -> String {
        let what = match self.origin {
            ModelOrigin::Published => "published by whisper.cpp",
            ModelOrigin::TestStub => {
                "TEST STUB without trained weights: output text is meaningless"
            }
            ModelOrigin::Configured => "checksum pinned in configuration",
        };
        format!("{} ({what}; sha256 {})", self.name, self.sha256)
    }
}

/// Why a model file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "Whisper model not found at {path}: download a ggml model from {MODEL_SOURCE} (for Japanese a multilingual one such as ggml-large-v3-turbo.bin or ggml-small.bin) and set its path with --model or [model] path"
    )]
    Missing { path: PathBuf },
    #[error("cannot read Whisper model {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a whisper.cpp ggml model (it does not start with the ggml magic bytes)")]
    NotGgml { path: PathBuf },
    #[error(
        "checksum mismatch for {path}: expected {algorithm} {expected} ({name}), got {actual}; the file is incomplete or corrupt: download it again"
    )]
    Mismatch {
        path: PathBuf,
        name: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error(
        "{path} (sha256 {sha256}, sha1 {sha1}) matches none of the published ggml model checksums; if you trust this file, pin it with `sha256 = \"{sha256}\"` under [model] in the configuration"
    )]
    Unknown { path: PathBuf, sha1: String, sha256: String },
    #[error("invalid checksum {value:?} in configuration: expected {len} hexadecimal digits")]
    BadChecksum { value: String, len: usize },
}

/// What the configuration expects of the model file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub sha256: Option<String>,
    pub sha1: Option<String>,
    /// Extra known models (`[[checksums]]`).
    pub known: Vec<ChecksumEntry>,
}

/// Verifies `path` as a Whisper model: present, ggml, and with a known or pinned checksum.
pub fn verify_model(path: &Path, expected: &Expected) -> Result<VerifiedModel, ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing { path: path.to_path_buf() },
        _ => ModelError::Unreadable { path: path.to_path_buf(), source: e },
    })?;
    if !meta.is_file() {
        return Err(ModelError::Missing { path: path.to_path_buf() });
    }
    let unreadable = |source| ModelError::Unreadable { path: path.to_path_buf(), source };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(unreadable)?);
    let mut header = [0u8; 8];
    if reader.read_exact(&mut header).is_err() || header[..4] != GGML_MAGIC {
        return Err(ModelError::NotGgml { path: path.to_path_buf() });
    }
    let n_vocab = i32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let (sha1, sha256) = digests(&header, &mut reader).map_err(unreadable)?;
    let multilingual = n_vocab >= MULTILINGUAL_MIN_VOCAB;
    let verified = |name: String, origin| VerifiedModel {
        path: path.to_path_buf(),
        name,
        origin,
        sha1: sha1.clone(),
        sha256: sha256.clone(),
        multilingual,
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();

    // A pinned checksum is authoritative.
    for (algorithm, pinned, actual, len) in
        [("SHA-256", &expected.sha256, &sha256, 64), ("SHA-1", &expected.sha1, &sha1, 40)]
    {
        if let Some(p) = pinned {
            let p = normalize_hex(p, len)?;
            if p != *actual {
                return Err(ModelError::Mismatch {
                    path: path.to_path_buf(),
                    name: "pinned in configuration".into(),
                    algorithm,
                    expected: p,
                    actual: actual.clone(),
                });
            }
            return Ok(verified(file_name, ModelOrigin::Configured));
        }
    }
    if let Some((name, _)) = PUBLISHED_SHA1.iter().find(|(_, s)| *s == sha1) {
        return Ok(verified(format!("ggml-{name}"), ModelOrigin::Published));
    }
    if sha256 == TEST_STUB_SHA256 && sha1 == TEST_STUB_SHA1 {
        return Ok(verified(TEST_STUB_NAME.into(), ModelOrigin::TestStub));
    }
    for entry in &expected.known {
        let by256 = entry.sha256.as_deref().map(|s| normalize_hex(s, 64)).transpose()?;
        let by1 = entry.sha1.as_deref().map(|s| normalize_hex(s, 40)).transpose()?;
        if by256.as_deref() == Some(sha256.as_str()) || by1.as_deref() == Some(sha1.as_str()) {
            return Ok(verified(entry.name.clone(), ModelOrigin::Configured));
        }
    }
    // A file named like a published model but with another checksum is a broken download.
    let stem = file_name.strip_prefix("ggml-").and_then(|s| s.strip_suffix(".bin"));
    if let Some((name, published)) = stem.and_then(|s| PUBLISHED_SHA1.iter().find(|(n, _)| *n == s))
    {
        return Err(ModelError::Mismatch {
            path: path.to_path_buf(),
            name: format!("ggml-{name}.bin as published by whisper.cpp"),
            algorithm: "SHA-1",
            expected: (*published).to_string(),
            actual: sha1,
        });
    }
    Err(ModelError::Unknown { path: path.to_path_buf(), sha1, sha256 })
}

fn normalize_hex(s: &str, len: usize) -> Result<String, ModelError> {
    let t = s.trim().to_ascii_lowercase();
    if t.len() == len && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(ModelError::BadChecksum { value: s.to_string(), len })
    }
}

fn digests(already_read: &[u8], reader: &mut impl Read) -> std::io::Result<(String, String)> {
    let mut h1 = sha1::Sha1::new();
    let mut h256 = sha2::Sha256::new();
    h1.update(already_read);
    h256.update(already_read);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h1.update(&buf[..n]);
        h256.update(&buf[..n]);
    }
    Ok((hex(&h1.finalize()), hex(&h256.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Checks that a VAD model file exists and is in ggml format.
pub fn check_vad_model(path: &Path) -> Result<(), ModelError> {
    let mut f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing { path: path.to_path_buf() },
        _ => ModelError::Unreadable { path: path.to_path_buf(), source: e },
    })?;
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_err() || magic != GGML_MAGIC {
        return Err(ModelError::NotGgml { path: path.to_path_buf() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn fake_ggml(vocab: i32, fill: u8) -> Vec<u8> {
        let mut b = GGML_MAGIC.to_vec();
        b.extend_from_slice(&vocab.to_le_bytes());
        b.extend(std::iter::repeat_n(fill, 1000));
        b
    }

    #[test]
    fn missing_not_ggml_and_unknown_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let e = verify_model(&dir.path().join("nope.bin"), &Expected::default()).unwrap_err();
        assert!(matches!(e, ModelError::Missing { .. }));
        assert!(e.to_string().contains(MODEL_SOURCE));
        let p = write(dir.path(), "x.bin", b"PK\x03\x04 a zip, not a model");
        assert!(matches!(verify_model(&p, &Expected::default()), Err(ModelError::NotGgml { .. })));
        let p = write(dir.path(), "custom.bin", &fake_ggml(51_865, 1));
        let e = verify_model(&p, &Expected::default()).unwrap_err();
        assert!(matches!(e, ModelError::Unknown { .. }));
        assert!(e.to_string().contains("sha256 = \""), "{e}");
    }

    #[test]
    fn a_published_name_with_another_checksum_is_a_broken_download() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ggml-small.bin", &fake_ggml(51_865, 2));
        match verify_model(&p, &Expected::default()) {
            Err(ModelError::Mismatch { expected, .. }) => {
                assert_eq!(expected, "55356645c2b361a969dfd0ef2c5a50d530afd8d5")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pinned_and_listed_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = fake_ggml(51_864, 3);
        let p = write(dir.path(), "mine.bin", &bytes);
        let sha256 = hex(&sha2::Sha256::digest(&bytes));
        let pinned = Expected { sha256: Some(sha256.to_uppercase()), ..Expected::default() };
        let m = verify_model(&p, &pinned).unwrap();
        assert_eq!(m.origin, ModelOrigin::Configured);
        assert!(!m.multilingual);
        let wrong = Expected { sha256: Some("0".repeat(64)), ..Expected::default() };
        assert!(matches!(verify_model(&p, &wrong), Err(ModelError::Mismatch { .. })));
        let bad = Expected { sha1: Some("xyz".into()), ..Expected::default() };
        assert!(matches!(verify_model(&p, &bad), Err(ModelError::BadChecksum { .. })));
        let listed = Expected {
            known: vec![ChecksumEntry {
                name: "clinic-ja-v2".into(),
                sha256: Some(sha256),
                sha1: None,
            }],
            ..Expected::default()
        };
        assert_eq!(verify_model(&p, &listed).unwrap().name, "clinic-ja-v2");
    }
}
