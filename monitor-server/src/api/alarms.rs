//! Alarm routes: acknowledgement (who and when, audited) and the alarm history.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::session::Caller;
use crate::analysis::AckError;
use crate::app::Core;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::model::{AlarmRecord, AuditOutcome, Millis};
use crate::now_ms;
use crate::store::AlarmQuery;

impl From<AckError> for ApiError {
    fn from(e: AckError) -> Self {
        match e {
            AckError::Store(e) => e.into(),
        }
    }
}

/// `POST /api/v1/alarms/{id}/acknowledge`: silences the alarm until its condition clears.
/// 404 for an unknown alarm, 409 when it was already acknowledged (the first one stands).
pub async fn acknowledge(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AlarmRecord>, ApiError> {
    let target = format!("alarm:{id}");
    caller.require(&core, Permission::ViewPatients, "alarm.acknowledge", &target).await?;
    let now = now_ms();
    let acknowledged = core.analysis.acknowledge(&core, id, &caller.staff.username, now).await;
    let (record, _bed) =
        caller.audit_failure(&core, "alarm.acknowledge", &target, acknowledged).await?;
    let patient = core
        .store
        .admission(record.alarm.admission_id)
        .await?
        .map_or_else(|| target.clone(), |a| format!("patient:{} {target}", a.patient_id));
    let detail = format!("{} ({})", record.alarm.kind.as_str(), record.alarm.priority.as_str());
    caller.audit(&core, "alarm.acknowledge", &patient, AuditOutcome::Ok, &detail).await?;
    Ok(Json(record))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmParams {
    pub admission_id: Option<i64>,
    /// Only alarms not yet cleared.
    #[serde(default)]
    pub open: bool,
    pub since_ms: Option<Millis>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct AlarmList {
    pub alarms: Vec<AlarmRecord>,
}

/// `GET /api/v1/alarms?admission_id&open&since_ms&limit`: alarm history, newest first.
pub async fn list(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Query(p): Query<AlarmParams>,
) -> Result<Json<AlarmList>, ApiError> {
    caller.require(&core, Permission::ViewPatients, "alarms.read", "alarms").await?;
    let target = match p.admission_id {
        Some(id) => {
            let a = core
                .store
                .admission(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("admission {id}")))?;
            format!("patient:{}", a.patient_id)
        }
        None => "alarms".to_owned(),
    };
    let q = AlarmQuery {
        admission_id: p.admission_id,
        open_only: p.open,
        since_ms: p.since_ms.unwrap_or(Millis::MIN),
        limit: p.limit.unwrap_or(200).clamp(1, 1000),
    };
    let alarms = core.store.alarms(q).await?;
    // Reads of patient data fail closed: no record, no answer.
    caller
        .audit(&core, "alarms.read", &target, AuditOutcome::Ok, &format!("{} alarms", alarms.len()))
        .await?;
    Ok(Json(AlarmList { alarms }))
}
