//! Her records, how they travel, and the conflict rule.
//!
//! Every record has an id the app generates (a UUID), so uploading the same change twice stores
//! it once. A change is an upsert (the whole record) or a deletion (a tombstone that keeps the
//! id), stamped with `updated_at`, the phone's time of the change.
//!
//! **Conflict rule** ([`decide`]): the change with the later `updated_at` wins, compared to the
//! millisecond. At the same instant a deletion beats an edit; two different edits at the same
//! instant are ordered by their canonical JSON, so every server and device picks the same one.
//! A change that loses is answered [`ItemOutcome::Superseded`]; the app then pulls the version
//! that won. Re-sending a change already stored is [`ItemOutcome::Unchanged`].

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What kind of record an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    BpReading,
    Checkup,
    Epds,
    Note,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [Self::BpReading, Self::Checkup, Self::Epds, Self::Note];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BpReading => "bp_reading",
            Self::Checkup => "checkup",
            Self::Epds => "epds",
            Self::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Which arm a reading was taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Left,
    Right,
    #[default]
    Unknown,
}

/// Morning and evening readings are averaged separately (JSH 2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    Morning,
    Evening,
    #[default]
    Other,
}

/// Warning symptoms of pre-eclampsia she can tick with a reading (clinical.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symptom {
    Headache,
    VisualDisturbance,
    EpigastricPain,
    Breathlessness,
    Seizure,
}

/// How a reading entered the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpSource {
    #[default]
    Manual,
    Cuff,
}

/// A home blood-pressure reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpReading {
    pub measured_at: DateTime<FixedOffset>,
    /// mmHg.
    pub systolic: f64,
    pub diastolic: f64,
    /// Beats per minute, when the cuff measured it.
    #[serde(default)]
    pub pulse: Option<f64>,
    #[serde(default)]
    pub arm: Arm,
    #[serde(default)]
    pub session: Session,
    #[serde(default)]
    pub symptoms: Vec<Symptom>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub source: BpSource,
    /// The cuff's identifier, for cuff readings.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// One prenatal check-up from her handbook. Dipstick values: `not_tested`, `negative`, `trace`,
/// `1+`, `2+`, `3+`; oedema: `not_checked`, `none`, `1+`, `2+`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkup {
    pub date: NaiveDate,
    #[serde(default)]
    pub facility: String,
    #[serde(default)]
    pub weight_kg: Option<f64>,
    #[serde(default)]
    pub systolic: Option<f64>,
    #[serde(default)]
    pub diastolic: Option<f64>,
    #[serde(default = "not_tested")]
    pub urine_protein: String,
    #[serde(default = "not_tested")]
    pub urine_glucose: String,
    #[serde(default)]
    pub fundal_height_cm: Option<f64>,
    #[serde(default)]
    pub abdominal_circumference_cm: Option<f64>,
    #[serde(default = "not_checked")]
    pub oedema: String,
    #[serde(default)]
    pub notes: String,
}

fn not_tested() -> String {
    "not_tested".into()
}
fn not_checked() -> String {
    "not_checked".into()
}

/// Dipstick results as the handbook writes them.
pub const DIPSTICK: [&str; 6] = ["not_tested", "negative", "trace", "1+", "2+", "3+"];
/// Oedema grades as the handbook writes them.
pub const OEDEMA: [&str; 4] = ["not_checked", "none", "1+", "2+"];

/// A completed Edinburgh Postnatal Depression Scale. The server scores it ([`crate::rules`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Epds {
    pub taken_at: DateTime<FixedOffset>,
    /// The option she chose for each of the ten items, as displayed (0 = first option).
    pub answers: [u8; 10],
}

/// How a note was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteOrigin {
    #[default]
    Typed,
    /// Dictated; transcribed and drafted by ai-notes on the phone.
    DictatedOnPhone,
    /// Dictated; the audio was transcribed and drafted by the server.
    DictatedOnServer,
}

/// The four parts of a SOAP note.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoapText {
    #[serde(default)]
    pub subjective: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub assessment: String,
    #[serde(default)]
    pub plan: String,
}

/// A note of hers (a question for the midwife, how she feels, a dictated SOAP draft she checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub written_at: DateTime<FixedOffset>,
    /// `ja` or `en`.
    pub lang: String,
    /// Her words, or the transcript of her dictation.
    pub text: String,
    /// The SOAP draft made from a dictation, as she checked it.
    #[serde(default)]
    pub soap: Option<SoapText>,
    #[serde(default)]
    pub origin: NoteOrigin,
    /// She read the draft and agreed it says what she meant.
    #[serde(default)]
    pub checked_by_her: bool,
}

