//! The SOAP note data model: what the structurer produces and the renderers consume.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Language of a transcript and of the note written from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Error for an unknown language code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: expected \"ja\" or \"en\"")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" | "jpn" | "japanese" => Ok(Lang::Ja),
            "en" | "eng" | "english" => Ok(Lang::En),
            _ => Err(UnknownLang(s.to_string())),
        }
    }
}

/// The four parts of a SOAP note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Section {
    /// Subjective: what the mother or patient reports.
    S,
    /// Objective: measurements and examination findings.
    O,
    /// Assessment.
    A,
    /// Plan.
    P,
}

impl Section {
    /// All sections in note order.
    pub const ALL: [Section; 4] = [Section::S, Section::O, Section::A, Section::P];

    /// Section title in `lang`.
    pub fn title(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Section::S, Lang::En) => "Subjective",
            (Section::O, Lang::En) => "Objective",
            (Section::A, Lang::En) => "Assessment",
            (Section::P, Lang::En) => "Plan",
            (Section::S, Lang::Ja) => "S（主観的情報）",
            (Section::O, Lang::Ja) => "O（客観的情報）",
            (Section::A, Lang::Ja) => "A（評価）",
            (Section::P, Lang::Ja) => "P（計画）",
        }
    }

    /// One-letter name.
    pub fn letter(self) -> &'static str {
        match self {
            Section::S => "S",
            Section::O => "O",
            Section::A => "A",
            Section::P => "P",
        }
    }
}

/// Where a statement came from in the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpan {
    /// Byte offsets into the transcript text, `start..end`.
    pub start: usize,
    pub end: usize,
    /// Char offsets (for clients that index by Unicode scalar values, e.g. JavaScript after
    /// conversion).
    pub char_start: usize,
    pub char_end: usize,
    /// The transcript text of the span, verbatim.
    pub quote: String,
    /// Audio time of the span in seconds, when the transcript came with timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
}

/// A time range in the recording, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_s: f64,
    pub end_s: f64,
}

/// How a statement was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A sentence of the transcript, quoted.
    Transcript,
    /// Written by rules from extracted facts (e.g. a range check); `source` points at the facts.
    Derived,
}

/// One statement of the note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub section: Section,
    pub text: String,
    pub origin: Origin,
    pub source: SourceSpan,
}

/// A urine dipstick reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "grade")]
pub enum Dipstick {
    Negative,
    Trace,
    /// Positive, graded 1+ to 4+.
    Positive(u8),
    /// Positive with no grade given.
    PositiveUngraded,
}

impl Dipstick {
    /// Conventional notation: (−), (±), (1+)…
    pub fn notation(self) -> String {
        match self {
            Dipstick::Negative => "(-)".into(),
            Dipstick::Trace => "(±)".into(),
            Dipstick::Positive(n) => format!("({n}+)"),
            Dipstick::PositiveUngraded => "(+)".into(),
        }
    }
}

/// Oedema as examined or reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "grade")]
pub enum Oedema {
    Absent,
    Present,
    Trace,
    /// Pitting grade 1+ to 4+.
    Graded(u8),
    Mild,
    Moderate,
    Severe,
}

impl Oedema {
    /// Conventional notation.
    pub fn notation(self) -> String {
        match self {
            Oedema::Absent => "(-)".into(),
            Oedema::Present => "(+)".into(),
            Oedema::Trace => "(±)".into(),
            Oedema::Graded(n) => format!("({n}+)"),
            Oedema::Mild => "mild".into(),
            Oedema::Moderate => "moderate".into(),
            Oedema::Severe => "severe".into(),
        }
    }
}

/// A measured value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Measurement {
    /// mmHg.
    BloodPressure {
        systolic: u16,
        diastolic: u16,
    },
    /// Maternal pulse, /min.
    Pulse {
        bpm: u16,
    },
    /// Fetal heart rate, /min.
    FetalHeartRate {
        bpm: u16,
    },
    /// Body weight, kg.
    Weight {
        kg: f64,
    },
    /// Gestational age.
    GestationalAge {
        weeks: u8,
        days: Option<u8>,
    },
    /// Symphysis–fundal height, cm.
    FundalHeight {
        cm: f64,
    },
    /// Abdominal circumference, cm.
    AbdominalCircumference {
        cm: f64,
    },
    UrineProtein {
        dipstick: Dipstick,
    },
    UrineGlucose {
        dipstick: Dipstick,
    },
    Oedema {
        oedema: Oedema,
    },
    /// °C.
    BodyTemperature {
        celsius: f64,
    },
}

