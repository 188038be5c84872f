//! Staff authentication: argon2id password hashes, random session tokens stored only as SHA-256
//! digests, one-time login codes, the role → permission matrix, and a failed-login throttle.
//!
//! The HTTP side (cookie / bearer extraction, CSRF check) is in [`crate::api::session`].

use std::collections::HashMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

use crate::model::{Millis, Role};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password must be 10-256 characters")]
    WeakPassword,
    #[error("username must be 1-64 characters of a-z, 0-9, '.', '-', '_'")]
    BadUsername,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// Something a role may or may not do. Every patient-data route names the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Traces, history, the live feed, beds with patient names.
    ViewPatients,
    /// Admit, discharge, bind and unbind streams.
    ManageAdmissions,
    /// `GET /api/v1/streams` (carries patient names next to the accounting).
    ViewStreams,
    /// Gateways and ingest counters (no patient data).
    ViewOperations,
    ManageBeds,
    ManageStaff,
    ReadAudit,
}

impl Role {
    /// The permission matrix. Administrators run the system and read the audit log but do not
    /// watch patients; clinicians do not manage accounts.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Midwife | Role::Obstetrician => {
                matches!(p, ViewPatients | ManageAdmissions | ViewStreams | ViewOperations)
            }
            Role::Admin => {
                matches!(p, ViewStreams | ViewOperations | ManageBeds | ManageStaff | ReadAudit)
            }
        }
    }
}

/// Cost of new password hashes.
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

pub fn check_username(u: &str) -> Result<(), AuthError> {
    let ok = !u.is_empty()
        && u.len() <= 64
        && u.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if ok { Ok(()) } else { Err(AuthError::BadUsername) }
}

/// Hashes a password with argon2id and a fresh salt. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, AuthError> {
    let chars = password.chars().count();
    if !(10..=256).contains(&chars) {
        return Err(AuthError::WeakPassword);
    }
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC string (its own parameters apply).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the username does not exist, so that a login for an unknown
/// user costs the same time as one with a wrong password.
pub fn dummy_hash(cost: HashCost) -> String {
    hash_password("not-a-real-password", cost).unwrap_or_default()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    rand::rngs::OsRng.try_fill_bytes(&mut b).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `n` random bytes as hex, from the operating system's generator. For references in logs
/// and other non-secret identifiers, a failure of the OS source degrades to the thread RNG.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if rand::rngs::OsRng.try_fill_bytes(&mut b).is_err() {
        rand::fill(&mut b[..]);
    }
    hex(&b)
}

/// A new secret token (session, CSRF, login code): 256 bits from the OS generator.
pub fn new_token() -> Result<String, AuthError> {
    Ok(hex(&random_bytes::<32>()?))
}

/// What is stored for a token: its SHA-256, so a copy of the database grants no session.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Compares secrets without an early exit.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts failed logins per username and locks it for a while after too many.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: HashMap<String, (u32, Millis)>,
}

impl LoginThrottle {
    /// Whether `username` is locked at `now`.
    pub fn locked(
        &self,
        username: &str,
        now: Millis,
        max_failures: u32,
        lockout_ms: Millis,
    ) -> bool {
        self.failures
            .get(username)
            .is_some_and(|&(n, last)| n >= max_failures && now - last < lockout_ms)
    }

    pub fn failed(&mut self, username: &str, now: Millis, lockout_ms: Millis) {
        // Forget failures older than a lockout period before counting this one.
        self.failures.retain(|_, (_, last)| now - *last < lockout_ms);
        let e = self.failures.entry(username.to_owned()).or_insert((0, now));
        e.0 += 1;
        e.1 = now;
    }

    pub fn succeeded(&mut self, username: &str) {
        self.failures.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost { memory_kib: 8 * 1024, iterations: 1 };

    #[test]
    fn passwords_verify_only_when_right() {
        let h = hash_password("correct horse battery", CHEAP).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(matches!(hash_password("short", CHEAP), Err(AuthError::WeakPassword)));
        // Same password, different salt.
        assert_ne!(h, hash_password("correct horse battery", CHEAP).unwrap());
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_digest(&a), token_digest(&a));
        assert_ne!(token_digest(&a), a);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn permission_matrix() {
        assert!(Role::Midwife.allows(Permission::ViewPatients));
        assert!(Role::Obstetrician.allows(Permission::ManageAdmissions));
        assert!(!Role::Admin.allows(Permission::ViewPatients));
        assert!(!Role::Midwife.allows(Permission::ReadAudit));
        assert!(Role::Admin.allows(Permission::ReadAudit));
        assert!(!Role::Obstetrician.allows(Permission::ManageStaff));
    }

    #[test]
    fn throttle_locks_after_repeated_failures() {
        let mut t = LoginThrottle::default();
        for i in 0..5 {
            assert!(!t.locked("a", i, 5, 60_000));
            t.failed("a", i, 60_000);
        }
        assert!(t.locked("a", 10, 5, 60_000));
        assert!(!t.locked("b", 10, 5, 60_000));
        assert!(!t.locked("a", 70_000, 5, 60_000));
        t.succeeded("a");
        assert!(!t.locked("a", 11, 5, 60_000));
    }

    #[test]
    fn usernames() {
        assert!(check_username("sato.m").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("Sato").is_err());
        assert!(check_username("a b").is_err());
    }
}
