//! The generator: plans events a few minutes ahead, then synthesises each 250 ms frame from the
//! planned events and a handful of small noise processes.
//!
//! Everything is a function of (scenario, options, seed) and the tick index; nothing reads a
//! clock. Each component draws from its own random stream, so the schedule of events does not
//! depend on how many noise values were drawn.

use ctg_wire::sample::Qualities;
use ctg_wire::{Bpm, Movement, Sample, SignalQuality, Toco};

use super::rng::Rng;
use super::scenario::{Profile, Scenario};
use super::truth::{
    Acceleration, BaselineEpisode, Contraction, DecelKind, Deceleration, GroundTruth, Span, ticks,
};
use super::{FhrSource, Frame, FrameTruth, SimError, SimOptions};

/// Ticks per second and per minute.
const TPS: f64 = 4.0;
const TICKS_PER_MIN: u64 = 240;
/// Events are planned in blocks of this many ticks (5 min); signal loss is exact per block.
const BLOCK: u64 = 5 * TICKS_PER_MIN;
/// Planning runs this far ahead of the frame being produced, so that every event affecting a
/// frame (shoulders, lags, prolonged decelerations) is known before it is needed.
const LOOKAHEAD: u64 = 12 * TICKS_PER_MIN;
/// The TOCO reading a re-zero sets the resting tone to.
const TOCO_ZERO_REFERENCE: f64 = 10.0;
/// Period of the prolonged-bradycardia scenario's cycle.
const BRADY_CYCLE: u64 = 40 * TICKS_PER_MIN;

/// Independent random streams.
mod stream {
    pub const SETUP: u64 = 1;
    pub const CONTRACTIONS: u64 = 2;
    pub const EVENTS: u64 = 3;
    pub const LOSS: u64 = 4;
    pub const FHR_NOISE: u64 = 5;
    pub const TOCO_NOISE: u64 = 6;
    pub const MHR_NOISE: u64 = 7;
    pub const ARTEFACT: u64 = 8;
    pub const TWIN: u64 = 9;
}

/// Half-cosine ramp from 0 (u ≤ 0) to 1 (u ≥ 1): smooth at both ends.
fn ramp(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    0.5 - 0.5 * (std::f64::consts::PI * u).cos()
}

/// Rise from `a` to the peak at `p`, fall to zero at `b` (raised cosine halves): the bell shape
/// of a contraction or of a gradual deceleration.
fn bell(t: f64, a: f64, p: f64, b: f64) -> f64 {
    if t <= a || t >= b {
        0.0
    } else if t <= p {
        ramp((t - a) / (p - a).max(1.0))
    } else {
        1.0 - ramp((t - p) / (b - p).max(1.0))
    }
}

/// A narrow bump (Gaussian) for artefact spikes and shoulders.
fn bump(t: f64, centre: f64, width: f64) -> f64 {
    let z = (t - centre) / width.max(0.5);
    if z.abs() > 4.0 { 0.0 } else { (-0.5 * z * z).exp() }
}

/// Shape parameters of a deceleration beyond what the truth records.
#[derive(Debug, Clone, Copy)]
struct DecelShape {
    /// Variable: ticks from nadir to the start of the fast recovery, and the share of the depth
    /// regained slowly in that time.
    bottom: f64,
    bottom_recovery: f64,
    /// Variable: shoulder height (bpm) and width (ticks).
    shoulder: f64,
    shoulder_width: f64,
}

/// A spike on the TOCO (maternal movement, fetal kick).
#[derive(Debug, Clone, Copy)]
struct TocoSpike {
    centre: f64,
    width: f64,
    amplitude: f64,
}

/// An acceleration's plateau end (the truth keeps onset, peak and end).
#[derive(Debug, Clone, Copy)]
struct AccelShape {
    plateau_end: f64,
}

/// The second twin: its own baseline and variability, the same contractions (it decelerates
/// with them, less deeply).
#[derive(Debug, Clone)]
struct Twin {
    rng: Rng,
    offset: f64,
    ltv: [f64; 2],
    stv: f64,
}

impl Twin {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed, stream::TWIN);
        let offset = if rng.chance(0.5) { 1.0 } else { -1.0 } * rng.range(8.0, 18.0);
        Self { rng, offset, ltv: [0.0; 2], stv: 0.0 }
    }

    /// One step of the same kind of variability as the first fetus (see `step_variability`).
    fn step(&mut self) -> f64 {
        let r = &mut self.rng;
        let (a1, a2, var) = ltv_coefficients();
        let x = a1 * self.ltv[0] + a2 * self.ltv[1] + r.normal() / var.sqrt();
        self.ltv = [x, self.ltv[0]];
        self.stv = 0.4 * self.stv + (1.0f64 - 0.16).sqrt() * r.normal();
        0.19 * self.ltv[0] + 0.11 * self.stv
    }
}

/// AR(2) coefficients of the long-term variability (resonant near 3.5 cycles/min) and the
/// stationary variance of the process for unit innovations.
fn ltv_coefficients() -> (f64, f64, f64) {
    let f0 = 3.5 / 60.0;
    let radius: f64 = 0.975;
    let a1 = 2.0 * radius * (std::f64::consts::TAU * f0 / TPS).cos();
    let a2 = -radius * radius;
    let var = (1.0 - a2) / ((1.0 + a2) * ((1.0 - a2).powi(2) - a1 * a1));
    (a1, a2, var)
}

