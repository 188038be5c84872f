//! The named scenarios and the physiological profile each one is built from.

use std::fmt;
use std::str::FromStr;

use super::SimError;

/// A named clinical (or technical) situation the simulator can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    NormalLabour,
    EarlyDecelerations,
    VariableDecelerations,
    LateDecelerations,
    ProlongedBradycardia,
    Tachycardia,
    Sinusoidal,
    Tachysystole,
    SignalLoss,
    MaternalHeartRate,
    WireFaults,
}

impl Scenario {
    /// Every scenario, in the order `ctg-sim list` shows them.
    pub const ALL: [Scenario; 11] = [
        Scenario::NormalLabour,
        Scenario::EarlyDecelerations,
        Scenario::VariableDecelerations,
        Scenario::LateDecelerations,
        Scenario::ProlongedBradycardia,
        Scenario::Tachycardia,
        Scenario::Sinusoidal,
        Scenario::Tachysystole,
        Scenario::SignalLoss,
        Scenario::MaternalHeartRate,
        Scenario::WireFaults,
    ];

    /// The kebab-case name used on the command line and in configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::NormalLabour => "normal-labour",
            Scenario::EarlyDecelerations => "early-decelerations",
            Scenario::VariableDecelerations => "variable-decelerations",
            Scenario::LateDecelerations => "late-decelerations",
            Scenario::ProlongedBradycardia => "prolonged-bradycardia",
            Scenario::Tachycardia => "tachycardia",
            Scenario::Sinusoidal => "sinusoidal",
            Scenario::Tachysystole => "tachysystole",
            Scenario::SignalLoss => "signal-loss",
            Scenario::MaternalHeartRate => "maternal-heart-rate",
            Scenario::WireFaults => "wire-faults",
        }
    }

    /// One line saying what the trace shows.
    pub const fn description(self) -> &'static str {
        match self {
            Scenario::NormalLabour => {
                "first stage of labour: baseline 120-150 bpm, moderate variability, accelerations with fetal movements, contractions every 2-5 min, no decelerations"
            }
            Scenario::EarlyDecelerations => {
                "gradual shallow decelerations mirroring each contraction, nadir at the contraction peak; moderate variability"
            }
            Scenario::VariableDecelerations => {
                "abrupt V/U-shaped decelerations of varying depth with most contractions, often with shoulders; quick recovery"
            }
            Scenario::LateDecelerations => {
                "gradual decelerations starting 20-40 s after contraction onset, nadir after the peak, recovery after the contraction ends; minimal variability, no accelerations"
            }
            Scenario::ProlongedBradycardia => {
                "a prolonged deceleration to 70-90 bpm lasting 3-6 min, recovery, then a bradycardia below 110 bpm for over 10 min (repeats every 40 min)"
            }
            Scenario::Tachycardia => {
                "fetal tachycardia: baseline 165-180 bpm with low-moderate variability and few accelerations (maternal fever pattern)"
            }
            Scenario::Sinusoidal => {
                "smooth sinusoidal FHR, 3-5 cycles/min, 7-13 bpm peak to trough, no variability and no accelerations (fetal anaemia)"
            }
            Scenario::Tachysystole => {
                "more than 5 contractions per 10 min (every 1.4-1.8 min) with a normal FHR"
            }
            Scenario::SignalLoss => {
                "normal labour with intermittent FHR signal loss (pen lifts) covering a configured share of samples, 15 % by default"
            }
            Scenario::MaternalHeartRate => {
                "second stage with pushing: for periods of 2-5 min the FHR channel records the maternal pulse, which rises with each push"
            }
            Scenario::WireFaults => {
                "normal labour on a faulty serial line: garbage bytes, truncated frames, missing ETX, a monitor reboot, an unplugged cable, mode changes"
            }
        }
    }

    /// Whether byte-level faults are injected when this scenario is encoded for a serial wire.
    pub const fn has_wire_faults(self) -> bool {
        matches!(self, Scenario::WireFaults)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| SimError::UnknownScenario(s.to_owned()))
    }
}

/// FHR variability class (peak-to-trough amplitude per minute, FIGO/NICHD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VariabilityClass {
    /// Undetectable (< 2 bpm).
    Absent,
    /// ≤ 5 bpm.
    Minimal,
    /// 6–25 bpm.
    Moderate,
    /// > 25 bpm.
    Marked,
}

impl VariabilityClass {
    /// The peak-to-trough amplitude per minute the generator aims at, in bpm.
    pub(crate) const fn target_range_bpm(self) -> f64 {
        match self {
            VariabilityClass::Absent => 1.0,
            VariabilityClass::Minimal => 3.5,
            VariabilityClass::Moderate => 12.0,
            VariabilityClass::Marked => 32.0,
        }
    }
}

