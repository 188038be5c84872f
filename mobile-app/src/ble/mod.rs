//! Importing readings from Bluetooth cuffs that implement the Blood Pressure Service (0x1810).
//!
//! * [`CuffLink`]: the radio, behind a trait. [`btleplug_link`] is the real one (thin, feature
//!   `ble`); [`fake::FakeCuff`] replays real byte sequences (`hardware::ble::bp::fixtures`) for
//!   tests and demonstrations, since no build machine has a Bluetooth radio.
//! * [`pairing`]: the pairing and import flow as a pure state machine the UI renders.
//! * [`session`]: runs scans and imports over a link on a worker thread.
//! * [`import`]: decodes a burst with the `hardware` codec and decides what to trust (device
//!   clocks are not trusted blindly); storage de-duplicates by device, time and values.
//!
//! Classic cuffs (Omron, A&D) send their stored records as a burst of indications right after the
//! connection is bonded, then disconnect. Bonding ("Just Works") is done by the phone's OS.

#[cfg(feature = "ble")]
pub mod btleplug_link;
pub mod fake;
pub mod import;
pub mod pairing;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

/// A cuff seen while scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuffAdvert {
    /// Stable identifier: the Bluetooth address on Linux/Android, a platform UUID on Apple systems.
    pub id: String,
    /// Advertised name (e.g. "BLEsmart_0000…", "A&D_UA-651"), or the id when it has none.
    pub name: String,
    pub rssi: Option<i16>,
}

/// What can go wrong on the radio side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("Bluetooth is not available: {0}")]
    Unavailable(String),
    #[error("could not connect to the cuff: {0}")]
    ConnectFailed(String),
    #[error("the device has no Blood Pressure service")]
    NoBloodPressureService,
    #[error("the connection was lost: {0}")]
    Disconnected(String),
    #[error("import cancelled")]
    Cancelled,
    #[error("Bluetooth error: {0}")]
    Other(String),
}

/// The radio, seen from the app. Calls block; the app makes them on a worker thread
/// ([`session`]), never on the UI thread.
pub trait CuffLink: Send {
    /// Scans for up to `timeout` and returns cuffs that advertise the Blood Pressure service.
    fn scan(&mut self, timeout: Duration) -> Result<Vec<CuffAdvert>, LinkError>;

    /// Connects to a cuff found by [`CuffLink::scan`] and subscribes to Blood Pressure
    /// Measurement (0x2A35) indications. Bonding is the OS's job (btleplug has no pairing API).
    fn connect(&mut self, id: &str) -> Result<(), LinkError>;

    /// The next Blood Pressure Measurement value. `Ok(None)` means the burst is over: nothing
    /// arrived for `idle`, or the cuff closed the connection after sending (what classic cuffs do).
    fn next_measurement(&mut self, idle: Duration) -> Result<Option<Vec<u8>>, LinkError>;

    /// Closes the connection (no error: it may already be closed).
    fn disconnect(&mut self);
}

/// Makes a link for each scan or import (on the worker thread that uses it).
pub type LinkFactory = Arc<dyn Fn() -> Result<Box<dyn CuffLink>, LinkError> + Send + Sync>;

/// The link factory for this build: btleplug where the `ble` feature is on, otherwise one that
/// reports Bluetooth as unavailable.
pub fn platform_link_factory() -> LinkFactory {
    #[cfg(feature = "ble")]
    {
        Arc::new(|| btleplug_link::BtleplugLink::new().map(|l| Box::new(l) as Box<dyn CuffLink>))
    }
    #[cfg(not(feature = "ble"))]
    {
        Arc::new(|| Err(LinkError::Unavailable("this build has no Bluetooth support".into())))
    }
}
