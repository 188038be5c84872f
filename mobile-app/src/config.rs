//! The clinic-provided configuration: contact numbers and every clinical threshold. Thresholds are
//! configuration, not code, because they need the clinic's sign-off (clinical.md §3).
//!
//! The commented example file `mobile-app.example.toml` is embedded and is the default.

use std::path::Path;

use serde::Deserialize;

/// The built-in configuration (the example file shipped in the repository).
pub const EXAMPLE_TOML: &str = include_str!("../mobile-app.example.toml");

/// A configuration that could not be used, naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("configuration is not valid TOML or has an unknown/missing key: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub clinic: Clinic,
    #[serde(default)]
    pub crisis_contacts: Vec<Contact>,
    pub blood_pressure: BpConfig,
    pub epds: EpdsConfig,
    pub weight_gain: Vec<WeightGainBand>,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub speech: SpeechConfig,
}

/// Dictated notes (`[speech]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// An ai-notes configuration file naming a Whisper model on the phone (path and checksum).
    /// Empty: dictations are transcribed by the clinic's server, when it has a model.
    pub model_config: String,
}

impl SpeechConfig {
    /// The on-phone model's configuration file, if one is named.
    pub fn model_config_path(&self) -> Option<&Path> {
        let p = self.model_config.trim();
        (!p.is_empty()).then(|| Path::new(p))
    }
}

/// Sync with the clinic's server (`[sync]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// The server's base address, e.g. `https://phr.example.jp`; empty turns sync off.
    pub server_url: String,
    /// Seconds before a request is given up.
    pub timeout_s: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { server_url: String::new(), timeout_s: 30 }
    }
}

impl SyncConfig {
    /// Sync is configured.
    pub fn enabled(&self) -> bool {
        !self.server_url.trim().is_empty()
    }
}

