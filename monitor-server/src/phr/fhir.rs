//! FHIR R4 resources of what a mother shares: Patient, blood-pressure Observation, Consent, the
//! final Composition of a clinician's attested note with its Provenance, searchset Bundles and
//! the server's CapabilityStatement. Pure functions over stored rows: no I/O, time passed in.
//! Plain `serde_json` values, as in `ai_notes::fhir` (only the resources we produce, no general
//! FHIR model), with the same codes:
//!
//! * Blood pressure (`shared/reference/standards-and-security.md` §1): profile
//!   `http://hl7.org/fhir/StructureDefinition/bp`, category `vital-signs`, LOINC 85354-9 with
//!   components 8480-6 / 8462-4 in UCUM `mm[Hg]`. The pulse the cuff measured rides along as a
//!   third component, 8867-4 in `/min` (the profile's component slicing is open), so one reading
//!   stays one resource with one id and one consent scope. Self-measured: the performer is the
//!   Patient; a cuff reading names the cuff as `device`. The clinic's tier is an
//!   `interpretation` (HL7 N / H / HH plus the tier's own code in [`TIER_SYSTEM`]).
//! * Notes: Composition LOINC 11506-3 (progress note), sections 61150-9 / 61149-1 / 51848-0 /
//!   18776-5, `status` `final` with a legal attester; a Provenance for the AI draft (when
//!   ai-notes drafted it) and one for the human attestation, which carries the HPKI signature
//!   when a [`NoteSigner`] gives one.
//! * Consent: scope `patient-privacy`, category LOINC 59284-0, policy rule `OPTIN`. The scopes
//!   she granted are `provision.class` codings in [`SCOPE_SYSTEM`] (codes are
//!   `phr_wire::consent::Scope::as_str`): the class of data the permit covers is exactly what a
//!   scope is, whereas `provision.action` says what may be done (here always `access`). The clinic
//!   is both the consent's `organization` (the custodian it was given to) and the provision's
//!   actor with role `IRCP` (information recipient); the performer is the mother, who grants it.
//!   A revoked (or replaced) consent is `inactive` and its provision period ends at revocation.
//!
//! Identities are local: mothers are `Patient/{uuid}` with identifier [`MOTHER_SYSTEM`]; staff and
//! clinics have no resources of their own here, so they are logical references (identifier in
//! [`STAFF_SYSTEM`] / [`CLINIC_SYSTEM`] plus display).

use ai_notes::soap::{Lang, Section};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use phr_wire::consent::Scope;
use phr_wire::records::{Arm, BpReading, BpSource, Session, SoapText, Symptom};
use phr_wire::rules::Tier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::Millis;
use crate::store::phr::{ConsentRow, MotherRow};

/// FHIR version this server speaks.
pub const FHIR_VERSION: &str = "4.0.1";
/// The media type of FHIR JSON responses.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Identifier system of mothers' accounts (the value is the account's UUID).
pub const MOTHER_SYSTEM: &str = "urn:monitor-server:mother";
/// Identifier system of staff accounts (the value is the username).
pub const STAFF_SYSTEM: &str = "urn:monitor-server:staff";
/// Identifier system of clinics (the value is the clinic id).
pub const CLINIC_SYSTEM: &str = "urn:monitor-server:clinic";
/// Identifier system of blood-pressure cuffs (the value is the cuff's identifier).
pub const CUFF_SYSTEM: &str = "urn:monitor-server:cuff";
/// Identifier system of clinicians' attested notes (the value is the note's UUID).
pub const NOTE_SYSTEM: &str = "urn:monitor-server:clinical-note";
/// Local code system of consent scopes (`blood_pressure`, `checkups`, `epds`, `notes`).
pub const SCOPE_SYSTEM: &str = "urn:monitor-server:phr-scope";
/// Local code system of the clinic's blood-pressure tiers (`normal` … `emergency`).
pub const TIER_SYSTEM: &str = "urn:monitor-server:bp-tier";
/// Profile of blood-pressure Observations.
pub const BP_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/bp";

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const SNOMED: &str = "http://snomed.info/sct";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";
/// ASTM E1762 signature types; `1.2.840.10065.1.12.1.5` is a verification signature.
const SIGNATURE_TYPE_SYSTEM: &str = "urn:iso-astm:E1762-95:2013";

/// A FHIR `instant`/`dateTime` with the offset the time was given in.
fn date_time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A server timestamp (Unix ms) in UTC with milliseconds; `None` outside chrono's range.
fn ms_date_time(ms: Millis) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn patient_ref(mother_id: Uuid) -> Value {
    json!({ "reference": format!("Patient/{mother_id}") })
}

fn clinic_ref(id: &str, name: &str) -> Value {
    json!({ "identifier": { "system": CLINIC_SYSTEM, "value": id }, "display": name })
}

