//! The mother's API (`/phr/v1`): her account and tokens, consent, upload and download.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use phr_wire::auth::{
    LoginRequest, MotherAccount, RefreshRequest, RegisterRequest, Tokens, normalise_login,
};
use phr_wire::consent::{Clinic, Consent, ConsentGrant};
use phr_wire::records::{
    DownloadItem, DownloadResponse, ItemOutcome, ItemResult, UploadRequest, UploadResponse,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{bump, invalid, json_rejection, target};
use crate::api::session::remote_of;
use crate::app::Core;
use crate::auth;
use crate::error::ApiError;
use crate::model::{AuditEntry, AuditOutcome, Millis};
use crate::now_ms;
use crate::store::phr::{ConsentRow, MotherRow, MotherToken, PhrChange, RefreshUse, TokenKind};

type ApiResult<T> = Result<T, ApiError>;

/// An authenticated mother (access token).
#[derive(Debug, Clone)]
pub struct Mother {
    pub account: MotherRow,
    pub token: MotherToken,
    pub remote: String,
}

impl Mother {
    pub fn actor(&self) -> String {
        format!("mother:{}", self.account.login)
    }

    /// Appends to the audit log; a write that cannot be recorded is refused (fails closed).
    pub async fn audit(
        &self,
        core: &Core,
        action: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) -> ApiResult<()> {
        record(
            core,
            Some(self.actor()),
            action,
            &target(self.account.id),
            outcome,
            &self.remote,
            detail,
        )
        .await
    }
}

/// Appends an audit entry about a mother's data.
pub(crate) async fn record(
    core: &Core,
    actor: Option<String>,
    action: &str,
    target: &str,
    outcome: AuditOutcome,
    remote: &str,
    detail: &str,
) -> ApiResult<()> {
    let entry = AuditEntry {
        at_ms: now_ms(),
        actor,
        role: None,
        action: action.to_owned(),
        target: target.to_owned(),
        outcome,
        remote: remote.to_owned(),
        detail: detail.to_owned(),
    };
    core.store.append_audit(&entry).await.map(|_| ()).map_err(ApiError::internal)
}

fn bearer(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Why a token was refused (audited; the client sees only 401).
async fn refuse(core: &Core, parts: &Parts, actor: Option<String>, why: &str) -> ApiError {
    bump(&core.phr_stats.bad_tokens, 1);
    let path = parts.uri.path().chars().take(200).collect::<String>();
    record(
        core,
        actor,
        "authenticate",
        &format!("{} {path}", parts.method),
        AuditOutcome::Denied,
        &remote_of(parts),
        why,
    )
    .await
    .ok();
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing, expired or revoked token: log in again",
    )
}

impl Mother {
    /// Resolves an access token, if the request carries one that is a mother's.
    pub(crate) async fn from_parts(parts: &Parts, core: &Core) -> Result<Option<Self>, ApiError> {
        let Some(token) = bearer(parts) else { return Ok(None) };
        let Some(t) = core.store.mother_token(&auth::token_digest(&token)).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let actor = Some(format!("mother-id:{}", t.mother_id));
        if t.kind != TokenKind::Access {
            return Err(refuse(core, parts, actor, "refresh token used as access token").await);
        }
        if t.revoked_ms.is_some() {
            return Err(refuse(core, parts, actor, "token revoked").await);
        }
        if t.expires_ms <= now {
            return Err(refuse(core, parts, actor, "token expired").await);
        }
        let account = match core.store.mother(t.mother_id).await? {
            Some(m) if !m.disabled => m,
            _ => return Err(refuse(core, parts, actor, "account disabled").await),
        };
        Ok(Some(Mother { account, token: t, remote: remote_of(parts) }))
    }
}

impl FromRequestParts<Arc<Core>> for Mother {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        match Mother::from_parts(parts, core).await? {
            Some(m) => Ok(m),
            None => Err(refuse(core, parts, None, "no or unknown token").await),
        }
    }
}

