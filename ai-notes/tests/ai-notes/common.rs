//! Shared helpers: the datasets directory and the binary under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `$CTG_DATASETS`, else `../shared/datasets` beside the workspace; `None` with a NOTE on stderr
/// when absent (the test then returns early: it never fakes a result).
pub fn datasets(what: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("CTG_DATASETS") {
        Some(p) => Some(PathBuf::from(p)),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|w| w.join("..").join("shared").join("datasets")),
    }
    .filter(|p| p.is_dir());
    if dir.is_none() {
        eprintln!(
            "NOTE: {what} skipped: datasets not found (set CTG_DATASETS or place them at ../shared/datasets)"
        );
    }
    dir
}

/// Runs the `ai-notes` binary with `args` and optional stdin.
pub fn ai_notes(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ai-notes"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("ai-notes binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A committed fixture of this test suite.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ai-notes/fixtures").join(name)
}
