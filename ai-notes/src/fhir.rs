//! FHIR R4 output: a Composition (progress note with S/O/A/P sections, `preliminary` while it is
//! a machine draft), Observations for the accepted measurements, the generating Device, and a
//! Provenance that records the automatic generation (and, once a clinician attests the note,
//! a second Provenance for the attestation). Plain serde_json values: only the resources we
//! produce, no general FHIR model.
//!
//! Codes: LOINC 11506-3 (progress note); sections 61150-9 (subjective), 61149-1 (objective),
//! 51848-0 (assessment), 18776-5 (plan of care); measurements as in
//! `shared/reference/standards-and-security.md` (85354-9 with 8480-6/8462-4, 8867-4, 55283-6,
//! 11884-4, 11881-0, 29463-7) plus 8310-5 (body temperature). Measurements without a verified
//! LOINC code (urine dipsticks, oedema, abdominal circumference) use the local code system
//! [`LOCAL_SYSTEM`].

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::soap::{Lang, Measurement, NoteStatus, Section, SoapNote};

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
/// Local code system for measurements without a verified LOINC code.
pub const LOCAL_SYSTEM: &str = "urn:ai-notes:measurement";

/// A FHIR reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// e.g. `Patient/123`.
    pub reference: String,
    pub display: Option<String>,
}

impl Reference {
    fn to_json(&self) -> Value {
        match &self.display {
            Some(d) => json!({ "reference": self.reference, "display": d }),
            None => json!({ "reference": self.reference }),
        }
    }
}

/// A clinician's attestation: the note becomes `final`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub practitioner: Reference,
    pub time: DateTime<FixedOffset>,
}

/// What the note does not know itself. Time is passed in, never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirContext {
    /// When the draft was generated.
    pub date: DateTime<FixedOffset>,
    pub subject: Option<Reference>,
    pub encounter: Option<Reference>,
    /// Description of the audio and model the transcript came from, for the Provenance.
    pub source_description: Option<String>,
    pub attestation: Option<Attestation>,
}

impl FhirContext {
    /// A context with only the generation time.
    pub fn at(date: DateTime<FixedOffset>) -> Self {
        Self { date, subject: None, encounter: None, source_description: None, attestation: None }
    }
}

/// Deterministic ids (a UUID-shaped SHA-256 prefix of the transcript, date and role), so the
/// same input always gives the same resources.
fn id(note: &SoapNote, ctx: &FhirContext, role: &str) -> String {
    let mut h = Sha256::new();
    h.update(note.transcript.as_bytes());
    h.update(ctx.date.to_rfc3339().as_bytes());
    h.update(role.as_bytes());
    let d = h.finalize();
    let x: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &x[0..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

fn instant(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn xhtml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn section_code(s: Section) -> (&'static str, &'static str) {
    match s {
        Section::S => ("61150-9", "Subjective Narrative"),
        Section::O => ("61149-1", "Objective Narrative"),
        Section::A => ("51848-0", "Evaluation note"),
        Section::P => ("18776-5", "Plan of care note"),
    }
}

/// The Composition alone. Observations are referenced as `urn:uuid:` full URLs of
/// [`bundle`]'s entries.
pub fn composition(note: &SoapNote, ctx: &FhirContext) -> Value {
    let lang = note.language;
    let final_ = ctx.attestation.is_some() || note.status == NoteStatus::Final;
    let mut sections = Vec::new();
    for section in Section::ALL {
        let mut items: Vec<String> =
            note.section(section).map(|s| format!("<li>{}</li>", xhtml_escape(&s.text))).collect();
        if section == Section::A {
            for f in &note.red_flags {
                let item = format!("<li><b>{:?}</b>: {}</li>", f.urgency, xhtml_escape(&f.message));
                if !items.contains(&item) {
                    items.push(item);
                }
            }
        }
        let div = if items.is_empty() {
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>—</p></div>".to_string()
        } else {
            format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>{}</ul></div>", items.concat())
        };
        let (code, display) = section_code(section);
        let mut s = json!({
            "title": section.title(lang),
            "code": { "coding": [{ "system": LOINC, "code": code, "display": display }] },
            "text": { "status": "generated", "div": div },
        });
        if section == Section::O && !note.vitals.is_empty() {
            s["entry"] = Value::Array(
                (0..note.vitals.len()).map(|i| json!({ "reference": format!("urn:uuid:{}", id(note, ctx, &format!("obs{i}"))) })).collect(),
            );
        }
        if items.is_empty() && s.get("entry").is_none() {
            s["emptyReason"] = json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "unavailable" }] });
        }
        sections.push(s);
    }
    let mut c = json!({
        "resourceType": "Composition",
        "id": id(note, ctx, "composition"),
        "language": lang.code(),
        "status": if final_ { "final" } else { "preliminary" },
        "type": { "coding": [{ "system": LOINC, "code": "11506-3", "display": "Progress note" }] },
        "date": instant(&ctx.date),
        "author": [{ "reference": format!("urn:uuid:{}", id(note, ctx, "device")), "display": format!("{} {}", note.generator.name, note.generator.version) }],
        "title": match (lang, final_) {
            (Lang::Ja, false) => "SOAP記録（AI下書き）",
            (Lang::Ja, true) => "SOAP記録",
            (Lang::En, false) => "SOAP note (AI draft)",
            (Lang::En, true) => "SOAP note",
        },
        "section": sections,
    });
    if !final_ {
        // HL7 security label for content asserted by artificial intelligence.
        c["meta"] = json!({ "security": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "AIAST", "display": "Artificial Intelligence asserted" }] });
    }
    if let Some(s) = &ctx.subject {
        c["subject"] = s.to_json();
    }
    if let Some(e) = &ctx.encounter {
        c["encounter"] = e.to_json();
    }
    if let Some(a) = &ctx.attestation {
        c["attester"] = json!([{ "mode": "legal", "time": instant(&a.time), "party": a.practitioner.to_json() }]);
    }
    c
}