fn utc(ms: Millis) -> DateTime<FixedOffset> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().fixed_offset()
}

/// Issues a new access + refresh pair in `family`.
async fn issue(core: &Core, mother_id: Uuid, family: &str, device: &str) -> ApiResult<Tokens> {
    let now = now_ms();
    let cfg = &core.config.phr;
    let access_s = cfg.access_token_minutes * 60;
    let refresh_s = cfg.refresh_token_days * 86_400;
    let access = auth::new_token().map_err(ApiError::internal)?;
    let refresh = auth::new_token().map_err(ApiError::internal)?;
    let row = |token: &str, kind, life_s: u64| MotherToken {
        token_hash: auth::token_digest(token),
        mother_id,
        kind,
        family: family.to_owned(),
        device: device.to_owned(),
        created_ms: now,
        expires_ms: now + (life_s * 1000) as Millis,
        used_ms: None,
        revoked_ms: None,
    };
    core.store
        .insert_mother_tokens(&[
            row(&access, TokenKind::Access, access_s),
            row(&refresh, TokenKind::Refresh, refresh_s),
        ])
        .await?;
    Ok(Tokens {
        mother_id,
        access_token: access,
        access_expires_in_s: access_s,
        refresh_token: refresh,
        refresh_expires_in_s: refresh_s,
    })
}

/// Normalises an invitation code as typed (case, dashes and spaces do not matter).
pub(crate) fn invitation_digest(code: &str) -> String {
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    auth::token_digest(&clean)
}

pub async fn register(
    State(core): State<Arc<Core>>,
    crate::api::session::Remote(remote): crate::api::session::Remote,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    req.validate().map_err(|e| invalid(&core, e))?;
    let login = normalise_login(&req.login);
    let (password, cost) = (req.password.clone(), core.hash_cost());
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password, cost))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| invalid(&core, e))?;
    let now = now_ms();
    let row = MotherRow {
        id: Uuid::new_v4(),
        login: login.clone(),
        display_name: req.display_name.trim().to_owned(),
        invited_by: String::new(),
        created_ms: now,
        disabled: false,
    };
    let target_login = format!("mother-login:{}", login.chars().take(64).collect::<String>());
    let created = match core
        .store
        .register_mother(&invitation_digest(&req.invitation_code), &row, &hash, now)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            record(
                &core,
                None,
                "phr.register",
                &target_login,
                AuditOutcome::Denied,
                &remote,
                &e.to_string(),
            )
            .await
            .ok();
            return Err(match e {
                crate::store::StoreError::NotFound(_) => {
                    ApiError::not_found("invitation code unknown, already used or expired")
                }
                crate::store::StoreError::Conflict(_) => ApiError::conflict("that login is taken"),
                other => ApiError::from(other),
            });
        }
    };
    record(
        &core,
        Some(format!("mother:{}", created.login)),
        "phr.register",
        &target(created.id),
        AuditOutcome::Ok,
        &remote,
        &format!("invited by {}", created.invited_by),
    )
    .await?;
    let family = auth::random_hex(16);
    let tokens = issue(&core, created.id, &family, &req.device_name).await?;
    Ok((StatusCode::CREATED, Json(tokens)).into_response())
}

