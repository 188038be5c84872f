//! Consent: which clinics may see which of her records. A grant names a clinic and a scope; a
//! new grant to the same clinic replaces the old one; a revocation ends access at once.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::records::RecordKind;

/// A part of her record she can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Home blood-pressure readings.
    BloodPressure,
    /// Check-up records from her handbook.
    Checkups,
    /// EPDS questionnaires.
    Epds,
    /// Her notes (typed, or dictated and checked by her).
    Notes,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Self::BloodPressure, Self::Checkups, Self::Epds, Self::Notes];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BloodPressure => "blood_pressure",
            Self::Checkups => "checkups",
            Self::Epds => "epds",
            Self::Notes => "notes",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The scope that covers a record kind.
    pub fn of(kind: RecordKind) -> Self {
        match kind {
            RecordKind::BpReading => Self::BloodPressure,
            RecordKind::Checkup => Self::Checkups,
            RecordKind::Epds => Self::Epds,
            RecordKind::Note => Self::Notes,
        }
    }
}

/// A clinic she can share with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clinic {
    pub id: String,
    pub name: String,
}

/// `PUT /phr/v1/consents/{clinic_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentGrant {
    /// What the clinic may see; at least one scope.
    pub scope: Vec<Scope>,
}

impl ConsentGrant {
    /// The scope sorted and without repeats; `None` when empty.
    pub fn normalised(&self) -> Option<Vec<Scope>> {
        let mut s = self.scope.clone();
        s.sort();
        s.dedup();
        (!s.is_empty()).then_some(s)
    }
}

/// One consent, current or past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: i64,
    pub clinic: Clinic,
    pub scope: Vec<Scope>,
    pub granted_at: DateTime<FixedOffset>,
    /// Set once revoked (or replaced by a newer grant); access ended then.
    pub revoked_at: Option<DateTime<FixedOffset>>,
}

/// Scopes as stored: a comma-separated list.
pub fn scope_to_string(scope: &[Scope]) -> String {
    scope.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// Parses [`scope_to_string`]'s output; unknown names are dropped (a newer server's scopes).
pub fn scope_from_string(s: &str) -> Vec<Scope> {
    s.split(',').filter_map(Scope::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_round_trips_and_grant_normalises() {
        let g = ConsentGrant { scope: vec![Scope::Epds, Scope::BloodPressure, Scope::Epds] };
        let s = g.normalised().unwrap();
        assert_eq!(s, vec![Scope::BloodPressure, Scope::Epds]);
        assert_eq!(scope_from_string(&scope_to_string(&s)), s);
        assert_eq!(ConsentGrant { scope: vec![] }.normalised(), None);
        assert!(serde_json::from_str::<ConsentGrant>(r#"{"scope":["everything"]}"#).is_err());
    }
}
