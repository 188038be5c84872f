//! The clinicians' view of consented mothers (`/api/v1/phr`) and clinic administration
//! (`/api/v1/clinics`). Every request names the caller (a staff session), checks the role, the
//! caller's clinics and the mother's consent, and is audited whether it is allowed or not.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use phr_wire::clinic::{
    AttestRequest, BpRow, CheckupRow, ClinicalNoteRow, DraftRequest, EpdsRow, Invitation,
    MotherRecord, MotherSummary, NoteRow, Warning,
};
use phr_wire::consent::{Clinic, Scope};
use phr_wire::records::{Record, RecordKind, SoapText};
use phr_wire::rules::{WarningKind, bp_tier, epds_score};
use serde::Deserialize;
use uuid::Uuid;

use super::{invalid, json_rejection, target};
use crate::api::session::Caller;
use crate::app::Core;
use crate::auth::{self, Permission};
use crate::error::ApiError;
use crate::model::{AuditOutcome, Millis};
use crate::now_ms;
use crate::store::phr::{
    ClinicRow, ClinicalNote, ConsentRow, NewInvitation, StoredRecord, WarningQuery, WarningRow,
};

type ApiResult<T> = Result<T, ApiError>;

fn utc(ms: Millis) -> DateTime<FixedOffset> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().fixed_offset()
}

/// What one clinician may see of one mother: the union of her active consents to the
/// clinician's clinics.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub mother_id: Uuid,
    /// The first clinic (by consent time) that gives access; acknowledgements are made for it.
    pub clinic_id: String,
    pub scope: Vec<Scope>,
    pub consented_ms: Millis,
}

impl Access {
    pub fn allows(&self, s: Scope) -> bool {
        self.scope.contains(&s)
    }
}

/// The caller's clinics; 403 (audited) when the caller belongs to none.
async fn clinics_of(
    core: &Core,
    caller: &Caller,
    action: &str,
    target: &str,
) -> ApiResult<Vec<String>> {
    let clinics = core.store.clinics_of_staff(&caller.staff.username).await?;
    if clinics.is_empty() {
        caller
            .audit(core, action, target, AuditOutcome::Denied, "not a member of any clinic")
            .await
            .ok();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you are not a member of any clinic",
        ));
    }
    Ok(clinics)
}

/// Everyone the caller may see, by mother.
async fn accessible(core: &Core, clinics: &[String]) -> ApiResult<BTreeMap<Uuid, Access>> {
    let rows = core.store.active_consents_for(clinics).await?;
    let mut out: BTreeMap<Uuid, Access> = BTreeMap::new();
    let mut rows: Vec<ConsentRow> = rows;
    rows.sort_by_key(|r| r.granted_ms);
    for r in rows {
        let a = out.entry(r.mother_id).or_insert_with(|| Access {
            mother_id: r.mother_id,
            clinic_id: r.clinic_id.clone(),
            scope: Vec::new(),
            consented_ms: r.granted_ms,
        });
        a.scope.extend(r.scope.iter().copied());
        a.scope.sort();
        a.scope.dedup();
    }
    Ok(out)
}

/// The caller's access to one mother; 403 (audited) without an active consent to one of the
/// caller's clinics.
pub(crate) async fn access_to(
    core: &Core,
    caller: &Caller,
    mother_id: Uuid,
    action: &str,
) -> ApiResult<Access> {
    caller.require(core, Permission::ViewPatients, action, &target(mother_id)).await?;
    let clinics = clinics_of(core, caller, action, &target(mother_id)).await?;
    match accessible(core, &clinics).await?.remove(&mother_id) {
        Some(a) => Ok(a),
        None => {
            caller
                .audit(
                    core,
                    action,
                    &target(mother_id),
                    AuditOutcome::Denied,
                    "no active consent to the caller's clinics",
                )
                .await
                .ok();
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "no_consent",
                "this mother has not consented to share her records with your clinic",
            ))
        }
    }
}

fn parse_record(r: &StoredRecord) -> Option<Record> {
    let data = serde_json::from_str(r.data.as_deref()?).ok()?;
    Record::from_data(r.kind, data).ok()
}

fn bp_row(core: &Core, r: &StoredRecord) -> Option<BpRow> {
    let Some(Record::BpReading(b)) = parse_record(r) else { return None };
    Some(BpRow {
        id: r.id,
        measured_at: b.measured_at,
        systolic: b.systolic,
        diastolic: b.diastolic,
        pulse: b.pulse,
        session: b.session,
        tier: bp_tier(&b, &core.config.phr.thresholds()),
        symptoms: b.symptoms,
        note: b.note,
    })
}

