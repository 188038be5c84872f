//! Export of all her data: the app's own JSON (complete and lossless) and an HL7 FHIR R4 Bundle
//! (what a clinic system can import), both built from the store in one pass.
//!
//! FHIR codes follow standards-and-security.md §1: blood pressure LOINC 85354-9 with components
//! 8480-6 / 8462-4 in `mm[Hg]` (profile `bp`), pulse 8867-4, body weight 29463-7, fundal height
//! 11881-0, gestational age 11884-4; urine protein 20454-5 and glucose 25428-4 (test strip). Items
//! without a verified code (abdominal circumference, oedema, symptoms, the app's tier, EPDS) use the
//! app's own code system [`LOCAL_CODES`], documented in the README.

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use crate::clinical::pregnancy;
use crate::model::{
    Arm, Checkup, Dipstick, EpdsRecord, Oedema, PairedCuff, Profile, Reading, Source,
};
use crate::store::{Store, StoreError};

/// Identifies the JSON export format.
pub const JSON_FORMAT: &str = "mobile-app-phr-export";
pub const JSON_VERSION: u32 = 1;
/// The app's code system for items without a verified standard code.
pub const LOCAL_CODES: &str = "urn:mobile-app:fhir:codes";
/// The identifier system for cuffs (their Bluetooth id).
pub const DEVICE_ID_SYSTEM: &str = "urn:mobile-app:ble-device-id";

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";

/// Everything stored, read in one go.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub profile: Profile,
    pub readings: Vec<Reading>,
    pub checkups: Vec<Checkup>,
    pub epds: Vec<EpdsRecord>,
    pub cuffs: Vec<PairedCuff>,
}

impl Snapshot {
    pub fn read(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            profile: store.profile()?,
            readings: store.all_readings()?,
            checkups: store.checkups()?,
            epds: store.epds_records()?,
            cuffs: store.paired_cuffs()?,
        })
    }

    /// Number of records (the profile counts as one once filled in).
    pub fn record_count(&self) -> usize {
        let profile = usize::from(self.profile != Profile::default());
        profile + self.readings.len() + self.checkups.len() + self.epds.len() + self.cuffs.len()
    }
}

/// The app's own export: every field of every record.
pub fn to_json(s: &Snapshot, exported_at: DateTime<FixedOffset>) -> Value {
    json!({
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "exported_at": exported_at.to_rfc3339(),
        "profile": s.profile,
        "blood_pressure": s.readings,
        "checkups": s.checkups,
        "epds": s.epds,
        "paired_cuffs": s.cuffs,
    })
}

fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": code })
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }], "text": display })
}

fn vital_signs() -> Value {
    json!([concept(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        "Vital Signs"
    )])
}