/// Tokens and her records travel only over TLS, except to this machine during development.
fn usable_server_url(url: &str) -> bool {
    let plain_local = ["http://localhost", "http://127.0.0.1", "http://[::1]"];
    let host_end = |rest: &str| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/');
    let ok_scheme = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with(':'))
        || plain_local.iter().any(|p| url.strip_prefix(p).is_some_and(host_end));
    ok_scheme && !url.contains(['?', '#', ' ', '@'])
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clinic {
    pub name: String,
    pub phone: String,
    pub emergency_phone: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub label: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpConfig {
    pub advisory: TierThreshold,
    pub same_day: TierThreshold,
    pub emergency: TierThreshold,
    pub repeat_after_minutes: u32,
    pub repeat_window_minutes: u32,
    pub plausible: Plausible,
    pub averages: Averages,
}

/// A tier applies when systolic ≥ `systolic` or diastolic ≥ `diastolic` (mmHg).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierThreshold {
    pub systolic: f64,
    pub diastolic: f64,
    /// The tier is only confirmed by a second reading in the same tier (or above).
    pub confirm_with_repeat: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plausible {
    pub systolic: [f64; 2],
    pub diastolic: [f64; 2],
    pub pulse: [f64; 2],
    pub min_pulse_pressure: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Averages {
    pub days: u32,
    pub min_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpdsConfig {
    pub cutoff: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightGainBand {
    pub bmi_below: f64,
    pub min_kg: f64,
    pub max_kg: f64,
}

impl Default for AppConfig {
    fn default() -> Self {
        // The embedded example is validated by a unit test; failing here would be a build defect.
        Self::from_toml(EXAMPLE_TOML).expect("the embedded example configuration is valid")
    }
}

impl AppConfig {
    /// Parses and validates a configuration.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: AppConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &'static str, message: String| Err(ConfigError::Invalid { key, message });
        if self.clinic.name.trim().is_empty() {
            return invalid("clinic.name", "must not be empty".into());
        }
        for (key, phone) in [
            ("clinic.phone", &self.clinic.phone),
            ("clinic.emergency_phone", &self.clinic.emergency_phone),
        ] {
            if !is_phone_number(phone) {
                return invalid(key, format!("{phone:?} is not a phone number"));
            }
        }
        for contact in &self.crisis_contacts {
            if !is_phone_number(&contact.phone) || contact.label.trim().is_empty() {
                return invalid(
                    "crisis_contacts",
                    format!(
                        "{:?} / {:?} needs a label and a phone number",
                        contact.label, contact.phone
                    ),
                );
            }
        }
        let bp = &self.blood_pressure;
        let tiers = [
            ("blood_pressure.advisory", bp.advisory),
            ("blood_pressure.same_day", bp.same_day),
            ("blood_pressure.emergency", bp.emergency),
        ];
        for (key, t) in tiers {
            if !(50.0..=300.0).contains(&t.systolic) || !(30.0..=200.0).contains(&t.diastolic) {
                return invalid(
                    key,
                    format!("{}/{} mmHg is not a usable threshold", t.systolic, t.diastolic),
                );
            }
        }
        for pair in tiers.windows(2) {
            let (lower, higher) = (pair[0].1, pair[1].1);
            if higher.systolic < lower.systolic || higher.diastolic < lower.diastolic {
                return invalid(pair[1].0, format!("must not be below {}", pair[0].0));
            }
        }
        if bp.repeat_window_minutes == 0 || bp.repeat_after_minutes >= bp.repeat_window_minutes {
            return invalid(
                "blood_pressure.repeat_window_minutes",
                "must be longer than repeat_after_minutes".into(),
            );
        }
        let p = bp.plausible;
        for (key, [lo, hi]) in [
            ("blood_pressure.plausible.systolic", p.systolic),
            ("blood_pressure.plausible.diastolic", p.diastolic),
            ("blood_pressure.plausible.pulse", p.pulse),
        ] {
            if !(lo > 0.0 && lo < hi) {
                return invalid(key, format!("[{lo}, {hi}] is not a range"));
            }
        }
        if !(0.0..=100.0).contains(&p.min_pulse_pressure) {
            return invalid("blood_pressure.plausible.min_pulse_pressure", "must be 0–100".into());
        }
        if bp.averages.days == 0
            || bp.averages.min_days == 0
            || bp.averages.min_days > bp.averages.days
        {
            return invalid("blood_pressure.averages", "need 0 < min_days <= days".into());
        }
        if !(1..=30).contains(&self.epds.cutoff) {
            return invalid(
                "epds.cutoff",
                format!("{} is outside the score range 1–30", self.epds.cutoff),
            );
        }
        if self.sync.enabled() && !usable_server_url(&self.sync.server_url) {
            return invalid(
                "sync.server_url",
                format!(
                    "{:?} must be an https:// address (http:// only to localhost)",
                    self.sync.server_url
                ),
            );
        }
        if !(1..=300).contains(&self.sync.timeout_s) {
            return invalid("sync.timeout_s", format!("{} is outside 1–300", self.sync.timeout_s));
        }
        if self.weight_gain.is_empty() {
            return invalid("weight_gain", "needs at least one band".into());
        }
        let mut previous = 0.0;
        for band in &self.weight_gain {
            if band.bmi_below <= previous || band.min_kg < 0.0 || band.max_kg < band.min_kg {
                return invalid(
                    "weight_gain",
                    format!(
                        "band below BMI {} must be ascending with 0 <= min_kg <= max_kg",
                        band.bmi_below
                    ),
                );
            }
            previous = band.bmi_below;
        }
        Ok(())
    }

    /// The weight-gain band for a pre-pregnancy BMI.
    pub fn weight_gain_for_bmi(&self, bmi: f64) -> Option<WeightGainBand> {
        self.weight_gain.iter().copied().find(|b| bmi < b.bmi_below)
    }
}

/// Digits with optional `+`, spaces and hyphens: what a phone's dialler accepts.
fn is_phone_number(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (3..=20).contains(&digits)
        && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_example_is_valid_and_matches_clinical_reference() {
        let c = AppConfig::from_toml(EXAMPLE_TOML).unwrap();
        let bp = &c.blood_pressure;
        assert_eq!((bp.advisory.systolic, bp.advisory.diastolic), (135.0, 85.0));
        assert_eq!((bp.same_day.systolic, bp.same_day.diastolic), (140.0, 90.0));
        assert_eq!((bp.emergency.systolic, bp.emergency.diastolic), (160.0, 110.0));
        assert_eq!(c.epds.cutoff, 9);
        assert_eq!(c.weight_gain_for_bmi(21.0).map(|b| (b.min_kg, b.max_kg)), Some((10.0, 13.0)));
        assert_eq!(c.weight_gain_for_bmi(17.0).map(|b| (b.min_kg, b.max_kg)), Some((12.0, 15.0)));
    }

    #[test]
    fn errors_name_the_offending_key() {
        let bad = EXAMPLE_TOML.replace("cutoff = 9", "cutoff = 40");
        let err = AppConfig::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("epds.cutoff"), "{err}");

        let bad = EXAMPLE_TOML.replace("phone = \"03-1234-5678\"", "phone = \"call us\"");
        let err = AppConfig::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("clinic.phone"), "{err}");

        let bad =
            EXAMPLE_TOML.replace("emergency = { systolic = 160", "emergency = { systolic = 130");
        let err = AppConfig::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("blood_pressure.emergency"), "{err}");

        for (url, ok) in [
            ("https://phr.example.jp", true),
            ("https://phr.example.jp:8443/", true),
            ("http://127.0.0.1:8080", true),
            ("http://localhost", true),
            ("http://phr.example.jp", false),
            ("http://localhost.evil.example", false),
            ("https://", false),
            ("https://user@phr.example.jp", false),
            ("ftp://phr.example.jp", false),
        ] {
            let text = EXAMPLE_TOML.replace("server_url = \"\"", &format!("server_url = {url:?}"));
            let result = AppConfig::from_toml(&text);
            assert_eq!(result.is_ok(), ok, "{url}: {result:?}");
            if !ok {
                assert!(result.unwrap_err().to_string().contains("sync.server_url"));
            }
        }

        let bad = EXAMPLE_TOML.replace("[epds]", "[epds]\nmystery = 1");
        let err = AppConfig::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("mystery"), "{err}");
    }
}
