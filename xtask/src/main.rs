//! `cargo xtask <task>`: everything a fresh Debian 12 machine needs to build and test the
//! project, done by the project itself.
//!
//! * `setup` — installs the Debian packages the build and the tests need (once; idempotent).
//! * `db start|stop|status` — a local PostgreSQL 17 + TimescaleDB on 127.0.0.1 (see `db.rs`);
//!   `start` prints `DATABASE_URL=…` as its last line.
//! * `test`  — `setup`, the database, then the whole test suite (the command CI runs through
//!   `.ci/run`).

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod db;
mod setup;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["setup"] => setup::run(),
        ["db", rest @ ..] => db::run(rest),
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
  db start         install (once, cached) and start PostgreSQL 17 + TimescaleDB on 127.0.0.1;
                   prints DATABASE_URL=... as the last line
  db stop          stop it
  db status        say whether it runs, and its URL
  test [ARGS..]    setup, then run the whole test suite; ARGS go to `cargo test`
";

/// The test command: what README.md tells a newcomer to run and what `.ci/run` calls.
fn test(extra: &[&str]) -> Result<()> {
    setup::run()?;
    let database_url = db::start()?;
    eprintln!("xtask: TimescaleDB for the tests at {}", redact(&database_url));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["test", "--workspace", "--locked"])
        .args(extra)
        // The storage suite runs against this server as well as SQLite.
        .env("TEST_DATABASE_URL", &database_url)
        .status()
        .with_context(|| format!("running {cargo} test"));
    let stopped = db::stop();
    let status = status?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    stopped
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(a), Some(b)) if a < b => format!("{}://…{}", &url[..a], &url[b..]),
        _ => url.to_owned(),
    }
}