fn quantity(value: f64, unit: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": unit })
}

fn observation(
    note: &SoapNote,
    ctx: &FhirContext,
    i: usize,
    m: &Measurement,
    quote: &str,
) -> Value {
    let loinc = |code: &str, display: &str| json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display });
    let local = |code: &str, display: &str| json!({ "coding": [{ "system": LOCAL_SYSTEM, "code": code, "display": display }], "text": display });
    let dip = |d: crate::soap::Dipstick| json!({ "text": d.notation() });
    let mut o = json!({
        "resourceType": "Observation",
        "id": id(note, ctx, &format!("obs{i}")),
        "status": "preliminary",
        "effectiveDateTime": instant(&ctx.date),
        "note": [{ "text": format!("Extracted automatically from the transcript: \"{quote}\"") }],
    });
    let vital = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }]);
    let exam = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "exam" }] }]);
    let (category, code) = match *m {
        Measurement::BloodPressure { systolic, diastolic } => {
            o["meta"] = json!({ "profile": ["http://hl7.org/fhir/StructureDefinition/bp"] });
            o["component"] = json!([
                { "code": loinc("8480-6", "Systolic blood pressure"), "valueQuantity": quantity(f64::from(systolic), "mm[Hg]") },
                { "code": loinc("8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(f64::from(diastolic), "mm[Hg]") },
            ]);
            (vital, loinc("85354-9", "Blood pressure panel with all children optional"))
        }
        Measurement::Pulse { bpm } => {
            o["valueQuantity"] = quantity(f64::from(bpm), "/min");
            (vital, loinc("8867-4", "Heart rate"))
        }
        Measurement::FetalHeartRate { bpm } => {
            o["valueQuantity"] = quantity(f64::from(bpm), "/min");
            (exam, loinc("55283-6", "Fetal Heart rate"))
        }
        Measurement::Weight { kg } => {
            o["valueQuantity"] = quantity(kg, "kg");
            (vital, loinc("29463-7", "Body weight"))
        }
        Measurement::GestationalAge { weeks, days } => {
            let d = f64::from(days.unwrap_or(0));
            o["valueQuantity"] =
                quantity(((f64::from(weeks) + d / 7.0) * 100.0).round() / 100.0, "wk");
            (exam, loinc("11884-4", "Gestational age Estimated"))
        }
        Measurement::FundalHeight { cm } => {
            o["valueQuantity"] = quantity(cm, "cm");
            (exam, loinc("11881-0", "Uterus Fundal height Tape measure"))
        }
        Measurement::AbdominalCircumference { cm } => {
            o["valueQuantity"] = quantity(cm, "cm");
            (exam, local("abdominal-circumference", "Abdominal circumference"))
        }
        Measurement::BodyTemperature { celsius } => {
            o["valueQuantity"] = quantity(celsius, "Cel");
            (vital, loinc("8310-5", "Body temperature"))
        }
        Measurement::UrineProtein { dipstick } => {
            o["valueCodeableConcept"] = dip(dipstick);
            (exam, local("urine-protein-dipstick", "Urine protein (dipstick)"))
        }
        Measurement::UrineGlucose { dipstick } => {
            o["valueCodeableConcept"] = dip(dipstick);
            (exam, local("urine-glucose-dipstick", "Urine glucose (dipstick)"))
        }
        Measurement::Oedema { oedema } => {
            o["valueCodeableConcept"] = json!({ "text": oedema.notation() });
            (exam, local("oedema", "Oedema"))
        }
    };
    o["category"] = category;
    o["code"] = code;
    if let Some(s) = &ctx.subject {
        o["subject"] = s.to_json();
    }
    o
}

/// Provenance of the automatic generation (and of the attestation when there is one).
pub fn provenances(note: &SoapNote, ctx: &FhirContext) -> Vec<Value> {
    let mut targets =
        vec![json!({ "reference": format!("urn:uuid:{}", id(note, ctx, "composition")) })];
    targets.extend((0..note.vitals.len()).map(
        |i| json!({ "reference": format!("urn:uuid:{}", id(note, ctx, &format!("obs{i}"))) }),
    ));
    let transcript_hash: String =
        Sha256::digest(note.transcript.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let mut source = format!(
        "Transcript ({} characters, sha256 {transcript_hash})",
        note.transcript.chars().count()
    );
    if let Some(d) = &ctx.source_description {
        source.push_str("; ");
        source.push_str(d);
    }
    let mut out = vec![json!({
        "resourceType": "Provenance",
        "id": id(note, ctx, "provenance-generation"),
        "target": targets.clone(),
        "recorded": instant(&ctx.date),
        "activity": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create" }], "text": "Automatic SOAP draft generated from a transcript" },
        "reason": [{ "text": note.generator.method.clone() }],
        "agent": [{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler", "display": "Assembler" }] },
            "who": { "reference": format!("urn:uuid:{}", id(note, ctx, "device")), "display": format!("{} {}", note.generator.name, note.generator.version) },
        }],
        "entity": [{ "role": "source", "what": { "display": source } }],
    })];
    if let Some(a) = &ctx.attestation {
        out.push(json!({
            "resourceType": "Provenance",
            "id": id(note, ctx, "provenance-attestation"),
            "target": targets,
            "recorded": instant(&a.time),
            "activity": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion", "code": "LA", "display": "legally authenticated" }], "text": "Reviewed and attested by a clinician" },
            "agent": [{
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "attester", "display": "Attester" }] },
                "who": a.practitioner.to_json(),
            }],
        }));
    }
    out
}

