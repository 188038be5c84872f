//! Every clinical threshold used by the structurer, in one place, with its source.
//!
//! Two kinds of limits live here:
//! - *plausibility* ranges: a value outside them is not a measurement but a mishearing or a slip
//!   of the tongue; it is rejected with a reason and shown to the clinician, never stored;
//! - *clinical* thresholds that raise flags in the Assessment (they need clinical sign-off per
//!   clinic; the defaults below follow the sources named).

/// Inclusive plausibility range with its unit, used in rejection messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plausible {
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

impl Plausible {
    /// Whether `v` lies in the range.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }
}

/// Systolic pressure a sphygmomanometer can read in a living adult.
pub const SYSTOLIC: Plausible = Plausible { min: 60.0, max: 260.0, unit: "mmHg" };
/// Diastolic pressure.
pub const DIASTOLIC: Plausible = Plausible { min: 30.0, max: 160.0, unit: "mmHg" };
/// Smallest credible pulse pressure (systolic − diastolic).
pub const MIN_PULSE_PRESSURE: f64 = 10.0;
/// Maternal pulse.
pub const PULSE: Plausible = Plausible { min: 30.0, max: 220.0, unit: "/min" };
/// Fetal heart rate: outside 50–220 bpm is not physiological (clinical.md §1, common
/// definitions).
pub const FETAL_HEART_RATE: Plausible = Plausible { min: 50.0, max: 220.0, unit: "/min" };
/// Body weight of a pregnant woman.
pub const WEIGHT_KG: Plausible = Plausible { min: 25.0, max: 250.0, unit: "kg" };
/// Gestational weeks (a pregnancy beyond 44 weeks is not credible in a record).
pub const GESTATION_WEEKS: Plausible = Plausible { min: 0.0, max: 44.0, unit: "wk" };
/// Days part of "N weeks M days".
pub const GESTATION_DAYS: Plausible = Plausible { min: 0.0, max: 6.0, unit: "d" };
/// Symphysis–fundal height.
pub const FUNDAL_HEIGHT_CM: Plausible = Plausible { min: 5.0, max: 50.0, unit: "cm" };
/// Abdominal circumference.
pub const ABDOMINAL_CIRCUMFERENCE_CM: Plausible = Plausible { min: 50.0, max: 160.0, unit: "cm" };
/// Body temperature in °C.
pub const TEMPERATURE_C: Plausible = Plausible { min: 34.0, max: 42.0, unit: "Cel" };

/// Hypertensive disorders of pregnancy (JSSHP 2018): hypertension ≥ 140 and/or ≥ 90 mmHg.
pub const HYPERTENSION: (u16, u16) = (140, 90);
/// Severe hypertension ≥ 160 and/or ≥ 110 mmHg (JSSHP 2018).
pub const SEVERE_HYPERTENSION: (u16, u16) = (160, 110);
/// Normal fetal baseline 110–160 bpm (FIGO 2015, NICHD 2008, JSOG).
pub const FHR_NORMAL: (u16, u16) = (110, 160);
/// Term begins at 37 weeks: contractions or leaking fluid before it suggest preterm labour or
/// preterm rupture of membranes.
pub const TERM_WEEKS: u8 = 37;
/// Urine protein at or above this dipstick grade is reported as proteinuria (a 1+ dipstick is the
/// usual screening threshold for hypertensive disorders of pregnancy).
pub const PROTEINURIA_GRADE: u8 = 1;
/// A proteinuria grade at or above this is urgent (same day) even without hypertension.
pub const PROTEINURIA_URGENT_GRADE: u8 = 2;
/// Fetal heart rate below this is an emergency: a baseline < 100 bpm is pathological (FIGO
/// 2015); 100–109 bpm or > 160 bpm needs same-day assessment.
pub const FHR_EMERGENCY_BELOW: u16 = 100;
/// Contractions at or above this rate before term are an emergency (regular contractions of
/// ≥ 8 per hour define preterm labour in the classic criteria; [U] confirm with the clinic).
pub const PRETERM_CONTRACTIONS_PER_HOUR: f64 = 8.0;
/// Fever threshold (°C).
pub const FEVER_C: f64 = 38.0;
