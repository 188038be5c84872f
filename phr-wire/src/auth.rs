//! Mother accounts: registration with a clinic's invitation code, login, token refresh.
//!
//! The app holds two tokens: a short-lived access token sent as `Authorization: Bearer …`, and a
//! refresh token that is exchanged, once, for a new pair. Refresh tokens rotate: presenting one a
//! second time (a replay: it was copied, or the app crashed mid-refresh) revokes every token of
//! that login, and the app must log in again.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work an attacker can ask for).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// `POST /phr/v1/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The one-time code her clinic gave her.
    pub invitation_code: String,
    /// What she logs in with (an e-mail address or a name she chooses), 3–128 characters.
    pub login: String,
    pub password: String,
    /// How the clinic addresses her (shown to clinicians she consents to).
    pub display_name: String,
    /// The name of this device, shown in her list of logins.
    #[serde(default)]
    pub device_name: String,
}

/// `POST /phr/v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
    #[serde(default)]
    pub device_name: String,
}

/// `POST /phr/v1/token`: exchanges a refresh token for a new pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The answer to a registration, login or refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub mother_id: Uuid,
    pub access_token: String,
    /// Seconds the access token stays valid.
    pub access_expires_in_s: u64,
    pub refresh_token: String,
    pub refresh_expires_in_s: u64,
}

/// `GET /phr/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotherAccount {
    pub mother_id: Uuid,
    pub login: String,
    pub display_name: String,
    /// The clinic whose invitation she registered with.
    pub invited_by: String,
}

/// Why a registration or login request is not acceptable (before any lookup).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("login must be 3–128 characters without spaces or control characters")]
    Login,
    #[error("password must be {MIN_PASSWORD_CHARS}–{MAX_PASSWORD_CHARS} characters")]
    Password,
    #[error("display_name must be 1–80 characters without control characters")]
    DisplayName,
    #[error("device_name must be at most 80 characters without control characters")]
    DeviceName,
}

fn plain(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

impl RegisterRequest {
    pub fn validate(&self) -> Result<(), AccountError> {
        validate_login(&self.login)?;
        let n = self.password.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
            return Err(AccountError::Password);
        }
        let d = self.display_name.trim().chars().count();
        if d == 0 || d > 80 || !plain(&self.display_name) {
            return Err(AccountError::DisplayName);
        }
        validate_device(&self.device_name)
    }
}

impl LoginRequest {
    pub fn validate(&self) -> Result<(), AccountError> {
        validate_login(&self.login)?;
        if self.password.is_empty() || self.password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(AccountError::Password);
        }
        validate_device(&self.device_name)
    }
}

/// Logins compare case-insensitively: this is the stored form.
pub fn normalise_login(login: &str) -> String {
    login.trim().to_lowercase()
}

fn validate_login(login: &str) -> Result<(), AccountError> {
    let l = login.trim();
    let n = l.chars().count();
    if !(3..=128).contains(&n) || l.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AccountError::Login);
    }
    Ok(())
}

fn validate_device(d: &str) -> Result<(), AccountError> {
    if d.chars().count() > 80 || !plain(d) {
        return Err(AccountError::DeviceName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> RegisterRequest {
        RegisterRequest {
            invitation_code: "ABCD-EFGH".into(),
            login: "hanako@example.jp".into(),
            password: "correct horse battery".into(),
            display_name: "山田 花子".into(),
            device_name: "Pixel".into(),
        }
    }

    #[test]
    fn registration_checks_each_field() {
        assert_eq!(reg().validate(), Ok(()));
        assert_eq!(
            RegisterRequest { login: "a b".into(), ..reg() }.validate(),
            Err(AccountError::Login)
        );
        assert_eq!(
            RegisterRequest { password: "short".into(), ..reg() }.validate(),
            Err(AccountError::Password)
        );
        assert_eq!(
            RegisterRequest { display_name: " ".into(), ..reg() }.validate(),
            Err(AccountError::DisplayName)
        );
        assert_eq!(
            RegisterRequest { device_name: "x\u{7}".into(), ..reg() }.validate(),
            Err(AccountError::DeviceName)
        );
        assert_eq!(normalise_login("  Hanako@Example.JP "), "hanako@example.jp");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e =
            serde_json::from_str::<LoginRequest>(r#"{"login":"a","password":"b","admin":true}"#);
        assert!(e.unwrap_err().to_string().contains("unknown field `admin`"));
    }
}