/// The CTG simulator: a deterministic, endless source of 4 Hz frames for one scenario.
#[derive(Debug, Clone)]
pub struct Simulator {
    scenario: Scenario,
    seed: u64,
    profile: Profile,
    tick: u64,
    truth: GroundTruth,
    decel_shapes: Vec<DecelShape>,
    accel_shapes: Vec<AccelShape>,
    toco_spikes: Vec<TocoSpike>,
    /// Sub-periods of maternal movement during which the FHR tracking goes wild.
    erratic: Vec<(Span, f64)>,

    planned_until: u64,
    next_contraction: u64,
    rng_contractions: Rng,
    rng_events: Rng,
    rng_loss: Rng,
    rng_fhr: Rng,
    rng_toco: Rng,
    rng_mhr: Rng,
    rng_artefact: Rng,
    /// The second fetus of twins (FHR2), when simulated.
    twin: Option<Twin>,

    // Per-seed constants.
    baseline: f64,
    variability_range: f64,
    variability_phase: f64,
    variability_period: f64,
    tone: f64,
    mhr_rest: f64,
    mhr_rise: f64,
    sinus_cpm: f64,
    sinus_ptp: f64,
    sinus_phase: f64,

    // Noise process states.
    drift: f64,
    ltv: [f64; 2],
    stv: f64,
    toco_offset: f64,
    toco_noise: f64,
    toco_wobble: f64,
    mhr_noise: f64,
    mhr_jitter: f64,
}

