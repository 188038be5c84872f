//! The sync state she sees: "last synced 2 min ago", "not synced yet", "offline — 3 changes
//! waiting", "log in again", in her language.

use chrono::{DateTime, FixedOffset};

use crate::i18n::Language;
use crate::store::{Store, StoreError, SyncFailure};

/// Where sync stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    /// No account with a clinic on this phone.
    NotConnected,
    /// The server refused her tokens.
    LoginRequired,
    /// Signed in; nothing completed yet.
    NotSyncedYet {
        pending: usize,
    },
    /// The last attempt could not reach the server.
    Offline {
        pending: usize,
    },
    /// The last attempt was refused by the server.
    Failed {
        pending: usize,
        message: String,
    },
    Synced {
        at: DateTime<FixedOffset>,
        pending: usize,
    },
}

impl SyncStatus {
    /// Reads the state from her store.
    pub fn read(store: &Store) -> Result<Self, StoreError> {
        let s = store.sync_state()?;
        let pending = store.pending_changes()?;
        Ok(if s.needs_login && !s.signed_in() {
            Self::LoginRequired
        } else if !s.signed_in() {
            Self::NotConnected
        } else {
            match (s.last_failure, s.last_synced_at) {
                (Some(SyncFailure::Offline), _) => Self::Offline { pending },
                (Some(SyncFailure::Error), _) => {
                    Self::Failed { pending, message: s.last_error.unwrap_or_default() }
                }
                (None, Some(at)) => Self::Synced { at, pending },
                (None, None) => Self::NotSyncedYet { pending },
            }
        })
    }

    /// Changes on the phone the server has not acknowledged yet.
    pub fn pending(&self) -> usize {
        match self {
            Self::NotSyncedYet { pending }
            | Self::Offline { pending }
            | Self::Failed { pending, .. }
            | Self::Synced { pending, .. } => *pending,
            Self::NotConnected | Self::LoginRequired => 0,
        }
    }

    /// The index the UI uses for colour and actions: 0 not connected, 1 log in again, 2 not
    /// synced yet, 3 offline, 4 failed, 5 synced.
    pub fn index(&self) -> i32 {
        match self {
            Self::NotConnected => 0,
            Self::LoginRequired => 1,
            Self::NotSyncedYet { .. } => 2,
            Self::Offline { .. } => 3,
            Self::Failed { .. } => 4,
            Self::Synced { .. } => 5,
        }
    }

    /// One line for her, at `now`.
    pub fn describe(&self, now: DateTime<FixedOffset>, language: Language) -> String {
        let ja = language == Language::Japanese;
        let waiting = |n: usize| match (ja, n) {
            (true, n) => format!("{n}件の変更が送信待ち"),
            (false, 1) => "1 change waiting".to_string(),
            (false, n) => format!("{n} changes waiting"),
        };
        match self {
            Self::NotConnected => {
                if ja { "クリニックと未接続" } else { "Not connected to a clinic" }.to_string()
            }
            Self::LoginRequired => {
                if ja { "もう一度ログインしてください" } else { "Log in again" }.to_string()
            }
            Self::NotSyncedYet { .. } => {
                if ja { "まだ同期していません" } else { "Not synced yet" }.to_string()
            }
            Self::Offline { pending } => {
                if ja {
                    format!("オフライン — {}", waiting(*pending))
                } else {
                    format!("Offline — {}", waiting(*pending))
                }
            }
            Self::Failed { pending, .. } => {
                if ja {
                    format!("同期できませんでした — {}", waiting(*pending))
                } else {
                    format!("Sync failed — {}", waiting(*pending))
                }
            }
            Self::Synced { at, pending } => {
                let ago = ago(*at, now, language);
                let mut line =
                    if ja { format!("最終同期: {ago}") } else { format!("Last synced {ago}") };
                if *pending > 0 {
                    line.push_str(" · ");
                    line.push_str(&waiting(*pending));
                }
                line
            }
        }
    }
}

/// "2 min ago" / "2分前".
fn ago(at: DateTime<FixedOffset>, now: DateTime<FixedOffset>, language: Language) -> String {
    let minutes = (now - at).num_minutes().max(0);
    let ja = language == Language::Japanese;
    match minutes {
        0 => if ja { "たった今" } else { "just now" }.to_string(),
        1..=59 => {
            if ja {
                format!("{minutes}分前")
            } else {
                format!("{minutes} min ago")
            }
        }
        60..=1439 => {
            let h = minutes / 60;
            if ja { format!("{h}時間前") } else { format!("{h} h ago") }
        }
        _ => {
            let d = minutes / 1440;
            match (ja, d) {
                (true, d) => format!("{d}日前"),
                (false, 1) => "1 day ago".to_string(),
                (false, d) => format!("{d} days ago"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn lines_in_both_languages() {
        let now = t("2026-11-21T10:00:00+09:00");
        let synced = SyncStatus::Synced { at: t("2026-11-21T09:58:00+09:00"), pending: 0 };
        assert_eq!(synced.describe(now, Language::English), "Last synced 2 min ago");
        assert_eq!(synced.describe(now, Language::Japanese), "最終同期: 2分前");
        let offline = SyncStatus::Offline { pending: 3 };
        assert_eq!(offline.describe(now, Language::English), "Offline — 3 changes waiting");
        assert_eq!(offline.describe(now, Language::Japanese), "オフライン — 3件の変更が送信待ち");
        let days = SyncStatus::Synced { at: t("2026-11-18T09:00:00+09:00"), pending: 1 };
        assert_eq!(
            days.describe(now, Language::English),
            "Last synced 3 days ago · 1 change waiting"
        );
        assert_eq!(SyncStatus::LoginRequired.describe(now, Language::English), "Log in again");
    }
}