/// A record with its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Record {
    BpReading(BpReading),
    Checkup(Checkup),
    Epds(Epds),
    Note(Note),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::BpReading(_) => RecordKind::BpReading,
            Self::Checkup(_) => RecordKind::Checkup,
            Self::Epds(_) => RecordKind::Epds,
            Self::Note(_) => RecordKind::Note,
        }
    }

    /// The record's own data as JSON (what `data` carries on the wire).
    pub fn data(&self) -> Value {
        let v = match self {
            Self::BpReading(r) => serde_json::to_value(r),
            Self::Checkup(r) => serde_json::to_value(r),
            Self::Epds(r) => serde_json::to_value(r),
            Self::Note(r) => serde_json::to_value(r),
        };
        v.unwrap_or(Value::Null)
    }

    /// Parses `data` as a record of `kind`.
    pub fn from_data(kind: RecordKind, data: Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            RecordKind::BpReading => Self::BpReading(serde_json::from_value(data)?),
            RecordKind::Checkup => Self::Checkup(serde_json::from_value(data)?),
            RecordKind::Epds => Self::Epds(serde_json::from_value(data)?),
            RecordKind::Note => Self::Note(serde_json::from_value(data)?),
        })
    }

    /// When the thing the record describes happened (for ordering and display).
    pub fn occurred_at(&self) -> DateTime<FixedOffset> {
        match self {
            Self::BpReading(r) => r.measured_at,
            Self::Checkup(c) => {
                let utc = FixedOffset::east_opt(0).expect("zero offset");
                utc.from_utc_datetime(&c.date.and_hms_opt(0, 0, 0).unwrap_or_default())
            }
            Self::Epds(e) => e.taken_at,
            Self::Note(n) => n.written_at,
        }
    }
}

/// One change in an upload batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadItem {
    pub id: Uuid,
    pub kind: RecordKind,
    /// When the change was made on the phone.
    pub updated_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub deleted: bool,
    /// The whole record (absent for a deletion).
    #[serde(default)]
    pub data: Option<Value>,
}

/// `POST /phr/v1/records`: changes in the order they were made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub items: Vec<UploadItem>,
}

/// What happened to one uploaded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Stored (new, newer, or a deletion).
    Stored,
    /// Exactly this change was already stored: nothing changed.
    Unchanged,
    /// A newer change to this record is stored; pull to get it.
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: Uuid,
    pub outcome: ItemOutcome,
}

/// The answer to an upload: one result per item, in order. A batch is stored whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub results: Vec<ItemResult>,
}

/// One record as the server holds it, for `GET /phr/v1/records?after=CURSOR`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadItem {
    /// The server's change number for her records; pass the last one seen as `after`.
    pub seq: i64,
    pub id: Uuid,
    pub kind: RecordKind,
    pub updated_at: DateTime<FixedOffset>,
    pub deleted: bool,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadResponse {
    pub items: Vec<DownloadItem>,
    /// The `after` for the next page (unchanged when there was nothing new).
    pub next_cursor: i64,
    /// More pages wait.
    pub more: bool,
}

/// Why an uploaded item is refused: the field (a JSON path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError { field: field.into(), message: message.into() }
}

/// Plausible physiological ranges: outside them a value cannot be a real measurement.
pub mod limits {
    pub const SYSTOLIC: [f64; 2] = [40.0, 300.0];
    pub const DIASTOLIC: [f64; 2] = [20.0, 200.0];
    pub const PULSE: [f64; 2] = [20.0, 250.0];
    pub const WEIGHT_KG: [f64; 2] = [25.0, 250.0];
    pub const FUNDAL_HEIGHT_CM: [f64; 2] = [5.0, 60.0];
    pub const ABDOMINAL_CIRCUMFERENCE_CM: [f64; 2] = [40.0, 200.0];
    /// Free text, in characters.
    pub const SHORT_TEXT: usize = 200;
    pub const NOTE_TEXT: usize = 20_000;
    /// Times before this are refused (no record of this system predates it).
    pub const EARLIEST_YEAR: i32 = 2000;
    /// How far ahead of the server's clock a phone's clock may be.
    pub const CLOCK_SKEW_HOURS: i64 = 24;
}

fn in_range(field: &str, x: f64, [lo, hi]: [f64; 2], unit: &str) -> Result<(), ValidationError> {
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(())
    } else {
        Err(bad(field, format!("{x} {unit} is outside {lo}–{hi} {unit}")))
    }
}

fn opt_range(field: &str, x: Option<f64>, r: [f64; 2], unit: &str) -> Result<(), ValidationError> {
    x.map_or(Ok(()), |x| in_range(field, x, r, unit))
}

