//! The mothers' PHR on the server: her API (`/phr/v1`, app tokens), the clinicians' view of
//! consented mothers (`/api/v1/phr`, staff sessions), clinic administration, and the FHIR R4
//! read API (`/fhir/r4`). The contract is the `phr-wire` crate; storage is
//! [`crate::store::PhrStore`].
//!
//! Access rules, checked on every request and audited either way:
//! * a mother reads and writes only her own records (her token names her; record ids are scoped
//!   to her account, so another account's UUID can never reach hers);
//! * a clinician (midwife or obstetrician) sees a mother only through a clinic the clinician
//!   belongs to and the mother has an active consent for, and only the scopes she granted;
//!   a revocation takes effect on the next request;
//! * administrators manage clinics and membership but see no mother's data;
//! * nobody unauthenticated sees anything.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /phr/v1/register` | anyone with an invitation code | creates her account, returns tokens |
//! | `POST /phr/v1/login` | anyone | login + password → tokens |
//! | `POST /phr/v1/token` | refresh token | rotates the token pair; a replay revokes the login |
//! | `POST /phr/v1/logout` | mother | revokes the login's tokens |
//! | `GET /phr/v1/me` | mother | her account |
//! | `GET /phr/v1/clinics` | mother | clinics she can share with |
//! | `GET /phr/v1/consents` | mother | her consents, newest first |
//! | `PUT /phr/v1/consents/{clinic}` | mother | grant (replaces the scope) |
//! | `DELETE /phr/v1/consents/{clinic}` | mother | revoke |
//! | `POST /phr/v1/records` | mother | idempotent upload of changes |
//! | `POST /phr/v1/notes/transcribe?lang=` | mother | her dictation (WAV) → transcript + SOAP draft |
//! | `GET /phr/v1/records?after=` | mother | incremental download |
//! | `GET /api/v1/phr/mothers` | clinicians | consented mothers of the caller's clinics |
//! | `GET /api/v1/phr/mothers/{id}` | clinicians | her shared records |
//! | `GET /api/v1/phr/warnings` | clinicians | warnings of consented mothers |
//! | `POST /api/v1/phr/warnings/{id}/acknowledge` | clinicians | who and when |
//! | `POST /api/v1/phr/invitations` | clinicians | a registration code for the caller's clinic |
//! | `POST /api/v1/phr/mothers/{id}/notes/draft` | clinicians | transcript → SOAP draft |
//! | `POST /api/v1/phr/mothers/{id}/notes/transcribe?lang=` | clinicians | dictation (WAV) → transcript + draft |
//! | `POST /api/v1/phr/mothers/{id}/notes` | clinicians | attest a note (final Composition) |
//! | `GET /api/v1/clinics`, `PUT /api/v1/clinics/{id}`, `PUT /api/v1/clinics/{id}/members/{user}` | admin | clinics and their staff |
//! | `GET /fhir/r4/…` | mother (own) or consented clinician | Patient, Observation, Composition, Consent |
//! | `GET /api/openapi.json` | anyone | the OpenAPI document |

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde::Serialize;

use crate::app::Core;
use crate::error::ApiError;

pub mod clinic;
pub mod demo;
pub mod fhir;
pub mod fhir_api;
pub mod mother;
pub mod speech;

/// Requests of the PHR API refused for bad input, by reason (`GET /api/v1/ingest` shows them).
#[derive(Debug, Default)]
pub struct PhrStats {
    pub malformed_json: AtomicU64,
    pub too_large: AtomicU64,
    pub invalid_values: AtomicU64,
    pub bad_tokens: AtomicU64,
    pub replayed_tokens: AtomicU64,
    pub uploads: AtomicU64,
    pub items_stored: AtomicU64,
    pub items_unchanged: AtomicU64,
    pub items_superseded: AtomicU64,
}

/// A snapshot of [`PhrStats`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PhrCounts {
    pub malformed_json: u64,
    pub too_large: u64,
    pub invalid_values: u64,
    pub bad_tokens: u64,
    pub replayed_tokens: u64,
    pub uploads: u64,
    pub items_stored: u64,
    pub items_unchanged: u64,
    pub items_superseded: u64,
}