fn staff_ref(username: &str, display: &str) -> Value {
    json!({ "identifier": { "system": STAFF_SYSTEM, "value": username }, "display": display })
}

fn loinc(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display })
}

fn quantity(value: f64, unit: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": unit })
}

/// A UUID-shaped id derived from a parent id and a role, so rebuilding the resources of one note
/// gives the same ids (as `ai_notes::fhir` derives its ids).
fn derived_id(parent: Uuid, role: &str) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(role.as_bytes());
    let d = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

fn xhtml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Narrative XHTML: one paragraph per non-empty line. Control characters other than line breaks
/// cannot appear in XHTML, so they become spaces.
fn narrative(text: &str) -> Option<String> {
    let paragraphs: Vec<String> = text
        .lines()
        .map(|l| l.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>())
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("<p>{}</p>", xhtml_escape(l.trim())))
        .collect();
    (!paragraphs.is_empty())
        .then(|| format!("<div xmlns=\"{XHTML_NS}\">{}</div>", paragraphs.concat()))
}

// --- Patient ---------------------------------------------------------------------------------

/// The mother as a Patient: her account's UUID and the name she gave the clinic. Her login (an
/// e-mail address, often) is an account credential, not clinical data, and is left out.
pub fn patient(m: &MotherRow) -> Value {
    let id = m.id.to_string();
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{ "use": "usual", "system": MOTHER_SYSTEM, "value": id }],
        "active": !m.disabled,
        "name": [{ "use": "usual", "text": m.display_name }],
    })
}

// --- blood pressure --------------------------------------------------------------------------

fn tier_interpretation(tier: Tier) -> Value {
    // HL7 interpretation: advisory and same-day are above the home threshold (H); emergency is
    // the critical range (HH).
    let (code, display) = match tier {
        Tier::Normal => ("N", "Normal"),
        Tier::Advisory | Tier::SameDay => ("H", "High"),
        Tier::Emergency => ("HH", "Critical high"),
    };
    let text = match tier {
        Tier::Normal => "Normal (home threshold)",
        Tier::Advisory => "Advisory: tell the clinic at the next contact",
        Tier::SameDay => "Same-day: call the clinic today",
        Tier::Emergency => "Emergency: contact the hospital now",
    };
    json!({
        "coding": [
            { "system": INTERPRETATION, "code": code, "display": display },
            { "system": TIER_SYSTEM, "code": tier.as_str(), "display": text },
        ],
        "text": text,
    })
}

fn symptom_name(s: Symptom) -> &'static str {
    match s {
        Symptom::Headache => "headache",
        Symptom::VisualDisturbance => "visual disturbance",
        Symptom::EpigastricPain => "epigastric pain",
        Symptom::Breathlessness => "breathlessness",
        Symptom::Seizure => "seizure",
    }
}

