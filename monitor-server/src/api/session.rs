//! Who is asking: the session extractor, the CSRF check, role checks and the audit helper.
//!
//! A request authenticates with the `ctg_session` cookie (HttpOnly, SameSite=Strict, set by a
//! login) or with `Authorization: Bearer <token>` (API clients). Requests that change state with
//! the cookie must also carry `X-CSRF-Token` (the session's CSRF token, which only our own page
//! can read) and, when the browser sends one, a same-origin `Origin`. Bearer requests cannot be
//! forged cross-site (browsers never attach them by themselves), so they need neither.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::app::Core;
use crate::auth::{Permission, constant_time_eq, token_digest};
use crate::error::ApiError;
use crate::model::{AuditEntry, AuditOutcome, SessionRecord, Staff};
use crate::now_ms;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ctg_session";
/// Header carrying the CSRF token on state-changing cookie requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub staff: Staff,
    pub session: SessionRecord,
    pub remote: String,
    pub via_cookie: bool,
}

/// The client address, as an extractor.
#[derive(Debug, Clone)]
pub struct Remote(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Remote(remote_of(parts)))
    }
}

/// The client address as the connection reports it.
pub fn remote_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The value of a cookie, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether an `Origin` header (if any) names this server.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
}

impl FromRequestParts<Arc<Core>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        let remote = remote_of(parts);
        let (token, via_cookie) = match bearer(&parts.headers) {
            Some(t) => (t.to_owned(), false),
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(t) => (t.to_owned(), true),
                None => {
                    deny(core, None, &parts.method, &full_path(parts), &remote, "no credentials")
                        .await;
                    return Err(ApiError::unauthorized());
                }
            },
        };
        let now = now_ms();
        let digest = token_digest(&token);
        let session = match core.store.session(&digest).await? {
            Some(s) if s.expires_ms > now => s,
            Some(_) => {
                core.store.delete_session(&digest).await?;
                deny(core, None, &parts.method, &full_path(parts), &remote, "session expired")
                    .await;
                return Err(ApiError::unauthorized());
            }
            None => {
                deny(core, None, &parts.method, &full_path(parts), &remote, "unknown session")
                    .await;
                return Err(ApiError::unauthorized());
            }
        };
        let staff = match core.store.staff_credentials(&session.username).await? {
            Some(c) if !c.staff.disabled => c.staff,
            _ => {
                deny(
                    core,
                    Some(&session.username),
                    &parts.method,
                    &full_path(parts),
                    &remote,
                    "account disabled",
                )
                .await;
                return Err(ApiError::unauthorized());
            }
        };
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if via_cookie && unsafe_method {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !constant_time_eq(sent, &session.csrf_token) || !same_origin(&parts.headers) {
                deny(
                    core,
                    Some(&staff.username),
                    &parts.method,
                    &full_path(parts),
                    &remote,
                    "CSRF check failed",
                )
                .await;
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong X-CSRF-Token, or cross-site request",
                ));
            }
        }
        Ok(Caller { staff, session, remote, via_cookie })
    }
}

/// The request path as the client sent it (nested routers see only their suffix).
fn full_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned())
}

/// Records a refused request (best effort: a refusal stands even if the log write fails).
async fn deny(
    core: &Core,
    actor: Option<&str>,
    method: &Method,
    path: &str,
    remote: &str,
    why: &str,
) {
    let entry = AuditEntry {
        at_ms: now_ms(),
        actor: actor.map(str::to_owned),
        role: None,
        action: "authenticate".into(),
        target: format!("{method} {}", path.chars().take(200).collect::<String>()),
        outcome: AuditOutcome::Denied,
        remote: remote.to_owned(),
        detail: why.into(),
    };
    if let Err(e) = core.store.append_audit(&entry).await {
        tracing::error!("audit log write failed: {e}");
    }
}

impl Caller {
    /// Checks the caller's role; a refusal is audited and answered 403.
    pub async fn require(
        &self,
        core: &Core,
        p: Permission,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        if self.staff.role.allows(p) {
            return Ok(());
        }
        self.audit(
            core,
            action,
            target,
            AuditOutcome::Denied,
            &format!("role {} lacks {p:?}", self.staff.role),
        )
        .await
        .ok();
        Err(ApiError::forbidden())
    }

    /// Appends to the audit log. Access to patient data fails closed: if the access cannot be
    /// recorded, it is refused.
    pub async fn audit(
        &self,
        core: &Core,
        action: &str,
        target: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) -> Result<(), ApiError> {
        audit(core, Some(&self.staff), action, target, outcome, &self.remote, detail).await
    }

    /// Passes `result` through; a failure is audited first (best effort: the caller's error is
    /// what the client must see, not a failure to record it).
    pub async fn audit_failure<T, E>(
        &self,
        core: &Core,
        action: &str,
        target: &str,
        result: Result<T, E>,
    ) -> Result<T, ApiError>
    where
        E: std::fmt::Display + Into<ApiError>,
    {
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.audit(core, action, target, AuditOutcome::Failed, &e.to_string()).await.ok();
                Err(e.into())
            }
        }
    }
}

/// Appends an audit entry; failure to record is an internal error.
pub async fn audit(
    core: &Core,
    staff: Option<&Staff>,
    action: &str,
    target: &str,
    outcome: AuditOutcome,
    remote: &str,
    detail: &str,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        at_ms: now_ms(),
        actor: staff.map(|s| s.username.clone()),
        role: staff.map(|s| s.role),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome,
        remote: remote.to_owned(),
        detail: detail.to_owned(),
    };
    core.store.append_audit(&entry).await.map(|_| ()).map_err(ApiError::internal)
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}
