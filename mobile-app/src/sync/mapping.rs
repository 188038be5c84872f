//! Her records on the phone and the records of the PHR API, mapped both ways. The phone keeps
//! more than the API carries (the tier it showed, the cuff's own clock and status bits); a record
//! pulled from another device gets its tier recomputed from the values with this app's
//! thresholds.

use phr_wire::records::{self as wire, Record, RecordKind};

use crate::clinical::bp::{BpValues, values_tier};
use crate::clinical::epds;
use crate::config::AppConfig;
use crate::model::{
    Arm, CheckupData, Dipstick, NewReading, Oedema, Session, Source, Symptoms, Tier,
};
use crate::store::{LocalRecord, RemoteChange};

/// The outbox's table name for a record kind, `None` for kinds the phone does not keep.
pub fn table_of(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::BpReading => Some("bp_reading"),
        RecordKind::Checkup => Some("checkup"),
        RecordKind::Epds => Some("epds"),
        RecordKind::Note => Some("note"),
    }
}

/// The record kind of an outbox table, `None` for what is not synced (her profile stays on the
/// phone: the clinic knows her by her account).
pub fn kind_of(table: &str) -> Option<RecordKind> {
    match table {
        "bp_reading" => Some(RecordKind::BpReading),
        "checkup" => Some(RecordKind::Checkup),
        "epds" => Some(RecordKind::Epds),
        "note" => Some(RecordKind::Note),
        _ => None,
    }
}

const SYMPTOMS: [(Symptoms, wire::Symptom); 5] = [
    (Symptoms::HEADACHE, wire::Symptom::Headache),
    (Symptoms::VISUAL_DISTURBANCE, wire::Symptom::VisualDisturbance),
    (Symptoms::EPIGASTRIC_PAIN, wire::Symptom::EpigastricPain),
    (Symptoms::BREATHLESSNESS, wire::Symptom::Breathlessness),
    (Symptoms::SEIZURE, wire::Symptom::Seizure),
];

/// A stored record as the API carries it.
pub fn to_wire(record: &LocalRecord) -> Record {
    match record {
        LocalRecord::Reading(r) => {
            let d = &r.data;
            let (source, device_id) = match &d.source {
                Source::Manual => (wire::BpSource::Manual, None),
                Source::Cuff { device_id, .. } => (wire::BpSource::Cuff, Some(device_id.clone())),
            };
            Record::BpReading(wire::BpReading {
                measured_at: d.measured_at,
                systolic: d.systolic,
                diastolic: d.diastolic,
                pulse: d.pulse,
                arm: match d.arm {
                    Arm::Left => wire::Arm::Left,
                    Arm::Right => wire::Arm::Right,
                    Arm::Unknown => wire::Arm::Unknown,
                },
                session: match d.session {
                    Session::Morning => wire::Session::Morning,
                    Session::Evening => wire::Session::Evening,
                    Session::Other => wire::Session::Other,
                },
                symptoms: SYMPTOMS
                    .iter()
                    .filter(|(s, _)| d.symptoms.contains(*s))
                    .map(|(_, w)| *w)
                    .collect(),
                note: d.note.clone(),
                source,
                device_id,
            })
        }
        LocalRecord::Checkup(c) => {
            let c = &c.data;
            Record::Checkup(wire::Checkup {
                date: c.date,
                facility: c.facility.clone(),
                weight_kg: c.weight_kg,
                systolic: c.systolic,
                diastolic: c.diastolic,
                urine_protein: c.urine_protein.as_str().to_string(),
                urine_glucose: c.urine_glucose.as_str().to_string(),
                fundal_height_cm: c.fundal_height_cm,
                abdominal_circumference_cm: c.abdominal_circumference_cm,
                oedema: c.oedema.as_str().to_string(),
                notes: c.notes.clone(),
            })
        }
        LocalRecord::Epds(e) => {
            Record::Epds(wire::Epds { taken_at: e.taken_at, answers: e.answers })
        }
        LocalRecord::Note(n) => Record::Note(n.note.clone()),
    }
}

/// Why a pulled record cannot be kept on the phone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {id}: {what}")]
pub struct Unusable {
    pub id: uuid::Uuid,
    pub what: String,
}

/// A pulled record as the phone stores it.
pub fn from_wire(
    id: uuid::Uuid,
    updated_ms: i64,
    record: Record,
    config: &AppConfig,
) -> Result<RemoteChange, Unusable> {
    let unusable = |what: String| Unusable { id, what };
    Ok(match record {
        Record::BpReading(r) => {
            let symptoms = SYMPTOMS
                .iter()
                .filter(|(_, w)| r.symptoms.contains(w))
                .fold(Symptoms::none(), |acc, (s, _)| acc.with(*s, true));
            let values = BpValues { systolic: r.systolic, diastolic: r.diastolic, pulse: r.pulse };
            let tier = if symptoms.any() {
                Tier::Emergency
            } else {
                values_tier(values, &config.blood_pressure)
            };
            let source = match r.source {
                wire::BpSource::Manual => Source::Manual,
                wire::BpSource::Cuff => Source::Cuff {
                    device_id: r.device_id.unwrap_or_default(),
                    device_time: None,
                    clock_untrusted: false,
                    status: None,
                    user_id: None,
                },
            };
            let data = NewReading {
                measured_at: r.measured_at,
                systolic: r.systolic,
                diastolic: r.diastolic,
                pulse: r.pulse,
                mean_arterial: None,
                arm: match r.arm {
                    wire::Arm::Left => Arm::Left,
                    wire::Arm::Right => Arm::Right,
                    wire::Arm::Unknown => Arm::Unknown,
                },
                session: match r.session {
                    wire::Session::Morning => Session::Morning,
                    wire::Session::Evening => Session::Evening,
                    wire::Session::Other => Session::Other,
                },
                symptoms,
                note: r.note,
                source,
            };
            RemoteChange::Reading { id, updated_ms, data, tier }
        }
        Record::Checkup(c) => {
            let dip = |field: &str, v: &str| {
                Dipstick::parse(v).ok_or_else(|| unusable(format!("{field} {v:?}")))
            };
            let data = CheckupData {
                date: c.date,
                facility: c.facility,
                weight_kg: c.weight_kg,
                systolic: c.systolic,
                diastolic: c.diastolic,
                urine_protein: dip("urine_protein", &c.urine_protein)?,
                urine_glucose: dip("urine_glucose", &c.urine_glucose)?,
                fundal_height_cm: c.fundal_height_cm,
                abdominal_circumference_cm: c.abdominal_circumference_cm,
                oedema: Oedema::parse(&c.oedema)
                    .ok_or_else(|| unusable(format!("oedema {:?}", c.oedema)))?,
                notes: c.notes,
            };
            RemoteChange::Checkup { id, updated_ms, data }
        }
        Record::Epds(e) => {
            let score = epds::score(&e.answers.map(Some), config.epds.cutoff)
                .map_err(|err| unusable(err.to_string()))?;
            RemoteChange::Epds {
                id,
                updated_ms,
                taken_at: e.taken_at,
                answers: e.answers,
                total: score.total,
                item10: score.item10,
            }
        }
        // Kept as the API carries it; the server validated it, and so does the schema.
        Record::Note(note) => RemoteChange::Note { id, updated_ms, note },
    })
}