/// A home blood-pressure reading as an Observation (bp profile), with the clinic's `tier`.
pub fn bp_observation(mother_id: Uuid, record_id: Uuid, r: &BpReading, tier: Tier) -> Value {
    let mut components = vec![
        json!({ "code": loinc("8480-6", "Systolic blood pressure"), "valueQuantity": quantity(r.systolic, "mm[Hg]") }),
        json!({ "code": loinc("8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(r.diastolic, "mm[Hg]") }),
    ];
    if let Some(p) = r.pulse {
        components.push(
            json!({ "code": loinc("8867-4", "Heart rate"), "valueQuantity": quantity(p, "/min") }),
        );
    }
    let mut o = json!({
        "resourceType": "Observation",
        "id": record_id.to_string(),
        "meta": { "profile": [BP_PROFILE] },
        "identifier": [{ "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{record_id}") }],
        "status": "final",
        "category": [{
            "coding": [{ "system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs" }],
            "text": "Vital Signs",
        }],
        "code": loinc("85354-9", "Blood pressure panel with all children optional"),
        "subject": patient_ref(mother_id),
        "effectiveDateTime": date_time(&r.measured_at),
        "performer": [patient_ref(mother_id)],
        "interpretation": [tier_interpretation(tier)],
        "method": { "text": match r.source {
            BpSource::Cuff => "Self-measured at home with an automatic cuff",
            BpSource::Manual => "Self-measured at home, entered by hand",
        } },
        "component": components,
    });
    let arm = match r.arm {
        Arm::Left => Some(("368208006", "Left upper arm structure")),
        Arm::Right => Some(("368209003", "Right upper arm structure")),
        Arm::Unknown => None,
    };
    if let Some((code, display)) = arm {
        o["bodySite"] = json!({ "coding": [{ "system": SNOMED, "code": code, "display": display }], "text": display });
    }
    if r.source == BpSource::Cuff {
        let mut device = json!({ "display": "Blood pressure cuff" });
        if let Some(d) = &r.device_id {
            device["identifier"] = json!({ "system": CUFF_SYSTEM, "value": d });
            device["display"] = json!(format!("Blood pressure cuff {d}"));
        }
        o["device"] = device;
    }
    let mut notes = Vec::new();
    match r.session {
        Session::Morning => notes.push(json!({ "text": "Morning reading" })),
        Session::Evening => notes.push(json!({ "text": "Evening reading" })),
        Session::Other => {}
    }
    if !r.symptoms.is_empty() {
        let names: Vec<&str> = r.symptoms.iter().map(|s| symptom_name(*s)).collect();
        notes.push(json!({ "text": format!("Reported with: {}", names.join(", ")) }));
    }
    if !r.note.trim().is_empty() {
        notes.push(json!({ "text": r.note }));
    }
    if !notes.is_empty() {
        o["note"] = Value::Array(notes);
    }
    o
}

// --- Consent ---------------------------------------------------------------------------------

fn scope_display(s: Scope) -> &'static str {
    match s {
        Scope::BloodPressure => "Home blood-pressure readings",
        Scope::Checkups => "Prenatal check-ups",
        Scope::Epds => "EPDS questionnaires",
        Scope::Notes => "Her notes",
    }
}

/// One consent (current or past) as a Consent resource; see the module documentation for how the
/// scopes and the clinic are expressed.
pub fn consent(c: &ConsentRow) -> Value {
    let granted = ms_date_time(c.granted_ms);
    let revoked = c.revoked_ms.and_then(ms_date_time);
    let mut period = json!({});
    if let Some(g) = &granted {
        period["start"] = json!(g);
    }
    if let Some(r) = &revoked {
        period["end"] = json!(r);
    }
    let classes: Vec<Value> = c
        .scope
        .iter()
        .map(
            |s| json!({ "system": SCOPE_SYSTEM, "code": s.as_str(), "display": scope_display(*s) }),
        )
        .collect();
    let mut v = json!({
        "resourceType": "Consent",
        "id": c.id.to_string(),
        // A revoked or replaced grant no longer applies.
        "status": if c.revoked_ms.is_some() { "inactive" } else { "active" },
        "scope": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }] },
        "category": [{ "coding": [{ "system": LOINC, "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": patient_ref(c.mother_id),
        "performer": [patient_ref(c.mother_id)],
        "organization": [clinic_ref(&c.clinic_id, &c.clinic_name)],
        "policyRule": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }] },
        "provision": {
            "type": "permit",
            "actor": [{
                "role": { "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "IRCP",
                    "display": "information recipient",
                }] },
                "reference": clinic_ref(&c.clinic_id, &c.clinic_name),
            }],
            "action": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                "code": "access",
                "display": "Access",
            }] }],
            "class": classes,
        },
    });
    if let Some(g) = granted {
        v["dateTime"] = json!(g);
    }
    // ele-1: no empty elements (only a timestamp outside chrono's range leaves it empty).
    if period.as_object().is_some_and(|p| !p.is_empty()) {
        v["provision"]["period"] = period;
    }
    v
}

// --- attested notes --------------------------------------------------------------------------

/// Why a note could not be signed. The attestation is refused rather than stored unsigned when a
/// configured signer fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the note signer failed: {0}")]
    Signer(String),
    #[error("the note signer returned a signature that is not base64")]
    NotBase64,
}

/// The format of a detached signature (FHIR `Signature.sigFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigFormat {
    /// CMS/PKCS #7 detached signature (HPKI smart cards and their middleware produce these).
    Pkcs7,
    /// JWS (JSON Web Signature).
    Jose,
}

impl SigFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Pkcs7 => "application/pkcs7-signature",
            Self::Jose => "application/jose",
        }
    }
}

/// A detached signature over [`canonical_json`] of the final Composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub format: SigFormat,
    /// The signature bytes, base64 (standard alphabet, padded).
    pub base64: String,
}

/// Where an HPKI signature plugs in: the attesting clinician's card (or a signing service) signs
/// the canonical bytes of the final Composition. `Ok(None)` means no signer is configured; the
/// note is then stored attested but unsigned.
pub trait NoteSigner: Send + Sync {
    fn sign(&self, canonical_composition: &[u8]) -> Result<Option<NoteSignature>, SignError>;
}

/// The default: no signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSigner;

impl NoteSigner for NoSigner {
    fn sign(&self, _canonical_composition: &[u8]) -> Result<Option<NoteSignature>, SignError> {
        Ok(None)
    }
}

/// Compact JSON with object keys sorted (recursively): the bytes a signature covers, so a
/// verifier can rebuild them from the stored Composition whatever the key order it was kept in.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s.into_bytes()
}

fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// What a clinician attested, as the final Composition needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteInput {
    pub id: Uuid,
    pub mother_id: Uuid,
    /// The attesting clinician's username and display name.
    pub author_username: String,
    pub author_display: String,
    pub attested_at: DateTime<FixedOffset>,
    /// `ja` or `en` (anything else is treated as `en`).
    pub lang: String,
    pub soap: SoapText,
    /// The dictation the draft came from (empty when typed).
    pub transcript: String,
    /// ai-notes drafted the text the clinician edited and attested.
    pub ai_drafted: bool,
}

/// The final Composition, its Provenance resources (the AI draft's when ai-notes drafted it,
/// then the attestation's) and the signature's base64 data when the signer gave one.
pub type FinalNote = (Value, Vec<Value>, Option<String>);

/// The software that drafts notes, as a Provenance agent. ai-notes is built from this workspace,
/// so it carries the server's version.
fn drafting_software() -> Value {
    json!({
        "identifier": { "system": "urn:monitor-server:software", "value": "ai-notes" },
        "display": format!("ai-notes {} (rule-based SOAP structuring)", env!("CARGO_PKG_VERSION")),
    })
}

/// The final Composition of an attested note and its Provenance resources, signed by `signer`.
/// A signer's failure is returned, never papered over with an unsigned note.
pub fn final_composition(
    note: &NoteInput,
    signer: &dyn NoteSigner,
) -> Result<FinalNote, SignError> {
    let lang = if note.lang == "ja" { Lang::Ja } else { Lang::En };
    let attested = date_time(&note.attested_at);
    let author = staff_ref(&note.author_username, &note.author_display);
    let sections: Vec<Value> = Section::ALL
        .into_iter()
        .map(|section| {
            let (text, code, display) = match section {
                Section::S => (&note.soap.subjective, "61150-9", "Subjective Narrative"),
                Section::O => (&note.soap.objective, "61149-1", "Objective Narrative"),
                Section::A => (&note.soap.assessment, "51848-0", "Evaluation note"),
                Section::P => (&note.soap.plan, "18776-5", "Plan of care note"),
            };
            let mut s = json!({
                "title": section.title(lang),
                "code": { "coding": [{ "system": LOINC, "code": code, "display": display }] },
            });
            match narrative(text) {
                Some(div) => s["text"] = json!({ "status": "generated", "div": div }),
                // cmp-1: a section without text or entries says why it is empty.
                None => {
                    s["emptyReason"] = json!({ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                        "code": "nilknown",
                        "display": "Nil Known",
                    }] })
                }
            }
            s
        })
        .collect();
    let composition = json!({
        "resourceType": "Composition",
        "id": note.id.to_string(),
        "identifier": { "system": NOTE_SYSTEM, "value": note.id.to_string() },
        "language": lang.code(),
        "status": "final",
        "type": { "coding": [{ "system": LOINC, "code": "11506-3", "display": "Progress note" }] },
        "subject": patient_ref(note.mother_id),
        "date": attested,
        "author": [author.clone()],
        "title": match lang { Lang::Ja => "SOAP記録", Lang::En => "SOAP note" },
        "attester": [{ "mode": "legal", "time": attested, "party": author.clone() }],
        "section": sections,
    });
    let signature = signer.sign(&canonical_json(&composition))?;
    if let Some(s) = &signature
        && !is_base64(&s.base64)
    {
        return Err(SignError::NotBase64);
    }
    let target = json!([{ "reference": format!("Composition/{}", note.id) }]);
    let mut provenances = Vec::new();
    if note.ai_drafted {
        let digest: String =
            Sha256::digest(note.transcript.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        provenances.push(json!({
            "resourceType": "Provenance",
            "id": derived_id(note.id, "provenance-generation"),
            "target": target,
            "recorded": attested,
            "activity": {
                "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create" }],
                "text": "Automatic SOAP draft generated from a transcript",
            },
            "agent": [{
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler", "display": "Assembler" }] },
                "who": drafting_software(),
            }],
            "entity": [{ "role": "source", "what": { "display": format!(
                "Transcript ({} characters, sha256 {digest})",
                note.transcript.chars().count()
            ) } }],
        }));
    }
    let mut attestation = json!({
        "resourceType": "Provenance",
        "id": derived_id(note.id, "provenance-attestation"),
        "target": target,
        "recorded": attested,
        "activity": {
            "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion", "code": "LA", "display": "legally authenticated" }],
            "text": "Reviewed and attested by a clinician",
        },
        "agent": [{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "attester", "display": "Attester" }] },
            "who": author.clone(),
        }],
    });
    if let Some(s) = &signature {
        attestation["signature"] = json!([{
            "type": [{ "system": SIGNATURE_TYPE_SYSTEM, "code": "1.2.840.10065.1.12.1.5", "display": "Verification Signature" }],
            "when": attested,
            "who": author,
            "targetFormat": FHIR_JSON,
            "sigFormat": s.format.media_type(),
            "data": s.base64,
        }]);
    }
    provenances.push(attestation);
    Ok((composition, provenances, signature.map(|s| s.base64)))
}

