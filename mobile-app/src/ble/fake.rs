//! A fake cuff for tests and demonstrations: it advertises, accepts a connection and indicates
//! stored records byte for byte as given (normally `hardware::ble::bp::fixtures`), then ends the
//! burst the way classic cuffs do, by disconnecting. Faults can be injected.

use std::time::Duration;

use hardware::ble::bp::fixtures::CuffFixture;

use super::{CuffAdvert, CuffLink, LinkError};

#[derive(Debug, Clone)]
pub struct FakeCuff {
    adverts: Vec<CuffAdvert>,
    device_id: String,
    records: Vec<Vec<u8>>,
    /// Drop the connection after this many values.
    drop_after: Option<usize>,
    unavailable: bool,
    connected: bool,
    sent: usize,
}

impl FakeCuff {
    /// A cuff with stored records given as raw values.
    pub fn new(device_id: &str, name: &str, records: Vec<Vec<u8>>) -> Self {
        Self {
            adverts: vec![CuffAdvert { id: device_id.into(), name: name.into(), rssi: Some(-58) }],
            device_id: device_id.into(),
            records,
            drop_after: None,
            unavailable: false,
            connected: false,
            sent: 0,
        }
    }

    /// A cuff whose memory holds these fixtures, oldest first.
    pub fn with_records(device_id: &str, name: &str, fixtures: &[CuffFixture]) -> Self {
        Self::new(device_id, name, fixtures.iter().map(|f| f.bytes.to_vec()).collect())
    }

    /// Another device seen while scanning (it cannot be connected to).
    pub fn with_advert(mut self, advert: CuffAdvert) -> Self {
        self.adverts.push(advert);
        self
    }

    /// Loses the connection after `n` values.
    pub fn drop_after(mut self, n: usize) -> Self {
        self.drop_after = Some(n);
        self
    }

    /// Behaves like a phone with Bluetooth switched off.
    pub fn unavailable(mut self) -> Self {
        self.unavailable = true;
        self
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }
}

impl CuffLink for FakeCuff {
    fn scan(&mut self, _timeout: Duration) -> Result<Vec<CuffAdvert>, LinkError> {
        if self.unavailable {
            return Err(LinkError::Unavailable("Bluetooth is switched off".into()));
        }
        Ok(self.adverts.clone())
    }

    fn connect(&mut self, id: &str) -> Result<(), LinkError> {
        if self.unavailable {
            return Err(LinkError::Unavailable("Bluetooth is switched off".into()));
        }
        if id != self.device_id {
            return Err(LinkError::ConnectFailed(format!("{id} did not answer")));
        }
        self.connected = true;
        self.sent = 0;
        Ok(())
    }

    fn next_measurement(&mut self, _idle: Duration) -> Result<Option<Vec<u8>>, LinkError> {
        if !self.connected {
            return Err(LinkError::Disconnected("not connected".into()));
        }
        if self.drop_after == Some(self.sent) {
            self.connected = false;
            return Err(LinkError::Disconnected("link supervision timeout".into()));
        }
        match self.records.get(self.sent) {
            Some(value) => {
                self.sent += 1;
                Ok(Some(value.clone()))
            }
            None => {
                // Classic cuffs disconnect once their memory is sent.
                self.connected = false;
                Ok(None)
            }
        }
    }

    fn disconnect(&mut self) {
        self.connected = false;
    }
}