fn urn(id: impl std::fmt::Display) -> String {
    format!("urn:uuid:{id}")
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

fn dipstick(d: Dipstick) -> Option<Value> {
    (d != Dipstick::NotTested)
        .then(|| concept(LOCAL_CODES, &format!("dipstick-{}", d.as_str()), d.symbol()))
}

/// The FHIR R4 Bundle (type `collection`) of everything stored. Resource ids are the records'
/// UUIDs, so exporting twice gives the same ids.
pub fn to_fhir(s: &Snapshot, exported_at: DateTime<FixedOffset>, patient_id: uuid::Uuid) -> Value {
    let patient_url = urn(patient_id);
    let patient_ref = json!({ "reference": patient_url });
    let mut entries = vec![entry(
        &patient_url,
        json!({
            "resourceType": "Patient",
            "id": patient_id.to_string(),
            "name": if s.profile.display_name.is_empty() { json!([]) } else { json!([{ "text": s.profile.display_name }]) },
            "gender": "female",
        }),
    )];

    // Cuffs: every paired one, and any that appears on a reading.
    let mut devices: Vec<(String, String)> =
        s.cuffs.iter().map(|c| (c.device_id.clone(), c.name.clone())).collect();
    for r in &s.readings {
        if let Source::Cuff { device_id, .. } = &r.data.source
            && !devices.iter().any(|(id, _)| id == device_id)
        {
            devices.push((device_id.clone(), String::new()));
        }
    }
    let device_url = |id: &str| format!("urn:mobile-app:device:{id}");
    for (id, name) in &devices {
        let mut device = json!({
            "resourceType": "Device",
            "identifier": [{ "system": DEVICE_ID_SYSTEM, "value": id }],
            "type": concept(SNOMED, "70665002", "Blood pressure cuff"),
            "patient": patient_ref,
        });
        if !name.is_empty() {
            device["deviceName"] = json!([{ "name": name, "type": "user-friendly-name" }]);
        }
        entries.push(entry(&device_url(id), device));
    }

    for r in &s.readings {
        let d = &r.data;
        let mut obs = json!({
            "resourceType": "Observation",
            "id": r.id.to_string(),
            "meta": { "profile": ["http://hl7.org/fhir/StructureDefinition/bp"] },
            "status": "final",
            "category": vital_signs(),
            "code": concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
            "subject": patient_ref,
            "performer": [patient_ref],
            "effectiveDateTime": d.measured_at.to_rfc3339(),
            "component": [
                { "code": concept(LOINC, "8480-6", "Systolic blood pressure"),
                  "valueQuantity": quantity(d.systolic, "mmHg", "mm[Hg]") },
                { "code": concept(LOINC, "8462-4", "Diastolic blood pressure"),
                  "valueQuantity": quantity(d.diastolic, "mmHg", "mm[Hg]") },
            ],
            "interpretation": [concept(LOCAL_CODES, &format!("bp-tier-{}", r.tier.as_str()), r.tier.as_str())],
        });
        let mut notes = Vec::new();
        if !d.note.is_empty() {
            notes.push(json!({ "text": d.note }));
        }
        if let Some(components) = obs["component"].as_array_mut() {
            for code in d.symptoms.codes() {
                let code_concept = concept(LOCAL_CODES, &format!("symptom-{code}"), code);
                components.push(json!({ "code": code_concept, "valueBoolean": true }));
            }
        }
        match d.arm {
            Arm::Left => obs["bodySite"] = concept(SNOMED, "368208006", "Left upper arm structure"),
            Arm::Right => {
                obs["bodySite"] = concept(SNOMED, "368209003", "Right upper arm structure")
            }
            Arm::Unknown => {}
        }
        if let Source::Cuff { device_id, clock_untrusted, device_time, .. } = &d.source {
            obs["device"] = json!({ "reference": device_url(device_id) });
            if *clock_untrusted {
                notes.push(json!({ "text": format!(
                    "Cuff clock implausible ({}); time of receipt recorded instead.",
                    device_time.as_deref().unwrap_or("none")
                ) }));
            }
        }
        if !notes.is_empty() {
            obs["note"] = Value::Array(notes);
        }
        entries.push(entry(&urn(r.id), obs));
        if let Some(pulse) = d.pulse {
            // A separate vital sign (heart-rate profile); its id is derived so re-exports agree.
            let id = format!("{}-pulse", r.id);
            let mut hr = json!({
                "resourceType": "Observation",
                "id": id,
                "meta": { "profile": ["http://hl7.org/fhir/StructureDefinition/heartrate"] },
                "status": "final",
                "category": vital_signs(),
                "code": concept(LOINC, "8867-4", "Heart rate"),
                "subject": patient_ref,
                "performer": [patient_ref],
                "effectiveDateTime": d.measured_at.to_rfc3339(),
                "valueQuantity": quantity(pulse, "/min", "/min"),
                "derivedFrom": [{ "reference": urn(r.id) }],
            });
            if let Source::Cuff { device_id, .. } = &d.source {
                hr["device"] = json!({ "reference": device_url(device_id) });
            }
            entries.push(entry(&format!("urn:mobile-app:observation:{id}"), hr));
        }
    }

    for c in &s.checkups {
        let d = &c.data;
        let enc_url = urn(c.id);
        let mut encounter = json!({
            "resourceType": "Encounter",
            "id": c.id.to_string(),
            "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory" },
            "type": [concept(LOCAL_CODES, "prenatal-checkup", "Prenatal check-up")],
            "subject": patient_ref,
            "period": { "start": d.date.to_string(), "end": d.date.to_string() },
        });
        if !d.facility.is_empty() {
            encounter["serviceProvider"] = json!({ "display": d.facility });
        }
        entries.push(entry(&enc_url, encounter));
        let mut n = 0;
        let mut observation = |code: Value, value: (&str, Value), vital: bool| {
            n += 1;
            let id = format!("{}-{n}", c.id);
            let mut obs = json!({
                "resourceType": "Observation",
                "id": id,
                "status": "final",
                "code": code,
                "subject": patient_ref,
                "encounter": { "reference": enc_url },
                "effectiveDateTime": d.date.to_string(),
            });
            obs[value.0] = value.1;
            if vital {
                obs["category"] = vital_signs();
            }
            entry(&format!("urn:mobile-app:observation:{id}"), obs)
        };
        let mut push = Vec::new();
        if let Some(w) = d.weight_kg {
            push.push(observation(
                concept(LOINC, "29463-7", "Body weight"),
                ("valueQuantity", quantity(w, "kg", "kg")),
                true,
            ));
        }
        if let (Some(sys), Some(dia)) = (d.systolic, d.diastolic) {
            push.push(observation(
                concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
                (
                    "component",
                    json!([
                        { "code": concept(LOINC, "8480-6", "Systolic blood pressure"), "valueQuantity": quantity(sys, "mmHg", "mm[Hg]") },
                        { "code": concept(LOINC, "8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(dia, "mmHg", "mm[Hg]") },
                    ]),
                ),
                true,
            ));
        }
        if let Some(v) = dipstick(d.urine_protein) {
            push.push(observation(
                concept(LOINC, "20454-5", "Protein [Presence] in Urine by Test strip"),
                ("valueCodeableConcept", v),
                false,
            ));
        }
        if let Some(v) = dipstick(d.urine_glucose) {
            push.push(observation(
                concept(LOINC, "25428-4", "Glucose [Presence] in Urine by Test strip"),
                ("valueCodeableConcept", v),
                false,
            ));
        }
        if let Some(f) = d.fundal_height_cm {
            push.push(observation(
                concept(LOINC, "11881-0", "Uterus Fundal height Tape measure"),
                ("valueQuantity", quantity(f, "cm", "cm")),
                false,
            ));
        }
        if let Some(a) = d.abdominal_circumference_cm {
            push.push(observation(
                concept(LOCAL_CODES, "abdominal-circumference", "Abdominal circumference"),
                ("valueQuantity", quantity(a, "cm", "cm")),
                false,
            ));
        }
        if d.oedema != Oedema::NotChecked {
            push.push(observation(
                concept(LOCAL_CODES, "oedema", "Oedema"),
                (
                    "valueCodeableConcept",
                    concept(
                        LOCAL_CODES,
                        &format!("oedema-{}", d.oedema.as_str()),
                        d.oedema.symbol(),
                    ),
                ),
                false,
            ));
        }
        if let Some((weeks, days)) =
            s.profile.due_date.and_then(|due| pregnancy::gestational_age(due, d.date))
        {
            let w = f64::from(weeks) + f64::from(days) / 7.0;
            push.push(observation(
                concept(LOINC, "11884-4", "Gestational age Estimated"),
                ("valueQuantity", quantity((w * 100.0).round() / 100.0, "wk", "wk")),
                false,
            ));
        }
        if !d.notes.is_empty() {
            push.push(observation(
                concept(LOCAL_CODES, "checkup-notes", "Check-up notes"),
                ("valueString", json!(d.notes)),
                false,
            ));
        }
        entries.extend(push);
    }

    for e in &s.epds {
        let id = e.id.to_string();
        let items: Vec<Value> = e
            .answers
            .iter()
            .enumerate()
            .map(|(i, option)| {
                let score = crate::clinical::epds::item_score(i + 1, *option).unwrap_or(0);
                json!({ "linkId": (i + 1).to_string(), "answer": [{ "valueInteger": score }] })
            })
            .collect();
        entries.push(entry(
            &urn(e.id),
            json!({
                "resourceType": "QuestionnaireResponse",
                "id": id,
                "questionnaire": "urn:mobile-app:questionnaire:epds",
                "status": "completed",
                "subject": patient_ref,
                "authored": e.taken_at.to_rfc3339(),
                "author": patient_ref,
                "item": items,
            }),
        ));
        let obs_id = format!("{id}-total");
        entries.push(entry(
            &format!("urn:mobile-app:observation:{obs_id}"),
            json!({
                "resourceType": "Observation",
                "id": obs_id,
                "status": "final",
                "code": concept(LOCAL_CODES, "epds-total", "EPDS total score"),
                "subject": patient_ref,
                "effectiveDateTime": e.taken_at.to_rfc3339(),
                "valueInteger": e.total,
                "component": [{ "code": concept(LOCAL_CODES, "epds-item10", "EPDS item 10 score"), "valueInteger": e.item10 }],
                "derivedFrom": [{ "reference": urn(e.id) }],
            }),
        ));
    }

    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": exported_at.to_rfc3339(),
        "entry": entries,
    })
}
