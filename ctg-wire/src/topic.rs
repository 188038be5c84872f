//! The MQTT topic scheme. Topics name equipment, never patients:
//!
//! | topic | direction | retained |
//! |---|---|---|
//! | `ctg/v1/{site}/{gateway}/{device}/samples` | gateway → server | no |
//! | `ctg/v1/{site}/{gateway}/{device}/backlog` | gateway → server | no |
//! | `ctg/v1/{site}/{gateway}/{device}/events` | gateway → server | no |
//! | `ctg/v1/{site}/{gateway}/{device}/ack` | server → gateway | yes |
//! | `ctg/v1/{site}/{gateway}/presence` | gateway → server | yes |
//! | `ctg/v1/{site}/{gateway}/heartbeat` | gateway → server | no |

use std::fmt;

use crate::{Label, StreamId};

/// First two levels of every topic: application and major version.
pub const PREFIX: &str = "ctg/v1";

/// Subscription filters the server uses.
pub const SERVER_FILTERS: [&str; 5] = [
    "ctg/v1/+/+/+/samples",
    "ctg/v1/+/+/+/backlog",
    "ctg/v1/+/+/+/events",
    "ctg/v1/+/+/presence",
    "ctg/v1/+/+/heartbeat",
];

/// What a per-device topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Live sample blocks.
    Samples,
    /// Sample blocks replayed from the outbox after an outage.
    Backlog,
    Events,
    Ack,
}

impl TopicKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Samples => "samples",
            Self::Backlog => "backlog",
            Self::Events => "events",
            Self::Ack => "ack",
        }
    }
}

/// A parsed topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    Device { stream: StreamId, kind: TopicKind },
    Presence { site: Label, gateway: Label },
    Heartbeat { site: Label, gateway: Label },
}

impl Topic {
    pub fn device(stream: &StreamId, kind: TopicKind) -> String {
        format!("{PREFIX}/{stream}/{}", kind.as_str())
    }

    pub fn presence(site: &Label, gateway: &Label) -> String {
        format!("{PREFIX}/{site}/{gateway}/presence")
    }

    pub fn heartbeat(site: &Label, gateway: &Label) -> String {
        format!("{PREFIX}/{site}/{gateway}/heartbeat")
    }

    /// Filter a gateway subscribes to for its acknowledgements.
    pub fn ack_filter(site: &Label, gateway: &Label) -> String {
        format!("{PREFIX}/{site}/{gateway}/+/ack")
    }

    /// Parses a topic; `None` for anything outside the scheme.
    pub fn parse(topic: &str) -> Option<Topic> {
        let rest = topic.strip_prefix(PREFIX)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [site, gateway, last] => {
                let (site, gateway) = (Label::new(*site).ok()?, Label::new(*gateway).ok()?);
                match *last {
                    "presence" => Some(Topic::Presence { site, gateway }),
                    "heartbeat" => Some(Topic::Heartbeat { site, gateway }),
                    _ => None,
                }
            }
            [site, gateway, device, kind] => {
                let kind = match *kind {
                    "samples" => TopicKind::Samples,
                    "backlog" => TopicKind::Backlog,
                    "events" => TopicKind::Events,
                    "ack" => TopicKind::Ack,
                    _ => return None,
                };
                Some(Topic::Device {
                    stream: StreamId::parse_parts(site, gateway, device).ok()?,
                    kind,
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        let s: StreamId = "site-a/gw1/dev0".parse().unwrap();
        for kind in [TopicKind::Samples, TopicKind::Backlog, TopicKind::Events, TopicKind::Ack] {
            let t = Topic::device(&s, kind);
            assert_eq!(Topic::parse(&t), Some(Topic::Device { stream: s.clone(), kind }));
        }
        let (site, gw) = (s.site.clone(), s.gateway.clone());
        assert_eq!(
            Topic::parse(&Topic::presence(&site, &gw)),
            Some(Topic::Presence { site: site.clone(), gateway: gw.clone() })
        );
        assert_eq!(
            Topic::parse(&Topic::heartbeat(&site, &gw)),
            Some(Topic::Heartbeat { site, gateway: gw })
        );
    }

    #[test]
    fn foreign_topics_are_not_parsed() {
        for t in [
            "",
            "ctg/v2/a/b/c/samples",
            "ctg/v1/a/b/c/other",
            "ctg/v1/a/b",
            "ctg/v1/a/b/c/d/samples",
            "ctg/v1/a b/g/d/samples",
        ] {
            assert_eq!(Topic::parse(t), None, "{t}");
        }
    }
}
