//! What the clinician API (`/api/v1/phr/…`, staff sessions) returns about mothers who consented
//! to the caller's clinic. Only the scopes she granted are filled; the rest stay empty.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::consent::Scope;
use crate::records::{Checkup, Note};
use crate::rules::{Tier, WarningKind};

/// One line of the clinic's list of mothers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotherSummary {
    pub mother_id: Uuid,
    pub display_name: String,
    pub clinic_id: String,
    pub scope: Vec<Scope>,
    pub consented_at: DateTime<FixedOffset>,
    /// Warnings not yet acknowledged.
    pub open_warnings: u32,
    pub latest_bp: Option<BpRow>,
    /// When the server last received anything from her.
    pub last_upload_at: Option<DateTime<FixedOffset>>,
}

/// A home reading as the clinic sees it, with the clinic's tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BpRow {
    pub id: Uuid,
    pub measured_at: DateTime<FixedOffset>,
    pub systolic: f64,
    pub diastolic: f64,
    pub pulse: Option<f64>,
    pub session: crate::records::Session,
    pub symptoms: Vec<crate::records::Symptom>,
    pub note: String,
    pub tier: Tier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckupRow {
    pub id: Uuid,
    #[serde(flatten)]
    pub checkup: Checkup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpdsRow {
    pub id: Uuid,
    pub taken_at: DateTime<FixedOffset>,
    pub total: u8,
    pub item10: u8,
    pub positive: bool,
    pub self_harm: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteRow {
    pub id: Uuid,
    #[serde(flatten)]
    pub note: Note,
}

/// A warning and, once acknowledged, who did it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub id: i64,
    pub mother_id: Uuid,
    pub display_name: String,
    pub record_id: Uuid,
    pub kind: WarningKind,
    pub detail: String,
    /// When the reading or questionnaire was taken.
    pub occurred_at: DateTime<FixedOffset>,
    /// When the server received it.
    pub raised_at: DateTime<FixedOffset>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<FixedOffset>>,
}

/// A note a clinician attested (final FHIR Composition with Provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClinicalNoteRow {
    pub id: Uuid,
    pub author: String,
    pub attested_at: DateTime<FixedOffset>,
    pub lang: String,
    pub soap: crate::records::SoapText,
    /// Whether an HPKI signature was applied (the hook exists; no signer is configured by default).
    pub signed: bool,
}

/// Everything a clinic may see of one mother.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotherRecord {
    pub mother_id: Uuid,
    pub display_name: String,
    pub scope: Vec<Scope>,
    pub readings: Vec<BpRow>,
    pub checkups: Vec<CheckupRow>,
    pub epds: Vec<EpdsRow>,
    pub notes: Vec<NoteRow>,
    pub warnings: Vec<Warning>,
    pub clinical_notes: Vec<ClinicalNoteRow>,
}

/// `POST /api/v1/phr/invitations` answer: a one-time registration code for the caller's clinic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub code: String,
    pub clinic_id: String,
    pub expires_at: DateTime<FixedOffset>,
}

/// `POST /api/v1/phr/mothers/{id}/notes/draft`: a clinician's dictation (its transcript) to draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    pub transcript: String,
    /// `ja` or `en`.
    pub lang: String,
}

/// `POST /api/v1/phr/mothers/{id}/notes`: the clinician's edited note, attested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    pub lang: String,
    /// The transcript the draft came from (empty when typed).
    #[serde(default)]
    pub transcript: String,
    pub soap: crate::records::SoapText,
    /// The note was drafted by ai-notes (recorded in the Provenance).
    #[serde(default)]
    pub ai_drafted: bool,
}
