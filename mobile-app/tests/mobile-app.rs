//! Integration tests of the mobile app (one test binary: Slint allows one platform per process).
//!
//! * `ui`: the app driven through Slint's testing backend, as she would use it.
//! * `storage`: durability across a crash, export completeness.
//! * `golden`: `mobile-app --screenshots` against the committed images in docs/mobile-app.
//! * `notes`: dictation → draft → her check → saved and synced.
//! * `sync`: sync with the clinic against the in-memory fake server.
//! * `text`: every UI string translated, every character in the embedded font.

#[path = "mobile-app/golden.rs"]
mod golden;
#[path = "mobile-app/notes.rs"]
mod notes;
#[path = "mobile-app/storage.rs"]
mod storage;
#[path = "mobile-app/sync.rs"]
mod sync;
#[path = "mobile-app/text.rs"]
mod text;
#[path = "mobile-app/ui.rs"]
mod ui;