pub async fn login(
    State(core): State<Arc<Core>>,
    crate::api::session::Remote(remote): crate::api::session::Remote,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> ApiResult<Json<Tokens>> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    req.validate().map_err(|e| invalid(&core, e))?;
    let login = normalise_login(&req.login);
    let key = format!("mother:{login}");
    let now = now_ms();
    let (max, lockout) =
        (core.config.auth.max_failed_logins, (core.config.auth.lockout_s * 1000) as Millis);
    let target_login = format!("mother-login:{}", login.chars().take(64).collect::<String>());
    if core.logins.lock().map(|t| t.locked(&key, now, max, lockout)).unwrap_or(true) {
        record(
            &core,
            None,
            "phr.login",
            &target_login,
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
    let creds = core.store.mother_credentials(&login).await?;
    let hash = creds.as_ref().map_or_else(|| core.dummy_hash.clone(), |c| c.password_hash.clone());
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    let mother = match creds {
        Some(c) if ok && !c.mother.disabled => c.mother,
        _ => {
            if let Ok(mut t) = core.logins.lock() {
                t.failed(&key, now, lockout);
            }
            record(
                &core,
                None,
                "phr.login",
                &target_login,
                AuditOutcome::Denied,
                &remote,
                "wrong login or password",
            )
            .await
            .ok();
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong login or password",
            ));
        }
    };
    if let Ok(mut t) = core.logins.lock() {
        t.succeeded(&key);
    }
    record(
        &core,
        Some(format!("mother:{}", mother.login)),
        "phr.login",
        &target(mother.id),
        AuditOutcome::Ok,
        &remote,
        "password",
    )
    .await?;
    let family = auth::random_hex(16);
    Ok(Json(issue(&core, mother.id, &family, &req.device_name).await?))
}

pub async fn refresh(
    State(core): State<Arc<Core>>,
    crate::api::session::Remote(remote): crate::api::session::Remote,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> ApiResult<Json<Tokens>> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    let now = now_ms();
    let unauthorized =
        |msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg.to_owned());
    match core.store.use_refresh_token(&auth::token_digest(req.refresh_token.trim()), now).await? {
        RefreshUse::Fresh(t) => {
            let mother = core.store.mother(t.mother_id).await?.filter(|m| !m.disabled);
            let Some(mother) = mother else {
                bump(&core.phr_stats.bad_tokens, 1);
                return Err(unauthorized("account disabled"));
            };
            record(
                &core,
                Some(format!("mother:{}", mother.login)),
                "phr.token",
                &target(mother.id),
                AuditOutcome::Ok,
                &remote,
                "refresh",
            )
            .await?;
            Ok(Json(issue(&core, mother.id, &t.family, &t.device).await?))
        }
        RefreshUse::Replayed { mother_id, family } => {
            bump(&core.phr_stats.replayed_tokens, 1);
            record(
                &core,
                Some(format!("mother-id:{mother_id}")),
                "phr.token",
                &target(mother_id),
                AuditOutcome::Denied,
                &remote,
                &format!("refresh token replayed; every token of login {family} revoked"),
            )
            .await
            .ok();
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_replayed",
                "this refresh token was already used; for safety the login was ended: log in again",
            ))
        }
        RefreshUse::Expired { mother_id } => {
            bump(&core.phr_stats.bad_tokens, 1);
            record(
                &core,
                None,
                "phr.token",
                &target(mother_id),
                AuditOutcome::Denied,
                &remote,
                "refresh token expired",
            )
            .await
            .ok();
            Err(unauthorized("refresh token expired: log in again"))
        }
        RefreshUse::Unknown => {
            bump(&core.phr_stats.bad_tokens, 1);
            record(
                &core,
                None,
                "phr.token",
                "mother/unknown",
                AuditOutcome::Denied,
                &remote,
                "unknown refresh token",
            )
            .await
            .ok();
            Err(unauthorized("unknown refresh token: log in again"))
        }
    }
}

pub async fn logout(State(core): State<Arc<Core>>, m: Mother) -> ApiResult<StatusCode> {
    let n = core.store.revoke_token_family(&m.token.family, now_ms()).await?;
    m.audit(&core, "phr.logout", AuditOutcome::Ok, &format!("{n} tokens revoked")).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(core): State<Arc<Core>>, m: Mother) -> ApiResult<Json<MotherAccount>> {
    m.audit(&core, "phr.read", AuditOutcome::Ok, "account").await?;
    Ok(Json(MotherAccount {
        mother_id: m.account.id,
        login: m.account.login.clone(),
        display_name: m.account.display_name.clone(),
        invited_by: m.account.invited_by.clone(),
    }))
}