// --- Bundles and the capability statement ----------------------------------------------------

/// The service base of an absolute search URL: everything before its resource type
/// (`https://h/fhir/r4/Observation?patient=x` → `https://h/fhir/r4`).
fn service_base(search_url: &str) -> &str {
    let path = search_url.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    path.rsplit_once('/').map_or(path, |(base, _)| base)
}

/// A `searchset` Bundle of `resources`. `self_url` is the absolute search URL as the client sent
/// it; each entry's `fullUrl` is `{base}/{resourceType}/{id}` on the same service base.
pub fn searchset(resources: Vec<Value>, self_url: &str) -> Value {
    let base = service_base(self_url);
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let full_url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({ "fullUrl": full_url, "resource": r, "search": { "mode": "match" } })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{ "relation": "self", "url": self_url }],
        "entry": entries,
    })
}

/// When [`capability_statement`]'s content last changed (its required `date`): bump it with any
/// change to the resources, interactions or search parameters it lists.
pub const CAPABILITY_DATE: &str = "2026-11-21";

/// `GET /fhir/r4/metadata`: what this server offers at `base_url` (`…/fhir/r4`).
pub fn capability_statement(base_url: &str) -> Value {
    let search_by_patient = |ty: &str, profile: Option<&str>| {
        let mut r = json!({
            "type": ty,
            "interaction": [{ "code": "search-type" }],
            "searchParam": [{
                "name": "patient",
                "type": "reference",
                "documentation": "Required: the mother's Patient id.",
            }],
        });
        if let Some(p) = profile {
            r["supportedProfile"] = json!([p]);
        }
        r
    };
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": "monitor-server",
        "kind": "instance",
        "software": { "name": "monitor-server", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "Perinatal monitor: what expectant mothers share with their clinics (read only)",
            "url": base_url.trim_end_matches('/'),
        },
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only access to a mother's shared record.",
            "security": {
                "cors": false,
                "description": "Authorization: Bearer with a staff session token (or the staff \
                    session cookie), which sees only mothers with an active consent to one of \
                    the staff member's clinics covering the data; or the mother's own access \
                    token, which sees only her own record. Every read is audited.",
            },
            "resource": [
                { "type": "Patient", "interaction": [{ "code": "read" }] },
                search_by_patient("Observation", Some(BP_PROFILE)),
                search_by_patient("Composition", None),
                search_by_patient("Consent", None),
            ],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phr_wire::records::Symptom;

    fn t(s: &str) -> DateTime<FixedOffset> {
        s.parse().unwrap()
    }

    fn mother() -> MotherRow {
        MotherRow {
            id: Uuid::from_u128(0x1234),
            login: "hanako@example.jp".into(),
            display_name: "山田 花子".into(),
            invited_by: "sakura".into(),
            created_ms: 1_790_000_000_000,
            disabled: false,
        }
    }

    fn reading() -> BpReading {
        BpReading {
            measured_at: t("2026-11-21T07:55:00+09:00"),
            systolic: 142.0,
            diastolic: 91.0,
            pulse: Some(72.0),
            arm: Arm::Left,
            session: Session::Morning,
            symptoms: vec![Symptom::Headache],
            note: "少し頭痛 <b>".into(),
            source: BpSource::Cuff,
            device_id: Some("OMRON-HEM-7600T-01".into()),
        }
    }

    fn coding(v: &Value) -> (&str, &str) {
        (v["coding"][0]["system"].as_str().unwrap(), v["coding"][0]["code"].as_str().unwrap())
    }

    #[test]
    fn patient_has_identifier_and_name_but_no_login() {
        let p = patient(&mother());
        assert_eq!(p["resourceType"], "Patient");
        assert_eq!(p["id"], "00000000-0000-0000-0000-000000001234");
        assert_eq!(p["identifier"][0]["system"], MOTHER_SYSTEM);
        assert_eq!(p["identifier"][0]["value"], p["id"]);
        assert_eq!(p["name"][0]["text"], "山田 花子");
        assert_eq!(p["active"], true);
        assert!(!p.to_string().contains("hanako"), "login leaked: {p}");
        let disabled = patient(&MotherRow { disabled: true, ..mother() });
        assert_eq!(disabled["active"], false);
    }

    #[test]
    fn bp_observation_follows_the_vital_signs_bp_profile() {
        let m = Uuid::from_u128(1);
        let rec = Uuid::from_u128(2);
        let o = bp_observation(m, rec, &reading(), Tier::SameDay);
        assert_eq!(o["resourceType"], "Observation");
        assert_eq!(o["id"], rec.to_string());
        assert_eq!(o["status"], "final");
        assert_eq!(o["meta"]["profile"][0], BP_PROFILE);
        assert_eq!(coding(&o["category"][0]), (OBSERVATION_CATEGORY, "vital-signs"));
        assert_eq!(coding(&o["code"]), (LOINC, "85354-9"));
        assert_eq!(o["subject"]["reference"], format!("Patient/{m}"));
        assert_eq!(o["performer"][0]["reference"], format!("Patient/{m}"));
        // The phone's offset is kept.
        assert_eq!(o["effectiveDateTime"], "2026-11-21T07:55:00+09:00");
        let comps = o["component"].as_array().unwrap();
        let find = |code: &str| {
            comps.iter().find(|c| coding(&c["code"]) == (LOINC, code)).unwrap_or_else(|| {
                panic!("no component {code} in {o}");
            })
        };
        for (code, value, unit) in
            [("8480-6", 142.0, "mm[Hg]"), ("8462-4", 91.0, "mm[Hg]"), ("8867-4", 72.0, "/min")]
        {
            let q = &find(code)["valueQuantity"];
            assert_eq!(q["value"].as_f64(), Some(value), "{code}");
            assert_eq!(q["system"], UCUM);
            assert_eq!(q["code"], unit);
            assert_eq!(q["unit"], unit);
        }
        let interp = &o["interpretation"][0]["coding"];
        assert_eq!(interp[0]["system"], INTERPRETATION);
        assert_eq!(interp[0]["code"], "H");
        assert_eq!(interp[1]["system"], TIER_SYSTEM);
        assert_eq!(interp[1]["code"], "same_day");
        assert_eq!(coding(&o["bodySite"]), (SNOMED, "368208006"));
        assert_eq!(o["device"]["identifier"]["system"], CUFF_SYSTEM);
        assert_eq!(o["device"]["identifier"]["value"], "OMRON-HEM-7600T-01");
        let notes: Vec<&str> =
            o["note"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
        assert_eq!(notes, ["Morning reading", "Reported with: headache", "少し頭痛 <b>"]);
    }

    #[test]
    fn manual_reading_without_pulse_has_no_device_and_two_components() {
        let r = BpReading {
            pulse: None,
            source: BpSource::Manual,
            device_id: None,
            arm: Arm::Unknown,
            session: Session::Other,
            symptoms: vec![],
            note: " ".into(),
            ..reading()
        };
        let o = bp_observation(Uuid::from_u128(1), Uuid::from_u128(2), &r, Tier::Normal);
        assert_eq!(o["component"].as_array().unwrap().len(), 2);
        assert!(
            o.get("device").is_none() && o.get("bodySite").is_none() && o.get("note").is_none()
        );
        assert_eq!(o["interpretation"][0]["coding"][0]["code"], "N");
        let e = bp_observation(Uuid::from_u128(1), Uuid::from_u128(2), &r, Tier::Emergency);
        assert_eq!(e["interpretation"][0]["coding"][0]["code"], "HH");
        assert_eq!(e["interpretation"][0]["coding"][1]["code"], "emergency");
    }

    fn consent_row(revoked_ms: Option<Millis>) -> ConsentRow {
        ConsentRow {
            id: 7,
            mother_id: Uuid::from_u128(9),
            clinic_id: "sakura".into(),
            clinic_name: "さくら産婦人科".into(),
            scope: vec![Scope::BloodPressure, Scope::Epds],
            granted_ms: 1_795_000_000_000,
            revoked_ms,
        }
    }

    #[test]
    fn active_consent_has_the_required_r4_elements() {
        let c = consent(&consent_row(None));
        assert_eq!(c["resourceType"], "Consent");
        assert_eq!(c["id"], "7");
        assert_eq!(c["status"], "active");
        assert_eq!(
            coding(&c["scope"]),
            ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")
        );
        assert_eq!(coding(&c["category"][0]), (LOINC, "59284-0"));
        // ppc-1: a policy or policy rule; ppc-2: privacy consents name the patient.
        assert!(c.get("policyRule").is_some() || c.get("policy").is_some());
        assert_eq!(c["patient"]["reference"], "Patient/00000000-0000-0000-0000-000000000009");
        assert_eq!(c["dateTime"], "2026-11-18T11:06:40.000Z");
        assert_eq!(c["organization"][0]["identifier"]["value"], "sakura");
        assert_eq!(c["provision"]["actor"][0]["reference"]["identifier"]["system"], CLINIC_SYSTEM);
        assert_eq!(c["provision"]["type"], "permit");
        assert_eq!(c["provision"]["period"]["start"], "2026-11-18T11:06:40.000Z");
        assert!(c["provision"]["period"].get("end").is_none());
        let classes: Vec<(&str, &str)> = c["provision"]["class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["system"].as_str().unwrap(), x["code"].as_str().unwrap()))
            .collect();
        assert_eq!(classes, [(SCOPE_SYSTEM, "blood_pressure"), (SCOPE_SYSTEM, "epds")]);
    }

    #[test]
    fn revoked_consent_is_inactive_and_its_period_ends() {
        let c = consent(&consent_row(Some(1_795_000_060_000)));
        assert_eq!(c["status"], "inactive");
        assert_eq!(c["provision"]["period"]["start"], "2026-11-18T11:06:40.000Z");
        assert_eq!(c["provision"]["period"]["end"], "2026-11-18T11:07:40.000Z");
    }

    struct FixedSigner(Result<Option<NoteSignature>, SignError>, std::sync::Mutex<Vec<u8>>);

    impl NoteSigner for FixedSigner {
        fn sign(&self, bytes: &[u8]) -> Result<Option<NoteSignature>, SignError> {
            *self.1.lock().unwrap() = bytes.to_vec();
            self.0.clone()
        }
    }

    fn soap() -> SoapText {
        SoapText {
            subjective: "頭痛あり。\n夜間に増悪".into(),
            objective: "BP 142/91 mmHg & 浮腫 1+".into(),
            assessment: String::new(),
            plan: "明日再診".into(),
        }
    }

    fn note(ai: bool) -> NoteInput {
        NoteInput {
            id: Uuid::from_u128(0xabc),
            mother_id: Uuid::from_u128(9),
            author_username: "sato".into(),
            author_display: "佐藤 助産師".into(),
            attested_at: t("2026-11-21T15:00:00+09:00"),
            lang: "ja".into(),
            soap: soap(),
            transcript: "頭痛があります".into(),
            ai_drafted: ai,
        }
    }

    #[test]
    fn final_composition_is_a_legally_attested_progress_note() {
        let f = final_composition(&note(true), &NoSigner).unwrap();
        let (c, provenances, signature) = &f;
        assert_eq!(c["resourceType"], "Composition");
        assert_eq!(c["status"], "final");
        assert_eq!(coding(&c["type"]), (LOINC, "11506-3"));
        assert_eq!(c["subject"]["reference"], "Patient/00000000-0000-0000-0000-000000000009");
        assert_eq!(c["date"], "2026-11-21T15:00:00+09:00");
        assert_eq!(c["language"], "ja");
        assert_eq!(c["author"][0]["identifier"]["value"], "sato");
        assert!(c["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(c["attester"][0]["mode"], "legal");
        assert_eq!(c["attester"][0]["time"], "2026-11-21T15:00:00+09:00");
        assert_eq!(c["attester"][0]["party"]["display"], "佐藤 助産師");
        let codes: Vec<&str> = c["section"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["61150-9", "61149-1", "51848-0", "18776-5"]);
        let s0 = &c["section"][0]["text"];
        assert_eq!(s0["status"], "generated");
        assert_eq!(
            s0["div"],
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>頭痛あり。</p><p>夜間に増悪</p></div>"
        );
        assert!(c["section"][1]["text"]["div"].as_str().unwrap().contains("&amp; 浮腫"));
        // cmp-1/cmp-2: an empty section has an emptyReason and no text.
        assert!(c["section"][2].get("text").is_none());
        assert!(c["section"][2].get("emptyReason").is_some());
        assert!(c.get("meta").is_none(), "a final note is not labelled AI-asserted");

        assert_eq!(provenances.len(), 2);
        let (gen_, att) = (&provenances[0], &provenances[1]);
        for p in [gen_, att] {
            assert_eq!(p["resourceType"], "Provenance");
            assert_eq!(
                p["target"][0]["reference"],
                "Composition/00000000-0000-0000-0000-000000000abc"
            );
            assert_eq!(p["recorded"], "2026-11-21T15:00:00+09:00");
            assert!(p["agent"][0]["who"].is_object());
        }
        assert_eq!(gen_["activity"]["coding"][0]["code"], "CREATE");
        assert_eq!(gen_["agent"][0]["type"]["coding"][0]["code"], "assembler");
        assert!(gen_["entity"][0]["what"]["display"].as_str().unwrap().contains("7 characters"));
        assert_eq!(att["activity"]["coding"][0]["code"], "LA");
        assert_eq!(att["agent"][0]["type"]["coding"][0]["code"], "attester");
        assert_eq!(att["agent"][0]["who"]["identifier"]["system"], STAFF_SYSTEM);
        assert!(att.get("signature").is_none());
        assert_eq!(*signature, None);
        assert_ne!(gen_["id"], att["id"]);
        // Rebuilding gives the same resources (ids derive from the note id).
        assert_eq!(final_composition(&note(true), &NoSigner).unwrap(), f);
    }

    #[test]
    fn a_typed_note_has_only_the_attestation_provenance_and_english_titles() {
        let n = NoteInput { lang: "en".into(), ..note(false) };
        let (c, provenances, _) = final_composition(&n, &NoSigner).unwrap();
        assert_eq!(provenances.len(), 1);
        assert_eq!(provenances[0]["activity"]["coding"][0]["code"], "LA");
        assert_eq!(c["section"][0]["title"], "Subjective");
        assert_eq!(c["title"], "SOAP note");
    }

    #[test]
    fn a_signature_goes_into_the_attestation_provenance() {
        let signer = FixedSigner(
            Ok(Some(NoteSignature { format: SigFormat::Pkcs7, base64: "MIIBxw==".into() })),
            Default::default(),
        );
        let (c, provenances, signature) = final_composition(&note(true), &signer).unwrap();
        assert_eq!(signature.as_deref(), Some("MIIBxw=="));
        // The signer saw the canonical bytes of exactly the Composition that is stored.
        assert_eq!(*signer.1.lock().unwrap(), canonical_json(&c));
        let sig = &provenances[1]["signature"][0];
        assert_eq!(sig["type"][0]["system"], SIGNATURE_TYPE_SYSTEM);
        assert_eq!(sig["type"][0]["code"], "1.2.840.10065.1.12.1.5");
        assert_eq!(sig["sigFormat"], "application/pkcs7-signature");
        assert_eq!(sig["targetFormat"], FHIR_JSON);
        assert_eq!(sig["data"], "MIIBxw==");
        assert_eq!(sig["when"], "2026-11-21T15:00:00+09:00");
        assert_eq!(sig["who"]["identifier"]["value"], "sato");
        assert!(provenances[0].get("signature").is_none());

        let bad = FixedSigner(
            Ok(Some(NoteSignature { format: SigFormat::Jose, base64: "not base64!".into() })),
            Default::default(),
        );
        assert_eq!(final_composition(&note(true), &bad), Err(SignError::NotBase64));
        let failing =
            FixedSigner(Err(SignError::Signer("card removed".into())), Default::default());
        assert_eq!(
            final_composition(&note(true), &failing).unwrap_err().to_string(),
            "the note signer failed: card removed"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({ "b": [{ "z": 1, "a": "x\"y" }], "a": null });
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":null,"b":[{"a":"x\"y","z":1}]}"#
        );
        assert!(is_base64("QUJD") && is_base64("QUI=") && !is_base64("QU===") && !is_base64(""));
    }

    #[test]
    fn searchset_bundle_lists_matches_with_full_urls() {
        let b = searchset(
            vec![patient(&mother()), consent(&consent_row(None))],
            "https://clinic.example/fhir/r4/Consent?patient=x",
        );
        assert_eq!(b["link"][0]["url"], "https://clinic.example/fhir/r4/Consent?patient=x");
        assert_eq!(service_base("https://h/fhir/r4/Observation/?patient=x"), "https://h/fhir/r4");
        assert_eq!(b["resourceType"], "Bundle");
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"], 2);
        assert_eq!(b["link"][0]["relation"], "self");
        assert_eq!(
            b["entry"][0]["fullUrl"],
            "https://clinic.example/fhir/r4/Patient/00000000-0000-0000-0000-000000001234"
        );
        assert_eq!(b["entry"][1]["fullUrl"], "https://clinic.example/fhir/r4/Consent/7");
        assert_eq!(b["entry"][1]["search"]["mode"], "match");
        assert_eq!(b["entry"][1]["resource"]["resourceType"], "Consent");
        let empty = searchset(vec![], "https://x/fhir/r4/Observation?patient=y");
        assert_eq!(
            (empty["total"].as_u64(), empty["entry"].as_array().map(Vec::len)),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn capability_statement_has_the_required_elements() {
        let c = capability_statement("https://clinic.example/fhir/r4");
        assert_eq!(c["resourceType"], "CapabilityStatement");
        assert_eq!(c["status"], "active");
        assert_eq!(c["kind"], "instance");
        assert_eq!(c["fhirVersion"], "4.0.1");
        assert_eq!(c["date"], CAPABILITY_DATE);
        assert!(c["format"].as_array().unwrap().contains(&json!(FHIR_JSON)));
        // cpb-15: an instance statement has an implementation.
        assert_eq!(c["implementation"]["url"], "https://clinic.example/fhir/r4");
        let rest = &c["rest"][0];
        assert_eq!(rest["mode"], "server");
        let types: Vec<&str> = rest["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Patient", "Observation", "Composition", "Consent"]);
        assert_eq!(rest["resource"][1]["supportedProfile"][0], BP_PROFILE);
        assert_eq!(rest["resource"][1]["searchParam"][0]["name"], "patient");
    }
}
