//! Shared helpers: simulated traces and their analysis.

use ctg_analysis::{Analysis, Config, FetalChannel, Sample, analyze};
use hardware::sim::{GroundTruth, Scenario, SimOptions, Simulation, simulate};

pub const HZ: f64 = 4.0;

/// `minutes` of `scenario` from the simulator.
pub fn sim(scenario: Scenario, minutes: u64, seed: u64, options: &SimOptions) -> Simulation {
    simulate(scenario, seed, minutes * 240, options).expect("scenario exists")
}

pub fn samples(sim: &Simulation) -> Vec<Sample> {
    sim.frames.iter().map(|f| Sample::from_wire(&f.sample, FetalChannel::Fhr1)).collect()
}

pub fn run(scenario: Scenario, minutes: u64, seed: u64) -> (Simulation, Analysis) {
    let s = sim(scenario, minutes, seed, &SimOptions::default());
    let a = analyze(&samples(&s), &Config::default()).expect("default configuration is valid");
    (s, a)
}

/// Seconds of a tick span.
pub fn secs(ticks: u64) -> f64 {
    ticks as f64 / HZ
}

/// Spans overlap by more than `min_s` seconds.
pub fn overlap(a: (f64, f64), b: (f64, f64), min_s: f64) -> bool {
    a.1.min(b.1) - a.0.max(b.0) > min_s
}

/// Truth decelerations as (start, end) seconds with their kind.
pub fn truth_decels(t: &GroundTruth) -> Vec<((f64, f64), hardware::sim::DecelKind)> {
    t.decelerations.iter().map(|d| ((secs(d.onset), secs(d.end)), d.kind)).collect()
}