pub async fn clinics(State(core): State<Arc<Core>>, _m: Mother) -> ApiResult<Json<Vec<Clinic>>> {
    let c = core.store.clinics().await?;
    Ok(Json(c.into_iter().map(|c| Clinic { id: c.id, name: c.name }).collect()))
}

pub(crate) fn consent_json(c: &ConsentRow) -> Consent {
    Consent {
        id: c.id,
        clinic: Clinic { id: c.clinic_id.clone(), name: c.clinic_name.clone() },
        scope: c.scope.clone(),
        granted_at: utc(c.granted_ms),
        revoked_at: c.revoked_ms.map(utc),
    }
}

pub async fn consents(State(core): State<Arc<Core>>, m: Mother) -> ApiResult<Json<Vec<Consent>>> {
    let rows = core.store.consents_of_mother(m.account.id).await?;
    m.audit(&core, "phr.consent.read", AuditOutcome::Ok, &format!("{} consents", rows.len()))
        .await?;
    Ok(Json(rows.iter().map(consent_json).collect()))
}

pub async fn grant(
    State(core): State<Arc<Core>>,
    m: Mother,
    Path(clinic): Path<String>,
    body: Result<Json<ConsentGrant>, JsonRejection>,
) -> ApiResult<Json<Consent>> {
    let Json(req) = body.map_err(|e| json_rejection(&core, e))?;
    let Some(scope) = req.normalised() else {
        return Err(invalid(
            &core,
            "scope: name at least one of blood_pressure, checkups, epds, notes",
        ));
    };
    let result = core.store.grant_consent(m.account.id, &clinic, &scope, now_ms()).await;
    let row = match result {
        Ok(r) => r,
        Err(e) => {
            m.audit(
                &core,
                "phr.consent.grant",
                AuditOutcome::Failed,
                &format!("clinic {}: {e}", short(&clinic)),
            )
            .await
            .ok();
            return Err(e.into());
        }
    };
    m.audit(
        &core,
        "phr.consent.grant",
        AuditOutcome::Ok,
        &format!(
            "clinic {} scope {}",
            row.clinic_id,
            phr_wire::consent::scope_to_string(&row.scope)
        ),
    )
    .await?;
    Ok(Json(consent_json(&row)))
}

