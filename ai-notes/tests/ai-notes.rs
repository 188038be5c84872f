//! Integration tests of the `ai-notes` crate: structuring, outputs, the command-line tool,
//! transcription with the real whisper.cpp code path, and the corpus evaluations.

#[path = "ai-notes/cli.rs"]
mod cli;
#[path = "ai-notes/common.rs"]
mod common;
#[path = "ai-notes/eval.rs"]
mod eval;
#[path = "ai-notes/extraction.rs"]
mod extraction;
#[path = "ai-notes/outputs.rs"]
mod outputs;
#[path = "ai-notes/synthetic.rs"]
mod synthetic;
#[path = "ai-notes/transcription.rs"]
mod transcription;