/// The generating software as a Device.
pub fn device(note: &SoapNote, ctx: &FhirContext) -> Value {
    json!({
        "resourceType": "Device",
        "id": id(note, ctx, "device"),
        "deviceName": [{ "name": note.generator.name, "type": "user-friendly-name" }],
        "type": { "text": "Software that drafts SOAP notes from consultation speech" },
        "version": [{ "value": note.generator.version }],
    })
}

/// A `collection` Bundle: Composition, Observations, Device and Provenance(s).
pub fn bundle(note: &SoapNote, ctx: &FhirContext) -> Value {
    let entry = |resource: Value| {
        let full_url = format!("urn:uuid:{}", resource["id"].as_str().unwrap_or_default());
        json!({ "fullUrl": full_url, "resource": resource })
    };
    let mut entries = vec![entry(composition(note, ctx))];
    for (i, v) in note.vitals.iter().enumerate() {
        entries.push(entry(observation(note, ctx, i, &v.measurement, &v.source.quote)));
    }
    entries.push(entry(device(note, ctx)));
    entries.extend(provenances(note, ctx).into_iter().map(entry));
    json!({
        "resourceType": "Bundle",
        "id": id(note, ctx, "bundle"),
        "type": "collection",
        "timestamp": instant(&ctx.date),
        "entry": entries,
    })
}
