//! System tests across processes and real parts (one test binary; modules under
//! `system-tests/`). Browser tests need Chromium and chromedriver (`cargo xtask setup`).

#[path = "system-tests/browser.rs"]
mod browser;
#[path = "system-tests/phr_browser.rs"]
mod phr_browser;
#[path = "system-tests/phr_sync.rs"]
mod phr_sync;
