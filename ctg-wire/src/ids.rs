//! Stream identity. Labels are chosen by installers (site and gateway names, device slots) and
//! end up in MQTT topics, so they are restricted to a topic-safe alphabet. They must never carry
//! patient data: the server binds a stream to a patient, the wire never does.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest label accepted, in bytes.
pub const MAX_LABEL_LEN: usize = 48;

/// Why a label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("label is empty")]
    Empty,
    #[error("label is longer than {MAX_LABEL_LEN} bytes")]
    TooLong,
    #[error("label {0:?} may only contain a-z, A-Z, 0-9, '-' and '_'")]
    BadCharacter(String),
}

/// A topic-safe identifier: 1–48 bytes of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Checks and wraps a label.
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > MAX_LABEL_LEN {
            return Err(IdError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(IdError::BadCharacter(s));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0
    }
}

impl std::str::FromStr for Label {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity of one device stream: which site, which gateway, which device slot on it.
///
/// Its text form `site/gateway/device` is the `stream_id` used by the server's API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub site: Label,
    pub gateway: Label,
    pub device: Label,
}

impl StreamId {
    pub fn new(site: Label, gateway: Label, device: Label) -> Self {
        Self { site, gateway, device }
    }

    /// Builds a stream id from three strings, checking each label.
    pub fn parse_parts(site: &str, gateway: &str, device: &str) -> Result<Self, IdError> {
        Ok(Self::new(Label::new(site)?, Label::new(gateway)?, Label::new(device)?))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.site, self.gateway, self.device)
    }
}

impl std::str::FromStr for StreamId {
    type Err = IdError;
    /// Parses `site/gateway/device`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut parts = s.split('/');
        let (Some(a), Some(b), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdError::BadCharacter(s.to_owned()));
        };
        Self::parse_parts(a, b, c)
    }
}

impl Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_topic_safe_text_only() {
        assert!(Label::new("ward-3_bed12").is_ok());
        assert_eq!(Label::new(""), Err(IdError::Empty));
        assert!(matches!(Label::new("a/b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Label::new("a+"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Label::new("#"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Label::new("山田"), Err(IdError::BadCharacter(_))));
        assert_eq!(Label::new("x".repeat(49)), Err(IdError::TooLong));
    }

    #[test]
    fn stream_id_round_trips_through_text_and_json() {
        let id: StreamId = "tokyo-1/gw-a/dev0".parse().unwrap();
        assert_eq!(id.to_string(), "tokyo-1/gw-a/dev0");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"tokyo-1/gw-a/dev0\"");
        assert_eq!(serde_json::from_str::<StreamId>(&json).unwrap(), id);
        assert!("a/b".parse::<StreamId>().is_err());
        assert!("a/b/c/d".parse::<StreamId>().is_err());
    }
}
