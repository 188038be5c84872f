//! The analysis configuration: the few choices a clinic or a caller makes. Algorithm constants
//! (filter widths, thresholds from the guidelines) live beside the code that uses them, each
//! with its source.

use serde::{Deserialize, Serialize};

/// Why a configuration was refused. Each message names the offending key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("min_valid_fraction = {0}: must be within 0.1-1.0")]
    MinValidFraction(f32),
    #[error("window_s = {0}: must be a whole number of minutes from 5 to 60 (300-3600)")]
    WindowSeconds(u32),
    #[error("gestation_weeks = {0}: must be within 20-44")]
    GestationWeeks(u32),
    #[error("second_stage_start_s = {0}: must be a finite number of seconds >= 0")]
    SecondStageStart(f64),
}

/// How a trace is analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A classification window whose share of usable FHR samples (present, physiological, not
    /// a false signal) is below this is reported as "cannot assess" and never classified.
    /// Default 0.5: a window that is mostly missing is not judged.
    pub min_valid_fraction: f32,
    /// Length of a classification window, seconds (default 600: the 10-minute window of the
    /// FIGO and NICHD baseline definitions).
    pub window_s: u32,
    /// Gestational age, when known. Before 32 weeks accelerations need only 10 bpm for 10 s
    /// (FIGO 2015, NICHD 2008, JSOG 2002).
    pub gestation_weeks: Option<u32>,
    /// When the second stage of labour began, seconds from the start of the trace, when known
    /// (pushing changes the maternal heart rate; the false-signal model uses it).
    pub second_stage_start_s: Option<f64>,
    /// Leave samples judged to be a false signal (maternal heart rate, doubling, halving) out of
    /// the baseline, events and classification. Default true.
    pub exclude_false_signal: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            min_valid_fraction: 0.5,
            window_s: 600,
            gestation_weeks: None,
            second_stage_start_s: None,
            exclude_false_signal: true,
        }
    }
}

impl Config {
    /// Checks every field; the error names the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.1..=1.0).contains(&self.min_valid_fraction) {
            return Err(ConfigError::MinValidFraction(self.min_valid_fraction));
        }
        if !(300..=3600).contains(&self.window_s) || !self.window_s.is_multiple_of(60) {
            return Err(ConfigError::WindowSeconds(self.window_s));
        }
        if let Some(w) = self.gestation_weeks
            && !(20..=44).contains(&w)
        {
            return Err(ConfigError::GestationWeeks(w));
        }
        if let Some(s) = self.second_stage_start_s
            && (!s.is_finite() || s < 0.0)
        {
            return Err(ConfigError::SecondStageStart(s));
        }
        Ok(())
    }

    /// Acceleration thresholds (amplitude bpm, duration s) for this gestation.
    pub fn acceleration_threshold(&self) -> (f32, f32) {
        match self.gestation_weeks {
            Some(w) if w < 32 => (10.0, 10.0),
            _ => (15.0, 15.0),
        }
    }

    pub(crate) fn window_samples(&self) -> usize {
        self.window_s as usize * crate::SAMPLE_RATE_HZ as usize
    }

    pub(crate) fn second_stage_start_sample(&self) -> Option<usize> {
        self.second_stage_start_s.map(|s| (s * f64::from(crate::SAMPLE_RATE_HZ)).round() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_errors_name_the_key() {
        Config::default().validate().unwrap();
        let bad = Config { min_valid_fraction: 0.0, ..Config::default() };
        assert!(bad.validate().unwrap_err().to_string().starts_with("min_valid_fraction"));
        let bad = Config { window_s: 601, ..Config::default() };
        assert!(bad.validate().unwrap_err().to_string().starts_with("window_s"));
        let bad = Config { gestation_weeks: Some(12), ..Config::default() };
        assert!(bad.validate().unwrap_err().to_string().starts_with("gestation_weeks"));
        let bad = Config { second_stage_start_s: Some(f64::NAN), ..Config::default() };
        assert!(bad.validate().unwrap_err().to_string().starts_with("second_stage_start_s"));
    }

    #[test]
    fn preterm_acceleration_threshold() {
        let c = Config { gestation_weeks: Some(30), ..Config::default() };
        assert_eq!(c.acceleration_threshold(), (10.0, 10.0));
        assert_eq!(Config::default().acceleration_threshold(), (15.0, 15.0));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = serde_json::from_str::<Config>(r#"{"window":600}"#).unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
    }
}