/// The kind of a measurement, without a value (for rejections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasurementKind {
    BloodPressure,
    Pulse,
    FetalHeartRate,
    Weight,
    GestationalAge,
    FundalHeight,
    AbdominalCircumference,
    UrineProtein,
    UrineGlucose,
    Oedema,
    BodyTemperature,
}

impl Measurement {
    /// The kind of this measurement.
    pub fn kind(&self) -> MeasurementKind {
        match self {
            Measurement::BloodPressure { .. } => MeasurementKind::BloodPressure,
            Measurement::Pulse { .. } => MeasurementKind::Pulse,
            Measurement::FetalHeartRate { .. } => MeasurementKind::FetalHeartRate,
            Measurement::Weight { .. } => MeasurementKind::Weight,
            Measurement::GestationalAge { .. } => MeasurementKind::GestationalAge,
            Measurement::FundalHeight { .. } => MeasurementKind::FundalHeight,
            Measurement::AbdominalCircumference { .. } => MeasurementKind::AbdominalCircumference,
            Measurement::UrineProtein { .. } => MeasurementKind::UrineProtein,
            Measurement::UrineGlucose { .. } => MeasurementKind::UrineGlucose,
            Measurement::Oedema { .. } => MeasurementKind::Oedema,
            Measurement::BodyTemperature { .. } => MeasurementKind::BodyTemperature,
        }
    }

    /// Human-readable value with unit, e.g. "128/82 mmHg", "32w3d".
    pub fn display_value(&self) -> String {
        match *self {
            Measurement::BloodPressure { systolic, diastolic } => {
                format!("{systolic}/{diastolic} mmHg")
            }
            Measurement::Pulse { bpm } | Measurement::FetalHeartRate { bpm } => {
                format!("{bpm} /min")
            }
            Measurement::Weight { kg } => format!("{} kg", trim_float(kg)),
            Measurement::GestationalAge { weeks, days } => match days {
                Some(d) => format!("{weeks}w{d}d"),
                None => format!("{weeks}w"),
            },
            Measurement::FundalHeight { cm } | Measurement::AbdominalCircumference { cm } => {
                format!("{} cm", trim_float(cm))
            }
            Measurement::UrineProtein { dipstick } | Measurement::UrineGlucose { dipstick } => {
                dipstick.notation()
            }
            Measurement::Oedema { oedema } => oedema.notation(),
            Measurement::BodyTemperature { celsius } => format!("{} °C", trim_float(celsius)),
        }
    }
}

impl MeasurementKind {
    /// Label in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        use MeasurementKind as K;
        match (self, lang) {
            (K::BloodPressure, Lang::En) => "Blood pressure",
            (K::Pulse, Lang::En) => "Pulse",
            (K::FetalHeartRate, Lang::En) => "Fetal heart rate",
            (K::Weight, Lang::En) => "Weight",
            (K::GestationalAge, Lang::En) => "Gestational age",
            (K::FundalHeight, Lang::En) => "Fundal height",
            (K::AbdominalCircumference, Lang::En) => "Abdominal circumference",
            (K::UrineProtein, Lang::En) => "Urine protein",
            (K::UrineGlucose, Lang::En) => "Urine glucose",
            (K::Oedema, Lang::En) => "Oedema",
            (K::BodyTemperature, Lang::En) => "Body temperature",
            (K::BloodPressure, Lang::Ja) => "血圧",
            (K::Pulse, Lang::Ja) => "脈拍",
            (K::FetalHeartRate, Lang::Ja) => "胎児心拍数",
            (K::Weight, Lang::Ja) => "体重",
            (K::GestationalAge, Lang::Ja) => "妊娠週数",
            (K::FundalHeight, Lang::Ja) => "子宮底長",
            (K::AbdominalCircumference, Lang::Ja) => "腹囲",
            (K::UrineProtein, Lang::Ja) => "尿蛋白",
            (K::UrineGlucose, Lang::Ja) => "尿糖",
            (K::Oedema, Lang::Ja) => "浮腫",
            (K::BodyTemperature, Lang::Ja) => "体温",
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// A measurement with the section it belongs to and its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vital {
    #[serde(flatten)]
    pub measurement: Measurement,
    pub section: Section,
    pub source: SourceSpan,
}

/// A value that was heard but not accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub kind: MeasurementKind,
    /// Why it was rejected, in English (stable for logs and tests).
    pub reason: String,
    pub source: SourceSpan,
}