/// Which deceleration (if any) contractions provoke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DecelPolicy {
    pub kind: Option<super::DecelKind>,
    /// Share of contractions that provoke one.
    pub probability: f64,
    /// Depth below baseline at the nadir, bpm.
    pub depth: (f64, f64),
}

/// The physiological parameters of a scenario. Ranges are drawn once per seed or per event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Profile {
    pub baseline: (f64, f64),
    pub variability: VariabilityClass,
    /// Time between contraction onsets, s.
    pub contraction_interval: (f64, f64),
    pub contraction_duration: (f64, f64),
    /// Contraction amplitude above the resting tone, TOCO units.
    pub contraction_amplitude: (f64, f64),
    pub decel: DecelPolicy,
    /// Mean time between accelerations, s; `None` for none.
    pub acceleration_interval: Option<f64>,
    /// Share of FHR samples lost (pen lifts), exact per 5-minute block.
    pub signal_loss: f64,
    pub sinusoidal: bool,
    /// Maternal resting heart rate, bpm, and its rise at a contraction's peak.
    pub maternal_rate: (f64, f64),
    pub maternal_rise: (f64, f64),
    /// FHR channel records the maternal pulse for periods.
    pub maternal_capture: bool,
    /// Prolonged deceleration followed by a bradycardia, repeating.
    pub prolonged_bradycardia: bool,
}

impl Profile {
    pub(crate) fn of(scenario: Scenario) -> Profile {
        use super::DecelKind;
        let normal = Profile {
            baseline: (125.0, 145.0),
            variability: VariabilityClass::Moderate,
            contraction_interval: (150.0, 240.0),
            contraction_duration: (60.0, 90.0),
            contraction_amplitude: (35.0, 65.0),
            decel: DecelPolicy { kind: None, probability: 0.0, depth: (0.0, 0.0) },
            acceleration_interval: Some(300.0),
            signal_loss: 0.01,
            sinusoidal: false,
            maternal_rate: (75.0, 90.0),
            maternal_rise: (6.0, 14.0),
            maternal_capture: false,
            prolonged_bradycardia: false,
        };
        match scenario {
            Scenario::NormalLabour | Scenario::WireFaults => normal,
            Scenario::SignalLoss => Profile { signal_loss: 0.15, ..normal },
            Scenario::EarlyDecelerations => Profile {
                decel: DecelPolicy {
                    kind: Some(DecelKind::Early),
                    probability: 0.9,
                    depth: (18.0, 32.0),
                },
                acceleration_interval: Some(480.0),
                ..normal
            },
            Scenario::VariableDecelerations => Profile {
                decel: DecelPolicy {
                    kind: Some(DecelKind::Variable),
                    probability: 0.85,
                    depth: (25.0, 65.0),
                },
                acceleration_interval: Some(480.0),
                ..normal
            },
            Scenario::LateDecelerations => Profile {
                variability: VariabilityClass::Minimal,
                decel: DecelPolicy {
                    kind: Some(DecelKind::Late),
                    probability: 0.9,
                    depth: (16.0, 30.0),
                },
                acceleration_interval: None,
                ..normal
            },
            Scenario::ProlongedBradycardia => Profile {
                prolonged_bradycardia: true,
                acceleration_interval: Some(600.0),
                ..normal
            },
            Scenario::Tachycardia => Profile {
                baseline: (166.0, 178.0),
                acceleration_interval: Some(900.0),
                maternal_rate: (100.0, 110.0),
                ..normal
            },
            Scenario::Sinusoidal => Profile {
                baseline: (125.0, 145.0),
                variability: VariabilityClass::Absent,
                sinusoidal: true,
                acceleration_interval: None,
                ..normal
            },
            Scenario::Tachysystole => Profile {
                contraction_interval: (84.0, 108.0),
                contraction_duration: (55.0, 70.0),
                ..normal
            },
            Scenario::MaternalHeartRate => Profile {
                contraction_interval: (120.0, 180.0),
                contraction_duration: (60.0, 80.0),
                contraction_amplitude: (50.0, 75.0),
                maternal_rate: (92.0, 102.0),
                maternal_rise: (22.0, 34.0),
                maternal_capture: true,
                decel: DecelPolicy {
                    kind: Some(DecelKind::Early),
                    probability: 0.6,
                    depth: (16.0, 28.0),
                },
                ..normal
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        for sc in Scenario::ALL {
            assert_eq!(sc.name().parse::<Scenario>().unwrap(), sc);
            assert!(sc.name().chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{sc}");
            assert!(!sc.description().is_empty() && !sc.description().contains('\n'));
        }
        let e = "normal".parse::<Scenario>().unwrap_err();
        assert!(e.to_string().contains("unknown scenario 'normal'"), "{e}");
    }
}