fn text(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.chars().count() > max {
        return Err(bad(field, format!("longer than {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(bad(field, "contains control characters"));
    }
    Ok(())
}

fn time(field: &str, t: DateTime<FixedOffset>, now: DateTime<Utc>) -> Result<(), ValidationError> {
    let latest = now + Duration::hours(limits::CLOCK_SKEW_HOURS);
    let earliest = Utc.with_ymd_and_hms(limits::EARLIEST_YEAR, 1, 1, 0, 0, 0).single();
    if t.with_timezone(&Utc) > latest {
        return Err(bad(field, format!("{} is in the future", t.to_rfc3339())));
    }
    if earliest.is_some_and(|e| t.with_timezone(&Utc) < e) {
        return Err(bad(field, format!("{} is before {}", t.to_rfc3339(), limits::EARLIEST_YEAR)));
    }
    Ok(())
}

fn one_of(field: &str, s: &str, allowed: &[&str]) -> Result<(), ValidationError> {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(bad(field, format!("{s:?} is not one of {}", allowed.join(", "))))
    }
}

impl BpReading {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        time("measured_at", self.measured_at, now)?;
        in_range("systolic", self.systolic, limits::SYSTOLIC, "mmHg")?;
        in_range("diastolic", self.diastolic, limits::DIASTOLIC, "mmHg")?;
        if self.diastolic >= self.systolic {
            return Err(bad(
                "diastolic",
                format!("{} mmHg is not below systolic {} mmHg", self.diastolic, self.systolic),
            ));
        }
        opt_range("pulse", self.pulse, limits::PULSE, "/min")?;
        text("note", &self.note, limits::SHORT_TEXT * 5)?;
        if let Some(d) = &self.device_id {
            text("device_id", d, limits::SHORT_TEXT)?;
        }
        Ok(())
    }
}

impl Checkup {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        let midnight = FixedOffset::east_opt(0)
            .and_then(|z| z.from_local_datetime(&self.date.and_hms_opt(0, 0, 0)?).single());
        if let Some(t) = midnight {
            time("date", t, now)?;
        }
        text("facility", &self.facility, limits::SHORT_TEXT)?;
        opt_range("weight_kg", self.weight_kg, limits::WEIGHT_KG, "kg")?;
        opt_range("systolic", self.systolic, limits::SYSTOLIC, "mmHg")?;
        opt_range("diastolic", self.diastolic, limits::DIASTOLIC, "mmHg")?;
        if let (Some(s), Some(d)) = (self.systolic, self.diastolic)
            && d >= s
        {
            return Err(bad("diastolic", format!("{d} mmHg is not below systolic {s} mmHg")));
        }
        one_of("urine_protein", &self.urine_protein, &DIPSTICK)?;
        one_of("urine_glucose", &self.urine_glucose, &DIPSTICK)?;
        opt_range("fundal_height_cm", self.fundal_height_cm, limits::FUNDAL_HEIGHT_CM, "cm")?;
        opt_range(
            "abdominal_circumference_cm",
            self.abdominal_circumference_cm,
            limits::ABDOMINAL_CIRCUMFERENCE_CM,
            "cm",
        )?;
        one_of("oedema", &self.oedema, &OEDEMA)?;
        text("notes", &self.notes, limits::SHORT_TEXT * 10)
    }
}

impl Epds {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        time("taken_at", self.taken_at, now)?;
        for (i, a) in self.answers.iter().enumerate() {
            if *a > 3 {
                return Err(bad(
                    format!("answers[{i}]"),
                    format!("option {a} does not exist (0–3)"),
                ));
            }
        }
        Ok(())
    }
}

impl Note {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        time("written_at", self.written_at, now)?;
        one_of("lang", &self.lang, &["ja", "en"])?;
        text("text", &self.text, limits::NOTE_TEXT)?;
        if let Some(s) = &self.soap {
            for (f, v) in [
                ("soap.subjective", &s.subjective),
                ("soap.objective", &s.objective),
                ("soap.assessment", &s.assessment),
                ("soap.plan", &s.plan),
            ] {
                text(f, v, limits::NOTE_TEXT)?;
            }
        }
        if self.text.trim().is_empty() && self.soap.is_none() {
            return Err(bad("text", "a note needs text"));
        }
        Ok(())
    }
}

impl Record {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        match self {
            Self::BpReading(r) => r.validate(now),
            Self::Checkup(c) => c.validate(now),
            Self::Epds(e) => e.validate(now),
            Self::Note(n) => n.validate(now),
        }
    }
}