impl PhrStats {
    pub fn snapshot(&self) -> PhrCounts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PhrCounts {
            malformed_json: g(&self.malformed_json),
            too_large: g(&self.too_large),
            invalid_values: g(&self.invalid_values),
            bad_tokens: g(&self.bad_tokens),
            replayed_tokens: g(&self.replayed_tokens),
            uploads: g(&self.uploads),
            items_stored: g(&self.items_stored),
            items_unchanged: g(&self.items_unchanged),
            items_superseded: g(&self.items_superseded),
        }
    }
}

pub(crate) fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// Turns a JSON body rejection into a clear, counted error: 413 for an oversized body, 415 for a
/// wrong content type, 400 for malformed JSON or wrong field types.
pub(crate) fn json_rejection(core: &Core, e: JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        bump(&core.phr_stats.too_large, 1);
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body larger than {} bytes", phr_wire::MAX_BODY_BYTES),
        );
    }
    bump(&core.phr_stats.malformed_json, 1);
    if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return ApiError::new(e.status(), "unsupported_media_type", e.body_text());
    }
    ApiError::bad_request(e.body_text())
}

/// A validation failure: 422 naming the field.
pub(crate) fn invalid(core: &Core, message: impl std::fmt::Display) -> ApiError {
    bump(&core.phr_stats.invalid_values, 1);
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message.to_string())
}

/// The mother's API, mounted at `/phr/v1`.
pub fn mother_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/register", post(mother::register))
        .route("/login", post(mother::login))
        .route("/token", post(mother::refresh))
        .route("/logout", post(mother::logout))
        .route("/me", get(mother::me))
        .route("/clinics", get(mother::clinics))
        .route("/consents", get(mother::consents))
        .route("/consents/{clinic}", put(mother::grant).delete(mother::revoke))
        .route("/records", post(mother::upload).get(mother::download))
        .fallback(crate::api::handlers::api_not_found)
        .layer(DefaultBodyLimit::max(phr_wire::MAX_BODY_BYTES))
        // Recordings are larger than JSON bodies; the limit applies to this route alone.
        .route(
            "/notes/transcribe",
            post(mother::transcribe).layer(DefaultBodyLimit::max(speech::MAX_WAV_BYTES)),
        )
}

/// The clinicians' and administrators' routes, mounted in `/api/v1`.
pub fn staff_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/phr/mothers", get(clinic::mothers))
        .route("/phr/mothers/{id}", get(clinic::mother))
        .route("/phr/mothers/{id}/notes/draft", post(clinic::draft_note))
        .route("/phr/mothers/{id}/notes", post(clinic::attest_note))
        .route(
            "/phr/mothers/{id}/notes/transcribe",
            post(clinic::transcribe_note).layer(DefaultBodyLimit::max(speech::MAX_WAV_BYTES)),
        )
        .route("/phr/warnings", get(clinic::warnings))
        .route("/phr/warnings/{id}/acknowledge", post(clinic::acknowledge))
        .route("/phr/invitations", post(clinic::invitation))
        .route("/clinics", get(clinic::list_clinics))
        .route("/clinics/{id}", put(clinic::put_clinic))
        .route("/clinics/{id}/members/{username}", put(clinic::add_member))
}

/// The FHIR R4 read API, mounted at `/fhir/r4`.
pub fn fhir_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/metadata", get(fhir_api::metadata))
        .route("/Patient/{id}", get(fhir_api::patient))
        .route("/Observation", get(fhir_api::observations))
        .route("/Composition", get(fhir_api::compositions))
        .route("/Consent", get(fhir_api::consents))
        .fallback(fhir_api::not_found)
}

/// `target` of audit entries about a mother.
pub(crate) fn target(mother_id: uuid::Uuid) -> String {
    format!("mother/{mother_id}")
}

/// The OpenAPI document of the PHR, clinician and FHIR routes (`monitor-server/openapi.json`,
/// committed and compiled in; a test checks it against the router).
pub async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], include_str!("../../openapi.json"))
}
