//! `cargo xtask <task>`: everything a fresh Debian 12 machine needs to build and test the
//! project, done by the project itself.
//!
//! * `setup` — installs the Debian packages the build and the tests need (once; idempotent).
//! * `test`  — `setup`, then the whole test suite (the command CI runs through `.ci/run`).

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod setup;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["setup"] => setup::run(),
        ["test", rest @ ..] => test(rest),
        [] | ["help"] | ["--help"] | ["-h"] => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(anyhow::anyhow!("unknown task {:?}\n\n{USAGE}", other.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup            install the Debian packages the build and tests need (idempotent)
  test [ARGS..]    setup, then run the whole test suite; ARGS go to `cargo test`
";

/// The test command: what README.md tells a newcomer to run and what `.ci/run` calls.
fn test(extra: &[&str]) -> Result<()> {
    setup::run()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["test", "--workspace", "--locked"])
        .args(extra)
        .status()
        .with_context(|| format!("running {cargo} test"))?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