pub async fn revoke(
    State(core): State<Arc<Core>>,
    m: Mother,
    Path(clinic): Path<String>,
) -> ApiResult<Json<Consent>> {
    let row = match core.store.revoke_consent(m.account.id, &clinic, now_ms()).await {
        Ok(r) => r,
        Err(e) => {
            m.audit(
                &core,
                "phr.consent.revoke",
                AuditOutcome::Failed,
                &format!("clinic {}: {e}", short(&clinic)),
            )
            .await
            .ok();
            return Err(e.into());
        }
    };
    m.audit(&core, "phr.consent.revoke", AuditOutcome::Ok, &format!("clinic {}", row.clinic_id))
        .await?;
    Ok(Json(consent_json(&row)))
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

pub async fn upload(
    State(core): State<Arc<Core>>,
    m: Mother,
    body: Result<Json<UploadRequest>, JsonRejection>,
) -> ApiResult<Json<UploadResponse>> {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            let err = json_rejection(&core, e);
            m.audit(&core, "phr.upload", AuditOutcome::Failed, &err.message).await.ok();
            return Err(err);
        }
    };
    let now = now_ms();
    let changes = match req.validate(Utc::now()) {
        Ok(c) => c,
        Err(e) => {
            m.audit(&core, "phr.upload", AuditOutcome::Failed, &e.to_string()).await.ok();
            return Err(invalid(&core, e));
        }
    };
    let thresholds = core.config.phr.thresholds();
    let changes: Vec<PhrChange> = changes
        .into_iter()
        .map(|c| {
            let warnings = c
                .record
                .as_ref()
                .map(|r| phr_wire::rules::warnings(r, &thresholds))
                .unwrap_or_default();
            let occurred_ms = c.record.as_ref().map_or(0, |r| r.occurred_at().timestamp_millis());
            let data = c.canonical_data();
            PhrChange { change: c, data, occurred_ms, warnings }
        })
        .collect();
    let outcomes = match core.store.upload(m.account.id, &changes, now).await {
        Ok(o) => o,
        Err(e) => {
            m.audit(&core, "phr.upload", AuditOutcome::Failed, "storage error").await.ok();
            return Err(e.into());
        }
    };
    let count = |o: ItemOutcome| outcomes.iter().filter(|x| **x == o).count() as u64;
    let (stored, unchanged, superseded) =
        (count(ItemOutcome::Stored), count(ItemOutcome::Unchanged), count(ItemOutcome::Superseded));
    bump(&core.phr_stats.uploads, 1);
    bump(&core.phr_stats.items_stored, stored);
    bump(&core.phr_stats.items_unchanged, unchanged);
    bump(&core.phr_stats.items_superseded, superseded);
    m.audit(
        &core,
        "phr.upload",
        AuditOutcome::Ok,
        &format!(
            "{} items: {stored} stored, {unchanged} unchanged, {superseded} superseded",
            changes.len()
        ),
    )
    .await?;
    let results = changes
        .iter()
        .zip(outcomes)
        .map(|(c, outcome)| ItemResult { id: c.change.id, outcome })
        .collect();
    Ok(Json(UploadResponse { results }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<u32>,
}

pub async fn download(
    State(core): State<Arc<Core>>,
    m: Mother,
    q: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DownloadResponse>> {
    let Query(q) = q.map_err(|e| invalid(&core, e.body_text()))?;
    let limit = q.limit.unwrap_or(500).clamp(1, phr_wire::MAX_PAGE_ITEMS);
    if q.after < 0 {
        return Err(invalid(&core, "after: must be 0 or a cursor the server returned"));
    }
    let mut rows = core.store.records_since(m.account.id, q.after, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let updated_at = DateTime::parse_from_rfc3339(&r.updated_at)
            .map_err(|e| ApiError::internal(format!("stored time {}: {e}", r.updated_at)))?;
        let data = match &r.data {
            Some(d) => Some(serde_json::from_str(d).map_err(ApiError::internal)?),
            None => None,
        };
        items.push(DownloadItem {
            seq: r.seq,
            id: r.id,
            kind: r.kind,
            updated_at,
            deleted: r.deleted,
            data,
        });
    }
    let next_cursor = rows.last().map_or(q.after, |r| r.seq);
    m.audit(
        &core,
        "phr.download",
        AuditOutcome::Ok,
        &format!("after {}: {} items", q.after, items.len()),
    )
    .await?;
    Ok(Json(DownloadResponse { items, next_cursor, more }))
}

/// Her dictation, transcribed on the server when her phone has no speech model. Nothing is
/// stored: she checks the draft and uploads it as a note.
pub async fn transcribe(
    State(core): State<Arc<Core>>,
    m: Mother,
    q: Result<Query<super::clinic::LangQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<super::clinic::Dictation>> {
    let Query(q) = q.map_err(|e| invalid(&core, e.body_text()))?;
    match super::clinic::dictate(&core, &q.lang, body).await {
        Ok(d) => {
            m.audit(
                &core,
                "phr.note.transcribe",
                AuditOutcome::Ok,
                &format!("{} characters", d.transcript.chars().count()),
            )
            .await?;
            Ok(Json(d))
        }
        Err(e) => {
            m.audit(&core, "phr.note.transcribe", AuditOutcome::Failed, &e.message).await.ok();
            Err(e)
        }
    }
}
