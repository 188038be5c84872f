//! Integration tests of the `ctg-analysis` crate: simulated clinical scenarios, streaming
//! versus batch, robustness against bad input, the real datasets (skipped with a note when
//! absent) and the `ctg-analyze` tool.

#[path = "ctg-analysis/common.rs"]
mod common;

#[path = "ctg-analysis/cli.rs"]
mod cli;
#[path = "ctg-analysis/datasets.rs"]
mod datasets;
#[path = "ctg-analysis/incremental.rs"]
mod incremental;
#[path = "ctg-analysis/robustness.rs"]
mod robustness;
#[path = "ctg-analysis/scenarios.rs"]
mod scenarios;