fn warning_scope(k: WarningKind) -> Scope {
    match k {
        WarningKind::BpSameDay | WarningKind::BpEmergency => Scope::BloodPressure,
        WarningKind::EpdsPositive | WarningKind::EpdsSelfHarm => Scope::Epds,
    }
}

fn warning_json(w: &WarningRow, name: &str) -> Warning {
    Warning {
        id: w.id,
        mother_id: w.mother_id,
        display_name: name.to_owned(),
        record_id: w.record_id,
        kind: w.kind,
        detail: w.detail.clone(),
        occurred_at: utc(w.occurred_ms),
        raised_at: utc(w.raised_ms),
        acknowledged_by: w.ack_by.clone(),
        acknowledged_at: w.ack_ms.map(utc),
    }
}

pub async fn mothers(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<MotherSummary>>> {
    caller.require(&core, Permission::ViewPatients, "phr.list", "mothers").await?;
    let clinics = clinics_of(&core, &caller, "phr.list", "mothers").await?;
    let access = accessible(&core, &clinics).await?;
    let mut out = Vec::with_capacity(access.len());
    for a in access.values() {
        let Some(m) = core.store.mother(a.mother_id).await? else { continue };
        let open = core
            .store
            .warnings(&WarningQuery { mothers: vec![a.mother_id], open_only: true, limit: 1000 })
            .await?
            .iter()
            .filter(|w| a.allows(warning_scope(w.kind)))
            .count() as u32;
        let latest_bp = if a.allows(Scope::BloodPressure) {
            core.store
                .records_of(a.mother_id, &[RecordKind::BpReading], 1)
                .await?
                .first()
                .and_then(|r| bp_row(&core, r))
        } else {
            None
        };
        out.push(MotherSummary {
            mother_id: m.id,
            display_name: m.display_name,
            clinic_id: a.clinic_id.clone(),
            scope: a.scope.clone(),
            consented_at: utc(a.consented_ms),
            open_warnings: open,
            latest_bp,
            last_upload_at: core.store.last_received_ms(a.mother_id).await?.map(utc),
        });
    }
    // Mothers with open warnings first, then by name.
    out.sort_by(|x, y| {
        y.open_warnings.cmp(&x.open_warnings).then_with(|| x.display_name.cmp(&y.display_name))
    });
    caller
        .audit(&core, "phr.list", "mothers", AuditOutcome::Ok, &format!("{} mothers", out.len()))
        .await?;
    Ok(Json(out))
}

pub async fn mother(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<MotherRecord>> {
    let a = access_to(&core, &caller, id, "phr.read").await?;
    let m = core.store.mother(id).await?.ok_or_else(|| ApiError::not_found("no such mother"))?;
    let kinds: Vec<RecordKind> =
        RecordKind::ALL.into_iter().filter(|k| a.allows(Scope::of(*k))).collect();
    let records = core.store.records_of(id, &kinds, 5000).await?;
    let cutoff = core.config.phr.epds_cutoff;
    let (mut readings, mut checkups, mut epds, mut notes) = (vec![], vec![], vec![], vec![]);
    for r in &records {
        match parse_record(r) {
            Some(Record::BpReading(_)) => readings.extend(bp_row(&core, r)),
            Some(Record::Checkup(c)) => checkups.push(CheckupRow { id: r.id, checkup: c }),
            Some(Record::Epds(e)) => {
                let s = epds_score(&e, cutoff);
                epds.push(EpdsRow {
                    id: r.id,
                    taken_at: e.taken_at,
                    total: s.total,
                    item10: s.item10,
                    positive: s.positive,
                    self_harm: s.self_harm,
                });
            }
            Some(Record::Note(n)) => notes.push(NoteRow { id: r.id, note: n }),
            None => {}
        }
    }
    let warnings = core
        .store
        .warnings(&WarningQuery { mothers: vec![id], open_only: false, limit: 1000 })
        .await?
        .iter()
        .filter(|w| a.allows(warning_scope(w.kind)))
        .map(|w| warning_json(w, &m.display_name))
        .collect();
    let clinical_notes =
        core.store.clinical_notes(id).await?.iter().map(clinical_note_row).collect();
    caller
        .audit(
            &core,
            "phr.read",
            &target(id),
            AuditOutcome::Ok,
            &format!("scope {}", phr_wire::consent::scope_to_string(&a.scope)),
        )
        .await?;
    Ok(Json(MotherRecord {
        mother_id: id,
        display_name: m.display_name,
        scope: a.scope,
        readings,
        checkups,
        epds,
        notes,
        warnings,
        clinical_notes,
    }))
}

fn clinical_note_row(n: &ClinicalNote) -> ClinicalNoteRow {
    ClinicalNoteRow {
        id: n.id,
        author: n.author.clone(),
        attested_at: utc(n.attested_ms),
        lang: n.lang.clone(),
        soap: serde_json::from_str(&n.soap).unwrap_or_default(),
        signed: n.signature.is_some(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningsQuery {
    #[serde(default)]
    pub open: Option<bool>,
}

pub async fn warnings(
    State(core): State<Arc<Core>>,
    caller: Caller,
    q: Result<Query<WarningsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<Warning>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.require(&core, Permission::ViewPatients, "phr.warnings", "warnings").await?;
    let clinics = clinics_of(&core, &caller, "phr.warnings", "warnings").await?;
    let access = accessible(&core, &clinics).await?;
    let rows = core
        .store
        .warnings(&WarningQuery {
            mothers: access.keys().copied().collect(),
            open_only: q.open.unwrap_or(true),
            limit: 500,
        })
        .await?;
    let mut names = BTreeMap::new();
    for id in access.keys() {
        if let Some(m) = core.store.mother(*id).await? {
            names.insert(*id, m.display_name);
        }
    }
    let out: Vec<Warning> = rows
        .iter()
        .filter(|w| access.get(&w.mother_id).is_some_and(|a| a.allows(warning_scope(w.kind))))
        .map(|w| warning_json(w, names.get(&w.mother_id).map_or("", String::as_str)))
        .collect();
    caller
        .audit(
            &core,
            "phr.warnings",
            "warnings",
            AuditOutcome::Ok,
            &format!("{} warnings", out.len()),
        )
        .await?;
    Ok(Json(out))
}

pub async fn acknowledge(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Warning>> {
    let Some(w) = core.store.warning(id).await? else {
        caller
            .audit(
                &core,
                "phr.warning.acknowledge",
                &format!("warning/{id}"),
                AuditOutcome::Failed,
                "no such warning",
            )
            .await
            .ok();
        return Err(ApiError::not_found("no such warning"));
    };
    let a = access_to(&core, &caller, w.mother_id, "phr.warning.acknowledge").await?;
    if !a.allows(warning_scope(w.kind)) {
        caller
            .audit(
                &core,
                "phr.warning.acknowledge",
                &target(w.mother_id),
                AuditOutcome::Denied,
                "outside the consented scope",
            )
            .await
            .ok();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_consent",
            "outside what this mother shares with your clinic",
        ));
    }
    let result =
        core.store.acknowledge_warning(id, &caller.staff.username, &a.clinic_id, now_ms()).await;
    let row = caller
        .audit_failure(&core, "phr.warning.acknowledge", &target(w.mother_id), result)
        .await?;
    caller
        .audit(
            &core,
            "phr.warning.acknowledge",
            &target(w.mother_id),
            AuditOutcome::Ok,
            &format!("warning {id} {}", w.kind.as_str()),
        )
        .await?;
    let name = core.store.mother(w.mother_id).await?.map(|m| m.display_name).unwrap_or_default();
    Ok(Json(warning_json(&row, &name)))
}

pub async fn invitation(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Invitation>> {
    caller.require(&core, Permission::ViewPatients, "phr.invite", "invitations").await?;
    let clinics = clinics_of(&core, &caller, "phr.invite", "invitations").await?;
    let clinic = clinics[0].clone();
    // 12 characters from a 32-letter alphabet without look-alikes (60 bits), typed by her once.
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let hex = auth::random_hex(8);
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    let mut bits: u64 = bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b));
    let mut code = String::new();
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    let now = now_ms();
    let expires_ms = now + (core.config.phr.invitation_days * 86_400_000) as Millis;
    let inv = NewInvitation {
        code_hash: super::mother::invitation_digest(&code),
        clinic_id: clinic.clone(),
        created_by: caller.staff.username.clone(),
        created_ms: now,
        expires_ms,
    };
    let result = core.store.create_invitation(&inv).await;
    caller.audit_failure(&core, "phr.invite", &format!("clinic/{clinic}"), result).await?;
    caller
        .audit(
            &core,
            "phr.invite",
            &format!("clinic/{clinic}"),
            AuditOutcome::Ok,
            "invitation created",
        )
        .await?;
    Ok(Json(Invitation { code, clinic_id: clinic, expires_at: utc(expires_ms) }))
}

fn lang_of(s: &str) -> Option<ai_notes::soap::Lang> {
    match s {
        "ja" => Some(ai_notes::soap::Lang::Ja),
        "en" => Some(ai_notes::soap::Lang::En),
        _ => None,
    }
}

/// The four sections of an ai-notes draft as plain text, one statement per line.
pub(crate) fn soap_text(note: &ai_notes::soap::SoapNote) -> SoapText {
    use ai_notes::soap::Section;
    let join =
        |s: Section| note.section(s).map(|st| st.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut assessment = join(Section::A);
    for f in &note.red_flags {
        if !assessment.is_empty() {
            assessment.push('\n');
        }
        assessment.push_str(&f.message);
    }
    SoapText {
        subjective: join(Section::S),
        objective: join(Section::O),
        assessment,
        plan: join(Section::P),
    }
}

#[derive(Debug, serde::Serialize)]
pub struct DraftResponse {
    pub lang: String,
    pub soap: SoapText,
    /// Measurements ai-notes read but refused as implausible (shown so nothing is silently lost).
    pub rejected: Vec<String>,
}

pub async fn draft_note(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Result<Json<DraftRequest>, JsonRejection>,
) -> ApiResult<Json<DraftResponse>> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    access_to(&core, &caller, id, "phr.note.draft").await?;
    let Some(lang) = lang_of(&req.lang) else {
        return Err(invalid(&core, "lang: must be ja or en"));
    };
    if req.transcript.trim().is_empty()
        || req.transcript.chars().count() > phr_wire::records::limits::NOTE_TEXT
    {
        return Err(invalid(&core, "transcript: 1–20000 characters"));
    }
    let transcript = req.transcript.clone();
    let note = tokio::task::spawn_blocking(move || ai_notes::soap::structure(&transcript, lang))
        .await
        .map_err(ApiError::internal)?;
    caller
        .audit(&core, "phr.note.draft", &target(id), AuditOutcome::Ok, "draft from transcript")
        .await?;
    Ok(Json(DraftResponse {
        lang: req.lang,
        soap: soap_text(&note),
        rejected: note.rejected.iter().map(|r| format!("{r:?}")).collect(),
    }))
}

pub async fn attest_note(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Result<Json<AttestRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ClinicalNoteRow>)> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    let a = access_to(&core, &caller, id, "phr.note.attest").await?;
    if lang_of(&req.lang).is_none() {
        return Err(invalid(&core, "lang: must be ja or en"));
    }
    let s = &req.soap;
    let parts = [&s.subjective, &s.objective, &s.assessment, &s.plan];
    if parts.iter().all(|p| p.trim().is_empty()) {
        return Err(invalid(&core, "soap: an attested note needs at least one section"));
    }
    let max = phr_wire::records::limits::NOTE_TEXT;
    if parts.iter().chain([&&req.transcript]).any(|p| p.chars().count() > max) {
        return Err(invalid(&core, format!("soap: each section at most {max} characters")));
    }
    let now = now_ms();
    let note_id = Uuid::new_v4();
    let attested = utc(now);
    let input = super::fhir::NoteInput {
        id: note_id,
        mother_id: id,
        author_username: caller.staff.username.clone(),
        author_display: caller.staff.display_name.clone(),
        attested_at: attested,
        lang: req.lang.clone(),
        soap: req.soap.clone(),
        transcript: req.transcript.clone(),
        ai_drafted: req.ai_drafted,
    };
    let signer = super::fhir::NoSigner;
    let (composition, provenance, signature) =
        super::fhir::final_composition(&input, &signer).map_err(ApiError::internal)?;
    let note = ClinicalNote {
        id: note_id,
        mother_id: id,
        clinic_id: a.clinic_id.clone(),
        author: caller.staff.username.clone(),
        attested_ms: now,
        lang: req.lang.clone(),
        soap: serde_json::to_string(&req.soap).map_err(ApiError::internal)?,
        composition: composition.to_string(),
        provenance: serde_json::Value::Array(provenance).to_string(),
        signature,
    };
    let result = core.store.insert_clinical_note(&note).await;
    caller.audit_failure(&core, "phr.note.attest", &target(id), result).await?;
    caller
        .audit(
            &core,
            "phr.note.attest",
            &target(id),
            AuditOutcome::Ok,
            &format!("note {note_id} final{}", if req.ai_drafted { ", AI draft" } else { "" }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(clinical_note_row(&note))))
}

// --- administration ------------------------------------------------------------------------

pub async fn list_clinics(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<Clinic>>> {
    caller.require(&core, Permission::ManageStaff, "clinic.list", "clinics").await?;
    let c = core.store.clinics().await?;
    Ok(Json(c.into_iter().map(|c| Clinic { id: c.id, name: c.name }).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutClinic {
    pub name: String,
}

pub async fn put_clinic(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<PutClinic>, JsonRejection>,
) -> ApiResult<Json<Clinic>> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    caller.require(&core, Permission::ManageStaff, "clinic.put", &format!("clinic/{id}")).await?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(invalid(&core, "clinic id: 1–64 characters a-z, 0-9, -"));
    }
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(invalid(&core, "name: 1–120 characters"));
    }
    core.store.put_clinic(&ClinicRow { id: id.clone(), name: name.clone() }).await?;
    caller.audit(&core, "clinic.put", &format!("clinic/{id}"), AuditOutcome::Ok, &name).await?;
    Ok(Json(Clinic { id, name }))
}

pub async fn add_member(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path((id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let t = format!("clinic/{id}");
    caller.require(&core, Permission::ManageStaff, "clinic.member", &t).await?;
    let result = core.store.add_clinic_member(&id, &username).await;
    caller.audit_failure(&core, "clinic.member", &t, result).await?;
    caller
        .audit(&core, "clinic.member", &t, AuditOutcome::Ok, &format!("added {username}"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- dictation -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangQuery {
    /// `ja` or `en`: the language spoken and of the draft.
    pub lang: String,
}

/// A transcribed dictation with its SOAP draft, for the speaker to check and edit.
#[derive(Debug, serde::Serialize)]
pub struct Dictation {
    pub lang: String,
    pub transcript: String,
    pub soap: SoapText,
    /// The speech model that transcribed it (for the note's provenance).
    pub model: String,
    pub rejected: Vec<String>,
}

/// Transcribes a WAV body on the server and drafts a note from it.
pub(crate) async fn dictate(
    core: &Core,
    lang: &str,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Dictation> {
    use super::speech::{MAX_WAV_BYTES, SpeechError};
    let wav = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            super::bump(&core.phr_stats.too_large, 1);
            ApiError::new(
                e.status(),
                "too_large",
                format!("recording larger than {MAX_WAV_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    let Some(l) = lang_of(lang) else { return Err(invalid(core, "lang: must be ja or en")) };
    let Some(speech) = core.speech.get().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_speech_model",
            "this server has no speech model: type the transcript instead",
        ));
    };
    if wav.is_empty() {
        return Err(invalid(core, "body: an empty recording"));
    }
    let model = speech.describe.clone();
    let (transcript, note) = tokio::task::spawn_blocking(move || {
        let text = speech.transcribe_wav(&wav, l)?;
        let note = ai_notes::soap::structure(&text, l);
        Ok::<_, SpeechError>((text, note))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        SpeechError::Audio(_) | SpeechError::TooLong(_) => invalid(core, format!("body: {e}")),
        other => ApiError::internal(other),
    })?;
    Ok(Dictation {
        lang: lang.to_owned(),
        soap: soap_text(&note),
        rejected: note.rejected.iter().map(|r| format!("{r:?}")).collect(),
        transcript,
        model,
    })
}

pub async fn transcribe_note(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    q: Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<Dictation>> {
    let Query(q) = q.map_err(|e| invalid(&core, e.body_text()))?;
    access_to(&core, &caller, id, "phr.note.transcribe").await?;
    let result = dictate(&core, &q.lang, body).await;
    let d = caller.audit_failure(&core, "phr.note.transcribe", &target(id), result).await?;
    caller
        .audit(
            &core,
            "phr.note.transcribe",
            &target(id),
            AuditOutcome::Ok,
            &format!("{} characters", d.transcript.chars().count()),
        )
        .await?;
    Ok(Json(d))
}
