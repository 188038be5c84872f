//! Domain types shared by storage, ingest, the HTTP API and the live feed.

use std::fmt;
use std::str::FromStr;

use ctg_wire::{Sample, StreamId};
use serde::{Deserialize, Serialize};

/// Unix milliseconds, UTC.
pub type Millis = i64;

/// A staff member's role; what each may do is decided in [`crate::auth::Permission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Midwife,
    Obstetrician,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Midwife => "midwife",
            Role::Obstetrician => "obstetrician",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "midwife" => Ok(Role::Midwife),
            "obstetrician" => Ok(Role::Obstetrician),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?} (midwife, obstetrician or admin)")),
        }
    }
}

/// A staff account as the rest of the server sees it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
}

/// A staff account with its password hash, for authentication only.
#[derive(Debug, Clone)]
pub struct StaffCredentials {
    pub staff: Staff,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// A login session. Only the SHA-256 digest of the token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub username: String,
    pub csrf_token: String,
    pub created_ms: Millis,
    pub expires_ms: Millis,
}

/// Gestational age in completed weeks and days, as written in Japanese charts (38週2日).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GestationalAge {
    pub weeks: u8,
    pub days: u8,
}

impl GestationalAge {
    /// Weeks 20–44 and days 0–6: outside that a CTG central monitor is not the right tool, and a
    /// typo (380 weeks) must be caught at admission.
    pub fn new(weeks: u8, days: u8) -> Option<Self> {
        ((20..=44).contains(&weeks) && days <= 6).then_some(Self { weeks, days })
    }

    pub fn total_days(self) -> u32 {
        u32::from(self.weeks) * 7 + u32::from(self.days)
    }

    /// Age `elapsed_ms` after it was recorded.
    pub fn after(self, elapsed_ms: Millis) -> Self {
        let extra = u32::try_from(elapsed_ms.max(0) / 86_400_000).unwrap_or(u32::MAX);
        let total = self.total_days().saturating_add(extra);
        Self { weeks: u8::try_from(total / 7).unwrap_or(u8::MAX), days: (total % 7) as u8 }
    }
}

/// A patient's stay on the ward: who she is and which bed she is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    pub admission_id: i64,
    /// Hospital patient number.
    pub patient_id: String,
    pub name: String,
    pub gestational_age: GestationalAge,
    /// When the gestational age was recorded (it advances from there).
    pub ga_recorded_ms: Millis,
    pub bed: String,
    pub admitted_ms: Millis,
    pub admitted_by: String,
    pub discharged_ms: Option<Millis>,
}

impl Admission {
    pub fn current_gestational_age(&self, now: Millis) -> GestationalAge {
        self.gestational_age.after(now - self.ga_recorded_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdmission {
    pub patient_id: String,
    pub name: String,
    pub gestational_age: GestationalAge,
    pub bed: String,
}

/// A bed of the ward. Beds are server configuration; gateways only announce labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bed {
    pub bed: String,
    pub display_order: i64,
}

/// The link from a device stream to an admission, valid for sequence numbers
/// `from_seq..to_seq` (open-ended while active).
///
/// Sequence numbers, not clocks, decide which patient a sample belongs to: they are exact on
/// the wire and immune to a gateway's wrong clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub binding_id: i64,
    pub stream: StreamId,
    pub admission_id: i64,
    pub from_seq: u64,
    /// Exclusive end; `None` while the binding is active.
    pub to_seq: Option<u64>,
    pub bound_ms: Millis,
    pub bound_by: String,
    pub unbound_ms: Option<Millis>,
}

impl Binding {
    pub fn covers(&self, seq: u64) -> bool {
        seq >= self.from_seq && self.to_seq.is_none_or(|end| seq < end)
    }
}

/// One stored sample with its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSample {
    pub seq: u64,
    /// Gateway receive time, Unix ms UTC.
    pub rx_ms: Millis,
    /// Device clock, when the device has one.
    pub device_ms: Option<Millis>,
    pub clock: ctg_wire::ClockQuality,
    /// When the server received it.
    pub arrived_ms: Millis,
    pub backlog: bool,
    pub sample: Sample,
}

/// Samples of one stream to store: contiguous runs cut from validated blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRun {
    pub stream_key: i64,
    pub samples: Vec<StoredSample>,
}

/// A device event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub stream_key: i64,
    pub event: ctg_wire::DeviceEvent,
    pub arrived_ms: Millis,
}

/// Per-stream counter increments that travel with a batch so they commit together with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDelta {
    pub duplicates_rejected: u64,
    pub rejected_payloads: u64,
    pub last_arrival_ms: Option<Millis>,
}

/// What the ingest hands to storage in one transaction.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    pub runs: Vec<SampleRun>,
    pub events: Vec<StoredEvent>,
    pub deltas: Vec<(i64, StreamDelta)>,
}