/// An uploaded change that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidChange {
    pub id: Uuid,
    pub kind: RecordKind,
    pub updated_at: DateTime<FixedOffset>,
    /// `None` for a deletion.
    pub record: Option<Record>,
}

impl ValidChange {
    /// The stored form of the record's data: canonical JSON (`None` for a deletion).
    pub fn canonical_data(&self) -> Option<String> {
        self.record.as_ref().map(|r| r.data().to_string())
    }
}

impl UploadItem {
    /// Checks the item: a record whose data matches its kind and is plausible, or a deletion
    /// without data. Field names in errors are relative to the item.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ValidChange, ValidationError> {
        time("updated_at", self.updated_at, now)?;
        let record = match (self.deleted, &self.data) {
            (true, None) => None,
            (true, Some(_)) => return Err(bad("data", "a deletion carries no data")),
            (false, None) => return Err(bad("data", "missing (only a deletion has no data)")),
            (false, Some(d)) => {
                let r = Record::from_data(self.kind, d.clone())
                    .map_err(|e| bad("data", e.to_string()))?;
                r.validate(now).map_err(|e| bad(format!("data.{}", e.field), e.message))?;
                Some(r)
            }
        };
        Ok(ValidChange { id: self.id, kind: self.kind, updated_at: self.updated_at, record })
    }
}

impl UploadRequest {
    /// Validates every item; the first bad one refuses the whole batch (nothing is stored), its
    /// field named as `items[i].…`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Vec<ValidChange>, ValidationError> {
        if self.items.len() > crate::MAX_BATCH_ITEMS {
            return Err(bad(
                "items",
                format!("{} items; at most {} per batch", self.items.len(), crate::MAX_BATCH_ITEMS),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                if !seen.insert(item.id) {
                    return Err(bad(format!("items[{i}].id"), "the same id twice in one batch"));
                }
                item.validate(now).map_err(|e| bad(format!("items[{i}].{}", e.field), e.message))
            })
            .collect()
    }
}

/// The stored version of a record, as far as the conflict rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion<'a> {
    pub updated_ms: i64,
    pub deleted: bool,
    /// Canonical JSON of the data (`None` when deleted).
    pub data: Option<&'a str>,
}

