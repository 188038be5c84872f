//! The records the app keeps for her. Every record has a client-generated id (UUID v7, so ids sort
//! by creation time and never collide with records made on another device) and created/updated
//! timestamps, so a later sync can push changes in order and resolve conflicts.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A fresh record id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Which arm the cuff was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Left,
    Right,
    #[default]
    Unknown,
}

/// Home BP guidelines (JSH 2019) average morning and evening readings separately.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    Morning,
    Evening,
    #[default]
    Other,
}

impl Session {
    /// The session a reading taken at this local hour most likely belongs to: morning readings
    /// are taken within an hour of waking, evening ones before bed.
    pub fn from_local_hour(hour: u32) -> Self {
        match hour {
            4..=11 => Session::Morning,
            18..=23 | 0..=3 => Session::Evening,
            _ => Session::Other,
        }
    }
}

macro_rules! str_enum {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }
    };
}
str_enum!(Arm { Left = "left", Right = "right", Unknown = "unknown" });
str_enum!(Session { Morning = "morning", Evening = "evening", Other = "other" });

/// Warning symptoms of pre-eclampsia that make any reading an emergency (clinical.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Symptoms(u8);

impl Symptoms {
    pub const HEADACHE: Symptoms = Symptoms(1);
    pub const VISUAL_DISTURBANCE: Symptoms = Symptoms(2);
    pub const EPIGASTRIC_PAIN: Symptoms = Symptoms(4);
    pub const BREATHLESSNESS: Symptoms = Symptoms(8);
    pub const SEIZURE: Symptoms = Symptoms(16);
    /// In the order the checklist shows them.
    pub const ALL: [Symptoms; 5] = [
        Self::HEADACHE,
        Self::VISUAL_DISTURBANCE,
        Self::EPIGASTRIC_PAIN,
        Self::BREATHLESSNESS,
        Self::SEIZURE,
    ];

    pub const fn none() -> Self {
        Symptoms(0)
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Unknown bits (from a newer app version) are dropped.
    pub fn from_bits(bits: u8) -> Self {
        Symptoms(bits & 0x1f)
    }
    pub fn any(self) -> bool {
        self.0 != 0
    }
    pub fn contains(self, other: Symptoms) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn with(self, other: Symptoms, on: bool) -> Self {
        if on { Symptoms(self.0 | other.0) } else { Symptoms(self.0 & !other.0) }
    }
    pub fn code(self) -> &'static str {
        match self.0 {
            1 => "headache",
            2 => "visual_disturbance",
            4 => "epigastric_pain",
            8 => "breathlessness",
            16 => "seizure",
            _ => "symptoms",
        }
    }
    /// Names of the symptoms present, for export.
    pub fn codes(self) -> Vec<&'static str> {
        Self::ALL.iter().filter(|s| self.contains(**s)).map(|s| s.code()).collect()
    }
}

/// What a reading means, in ascending urgency (clinical.md §3).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Normal,
    /// ≥ 135/85: tell the clinic at the next contact.
    Advisory,
    /// ≥ 140/90: call the clinic today.
    SameDay,
    /// ≥ 160/110 or warning symptoms: contact the hospital now.
    Emergency,
}
str_enum!(Tier { Normal = "normal", Advisory = "advisory", SameDay = "same_day", Emergency = "emergency" });

impl Tier {
    /// The index the UI uses (0 normal … 3 emergency).
    pub fn index(self) -> i32 {
        self as i32
    }
}

/// Where a reading came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Typed in by her.
    Manual,
    /// Imported from a Bluetooth cuff.
    Cuff {
        /// The cuff's stable identifier (its Bluetooth address or platform id).
        device_id: String,
        /// The time the cuff reported, as it reported it (local wall clock, ISO 8601), when it
        /// reported one. Kept verbatim so a re-import of the same stored record is recognised.
        device_time: Option<String>,
        /// True when the cuff's clock was implausible and the receive time was used instead.
        clock_untrusted: bool,
        /// The cuff's measurement status bits (body movement, irregular pulse …), if sent.
        status: Option<u16>,
        /// The cuff's user slot, if sent.
        user_id: Option<u8>,
    },
}

/// A blood-pressure reading as entered or imported, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReading {
    pub measured_at: DateTime<FixedOffset>,
    pub systolic: f64,
    pub diastolic: f64,
    pub pulse: Option<f64>,
    pub mean_arterial: Option<f64>,
    pub arm: Arm,
    pub session: Session,
    pub symptoms: Symptoms,
    pub note: String,
    pub source: Source,
}

/// A stored blood-pressure reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub id: Uuid,
    #[serde(flatten)]
    pub data: NewReading,
    /// The tier the app showed her for this reading, and whether it was confirmed.
    pub tier: Tier,
    pub tier_confirmed: bool,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

