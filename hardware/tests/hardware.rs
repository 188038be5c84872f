//! Integration tests of the `hardware` crate: the simulator measured from its own samples, the
//! `ctg-sim` binary end to end, replay of real recordings, and CTG plots.

#[path = "hardware/cli.rs"]
mod cli;
#[path = "hardware/measure.rs"]
mod measure;
#[path = "hardware/plot.rs"]
mod plot;
#[path = "hardware/replay.rs"]
mod replay;
#[path = "hardware/sim.rs"]
mod sim;