/// What to do with an incoming change given the stored version (see the module documentation).
pub fn decide(stored: Option<&StoredVersion<'_>>, incoming: &StoredVersion<'_>) -> ItemOutcome {
    let Some(s) = stored else { return ItemOutcome::Stored };
    if incoming.updated_ms != s.updated_ms {
        return if incoming.updated_ms > s.updated_ms {
            ItemOutcome::Stored
        } else {
            ItemOutcome::Superseded
        };
    }
    match (s.deleted, incoming.deleted) {
        (true, true) => ItemOutcome::Unchanged,
        (false, true) => ItemOutcome::Stored,
        (true, false) => ItemOutcome::Superseded,
        (false, false) if s.data == incoming.data => ItemOutcome::Unchanged,
        (false, false) if incoming.data > s.data => ItemOutcome::Stored,
        (false, false) => ItemOutcome::Superseded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn bp_item(sys: f64, dia: f64) -> UploadItem {
        UploadItem {
            id: Uuid::from_u128(1),
            kind: RecordKind::BpReading,
            updated_at: "2026-11-21T08:00:00+09:00".parse().unwrap(),
            deleted: false,
            data: Some(json!({
                "measured_at": "2026-11-21T07:55:00+09:00",
                "systolic": sys, "diastolic": dia, "pulse": 72,
                "session": "morning", "symptoms": ["headache"]
            })),
        }
    }

    #[test]
    fn a_plausible_reading_passes_and_keeps_its_values() {
        let c = bp_item(142.0, 91.0).validate(now()).unwrap();
        let Some(Record::BpReading(r)) = c.record else { panic!("not a reading") };
        assert_eq!((r.systolic, r.diastolic, r.pulse), (142.0, 91.0, Some(72.0)));
        assert_eq!(r.symptoms, vec![Symptom::Headache]);
        assert_eq!(r.session, Session::Morning);
    }

    #[test]
    fn impossible_values_name_the_field() {
        let e = bp_item(420.0, 90.0).validate(now()).unwrap_err();
        assert_eq!(e.field, "data.systolic");
        assert!(e.message.contains("outside 40–300"), "{e}");
        let e = bp_item(90.0, 120.0).validate(now()).unwrap_err();
        assert_eq!(e.field, "data.diastolic");
        let mut i = bp_item(120.0, 80.0);
        i.data.as_mut().unwrap()["systolic"] = json!("high");
        assert_eq!(i.validate(now()).unwrap_err().field, "data");
        i = bp_item(120.0, 80.0);
        i.data.as_mut().unwrap()["measured_at"] = json!("2030-01-01T00:00:00Z");
        assert!(i.validate(now()).unwrap_err().message.contains("future"));
        i = bp_item(120.0, 80.0);
        i.data.as_mut().unwrap()["extra"] = json!(1);
        assert!(i.validate(now()).unwrap_err().message.contains("unknown field"));
    }

    #[test]
    fn nan_and_infinity_are_not_values() {
        assert!(in_range("x", f64::NAN, limits::SYSTOLIC, "mmHg").is_err());
        assert!(in_range("x", f64::INFINITY, limits::SYSTOLIC, "mmHg").is_err());
    }

    #[test]
    fn deletions_carry_no_data_and_records_need_it() {
        let mut i = bp_item(120.0, 80.0);
        i.deleted = true;
        assert_eq!(i.validate(now()).unwrap_err().field, "data");
        i.data = None;
        assert_eq!(i.validate(now()).unwrap().record, None);
        i.deleted = false;
        assert_eq!(i.validate(now()).unwrap_err().field, "data");
    }

    #[test]
    fn a_batch_is_refused_by_its_first_bad_item_with_its_index() {
        let mut second = bp_item(120.0, 80.0);
        second.id = Uuid::from_u128(2);
        second.data.as_mut().unwrap()["pulse"] = json!(900);
        let req = UploadRequest { items: vec![bp_item(120.0, 80.0), second] };
        assert_eq!(req.validate(now()).unwrap_err().field, "items[1].data.pulse");
        let dup = UploadRequest { items: vec![bp_item(120.0, 80.0), bp_item(121.0, 80.0)] };
        assert_eq!(dup.validate(now()).unwrap_err().field, "items[1].id");
    }

    #[test]
    fn epds_and_checkup_and_note_checks() {
        let e = Epds {
            taken_at: "2026-11-20T10:00:00+09:00".parse().unwrap(),
            answers: [0, 1, 2, 3, 0, 1, 2, 3, 0, 4],
        };
        assert_eq!(e.validate(now()).unwrap_err().field, "answers[9]");
        let c: Checkup = serde_json::from_value(
            json!({"date": "2026-11-01", "urine_protein": "2+", "weight_kg": 61.5}),
        )
        .unwrap();
        assert_eq!(c.validate(now()), Ok(()));
        let c2 = Checkup { urine_protein: "lots".into(), ..c };
        assert_eq!(c2.validate(now()).unwrap_err().field, "urine_protein");
        let n = Note {
            written_at: "2026-11-20T10:00:00+09:00".parse().unwrap(),
            lang: "fr".into(),
            text: "x".into(),
            soap: None,
            origin: NoteOrigin::Typed,
            checked_by_her: false,
        };
        assert_eq!(n.validate(now()).unwrap_err().field, "lang");
    }

    #[test]
    fn records_round_trip_through_the_wire() {
        let c = bp_item(130.0, 85.0).validate(now()).unwrap();
        let r = c.record.unwrap();
        let back =
            Record::from_data(r.kind(), serde_json::from_str(&r.data().to_string()).unwrap())
                .unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn conflict_rule() {
        let v = |ms, deleted, data: Option<&'static str>| StoredVersion {
            updated_ms: ms,
            deleted,
            data,
        };
        assert_eq!(decide(None, &v(1, false, Some("a"))), ItemOutcome::Stored);
        assert_eq!(
            decide(Some(&v(1, false, Some("a"))), &v(2, false, Some("b"))),
            ItemOutcome::Stored
        );
        assert_eq!(
            decide(Some(&v(2, false, Some("a"))), &v(1, false, Some("b"))),
            ItemOutcome::Superseded
        );
        assert_eq!(
            decide(Some(&v(2, false, Some("a"))), &v(2, false, Some("a"))),
            ItemOutcome::Unchanged
        );
        assert_eq!(decide(Some(&v(2, false, Some("a"))), &v(2, true, None)), ItemOutcome::Stored);
        assert_eq!(
            decide(Some(&v(2, true, None)), &v(2, false, Some("a"))),
            ItemOutcome::Superseded
        );
        assert_eq!(decide(Some(&v(2, true, None)), &v(2, true, None)), ItemOutcome::Unchanged);
        // Same instant, different edits: the same winner whichever arrives first.
        let (a, b) = (v(2, false, Some("a")), v(2, false, Some("b")));
        assert_eq!(decide(Some(&a), &b), ItemOutcome::Stored);
        assert_eq!(decide(Some(&b), &a), ItemOutcome::Superseded);
    }
}