/// Symptoms the structurer recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymptomKind {
    Headache,
    VisualDisturbance,
    EpigastricPain,
    Bleeding,
    LeakingFluid,
    ReducedFetalMovement,
    Contractions,
    Breathlessness,
    Seizure,
    Swelling,
    Nausea,
    AbdominalPain,
}

impl SymptomKind {
    /// Label in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        use SymptomKind as K;
        match (self, lang) {
            (K::Headache, Lang::En) => "headache",
            (K::VisualDisturbance, Lang::En) => "visual disturbance",
            (K::EpigastricPain, Lang::En) => "epigastric pain",
            (K::Bleeding, Lang::En) => "bleeding",
            (K::LeakingFluid, Lang::En) => "leaking fluid",
            (K::ReducedFetalMovement, Lang::En) => "reduced fetal movement",
            (K::Contractions, Lang::En) => "contractions",
            (K::Breathlessness, Lang::En) => "breathlessness",
            (K::Seizure, Lang::En) => "seizure",
            (K::Swelling, Lang::En) => "swelling",
            (K::Nausea, Lang::En) => "nausea",
            (K::AbdominalPain, Lang::En) => "abdominal pain",
            (K::Headache, Lang::Ja) => "頭痛",
            (K::VisualDisturbance, Lang::Ja) => "視覚異常",
            (K::EpigastricPain, Lang::Ja) => "心窩部痛",
            (K::Bleeding, Lang::Ja) => "出血",
            (K::LeakingFluid, Lang::Ja) => "羊水流出感",
            (K::ReducedFetalMovement, Lang::Ja) => "胎動減少",
            (K::Contractions, Lang::Ja) => "子宮収縮（お腹の張り）",
            (K::Breathlessness, Lang::Ja) => "呼吸困難",
            (K::Seizure, Lang::Ja) => "けいれん",
            (K::Swelling, Lang::Ja) => "むくみ",
            (K::Nausea, Lang::Ja) => "悪心",
            (K::AbdominalPain, Lang::Ja) => "腹痛",
        }
    }
}

/// How often a symptom occurs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frequency {
    pub count: f64,
    pub per: Period,
}

/// The period of a [`Frequency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Hour,
    Day,
    Week,
}

/// A symptom mentioned in the transcript, present or denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symptom {
    pub kind: SymptomKind,
    /// `false` when the transcript denies it ("no headache", 頭痛はありません).
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Frequency>,
    pub source: SourceSpan,
}

/// How urgently a red flag needs action (tiers of clinical.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Tell the clinic at the next contact.
    Advisory,
    /// Contact the clinic today.
    SameDay,
    /// Contact the hospital now.
    Emergency,
}

/// A finding that needs a clinician's attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedFlag {
    /// Stable identifier, e.g. `severe_hypertension_with_symptoms`.
    pub code: String,
    pub urgency: Urgency,
    /// Message in the note's language.
    pub message: String,
    /// The transcript spans the flag rests on.
    pub evidence: Vec<SourceSpan>,
}

/// Status of a note: a machine-made note is a draft until a clinician attests it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    Preliminary,
    Final,
}

/// Who or what generated the note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    pub name: String,
    pub version: String,
    pub method: String,
}

impl Default for Generator {
    fn default() -> Self {
        Self {
            name: "ai-notes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            method: "rule-based structuring of a transcript (no language model)".into(),
        }
    }
}

/// A structured SOAP draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoapNote {
    pub language: Lang,
    pub status: NoteStatus,
    pub generator: Generator,
    /// The transcript the spans index into.
    pub transcript: String,
    pub statements: Vec<Statement>,
    pub vitals: Vec<Vital>,
    pub symptoms: Vec<Symptom>,
    pub red_flags: Vec<RedFlag>,
    pub rejected: Vec<Rejected>,
}

impl SoapNote {
    /// Statements of one section, in transcript order.
    pub fn section(&self, section: Section) -> impl Iterator<Item = &Statement> {
        self.statements.iter().filter(move |s| s.section == section)
    }

    /// The first accepted measurement of `kind`.
    pub fn measurement(&self, kind: MeasurementKind) -> Option<&Measurement> {
        self.vitals.iter().map(|v| &v.measurement).find(|m| m.kind() == kind)
    }
}
