//! The FHIR R4 read API (`/fhir/r4`) over what a mother shares: Patient, blood-pressure
//! Observations, Compositions (clinicians' attested notes) and Consents, as searchset Bundles
//! in `application/fhir+json`. Readers are the mother herself (her app token) or a clinician
//! whose clinic she consented to (staff session), with the same scope rules and audit as the
//! JSON API. Errors are OperationOutcome resources.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phr_wire::consent::Scope;
use phr_wire::records::{Record, RecordKind};
use phr_wire::rules::bp_tier;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::clinic::{Access, access_to};
use super::mother::Mother;
use super::target;
use crate::api::session::Caller;
use crate::app::Core;
use crate::error::ApiError;
use crate::model::AuditOutcome;

const FHIR_JSON: &str = "application/fhir+json";

/// A FHIR error: an OperationOutcome with the API error's status.
#[derive(Debug)]
pub struct FhirError(ApiError);

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<crate::store::StoreError> for FhirError {
    fn from(e: crate::store::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let code = match self.0.status {
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "exception",
        };
        let body = json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": self.0.message }]
        });
        fhir_response(self.0.status, &body)
    }
}

fn fhir_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

type FhirResult = Result<Response, FhirError>;

/// Who reads: the mother herself, or a staff member.
#[derive(Debug)]
pub enum Reader {
    Mother(Mother),
    Staff(Caller),
}

impl FromRequestParts<Arc<Core>> for Reader {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, FhirError> {
        if let Some(m) = Mother::from_parts(parts, core).await? {
            return Ok(Reader::Mother(m));
        }
        Ok(Reader::Staff(Caller::from_request_parts(parts, core).await?))
    }
}

impl Reader {
    /// Checks access to one mother's data of `scope` (`None`: any shared scope) and audits it.
    async fn check(
        &self,
        core: &Core,
        mother_id: Uuid,
        scope: Option<Scope>,
        what: &str,
    ) -> Result<Option<Access>, FhirError> {
        match self {
            Reader::Mother(m) => {
                if m.account.id != mother_id {
                    m.audit(
                        core,
                        "fhir.read",
                        AuditOutcome::Denied,
                        &format!("{what} of {}", target(mother_id)),
                    )
                    .await
                    .ok();
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "you can read only your own records",
                    )
                    .into());
                }
                m.audit(core, "fhir.read", AuditOutcome::Ok, what).await?;
                Ok(None)
            }
            Reader::Staff(c) => {
                let a = access_to(core, c, mother_id, "fhir.read").await?;
                if let Some(s) = scope
                    && !a.allows(s)
                {
                    c.audit(
                        core,
                        "fhir.read",
                        &target(mother_id),
                        AuditOutcome::Denied,
                        &format!("{what}: outside the consented scope"),
                    )
                    .await
                    .ok();
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "no_consent",
                        "outside what this mother shares with your clinic",
                    )
                    .into());
                }
                c.audit(core, "fhir.read", &target(mother_id), AuditOutcome::Ok, what).await?;
                Ok(Some(a))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PatientQuery {
    pub patient: Option<String>,
}

fn patient_param(q: &PatientQuery) -> Result<Uuid, FhirError> {
    let p = q
        .patient
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("the patient search parameter is required"))?;
    let id = p.strip_prefix("Patient/").unwrap_or(p);
    Uuid::parse_str(id).map_err(|_| ApiError::bad_request("patient: not a patient id").into())
}

fn base(parts_host: Option<&HeaderValue>) -> String {
    let host = parts_host.and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}/fhir/r4")
}

pub async fn not_found() -> Response {
    FhirError(ApiError::not_found("no such FHIR resource type or interaction")).into_response()
}

pub async fn metadata(headers: axum::http::HeaderMap) -> Response {
    fhir_response(
        StatusCode::OK,
        &super::fhir::capability_statement(&base(headers.get(header::HOST))),
    )
}

pub async fn patient(
    State(core): State<Arc<Core>>,
    reader: Reader,
    Path(id): Path<String>,
) -> FhirResult {
    let id = Uuid::parse_str(&id).map_err(|_| FhirError(ApiError::not_found("no such Patient")))?;
    reader.check(&core, id, None, "Patient").await?;
    let m = core
        .store
        .mother(id)
        .await?
        .ok_or_else(|| FhirError(ApiError::not_found("no such Patient")))?;
    Ok(fhir_response(StatusCode::OK, &super::fhir::patient(&m)))
}

pub async fn observations(
    State(core): State<Arc<Core>>,
    reader: Reader,
    headers: axum::http::HeaderMap,
    Query(q): Query<PatientQuery>,
) -> FhirResult {
    let id = patient_param(&q)?;
    reader.check(&core, id, Some(Scope::BloodPressure), "Observation (blood pressure)").await?;
    let t = core.config.phr.thresholds();
    let rows = core.store.records_of(id, &[RecordKind::BpReading], 5000).await?;
    let resources: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let data = serde_json::from_str(r.data.as_deref()?).ok()?;
            match Record::from_data(r.kind, data).ok()? {
                Record::BpReading(b) => {
                    Some(super::fhir::bp_observation(id, r.id, &b, bp_tier(&b, &t)))
                }
                _ => None,
            }
        })
        .collect();
    let url = format!("{}/Observation?patient={id}", base(headers.get(header::HOST)));
    Ok(fhir_response(StatusCode::OK, &super::fhir::searchset(resources, &url)))
}

pub async fn compositions(
    State(core): State<Arc<Core>>,
    reader: Reader,
    headers: axum::http::HeaderMap,
    Query(q): Query<PatientQuery>,
) -> FhirResult {
    let id = patient_param(&q)?;
    reader.check(&core, id, None, "Composition").await?;
    let notes = core.store.clinical_notes(id).await?;
    let mut resources = Vec::with_capacity(notes.len());
    for n in &notes {
        resources.push(
            serde_json::from_str::<Value>(&n.composition)
                .map_err(|e| FhirError(ApiError::internal(e)))?,
        );
    }
    let url = format!("{}/Composition?patient={id}", base(headers.get(header::HOST)));
    Ok(fhir_response(StatusCode::OK, &super::fhir::searchset(resources, &url)))
}

pub async fn consents(
    State(core): State<Arc<Core>>,
    reader: Reader,
    headers: axum::http::HeaderMap,
    Query(q): Query<PatientQuery>,
) -> FhirResult {
    let id = patient_param(&q)?;
    let access = reader.check(&core, id, None, "Consent").await?;
    let mut rows = core.store.consents_of_mother(id).await?;
    if let (Reader::Staff(c), Some(_)) = (&reader, &access) {
        // A clinic sees the consents given to its own clinics, not her choices about others.
        let mine = core.store.clinics_of_staff(&c.staff.username).await?;
        rows.retain(|r| mine.contains(&r.clinic_id));
    }
    let resources = rows.iter().map(super::fhir::consent).collect();
    let url = format!("{}/Consent?patient={id}", base(headers.get(header::HOST)));
    Ok(fhir_response(StatusCode::OK, &super::fhir::searchset(resources, &url)))
}