impl IngestBatch {
    pub fn sample_count(&self) -> usize {
        self.runs.iter().map(|r| r.samples.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.events.is_empty() && self.deltas.is_empty()
    }
}

/// What storage did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Per stream key: rows inserted, and rows skipped because that (stream, seq) was already
    /// stored (replays that reached the database).
    pub per_stream: Vec<(i64, StreamWrite)>,
    /// Events inserted (duplicates on (stream, id) are skipped).
    pub events_inserted: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamWrite {
    pub inserted: u64,
    pub already_stored: u64,
}

/// A stream as persisted, loaded when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub key: i64,
    pub stream: StreamId,
    pub stored_samples: u64,
    pub duplicates_rejected: u64,
    pub rejected_payloads: u64,
    pub last_arrival_ms: Option<Millis>,
    /// Stored sequence numbers, as ranges.
    pub stored: Vec<(u64, u64)>,
    /// Ranges the gateway declared dropped (`samples_dropped`).
    pub dropped: Vec<(u64, u64)>,
}

/// An entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: Millis,
    /// Username, or `None` when nobody was authenticated.
    pub actor: Option<String>,
    pub role: Option<Role>,
    /// What was attempted, e.g. `patient.admit`, `history.read`, `login`.
    pub action: String,
    /// What it concerned: `patient:P-0001`, `bed:3`, `stream:site/gw/dev`.
    pub target: String,
    pub outcome: AuditOutcome,
    /// Client address.
    pub remote: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Ok,
    Denied,
    Failed,
}

impl AuditOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }
}

impl FromStr for AuditOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ok" => Ok(Self::Ok),
            "denied" => Ok(Self::Denied),
            "failed" => Ok(Self::Failed),
            other => Err(format!("unknown audit outcome {other:?}")),
        }
    }
}

/// An audit entry as stored, with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// What an alarm is about. Clinical kinds come from the CTG analysis; `SignalLoss` and
/// `StaleStream` are technical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Pathological,
    ProlongedDeceleration,
    Bradycardia,
    Tachysystole,
    MaternalHeartRate,
    SignalLoss,
    StaleStream,
}

impl AlarmKind {
    pub const ALL: [AlarmKind; 7] = [
        AlarmKind::Pathological,
        AlarmKind::ProlongedDeceleration,
        AlarmKind::Bradycardia,
        AlarmKind::Tachysystole,
        AlarmKind::MaternalHeartRate,
        AlarmKind::SignalLoss,
        AlarmKind::StaleStream,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Pathological => "pathological",
            AlarmKind::ProlongedDeceleration => "prolonged_deceleration",
            AlarmKind::Bradycardia => "bradycardia",
            AlarmKind::Tachysystole => "tachysystole",
            AlarmKind::MaternalHeartRate => "maternal_heart_rate",
            AlarmKind::SignalLoss => "signal_loss",
            AlarmKind::StaleStream => "stale_stream",
        }
    }
}

impl FromStr for AlarmKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AlarmKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown alarm kind {s:?}"))
    }
}

/// Alarm priority as on IEC 60601-1-8 monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmPriority {
    Low,
    Medium,
    High,
}

impl AlarmPriority {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlarmPriority::Low => "low",
            AlarmPriority::Medium => "medium",
            AlarmPriority::High => "high",
        }
    }
}

impl FromStr for AlarmPriority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            other => Err(format!("unknown alarm priority {other:?}")),
        }
    }
}

/// An alarm as raised, stamped with the binding (and so the patient) like samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAlarm {
    pub admission_id: i64,
    pub binding_id: i64,
    pub stream: StreamId,
    pub kind: AlarmKind,
    pub priority: AlarmPriority,
    pub raised_ms: Millis,
    /// Sequence number of the sample at which the condition was confirmed.
    pub raised_seq: u64,
    /// Short human-readable reason (e.g. "FHR 85 bpm for 3 min").
    pub detail: String,
}

/// An alarm as stored: raised, then possibly acknowledged (who, when) and cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRecord {
    pub alarm_id: i64,
    #[serde(flatten)]
    pub alarm: NewAlarm,
    pub acknowledged_ms: Option<Millis>,
    pub acknowledged_by: Option<String>,
    pub cleared_ms: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gestational_age_advances_by_whole_days() {
        let ga = GestationalAge::new(38, 5).unwrap();
        assert_eq!(ga.after(0), ga);
        assert_eq!(ga.after(86_400_000 - 1), ga);
        assert_eq!(ga.after(86_400_000), GestationalAge { weeks: 38, days: 6 });
        assert_eq!(ga.after(2 * 86_400_000), GestationalAge { weeks: 39, days: 0 });
        assert!(GestationalAge::new(45, 0).is_none());
        assert!(GestationalAge::new(38, 7).is_none());
        assert!(GestationalAge::new(19, 6).is_none());
    }

    #[test]
    fn binding_covers_its_sequence_range_only() {
        let mut b = Binding {
            binding_id: 1,
            stream: "a/b/c".parse().unwrap(),
            admission_id: 1,
            from_seq: 10,
            to_seq: None,
            bound_ms: 0,
            bound_by: "x".into(),
            unbound_ms: None,
        };
        assert!(!b.covers(9));
        assert!(b.covers(10) && b.covers(1_000_000));
        b.to_seq = Some(20);
        assert!(b.covers(19) && !b.covers(20));
    }
}