/// Urine test strip result as written in the handbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dipstick {
    #[default]
    NotTested,
    Negative,
    Trace,
    Plus1,
    Plus2,
    Plus3,
}
str_enum!(Dipstick {
    NotTested = "not_tested",
    Negative = "negative",
    Trace = "trace",
    Plus1 = "1+",
    Plus2 = "2+",
    Plus3 = "3+",
});

impl Dipstick {
    pub const ALL: [Dipstick; 6] =
        [Self::NotTested, Self::Negative, Self::Trace, Self::Plus1, Self::Plus2, Self::Plus3];
    /// The handbook's notation.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::NotTested => "",
            Self::Negative => "−",
            Self::Trace => "±",
            Self::Plus1 => "+",
            Self::Plus2 => "2+",
            Self::Plus3 => "3+",
        }
    }
}

/// Oedema grade as written in the handbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Oedema {
    #[default]
    NotChecked,
    None,
    Plus1,
    Plus2,
}
str_enum!(Oedema { NotChecked = "not_checked", None = "none", Plus1 = "1+", Plus2 = "2+" });

impl Oedema {
    pub const ALL: [Oedema; 4] = [Self::NotChecked, Self::None, Self::Plus1, Self::Plus2];
    pub fn symbol(self) -> &'static str {
        match self {
            Self::NotChecked => "",
            Self::None => "−",
            Self::Plus1 => "+",
            Self::Plus2 => "2+",
        }
    }
}

/// One prenatal check-up, with the maternal and child health handbook's items (clinical.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CheckupData {
    pub date: NaiveDate,
    pub facility: String,
    pub weight_kg: Option<f64>,
    pub systolic: Option<f64>,
    pub diastolic: Option<f64>,
    pub urine_protein: Dipstick,
    pub urine_glucose: Dipstick,
    pub fundal_height_cm: Option<f64>,
    pub abdominal_circumference_cm: Option<f64>,
    pub oedema: Oedema,
    /// Other tests (e.g. haemoglobin) and special instructions, as written.
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkup {
    pub id: Uuid,
    #[serde(flatten)]
    pub data: CheckupData,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

/// Her pregnancy profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Profile {
    /// How the app greets her (optional).
    pub display_name: String,
    /// Estimated due date: 280 days after the last menstrual period or corrected by ultrasound.
    pub due_date: Option<NaiveDate>,
    /// The day the baby was born; switches the app to the postnatal view.
    pub birth_date: Option<NaiveDate>,
    pub height_cm: Option<f64>,
    pub pre_pregnancy_weight_kg: Option<f64>,
}

/// A completed EPDS questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpdsRecord {
    pub id: Uuid,
    pub taken_at: DateTime<FixedOffset>,
    /// The option she chose for each item, as displayed (0 = first option).
    pub answers: [u8; 10],
    pub total: u8,
    pub item10: u8,
    pub created_at: DateTime<FixedOffset>,
}

/// A cuff she has paired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedCuff {
    pub device_id: String,
    pub name: String,
    pub paired_at: DateTime<FixedOffset>,
    pub last_import_at: Option<DateTime<FixedOffset>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symptoms_bits_round_trip_and_ignore_unknown_bits() {
        let s = Symptoms::none().with(Symptoms::HEADACHE, true).with(Symptoms::SEIZURE, true);
        assert!(s.contains(Symptoms::HEADACHE) && s.contains(Symptoms::SEIZURE));
        assert!(!s.contains(Symptoms::VISUAL_DISTURBANCE));
        assert_eq!(Symptoms::from_bits(s.bits() | 0x80), s);
        assert_eq!(s.codes(), vec!["headache", "seizure"]);
        assert!(!s.with(Symptoms::HEADACHE, false).with(Symptoms::SEIZURE, false).any());
    }

    #[test]
    fn session_from_hour() {
        assert_eq!(Session::from_local_hour(6), Session::Morning);
        assert_eq!(Session::from_local_hour(22), Session::Evening);
        assert_eq!(Session::from_local_hour(1), Session::Evening);
        assert_eq!(Session::from_local_hour(14), Session::Other);
    }

    #[test]
    fn enum_strings_round_trip() {
        for d in Dipstick::ALL {
            assert_eq!(Dipstick::parse(d.as_str()), Some(d));
        }
        for o in Oedema::ALL {
            assert_eq!(Oedema::parse(o.as_str()), Some(o));
        }
        for t in [Tier::Normal, Tier::Advisory, Tier::SameDay, Tier::Emergency] {
            assert_eq!(Tier::parse(t.as_str()), Some(t));
        }
        assert_eq!(Arm::parse("sideways"), None);
    }
}
