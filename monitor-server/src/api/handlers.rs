//! JSON API handlers. Every patient-data route authenticates ([`Caller`]), checks the role and
//! writes the audit log before answering.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ctg_wire::StreamId;
use serde::{Deserialize, Serialize};

use super::session::{Caller, Remote, audit, clear_cookie, session_cookie};
use crate::app::Core;
use crate::auth::{self, Permission};
use crate::error::ApiError;
use crate::live::{BedView, Columns, PatientStamp, bed_view};
use crate::model::{
    Admission, AuditOutcome, AuditRecord, Bed, Binding, GestationalAge, Millis, NewAdmission, Role,
    SessionRecord, Staff,
};
use crate::now_ms;
use crate::registry::{Assignment, Rejection};
use crate::store::{AuditQuery, LoginCode, SampleQuery};

type ApiResult<T> = Result<T, ApiError>;

pub async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API route")
}

// --- login ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// API clients ask for the token in the body to use it as a bearer token.
    #[serde(default)]
    pub bearer: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_ms: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Creates a session for `staff` and returns (token, record).
async fn open_session(core: &Core, username: &str) -> ApiResult<(String, SessionRecord)> {
    let token = auth::new_token().map_err(ApiError::internal)?;
    let now = now_ms();
    let record = SessionRecord {
        token_hash: auth::token_digest(&token),
        username: username.to_owned(),
        csrf_token: auth::new_token().map_err(ApiError::internal)?,
        created_ms: now,
        expires_ms: now + (core.config.auth.session_hours * 3_600_000) as Millis,
    };
    core.store.create_session(&record).await?;
    Ok((token, record))
}

pub async fn login(
    State(core): State<Arc<Core>>,
    Remote(remote): Remote,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = now_ms();
    let (max, lockout) =
        (core.config.auth.max_failed_logins, (core.config.auth.lockout_s * 1000) as Millis);
    let locked =
        core.logins.lock().map(|t| t.locked(&req.username, now, max, lockout)).unwrap_or(true);
    if locked {
        audit(
            &core,
            None,
            "login",
            &format!("staff:{}", short(&req.username)),
            AuditOutcome::Denied,
            &remote,
            "locked after failed attempts",
        )
        .await
        .ok();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            "too many failed logins; try again later",
        ));
    }
    let creds = core.store.staff_credentials(&req.username).await?;
    let hash = creds.as_ref().map_or_else(|| core.dummy_hash.clone(), |c| c.password_hash.clone());
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    let staff = match creds {
        Some(c) if ok && !c.staff.disabled => c.staff,
        _ => {
            if let Ok(mut t) = core.logins.lock() {
                t.failed(&req.username, now, lockout);
            }
            audit(
                &core,
                None,
                "login",
                &format!("staff:{}", short(&req.username)),
                AuditOutcome::Denied,
                &remote,
                "wrong username or password",
            )
            .await
            .ok();
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong username or password",
            ));
        }
    };
    if let Ok(mut t) = core.logins.lock() {
        t.succeeded(&staff.username);
    }
    let (token, record) = open_session(&core, &staff.username).await?;
    audit(
        &core,
        Some(&staff),
        "login",
        &format!("staff:{}", staff.username),
        AuditOutcome::Ok,
        &remote,
        "password",
    )
    .await?;
    let body = LoginResponse {
        username: staff.username.clone(),
        display_name: staff.display_name.clone(),
        role: staff.role,
        csrf_token: record.csrf_token.clone(),
        expires_ms: record.expires_ms,
        token: req.bearer.then(|| token.clone()),
    };
    let cookie = session_cookie(
        &token,
        core.config.auth.session_hours * 3600,
        core.config.http.secure_cookies,
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    pub code: Option<String>,
}

