//! The PHR API contract (version 1) between the expectant mother's app (`mobile-app`) and the
//! server (`monitor-server`): accounts and tokens, the records she keeps, how they are uploaded
//! and downloaded, consent per clinic, and the warnings a clinic sees.
//!
//! Both sides compile against these types, so a change to the API is a change to this crate,
//! reviewed once (as `ctg-wire` is for the CTG stream). Pure: no I/O, no clock reads — checks
//! that depend on the time take it as an argument.
//!
//! * [`auth`]: registration with a clinic's invitation code, login, token refresh.
//! * [`records`]: the four record kinds, their validation, upload and download batches, and the
//!   conflict rule.
//! * [`consent`]: clinics, consent scopes, grants and revocations.
//! * [`rules`]: what a record means to the clinic (blood-pressure tier, EPDS score) and which
//!   warnings it raises.
//! * [`clinic`]: what a clinician's API returns about a consented mother.

pub mod auth;
pub mod clinic;
pub mod consent;
pub mod records;
pub mod rules;

pub use records::{
    DownloadItem, DownloadResponse, ItemOutcome, Record, RecordKind, UploadItem, UploadRequest,
    UploadResponse, ValidationError,
};

/// Path prefix of the mother's API.
pub const API_PREFIX: &str = "/phr/v1";
/// At most this many items in one upload batch.
pub const MAX_BATCH_ITEMS: usize = 500;
/// At most this many bytes in one request body of the PHR API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// At most this many items in one download page.
pub const MAX_PAGE_ITEMS: u32 = 1000;