impl Simulator {
    /// A simulator with the scenario's default options.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        Self::build(scenario, seed, Profile::of(scenario))
    }

    /// A simulator with options (validated).
    pub fn with_options(
        scenario: Scenario,
        seed: u64,
        options: &SimOptions,
    ) -> Result<Self, SimError> {
        let mut profile = Profile::of(scenario);
        if let Some(loss) = options.signal_loss {
            if !(0.0..=0.9).contains(&loss) || !loss.is_finite() {
                return Err(SimError::InvalidOption(format!(
                    "signal loss {loss} outside 0.0-0.9 (share of samples)"
                )));
            }
            profile.signal_loss = loss;
        }
        let mut sim = Self::build(scenario, seed, profile);
        if options.twins {
            let mut twin = Twin::new(seed ^ scenario_salt(scenario));
            for _ in 0..(4 * TICKS_PER_MIN) {
                twin.step();
            }
            sim.twin = Some(twin);
        }
        Ok(sim)
    }

    fn build(scenario: Scenario, user_seed: u64, profile: Profile) -> Self {
        // Each scenario gets its own random sequence for a given seed, so that beds running
        // different scenarios with the same seed do not share a background trace.
        let seed = user_seed ^ scenario_salt(scenario);
        let mut setup = Rng::new(seed, stream::SETUP);
        let baseline = setup.range(profile.baseline.0, profile.baseline.1);
        let variability_range = profile.variability.target_range_bpm();
        let rng_contractions = Rng::new(seed, stream::CONTRACTIONS);
        // The first contraction comes somewhere in the first interval, not always at t = 0.
        let first = setup.range(20.0, profile.contraction_interval.0.min(120.0));
        let mut sim = Self {
            scenario,
            seed: user_seed,
            tick: 0,
            truth: GroundTruth::default(),
            decel_shapes: Vec::new(),
            accel_shapes: Vec::new(),
            toco_spikes: Vec::new(),
            erratic: Vec::new(),
            planned_until: 0,
            next_contraction: ticks(first),
            rng_contractions,
            rng_events: Rng::new(seed, stream::EVENTS),
            rng_loss: Rng::new(seed, stream::LOSS),
            rng_fhr: Rng::new(seed, stream::FHR_NOISE),
            rng_toco: Rng::new(seed, stream::TOCO_NOISE),
            rng_mhr: Rng::new(seed, stream::MHR_NOISE),
            rng_artefact: Rng::new(seed, stream::ARTEFACT),
            twin: None,
            baseline,
            variability_range,
            variability_phase: setup.range(0.0, std::f64::consts::TAU),
            variability_period: setup.range(20.0, 40.0) * 60.0 * TPS,
            tone: setup.range(7.0, 13.0),
            mhr_rest: setup.range(profile.maternal_rate.0, profile.maternal_rate.1),
            mhr_rise: setup.range(profile.maternal_rise.0, profile.maternal_rise.1),
            sinus_cpm: setup.range(3.5, 4.5),
            sinus_ptp: setup.range(7.0, 12.0),
            sinus_phase: setup.range(0.0, std::f64::consts::TAU),
            drift: 0.0,
            ltv: [0.0; 2],
            stv: 0.0,
            toco_offset: setup.range(0.0, 4.0),
            toco_noise: 0.0,
            toco_wobble: 0.0,
            mhr_noise: 0.0,
            mhr_jitter: 0.0,
            profile,
        };
        // Start the noise processes in their stationary state rather than at zero.
        for _ in 0..(4 * TICKS_PER_MIN) {
            sim.step_variability();
        }
        sim
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The index of the next frame [`Simulator::next_frame`] returns.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Everything planned so far (a few minutes past the current tick).
    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// Produces the frame at the current tick and advances.
    pub fn next_frame(&mut self) -> Frame {
        while self.planned_until < self.tick + LOOKAHEAD {
            self.plan_block();
        }
        let frame = self.synthesise(self.tick);
        self.tick += 1;
        frame
    }

    /// Advances to `tick` (frames in between are generated and dropped; the trace is the same as
    /// if they had been read).
    pub fn skip_to(&mut self, tick: u64) {
        while self.tick < tick {
            self.next_frame();
        }
    }

    // ----------------------------------------------------------------------------------------
    // Planning

    fn plan_block(&mut self) {
        let a = self.planned_until;
        let b = a + BLOCK;
        self.plan_episodes(a, b);
        self.plan_contractions(b);
        self.plan_accelerations(a, b);
        self.plan_fetal_movements(a, b);
        self.plan_maternal_movements(a, b);
        self.plan_signal_loss(a, b);
        self.plan_rezero(a, b);
        self.extend_whole_run_episodes(b);
        self.planned_until = b;
    }

    fn extend_whole_run_episodes(&mut self, b: u64) {
        if self.profile.sinusoidal {
            match self.truth.sinusoidal.first_mut() {
                Some(s) => s.end = b,
                None => self.truth.sinusoidal.push(Span::new(0, b)),
            }
        }
        if self.baseline > 160.0 {
            let level = self.baseline as f32;
            match self.truth.tachycardia.first_mut() {
                Some(e) => e.span.end = b,
                None => self
                    .truth
                    .tachycardia
                    .push(BaselineEpisode { span: Span::new(0, b), level_bpm: level }),
            }
        }
    }

    /// Scenario episodes that are not tied to contractions.
    fn plan_episodes(&mut self, a: u64, b: u64) {
        if self.profile.prolonged_bradycardia {
            let cycle_start = a.div_ceil(BRADY_CYCLE) * BRADY_CYCLE;
            if cycle_start < b {
                self.plan_brady_cycle(cycle_start);
            }
        }
        if self.profile.maternal_capture {
            // One capture period starting in each block with some probability, separated from
            // the previous one by at least 5 min.
            let r = &mut self.rng_events;
            let last_end = self.truth.mhr_as_fhr.last().map_or(0, |s| s.end);
            let start = a + ticks(r.range(30.0, 240.0));
            if start >= last_end + 5 * TICKS_PER_MIN || (last_end == 0 && start >= ticks(150.0)) {
                let len = ticks(r.range(120.0, 300.0));
                let gap_in = ticks(r.range(2.0, 6.0));
                let gap_out = ticks(r.range(2.0, 6.0));
                let span = Span::new(start + gap_in, start + gap_in + len);
                self.truth.mhr_as_fhr.push(span);
                // The monitor loses the fetal heart briefly before it locks onto the maternal
                // pulse, and again before it finds the fetus.
                insert_span(&mut self.truth.signal_loss, Span::new(start, span.start));
                insert_span(&mut self.truth.signal_loss, Span::new(span.end, span.end + gap_out));
            }
        }
    }

    fn plan_brady_cycle(&mut self, c: u64) {
        let r = &mut self.rng_events;
        // A prolonged deceleration 6-8 min into the cycle.
        let onset = c + ticks(r.range(360.0, 480.0));
        let descent = ticks(r.range(30.0, 60.0));
        let total = ticks(r.range(180.0, 360.0));
        let nadir_level = r.range(70.0, 90.0);
        let depth = (self.baseline - nadir_level).max(30.0);
        let d = Deceleration {
            kind: DecelKind::Prolonged,
            onset,
            nadir: onset + descent,
            end: onset + total,
            depth_bpm: depth as f32,
            contraction: None,
            shoulders: false,
        };
        // Then a bradycardia: the baseline falls below 110 for 12-16 min.
        let start = c + ticks(r.range(960.0, 1080.0));
        let hold = ticks(r.range(720.0, 960.0));
        let transition = ticks(90.0);
        let level = r.range(95.0, 105.0);
        let shape =
            DecelShape { bottom: 0.0, bottom_recovery: 0.0, shoulder: 0.0, shoulder_width: 1.0 };
        self.insert_decel(d, shape);
        self.truth.bradycardia.push(BaselineEpisode {
            span: Span::new(start, start + 2 * transition + hold),
            level_bpm: level as f32,
        });
    }

    fn plan_contractions(&mut self, b: u64) {
        while self.next_contraction < b {
            let r = &mut self.rng_contractions;
            let onset = self.next_contraction;
            let p = &self.profile;
            let duration = r.range(p.contraction_duration.0, p.contraction_duration.1);
            let peak = onset + ticks(duration * r.range(0.45, 0.55));
            let end = onset + ticks(duration);
            let amplitude = r.range(p.contraction_amplitude.0, p.contraction_amplitude.1);
            let interval = r.range(p.contraction_interval.0, p.contraction_interval.1);
            let decel_draw = r.f64();
            // Draw every shape parameter whether or not it is used, so that the schedule of
            // contractions is the same for every deceleration policy.
            let shape_draws: [f64; 8] = std::array::from_fn(|_| r.f64());
            self.next_contraction = onset + ticks(interval).max(end - onset + ticks(20.0));
            let index = self.truth.contractions.len();
            let c = Contraction { onset, peak, end, amplitude: amplitude as f32 };
            self.truth.contractions.push(c);
            if let Some(kind) = self.profile.decel.kind
                && decel_draw < self.profile.decel.probability
            {
                self.plan_decel_for(kind, index, c, shape_draws);
            }
        }
    }

    fn plan_decel_for(&mut self, kind: DecelKind, index: usize, c: Contraction, u: [f64; 8]) {
        let lerp = |x: f64, lo: f64, hi: f64| lo + (hi - lo) * x;
        let (lo, hi) = self.profile.decel.depth;
        let depth = lerp(u[0], lo, hi);
        let no_shape =
            DecelShape { bottom: 0.0, bottom_recovery: 0.0, shoulder: 0.0, shoulder_width: 1.0 };
        let (d, shape) = match kind {
            DecelKind::Early => {
                // Mirrors the contraction: starts with it, nadir at its peak, over with it.
                let onset = c.onset + ticks(lerp(u[1], 0.0, 5.0));
                let nadir = (c.peak as i64 + ticks(lerp(u[2], 0.0, 8.0)) as i64 - 16).max(0) as u64;
                let nadir = nadir.max(onset + ticks(32.0));
                let end = (c.end + ticks(lerp(u[3], 0.0, 10.0))).max(nadir + ticks(25.0));
                (
                    Deceleration {
                        kind,
                        onset,
                        nadir,
                        end,
                        depth_bpm: 0.0,
                        contraction: Some(index),
                        shoulders: false,
                    },
                    no_shape,
                )
            }
            DecelKind::Late => {
                // Begins well after the contraction, bottoms out after its peak and recovers
                // after it has ended.
                let onset = c.onset + ticks(lerp(u[1], 22.0, 40.0));
                let nadir = (c.peak + ticks(lerp(u[2], 20.0, 40.0))).max(onset + ticks(32.0));
                let end = (c.end + ticks(lerp(u[3], 15.0, 35.0))).max(nadir + ticks(25.0));
                (
                    Deceleration {
                        kind,
                        onset,
                        nadir,
                        end,
                        depth_bpm: 0.0,
                        contraction: Some(index),
                        shoulders: false,
                    },
                    no_shape,
                )
            }
            DecelKind::Variable => {
                // Abrupt: starts as the contraction builds, falls within 5-20 s, recovers fast.
                let onset = c.onset + ticks(lerp(u[1], 5.0, 25.0));
                let descent = ticks(lerp(u[2], 6.0, 18.0));
                let bottom = ticks(lerp(u[3], 8.0, 35.0));
                let recovery = ticks(lerp(u[4], 8.0, 20.0));
                let shoulders = u[5] < 0.6;
                let nadir = onset + descent;
                let end = nadir + bottom + recovery;
                let shape = DecelShape {
                    bottom: bottom as f64,
                    bottom_recovery: lerp(u[6], 0.0, 0.25),
                    shoulder: if shoulders { lerp(u[7], 8.0, 14.0) } else { 0.0 },
                    shoulder_width: ticks(lerp(u[7], 4.0, 6.0)) as f64,
                };
                (
                    Deceleration {
                        kind,
                        onset,
                        nadir,
                        end,
                        depth_bpm: 0.0,
                        contraction: Some(index),
                        shoulders,
                    },
                    shape,
                )
            }
            DecelKind::Prolonged => {
                let onset = c.onset + ticks(lerp(u[1], 10.0, 30.0));
                let nadir = onset + ticks(lerp(u[2], 30.0, 60.0));
                let end = onset + ticks(lerp(u[3], 150.0, 300.0));
                (
                    Deceleration {
                        kind,
                        onset,
                        nadir,
                        end,
                        depth_bpm: 0.0,
                        contraction: Some(index),
                        shoulders: false,
                    },
                    no_shape,
                )
            }
        };
        self.insert_decel(Deceleration { depth_bpm: depth as f32, ..d }, shape);
    }

    fn insert_decel(&mut self, d: Deceleration, shape: DecelShape) {
        let margin = ticks(10.0);
        let clash = self
            .truth
            .decelerations
            .iter()
            .any(|o| o.onset < d.end + margin && d.onset < o.end + margin);
        if clash {
            return;
        }
        let i = self.truth.decelerations.partition_point(|o| o.onset <= d.onset);
        self.truth.decelerations.insert(i, d);
        self.decel_shapes.insert(i, shape);
    }

    fn busy_with_decel(&self, span: Span, margin: u64) -> bool {
        self.truth
            .decelerations
            .iter()
            .any(|d| d.onset < span.end + margin && span.start < d.end + margin)
    }

    fn plan_accelerations(&mut self, a: u64, b: u64) {
        let Some(mean) = self.profile.acceleration_interval else { return };
        let mut t = a as f64 + self.rng_events.exponential(mean * TPS);
        while (t as u64) < b {
            let r = &mut self.rng_events;
            let onset = t as u64;
            let rise = r.range(8.0, 20.0);
            let plateau = r.range(3.0, 25.0);
            let fall = r.range(10.0, 25.0);
            let amplitude = r.range(16.0, 30.0);
            let fm_lead = r.range(-4.0, 3.0);
            let fm_len = r.range(4.0, 15.0);
            let mark = r.chance(0.3);
            let peak = onset + ticks(rise);
            let end = peak + ticks(plateau + fall);
            let next = t + r.exponential(mean * TPS).max(90.0 * TPS);
            let span = Span::new(onset, end);
            let previous_end = self.truth.accelerations.last().map_or(0, |x| x.end);
            let in_brady = self.truth.bradycardia.iter().any(|e| e.span.overlaps(&span));
            if onset > previous_end + ticks(30.0)
                && !self.busy_with_decel(span, ticks(30.0))
                && !in_brady
            {
                self.truth.accelerations.push(Acceleration {
                    onset,
                    peak,
                    end,
                    amplitude_bpm: amplitude as f32,
                });
                self.accel_shapes.push(AccelShape { plateau_end: (peak + ticks(plateau)) as f64 });
                let fm_start = (onset as f64 + fm_lead * TPS).max(0.0) as u64;
                let fm = Span::new(fm_start, fm_start + ticks(fm_len));
                self.add_fetal_movement(fm);
                if mark {
                    insert_sorted(&mut self.truth.marks, fm.start + ticks(1.5));
                }
            }
            t = next;
        }
    }

    /// Movements the fetus makes without an acceleration.
    fn plan_fetal_movements(&mut self, a: u64, b: u64) {
        if self.profile.sinusoidal {
            // An anaemic fetus moves little; keep the pattern clean.
            return;
        }
        let mut t = a as f64 + self.rng_events.exponential(180.0 * TPS);
        while (t as u64) < b {
            let r = &mut self.rng_events;
            let len = ticks(r.range(2.0, 8.0));
            let mark = r.chance(0.2);
            let start = t as u64;
            t += r.exponential(180.0 * TPS).max(30.0 * TPS);
            self.add_fetal_movement(Span::new(start, start + len));
            if mark {
                insert_sorted(&mut self.truth.marks, start + ticks(1.0));
            }
        }
    }

    fn add_fetal_movement(&mut self, span: Span) {
        insert_span(&mut self.truth.fetal_movements, span);
        // A kick shows on the TOCO as a small sharp spike.
        let r = &mut self.rng_events;
        let spike = TocoSpike {
            centre: span.start as f64 + r.range(0.0, span.len() as f64),
            width: r.range(1.0, 3.0),
            amplitude: r.range(2.0, 7.0),
        };
        insert_spike(&mut self.toco_spikes, spike);
    }

    fn plan_maternal_movements(&mut self, a: u64, b: u64) {
        let mut t = a as f64 + self.rng_events.exponential(600.0 * TPS);
        while (t as u64) < b {
            let r = &mut self.rng_events;
            let start = t as u64;
            let len = ticks(r.range(6.0, 20.0));
            t += r.exponential(600.0 * TPS).max(120.0 * TPS);
            let span = Span::new(start, start + len);
            insert_span(&mut self.truth.maternal_movements, span);
            // Sharp, irregular spikes: the abdomen moves under the belt.
            let n_spikes = r.int(2, 4);
            for _ in 0..n_spikes {
                let spike = TocoSpike {
                    centre: start as f64 + r.range(0.0, len as f64),
                    width: r.range(0.7, 2.5),
                    amplitude: r.range(8.0, 25.0),
                };
                insert_spike(&mut self.toco_spikes, spike);
            }
            // The Doppler loses the fetal heart and tracks noise (often half or double) for a
            // second or three at a time.
            let mut u = start as f64 + r.range(0.0, 8.0);
            while (u as u64) < span.end {
                let len = r.range(1.0, 3.0) * TPS;
                let factor = if r.chance(0.5) { 0.5 } else { r.range(0.75, 1.25) };
                let s = Span::new(u as u64, ((u + len) as u64).min(span.end));
                let i = self.erratic.partition_point(|(o, _)| o.start <= s.start);
                self.erratic.insert(i, (s, factor));
                u += len + r.range(2.0, 6.0) * TPS;
            }
        }
    }

    /// Places pen lifts in [a, b) so that exactly `signal_loss` of the block is lost.
    fn plan_signal_loss(&mut self, a: u64, b: u64) {
        let block = (b - a) as f64;
        let target = (self.profile.signal_loss * block).round() as u64;
        if target == 0 {
            return;
        }
        let r = &mut self.rng_loss;
        // Many short drop-outs and a few long ones, as on real traces.
        let mut lengths = Vec::new();
        let mut total = 0;
        while total < target {
            let secs = if r.chance(0.7) { r.range(1.0, 10.0) } else { r.range(10.0, 60.0) };
            let len = ticks(secs).max(2).min(target - total);
            lengths.push(len);
            total += len;
        }
        // A final sliver is merged into the previous drop-out.
        if lengths.len() > 1 && *lengths.last().unwrap_or(&0) < 4 {
            let last = lengths.pop().unwrap_or(0);
            if let Some(prev) = lengths.last_mut() {
                *prev += last;
            }
        }
        // Split the remaining time into gaps around the drop-outs (at least 2 s between two).
        let min_gap = 8u64;
        let free = (b - a) - target;
        let needed = min_gap * lengths.len().saturating_sub(1) as u64;
        let spare = free.saturating_sub(needed);
        let weights: Vec<f64> = (0..=lengths.len()).map(|_| r.exponential(1.0)).collect();
        let sum: f64 = weights.iter().sum();
        let mut gaps: Vec<u64> =
            weights.iter().map(|w| (w / sum * spare as f64).floor() as u64).collect();
        for g in gaps.iter_mut().skip(1).take(lengths.len().saturating_sub(1)) {
            *g += min_gap;
        }
        let mut t = a;
        for (len, gap) in lengths.iter().zip(&gaps) {
            t += gap;
            let end = (t + len).min(b);
            insert_span(&mut self.truth.signal_loss, Span::new(t, end));
            t = end;
        }
    }

    fn plan_rezero(&mut self, a: u64, b: u64) {
        let r = &mut self.rng_events;
        // Roughly every 20 min a midwife re-zeroes the TOCO between two contractions.
        if !r.chance(0.25) {
            return;
        }
        let candidate = a + r.int(0, b - a - 1);
        let quiet = |t: u64| {
            !self
                .truth
                .contractions
                .iter()
                .any(|c| c.onset.saturating_sub(ticks(10.0)) <= t && t < c.end + ticks(10.0))
        };
        if candidate > ticks(60.0) && quiet(candidate) {
            insert_sorted(&mut self.truth.toco_rezero, candidate);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Synthesis

    /// One step of the FHR noise processes (drift, long- and short-term variability).
    fn step_variability(&mut self) {
        let r = &mut self.rng_fhr;
        // Baseline drift: Ornstein–Uhlenbeck, time constant 10 min, 2 bpm standard deviation.
        let tau = 600.0 * TPS;
        self.drift += -self.drift / tau + 2.0 * (2.0 / tau).sqrt() * r.normal();
        // Long-term variability: a resonant AR(2) around 3-4 cycles/min, as the oscillations of
        // a real trace; unit variance, scaled at use.
        let (a1, a2, var) = ltv_coefficients();
        let x = a1 * self.ltv[0] + a2 * self.ltv[1] + r.normal() / var.sqrt();
        self.ltv = [x, self.ltv[0]];
        // Short-term (beat-to-beat) jitter: AR(1), unit variance.
        let phi: f64 = 0.4;
        self.stv = phi * self.stv + (1.0 - phi * phi).sqrt() * r.normal();
    }

    fn variability_class_gain(&self, t: f64) -> f64 {
        // Variability waxes and wanes slowly (fetal behavioural states).
        1.0 + 0.2
            * (std::f64::consts::TAU * t / self.variability_period + self.variability_phase).sin()
    }

    /// The fetal baseline at tick t, episodes included.
    fn baseline_at(&self, t: u64) -> f64 {
        let mut b = self.baseline + self.drift;
        let transition = ticks(90.0) as f64;
        for e in &self.truth.bradycardia {
            if e.span.contains(t) {
                let into = (t - e.span.start) as f64;
                let left = (e.span.end - t) as f64;
                let w = ramp(into / transition).min(ramp(left / transition));
                b += w * (f64::from(e.level_bpm) - self.baseline);
            }
        }
        b
    }

    fn decel_contribution(&self, t: u64) -> (f64, Option<DecelKind>) {
        let tf = t as f64;
        let ds = &self.truth.decelerations;
        // Shoulders reach up to 20 s outside the deceleration.
        let i = ds.partition_point(|d| d.onset <= t + ticks(20.0));
        let mut total = 0.0;
        let mut kind = None;
        let first = i.saturating_sub(2);
        for (d, s) in ds[first..i].iter().zip(&self.decel_shapes[first..i]) {
            let (onset, nadir, end) = (d.onset as f64, d.nadir as f64, d.end as f64);
            let depth = f64::from(d.depth_bpm);
            let v = match d.kind {
                DecelKind::Early | DecelKind::Late => depth * bell(tf, onset, nadir, end),
                DecelKind::Variable => {
                    let fast_start = nadir + s.bottom;
                    let level = if tf <= onset || tf >= end {
                        0.0
                    } else if tf <= nadir {
                        ramp((tf - onset) / (nadir - onset).max(1.0))
                    } else if tf <= fast_start {
                        1.0 - s.bottom_recovery * (tf - nadir) / s.bottom.max(1.0)
                    } else {
                        (1.0 - s.bottom_recovery)
                            * (1.0 - ramp((tf - fast_start) / (end - fast_start).max(1.0)))
                    };
                    let w = s.shoulder_width * TPS;
                    let shoulders =
                        s.shoulder * (bump(tf, onset - 1.2 * w, w) + bump(tf, end + 1.2 * w, w));
                    depth * level - shoulders
                }
                DecelKind::Prolonged => {
                    if tf <= onset || tf >= end {
                        0.0
                    } else if tf <= nadir {
                        depth * ramp((tf - onset) / (nadir - onset).max(1.0))
                    } else {
                        let recovery = ticks(60.0) as f64;
                        let rec_start = end - recovery;
                        // A slow undulation at the bottom, then a gradual return.
                        let wobble =
                            3.0 * (std::f64::consts::TAU * (tf - nadir) / (70.0 * TPS)).sin();
                        let base = if tf < rec_start {
                            1.0
                        } else {
                            1.0 - ramp((tf - rec_start) / recovery)
                        };
                        base * (depth + wobble)
                    }
                }
            };
            if tf >= onset && tf < end {
                kind = Some(d.kind);
            }
            total += v;
        }
        (total, kind)
    }

    fn accel_contribution(&self, t: u64) -> f64 {
        let tf = t as f64;
        let acc = &self.truth.accelerations;
        let i = acc.partition_point(|a| a.onset <= t);
        if i == 0 {
            return 0.0;
        }
        let a = acc[i - 1];
        if t >= a.end {
            return 0.0;
        }
        let s = self.accel_shapes[i - 1];
        let amp = f64::from(a.amplitude_bpm);
        let level = if tf <= a.peak as f64 {
            ramp((tf - a.onset as f64) / (a.peak - a.onset).max(1) as f64)
        } else if tf <= s.plateau_end {
            1.0
        } else {
            1.0 - ramp((tf - s.plateau_end) / (a.end as f64 - s.plateau_end).max(1.0))
        };
        amp * level
    }

    /// Contraction pressure above the resting tone at (fractional) tick t.
    fn contraction_level(&self, t: f64) -> f64 {
        let cs = &self.truth.contractions;
        let i = cs.partition_point(|c| (c.onset as f64) <= t);
        if i == 0 {
            return 0.0;
        }
        let c = cs[i - 1];
        f64::from(c.amplitude) * bell(t, c.onset as f64, c.peak as f64, c.end as f64)
    }

    fn spikes_at(&self, t: f64) -> f64 {
        let i = self.toco_spikes.partition_point(|s| s.centre <= t + 40.0);
        self.toco_spikes[i.saturating_sub(12)..i]
            .iter()
            .map(|s| s.amplitude * bump(t, s.centre, s.width * TPS))
            .sum()
    }

    /// 0–1: how far into a maternal movement tick t is (smooth at both ends, ~3 s).
    fn movement_level(&self, t: u64) -> f64 {
        let spans = &self.truth.maternal_movements;
        let i = spans.partition_point(|s| s.start <= t);
        match i.checked_sub(1).map(|j| spans[j]) {
            Some(s) if s.contains(t) => {
                let edge = (t - s.start).min(s.end - t) as f64;
                ramp(edge / (3.0 * TPS))
            }
            _ => 0.0,
        }
    }

    fn in_spans(spans: &[Span], t: u64) -> bool {
        let i = spans.partition_point(|s| s.start <= t);
        i > 0 && spans[i - 1].contains(t)
    }

    fn synthesise(&mut self, t: u64) -> Frame {
        let tf = t as f64;
        let secs = tf / TPS;

        // Maternal heart rate: slow wander, a little beat noise, rises with each contraction
        // (about 10 s behind it) and when the mother moves.
        let m = &mut self.rng_mhr;
        let tau = 30.0 * TPS;
        self.mhr_noise += -self.mhr_noise / tau + 2.0 * (2.0 / tau).sqrt() * m.normal();
        self.mhr_jitter = 0.5 * self.mhr_jitter + 0.6 * m.normal();
        let maternal_move = Self::in_spans(&self.truth.maternal_movements, t);
        let moving = self.movement_level(t);
        let c_lagged = self.contraction_level(tf - 10.0 * TPS);
        let mhr = self.mhr_rest
            + self.mhr_noise
            + self.mhr_jitter
            + self.mhr_rise * (c_lagged / 60.0).min(1.2)
            + 8.0 * moving;

        // Fetal heart rate.
        self.step_variability();
        let baseline = self.baseline_at(t);
        let (decel, decel_kind) = self.decel_contribution(t);
        let gain = self.variability_class_gain(tf)
            * if decel_kind == Some(DecelKind::Prolonged) { 0.5 } else { 1.0 };
        let range = self.variability_range * gain;
        let variability = if self.profile.sinusoidal {
            let amp =
                self.sinus_ptp / 2.0 * (1.0 + 0.08 * (std::f64::consts::TAU * secs / 900.0).sin());
            // The frequency wanders a little; integrate it so the phase stays continuous.
            let cpm = self.sinus_cpm + 0.15 * (std::f64::consts::TAU * secs / 1300.0).sin();
            self.sinus_phase += std::f64::consts::TAU * cpm / 60.0 / TPS;
            amp * self.sinus_phase.sin() + 0.15 * self.stv
        } else {
            // Scaled so that the mean peak-to-trough amplitude per minute is about `range`
            // (measured on long runs: see the calibration test).
            range * (0.19 * self.ltv[0] + 0.11 * self.stv)
        };
        let fetal = baseline + self.accel_contribution(t) - decel + variability;

        let lost = Self::in_spans(&self.truth.signal_loss, t);
        let maternal = Self::in_spans(&self.truth.mhr_as_fhr, t);
        let erratic = {
            let i = self.erratic.partition_point(|(s, _)| s.start <= t);
            (i > 0 && self.erratic[i - 1].0.contains(t)).then(|| self.erratic[i - 1].1)
        };
        let near_loss = Self::in_spans(&self.truth.signal_loss, t + 8)
            || Self::in_spans(&self.truth.signal_loss, t.saturating_sub(8));
        let art = &mut self.rng_artefact;
        let jitter = art.normal();
        let (fhr1, source, q) = if lost {
            (None, FhrSource::None, SignalQuality::NoSignal)
        } else if maternal {
            (Bpm::from_f32((mhr + 0.4 * jitter) as f32), FhrSource::Maternal, SignalQuality::Good)
        } else if let Some(factor) = erratic {
            // Half-rate counting would fall below what is physiological at a low rate; there
            // the Doppler double-counts instead.
            let factor = if factor < 0.6 && fetal * factor < 60.0 { 1.8 } else { factor };
            let v = (fetal * factor + 4.0 * jitter).clamp(55.0, 215.0);
            (Bpm::from_f32(v as f32), FhrSource::Artefact, SignalQuality::Poor)
        } else {
            let q =
                if near_loss || maternal_move { SignalQuality::Poor } else { SignalQuality::Good };
            (Bpm::from_f32(fetal as f32), FhrSource::Fetal, q)
        };

        // Uterine activity at 8 Hz.
        let mut ua = [None; 2];
        for (k, slot) in ua.iter_mut().enumerate() {
            let th = tf + 0.5 * k as f64;
            let r = &mut self.rng_toco;
            // The belt slowly shifts the zero; a re-zero puts the resting reading back at the
            // reference.
            self.toco_offset += 0.004 * r.normal() + 0.0004;
            if k == 0 && self.truth.toco_rezero.binary_search(&t).is_ok() {
                self.toco_offset = TOCO_ZERO_REFERENCE - self.tone;
            }
            self.toco_noise = 0.9 * self.toco_noise + 0.25 * r.normal();
            // A contraction is not a clean bell: slow irregularity that grows with the pressure.
            self.toco_wobble = 0.98 * self.toco_wobble + 0.2 * r.normal();
            let level = self.contraction_level(th);
            let breathing = 0.8 * (std::f64::consts::TAU * 0.3 * th / TPS).sin();
            let v = self.tone
                + self.toco_offset
                + level * (1.0 + 0.05 * self.toco_wobble)
                + self.spikes_at(th)
                + breathing
                + self.toco_noise;
            *slot = Toco::new(v.round().clamp(0.0, 100.0) as u8);
        }

        let movement = if Self::in_spans(&self.truth.fetal_movements, t) {
            Movement::Detected
        } else {
            Movement::None
        };
        let mark = self.truth.marks.binary_search(&t).is_ok();
        // The second twin: no artefacts or pen lifts of its own (its transducer is simulated
        // as well placed), the same contractions.
        let fhr2 = self.twin.as_mut().map(|tw| {
            let v = baseline + tw.offset + self.variability_range * gain * tw.step() - 0.6 * decel;
            Bpm::from_f32(v as f32)
        });
        let sample = Sample {
            fhr1,
            fhr2: fhr2.flatten(),
            mhr: Bpm::from_f32(mhr as f32),
            toco: ua[0].max(ua[1]),
            movement: Some(movement),
            mark,
            quality: Qualities {
                fhr1: q,
                fhr2: match fhr2 {
                    None => SignalQuality::Unknown,
                    Some(None) => SignalQuality::NoSignal,
                    Some(Some(_)) => SignalQuality::Good,
                },
                mhr: SignalQuality::Good,
                toco: if maternal_move { SignalQuality::Poor } else { SignalQuality::Good },
            },
        };
        Frame {
            tick: t,
            sample,
            ua,
            truth: Some(FrameTruth {
                baseline_bpm: baseline as f32,
                fetal_bpm: fetal as f32,
                fhr_source: source,
                contraction: self.contraction_level(tf) as f32,
                deceleration: decel_kind,
            }),
        }
    }
}

impl Iterator for Simulator {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        Some(self.next_frame())
    }
}

impl super::FrameSource for Simulator {
    fn next_frame(&mut self) -> Option<Frame> {
        Some(Simulator::next_frame(self))
    }
}

/// A fixed per-scenario constant (FNV-1a of the name): stable across versions, unlike
/// `std::hash`.
fn scenario_salt(scenario: Scenario) -> u64 {
    scenario
        .name()
        .bytes()
        .fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// Inserts into a sorted vector (duplicates kept once).
fn insert_sorted(v: &mut Vec<u64>, x: u64) {
    if let Err(i) = v.binary_search(&x) {
        v.insert(i, x);
    }
}

/// Inserts a span into a sorted list of disjoint spans, merging overlapping or touching ones.
fn insert_span(v: &mut Vec<Span>, s: Span) {
    if s.is_empty() {
        return;
    }
    let i = v.partition_point(|o| o.start <= s.start);
    v.insert(i, s);
    let mut k = i;
    if k > 0 && v[k - 1].end >= v[k].start {
        v[k - 1].end = v[k - 1].end.max(v[k].end);
        v.remove(k);
        k -= 1;
    }
    while k + 1 < v.len() && v[k].end >= v[k + 1].start {
        v[k].end = v[k].end.max(v[k + 1].end);
        v.remove(k + 1);
    }
}

fn insert_spike(v: &mut Vec<TocoSpike>, s: TocoSpike) {
    let i = v.partition_point(|o| o.centre <= s.centre);
    v.insert(i, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_when_inserted() {
        let mut v = Vec::new();
        insert_span(&mut v, Span::new(10, 20));
        insert_span(&mut v, Span::new(30, 40));
        insert_span(&mut v, Span::new(18, 32));
        assert_eq!(v, vec![Span::new(10, 40)]);
        insert_span(&mut v, Span::new(0, 5));
        insert_span(&mut v, Span::new(50, 60));
        insert_span(&mut v, Span::new(45, 47));
        assert_eq!(
            v,
            vec![Span::new(0, 5), Span::new(10, 40), Span::new(45, 47), Span::new(50, 60)]
        );
        insert_span(&mut v, Span::new(4, 55));
        assert_eq!(v, vec![Span::new(0, 60)]);
    }

    #[test]
    fn shapes_are_continuous_and_bounded() {
        for i in 0..=100 {
            let t = f64::from(i);
            let b = bell(t, 10.0, 40.0, 90.0);
            assert!((0.0..=1.0).contains(&b));
        }
        assert_eq!(bell(40.0, 10.0, 40.0, 90.0), 1.0);
        assert_eq!(bell(10.0, 10.0, 40.0, 90.0), 0.0);
        assert!((ramp(0.5) - 0.5).abs() < 1e-12);
    }
}