/// `GET /login?code=…`: a one-time login link (the demo prints one). Redirects to the page.
pub async fn login_with_code(
    State(core): State<Arc<Core>>,
    Remote(remote): Remote,
    Query(q): Query<CodeQuery>,
) -> ApiResult<Response> {
    let code = q.code.unwrap_or_default();
    let username = if code.is_empty() {
        None
    } else {
        core.store.redeem_login_code(&auth::token_digest(&code), now_ms()).await?
    };
    let staff = match username {
        Some(u) => {
            core.store.staff_credentials(&u).await?.filter(|c| !c.staff.disabled).map(|c| c.staff)
        }
        None => None,
    };
    let Some(staff) = staff else {
        audit(
            &core,
            None,
            "login",
            "login-code",
            AuditOutcome::Denied,
            &remote,
            "invalid, used or expired code",
        )
        .await
        .ok();
        return Ok(Redirect::to("/#login-code-invalid").into_response());
    };
    let (token, _) = open_session(&core, &staff.username).await?;
    audit(
        &core,
        Some(&staff),
        "login",
        &format!("staff:{}", staff.username),
        AuditOutcome::Ok,
        &remote,
        "one-time code",
    )
    .await?;
    let cookie = session_cookie(
        &token,
        core.config.auth.session_hours * 3600,
        core.config.http.secure_cookies,
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

pub async fn logout(State(core): State<Arc<Core>>, caller: Caller) -> ApiResult<Response> {
    core.store.delete_session(&caller.session.token_hash).await?;
    caller
        .audit(&core, "logout", &format!("staff:{}", caller.staff.username), AuditOutcome::Ok, "")
        .await?;
    Ok((
        [(header::SET_COOKIE, clear_cookie(core.config.http.secure_cookies))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_ms: Millis,
}

pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        username: caller.staff.username,
        display_name: caller.staff.display_name,
        role: caller.staff.role,
        csrf_token: caller.session.csrf_token,
        expires_ms: caller.session.expires_ms,
    })
}

// --- streams ---------------------------------------------------------------------------------

/// One stream's accounting, as `GET /api/v1/streams` returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamView {
    pub stream_id: String,
    pub site: String,
    pub gateway: String,
    pub device: String,
    /// The patient bound by the server; `null` = unassigned (shown under nobody).
    pub patient: Option<PatientStamp>,
    /// The bed of the bound patient, or for an unassigned stream the label its gateway announces.
    pub bed: Option<String>,
    /// `admission` (server binding) or `gateway` (announced label) or `null`.
    pub bed_source: Option<String>,
    pub binding_id: Option<i64>,
    pub stored_samples: u64,
    /// Sequence numbers below the highest stored one that are not stored.
    pub missing_samples: u64,
    /// Of the missing, those the gateway declared dropped.
    pub dropped_samples: u64,
    pub duplicates_rejected: u64,
    pub rejected_payloads: u64,
    /// Acknowledged through this sequence number.
    pub watermark: Option<u64>,
    pub head_seq: Option<u64>,
    /// Age of the newest sample (server receive time); `null` if none since start-up.
    pub last_sample_age_ms: Option<Millis>,
    pub gateway_online: bool,
    pub clock: ctg_wire::ClockQuality,
}

fn stream_views(core: &Core, only_unassigned: bool) -> Vec<StreamView> {
    let now = now_ms();
    let timeout = core.gateway_timeout_ms();
    let r = core.registry();
    let mut out: Vec<StreamView> = r
        .streams()
        .filter_map(|s| {
            let assignment: Option<Assignment> = r
                .binding_of_stream(&s.id)
                .and_then(|b| r.active_admission(b.admission_id))
                .and_then(|a| r.assignment(&a.bed));
            if only_unassigned && assignment.is_some() {
                return None;
            }
            let (bed, bed_source) = match &assignment {
                Some(a) => (Some(a.bed.clone()), Some("admission".to_owned())),
                None => match r.device_bed_label(&s.id) {
                    Some(l) => (Some(l), Some("gateway".to_owned())),
                    None => (None, None),
                },
            };
            Some(StreamView {
                stream_id: s.id.to_string(),
                site: s.id.site.to_string(),
                gateway: s.id.gateway.to_string(),
                device: s.id.device.to_string(),
                patient: if only_unassigned {
                    None
                } else {
                    assignment.as_ref().map(|a| PatientStamp::of(a, now))
                },
                bed,
                bed_source,
                binding_id: assignment
                    .as_ref()
                    .and_then(|a| a.binding.as_ref())
                    .map(|b| b.binding_id),
                stored_samples: s.stored_samples(),
                missing_samples: s.missing_samples(),
                dropped_samples: s.dropped_samples(),
                duplicates_rejected: s.duplicates_rejected,
                rejected_payloads: s.rejected_payloads,
                watermark: s.watermark(),
                head_seq: s.head_seq,
                last_sample_age_ms: s.head_arrival_ms.map(|t| (now - t).max(0)),
                gateway_online: r.gateway_online(&s.id, now, timeout),
                clock: s.clock,
            })
        })
        .collect();
    out.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
    out
}

pub async fn streams(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<StreamView>>> {
    caller.require(&core, Permission::ViewStreams, "streams.read", "streams").await?;
    let views = stream_views(&core, false);
    caller
        .audit(
            &core,
            "streams.read",
            "streams",
            AuditOutcome::Ok,
            &format!("{} streams", views.len()),
        )
        .await?;
    Ok(Json(views))
}

/// Streams bound to nobody: what an operator binds next. No patient data, so not audited.
pub async fn unassigned_streams(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<StreamView>>> {
    caller.require(&core, Permission::ViewOperations, "streams.unassigned", "streams").await?;
    Ok(Json(stream_views(&core, true)))
}

// --- beds and admissions -------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
pub struct BedEntry {
    #[serde(flatten)]
    pub view: BedView,
    pub display_order: i64,
}

pub async fn beds(State(core): State<Arc<Core>>, caller: Caller) -> ApiResult<Json<Vec<BedEntry>>> {
    caller.require(&core, Permission::ViewPatients, "beds.read", "beds").await?;
    let now = now_ms();
    let entries: Vec<BedEntry> = {
        let r = core.registry();
        r.beds()
            .iter()
            .map(|b| BedEntry {
                view: bed_view(
                    &b.bed,
                    r.assignment(&b.bed).as_ref(),
                    &r,
                    now,
                    core.gateway_timeout_ms(),
                ),
                display_order: b.display_order,
            })
            .collect()
    };
    caller
        .audit(&core, "beds.read", "beds", AuditOutcome::Ok, &format!("{} beds", entries.len()))
        .await?;
    Ok(Json(entries))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBed {
    pub display_order: i64,
}

fn check_text(field: &str, v: &str, max_chars: usize) -> ApiResult<()> {
    let n = v.chars().count();
    if n == 0 || n > max_chars || v.chars().any(char::is_control) || v.trim() != v {
        return Err(ApiError::bad_request(format!(
            "{field}: 1-{max_chars} characters, no control characters or surrounding spaces"
        )));
    }
    Ok(())
}

pub async fn put_bed(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(bed): Path<String>,
    body: Result<Json<PutBed>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<StatusCode> {
    caller
        .require(&core, Permission::ManageBeds, "bed.put", &format!("bed:{}", short(&bed)))
        .await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    check_text("bed", &bed, 32)?;
    let _g = core.assign_lock.lock().await;
    core.store.put_bed(&Bed { bed: bed.clone(), display_order: req.display_order }).await?;
    core.reload_assignments().await?;
    caller.audit(&core, "bed.put", &format!("bed:{bed}"), AuditOutcome::Ok, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdmissionView {
    pub admission: Admission,
    pub binding: Option<Binding>,
    pub current_ga_weeks: u8,
    pub current_ga_days: u8,
}

fn admission_view(a: Admission, binding: Option<Binding>, now: Millis) -> AdmissionView {
    let ga = a.current_gestational_age(now);
    AdmissionView { admission: a, binding, current_ga_weeks: ga.weeks, current_ga_days: ga.days }
}

pub async fn admissions(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<AdmissionView>>> {
    caller.require(&core, Permission::ViewPatients, "admissions.read", "admissions").await?;
    let now = now_ms();
    let list = core.store.active_admissions().await?;
    let views: Vec<AdmissionView> = {
        let r = core.registry();
        list.into_iter()
            .map(|a| {
                let b = r.binding_of_admission(a.admission_id).cloned();
                admission_view(a, b, now)
            })
            .collect()
    };
    caller
        .audit(
            &core,
            "admissions.read",
            "admissions",
            AuditOutcome::Ok,
            &format!("{} admissions", views.len()),
        )
        .await?;
    Ok(Json(views))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdmitRequest {
    pub patient_id: String,
    pub name: String,
    pub ga_weeks: u8,
    pub ga_days: u8,
    pub bed: String,
}

pub async fn admit(
    State(core): State<Arc<Core>>,
    caller: Caller,
    body: Result<Json<AdmitRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<AdmissionView>)> {
    caller.require(&core, Permission::ManageAdmissions, "patient.admit", "admissions").await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if req.patient_id.is_empty()
        || req.patient_id.len() > 32
        || !req.patient_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request(
            "patient_id: 1-32 characters of A-Z, a-z, 0-9, '-', '_'",
        ));
    }
    check_text("name", &req.name, 100)?;
    check_text("bed", &req.bed, 32)?;
    let ga = GestationalAge::new(req.ga_weeks, req.ga_days)
        .ok_or_else(|| ApiError::bad_request("gestational age: weeks 20-44, days 0-6"))?;
    let target = format!("patient:{}", req.patient_id);
    let _g = core.assign_lock.lock().await;
    let new = NewAdmission {
        patient_id: req.patient_id.clone(),
        name: req.name.clone(),
        gestational_age: ga,
        bed: req.bed.clone(),
    };
    let admission = caller
        .audit_failure(
            &core,
            "patient.admit",
            &target,
            core.store.admit(&new, &caller.staff.username, now_ms()).await,
        )
        .await?;
    core.reload_assignments().await?;
    caller
        .audit(
            &core,
            "patient.admit",
            &target,
            AuditOutcome::Ok,
            &format!("admission {} bed {}", admission.admission_id, admission.bed),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(admission_view(admission, None, now_ms()))))
}

async fn load_admission(core: &Core, id: i64) -> ApiResult<Admission> {
    core.store.admission(id).await?.ok_or_else(|| ApiError::not_found(format!("admission {id}")))
}

pub async fn discharge(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<AdmissionView>> {
    caller
        .require(
            &core,
            Permission::ManageAdmissions,
            "patient.discharge",
            &format!("admission:{id}"),
        )
        .await?;
    let _g = core.assign_lock.lock().await;
    let a = load_admission(&core, id).await?;
    let target = format!("patient:{}", a.patient_id);
    let to_seq = {
        let r = core.registry();
        r.binding_of_admission(id).map_or(0, |b| r.binding_frontier(&b.stream))
    };
    let result = core.store.discharge(id, to_seq, now_ms()).await;
    let a = caller.audit_failure(&core, "patient.discharge", &target, result).await?;
    core.reload_assignments().await?;
    caller
        .audit(&core, "patient.discharge", &target, AuditOutcome::Ok, &format!("admission {id}"))
        .await?;
    Ok(Json(admission_view(a, None, now_ms())))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    pub stream_id: String,
}

pub async fn bind(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Result<Json<BindRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Binding>> {
    caller
        .require(&core, Permission::ManageAdmissions, "stream.bind", &format!("admission:{id}"))
        .await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let stream: StreamId =
        req.stream_id.parse().map_err(|e| ApiError::bad_request(format!("stream_id: {e}")))?;
    let _g = core.assign_lock.lock().await;
    let a = load_admission(&core, id).await?;
    let target = format!("patient:{}", a.patient_id);
    let from_seq = core.registry().binding_frontier(&stream);
    let b = caller
        .audit_failure(
            &core,
            "stream.bind",
            &target,
            core.store.bind(id, &stream, from_seq, &caller.staff.username, now_ms()).await,
        )
        .await?;
    core.reload_assignments().await?;
    caller
        .audit(
            &core,
            "stream.bind",
            &target,
            AuditOutcome::Ok,
            &format!("stream {stream} from seq {from_seq}, binding {}", b.binding_id),
        )
        .await?;
    Ok(Json(b))
}

pub async fn unbind(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Binding>> {
    caller
        .require(&core, Permission::ManageAdmissions, "stream.unbind", &format!("admission:{id}"))
        .await?;
    let _g = core.assign_lock.lock().await;
    let a = load_admission(&core, id).await?;
    let target = format!("patient:{}", a.patient_id);
    let to_seq = {
        let r = core.registry();
        r.binding_of_admission(id).map_or(0, |b| r.binding_frontier(&b.stream))
    };
    let b = caller
        .audit_failure(
            &core,
            "stream.unbind",
            &target,
            core.store.unbind(id, to_seq, now_ms()).await,
        )
        .await?;
    core.reload_assignments().await?;
    caller
        .audit(
            &core,
            "stream.unbind",
            &target,
            AuditOutcome::Ok,
            &format!("stream {} until seq {:?}", b.stream, b.to_seq),
        )
        .await?;
    Ok(Json(b))
}

// --- history -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub from_ms: Millis,
    pub to_ms: Millis,
}

/// The longest range one history request may cover.
pub const MAX_HISTORY_MS: Millis = 2 * 3_600_000;
/// Stored trace read before a history range and analysed with it (not returned), so that the
/// baseline at the start of the range has the signal before it (the baseline weighs ±20 min).
const HISTORY_CONTEXT_MS: Millis = 30 * 60_000;

#[derive(Debug, Serialize)]
pub struct HistorySegment {
    pub binding_id: i64,
    pub stream: String,
    pub from_seq: u64,
    pub to_seq: Option<u64>,
    pub samples: Columns,
    /// Baseline and events found by analysing the stored trace (with the 30 min before the
    /// range as context); absent when the segment has no samples.
    pub analysis: Option<crate::analysis::HistoryMarks>,
}

#[derive(Debug, Serialize)]
pub struct HistoryEvent {
    pub binding_id: i64,
    pub at_ms: Millis,
    pub seq: u64,
    pub event: ctg_wire::EventKind,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub patient: PatientStamp,
    pub bed: String,
    pub from_ms: Millis,
    pub to_ms: Millis,
    /// One segment per binding the patient had in the range; samples in sequence order, gaps
    /// left as gaps.
    pub segments: Vec<HistorySegment>,
    pub events: Vec<HistoryEvent>,
}

pub async fn history(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<History>> {
    caller
        .require(&core, Permission::ViewPatients, "history.read", &format!("admission:{id}"))
        .await?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.to_ms <= q.from_ms || q.to_ms - q.from_ms > MAX_HISTORY_MS {
        return Err(ApiError::bad_request("to_ms must be after from_ms, by at most 2 hours"));
    }
    let a = load_admission(&core, id).await?;
    let now = now_ms();
    let patient = PatientStamp {
        admission_id: a.admission_id,
        patient_id: a.patient_id.clone(),
        name: a.name.clone(),
        ga_weeks: a.current_gestational_age(now).weeks,
        ga_days: a.current_gestational_age(now).days,
    };
    let mut segments = Vec::new();
    let mut events = Vec::new();
    for b in core.store.bindings_of_admission(id).await? {
        let Some(key) = core.registry().stream_key(&b.stream) else { continue };
        let samples = core
            .store
            .samples(
                key,
                SampleQuery {
                    from_seq: b.from_seq,
                    to_seq: b.to_seq,
                    from_ms: q.from_ms.saturating_sub(HISTORY_CONTEXT_MS),
                    to_ms: q.to_ms,
                    limit: 48_000,
                },
            )
            .await?;
        let shown = samples.iter().position(|s| s.rx_ms >= q.from_ms).unwrap_or(samples.len());
        // Milliseconds of CPU for hours of trace: off the async workers.
        let ga = Some(patient.ga_weeks);
        let (samples, analysis) = tokio::task::spawn_blocking(move || {
            let analysis = samples
                .get(shown)
                .and_then(|first| crate::analysis::history_marks(&samples, first.seq, ga));
            (samples, analysis)
        })
        .await
        .map_err(ApiError::internal)?;
        let samples = &samples[shown..];
        for e in core.store.events(key, q.from_ms, q.to_ms, 10_000).await? {
            if b.covers(e.event.seq) {
                events.push(HistoryEvent {
                    binding_id: b.binding_id,
                    at_ms: e.event.at_ms,
                    seq: e.event.seq,
                    event: e.event.kind,
                });
            }
        }
        segments.push(HistorySegment {
            binding_id: b.binding_id,
            stream: b.stream.to_string(),
            from_seq: b.from_seq,
            to_seq: b.to_seq,
            samples: Columns::from_samples(samples),
            analysis,
        });
    }
    let count: usize = segments.iter().map(|s| s.samples.len()).sum();
    caller
        .audit(
            &core,
            "history.read",
            &format!("patient:{}", a.patient_id),
            AuditOutcome::Ok,
            &format!("{}..{} ms, {count} samples", q.from_ms, q.to_ms),
        )
        .await?;
    Ok(Json(History { patient, bed: a.bed, from_ms: q.from_ms, to_ms: q.to_ms, segments, events }))
}

// --- operations ----------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct GatewayView {
    pub site: String,
    pub gateway: String,
    pub online: bool,
    pub presence: Option<ctg_wire::PresenceState>,
    pub reason: String,
    pub software: String,
    pub last_heard_age_ms: Millis,
    pub devices: Vec<ctg_wire::control::DeviceInfo>,
    pub outbox_blocks: Option<u64>,
    pub outbox_oldest_age_ms: Option<u64>,
    pub outbox_full: Option<bool>,
}

pub async fn gateways(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<GatewayView>>> {
    caller.require(&core, Permission::ViewOperations, "gateways.read", "gateways").await?;
    let now = now_ms();
    let timeout = core.gateway_timeout_ms();
    let mut list: Vec<GatewayView> = core
        .registry()
        .gateways()
        .map(|g| GatewayView {
            site: g.site.to_string(),
            gateway: g.gateway.to_string(),
            online: g.online(now, timeout),
            presence: g.presence,
            reason: g.presence_reason.clone(),
            software: g.software.clone(),
            last_heard_age_ms: now - g.last_heard_ms,
            devices: g.devices.clone(),
            outbox_blocks: g.last_heartbeat.as_ref().map(|h| h.outbox_blocks),
            outbox_oldest_age_ms: g.last_heartbeat.as_ref().map(|h| h.outbox_oldest_age_ms),
            outbox_full: g.last_heartbeat.as_ref().map(|h| h.outbox_full),
        })
        .collect();
    list.sort_by(|a, b| (&a.site, &a.gateway).cmp(&(&b.site, &b.gateway)));
    Ok(Json(list))
}

#[derive(Debug, Serialize)]
pub struct IngestView {
    pub ingest: crate::ingest::IngestStatsView,
    pub rejected: std::collections::BTreeMap<Rejection, u64>,
    pub live: crate::live::HubStats,
    /// The live CTG analysis: samples analysed, late backfill, evaluations, alarms.
    pub analysis: crate::analysis::AnalysisStats,
    /// The PHR API's uploads and refusals by reason.
    pub phr: crate::phr::PhrCounts,
}

pub async fn ingest(State(core): State<Arc<Core>>, caller: Caller) -> ApiResult<Json<IngestView>> {
    caller.require(&core, Permission::ViewOperations, "ingest.read", "ingest").await?;
    Ok(Json(IngestView {
        ingest: core.ingest_stats.view(),
        rejected: core.registry().rejections(),
        live: core.hub.stats(),
        analysis: core.analysis.stats(),
        phr: core.phr_stats.snapshot(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    pub before_id: Option<i64>,
    pub limit: Option<u32>,
}

pub async fn audit_log(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    caller.require(&core, Permission::ReadAudit, "audit.read", "audit").await?;
    let list = core
        .store
        .audit(AuditQuery { before_id: p.before_id, limit: p.limit.unwrap_or(200).min(1000) })
        .await?;
    caller
        .audit(&core, "audit.read", "audit", AuditOutcome::Ok, &format!("{} entries", list.len()))
        .await?;
    Ok(Json(list))
}

pub async fn list_staff(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> ApiResult<Json<Vec<Staff>>> {
    caller.require(&core, Permission::ManageStaff, "staff.read", "staff").await?;
    Ok(Json(core.store.list_staff().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

/// Creates a staff account (used by the API and by the `demo` and `add-staff` commands).
pub async fn create_staff_account(core: &Core, req: NewStaffRequest) -> ApiResult<Staff> {
    auth::check_username(&req.username).map_err(|e| ApiError::bad_request(e.to_string()))?;
    check_text("display_name", &req.display_name, 100)?;
    let cost = core.hash_cost();
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password, cost))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            auth::AuthError::WeakPassword => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other),
        })?;
    let staff = Staff {
        username: req.username,
        display_name: req.display_name,
        role: req.role,
        disabled: false,
    };
    core.store.create_staff(&staff, &hash, now_ms()).await?;
    Ok(staff)
}

pub async fn create_staff(
    State(core): State<Arc<Core>>,
    caller: Caller,
    body: Result<Json<NewStaffRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<Staff>)> {
    caller.require(&core, Permission::ManageStaff, "staff.create", "staff").await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let target = format!("staff:{}", short(&req.username));
    let staff = create_staff_account(&core, req).await?;
    caller
        .audit(&core, "staff.create", &target, AuditOutcome::Ok, &format!("role {}", staff.role))
        .await?;
    Ok((StatusCode::CREATED, Json(staff)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginCodeRequest {
    pub username: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginCodeResponse {
    pub code: String,
    /// Path to open: `/login?code=…`.
    pub path: String,
    pub expires_ms: Millis,
}

/// Issues a one-time login code for an existing, enabled account.
pub async fn issue_login_code(core: &Core, username: &str) -> ApiResult<LoginCodeResponse> {
    match core.store.staff_credentials(username).await? {
        Some(c) if !c.staff.disabled => {}
        _ => return Err(ApiError::not_found(format!("staff {:?}", short(username)))),
    }
    let code = auth::new_token().map_err(ApiError::internal)?;
    let expires_ms = now_ms() + (core.config.auth.login_code_minutes * 60_000) as Millis;
    core.store
        .create_login_code(&LoginCode {
            code_hash: auth::token_digest(&code),
            username: username.to_owned(),
            expires_ms,
        })
        .await?;
    Ok(LoginCodeResponse { path: format!("/login?code={code}"), code, expires_ms })
}

pub async fn create_login_code(
    State(core): State<Arc<Core>>,
    caller: Caller,
    body: Result<Json<LoginCodeRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<LoginCodeResponse>> {
    caller.require(&core, Permission::ManageStaff, "login_code.create", "staff").await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let r = issue_login_code(&core, &req.username).await?;
    caller
        .audit(
            &core,
            "login_code.create",
            &format!("staff:{}", short(&req.username)),
            AuditOutcome::Ok,
            "",
        )
        .await?;
    Ok(Json(r))
}
