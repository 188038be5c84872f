//! Runs scans and imports over a [`CuffLink`] on a worker thread, reporting to the UI thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::import::Received;
use super::{CuffAdvert, CuffLink, LinkError, LinkFactory};
use crate::clock::Clock;

/// How long a scan listens for advertisements.
pub const SCAN_TIME: Duration = Duration::from_secs(8);
/// Silence that ends a burst (cuffs send stored records back to back).
pub const BURST_IDLE: Duration = Duration::from_secs(4);
/// A cuff memory holds at most a few hundred records; more means something is wrong.
pub const MAX_BURST: usize = 1000;

/// What the worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    ScanFinished(Result<Vec<CuffAdvert>, LinkError>),
    Connected,
    Received(usize),
    /// The burst is over: everything received, and the error that ended it, if any.
    BurstEnded {
        values: Vec<Received>,
        error: Option<LinkError>,
    },
}

/// Scans once.
pub fn scan(link: &mut dyn CuffLink, timeout: Duration) -> Result<Vec<CuffAdvert>, LinkError> {
    let mut found = link.scan(timeout)?;
    found.sort_by(|a, b| b.rssi.cmp(&a.rssi).then_with(|| a.name.cmp(&b.name)));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(found)
}

/// Connects and receives one burst, reporting progress. Stops early when `cancel` is set.
pub fn receive_burst(
    link: &mut dyn CuffLink,
    device_id: &str,
    idle: Duration,
    clock: &dyn Clock,
    cancel: &AtomicBool,
    report: &mut dyn FnMut(WorkerEvent),
) -> (Vec<Received>, Option<LinkError>) {
    let mut values = Vec::new();
    if let Err(e) = link.connect(device_id) {
        return (values, Some(e));
    }
    report(WorkerEvent::Connected);
    let error = loop {
        if cancel.load(Ordering::Relaxed) {
            break Some(LinkError::Cancelled);
        }
        match link.next_measurement(idle) {
            Ok(Some(bytes)) => {
                values.push(Received { bytes, at: clock.now() });
                report(WorkerEvent::Received(values.len()));
                if values.len() >= MAX_BURST {
                    break None;
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    link.disconnect();
    (values, error)
}

/// Runs `job` with a fresh link on a new thread; `report` is called on that thread.
pub fn spawn_scan(factory: LinkFactory, report: impl Fn(WorkerEvent) + Send + 'static) {
    std::thread::spawn(move || {
        let result = factory().and_then(|mut link| scan(link.as_mut(), SCAN_TIME));
        report(WorkerEvent::ScanFinished(result));
    });
}

/// Imports from `device_id` on a new thread; `report` is called on that thread.
pub fn spawn_import(
    factory: LinkFactory,
    device_id: String,
    clock: Arc<dyn Clock>,
    cancel: Arc<AtomicBool>,
    report: impl Fn(WorkerEvent) + Send + 'static,
) {
    std::thread::spawn(move || {
        let (values, error) = match factory() {
            Ok(mut link) => {
                let mut forward = |e| report(e);
                receive_burst(
                    link.as_mut(),
                    &device_id,
                    BURST_IDLE,
                    clock.as_ref(),
                    &cancel,
                    &mut forward,
                )
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        report(WorkerEvent::BurstEnded { values, error });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ble::fake::FakeCuff;
    use crate::clock::FixedClock;
    use hardware::ble::bp::fixtures;

    fn clock() -> FixedClock {
        FixedClock::new(chrono::DateTime::parse_from_rfc3339("2025-05-18T13:00:00+09:00").unwrap())
    }

    #[test]
    fn burst_is_received_in_order_with_receipt_times() {
        let mut fake =
            FakeCuff::with_records("AA:BB", "BLEsmart_1", &fixtures::STORED_RECORDS_BURST);
        let mut events = Vec::new();
        let (values, error) = receive_burst(
            &mut fake,
            "AA:BB",
            Duration::from_secs(1),
            &clock(),
            &AtomicBool::new(false),
            &mut |e| events.push(e),
        );
        assert_eq!(error, None);
        let sent: Vec<Vec<u8>> =
            fixtures::STORED_RECORDS_BURST.iter().map(|f| f.bytes.to_vec()).collect();
        assert_eq!(values.iter().map(|v| v.bytes.clone()).collect::<Vec<_>>(), sent);
        assert_eq!(events.first(), Some(&WorkerEvent::Connected));
        assert_eq!(events.last(), Some(&WorkerEvent::Received(4)));
        assert!(!fake.is_connected(), "disconnected afterwards");
    }

    #[test]
    fn link_loss_keeps_what_arrived() {
        let mut fake =
            FakeCuff::with_records("AA:BB", "BLEsmart_1", &fixtures::STORED_RECORDS_BURST)
                .drop_after(2);
        let (values, error) = receive_burst(
            &mut fake,
            "AA:BB",
            Duration::from_secs(1),
            &clock(),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        assert_eq!(values.len(), 2);
        assert!(matches!(error, Some(LinkError::Disconnected(_))));
    }

    #[test]
    fn unknown_device_fails_to_connect() {
        let mut fake =
            FakeCuff::with_records("AA:BB", "BLEsmart_1", &fixtures::STORED_RECORDS_BURST);
        let (values, error) = receive_burst(
            &mut fake,
            "CC:DD",
            Duration::from_secs(1),
            &clock(),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        assert!(values.is_empty());
        assert!(matches!(error, Some(LinkError::ConnectFailed(_))));
    }

    #[test]
    fn cancel_stops_between_values() {
        let mut fake =
            FakeCuff::with_records("AA:BB", "BLEsmart_1", &fixtures::STORED_RECORDS_BURST);
        let cancel = AtomicBool::new(false);
        let mut seen = 0;
        let (values, error) = receive_burst(
            &mut fake,
            "AA:BB",
            Duration::from_secs(1),
            &clock(),
            &cancel,
            &mut |e| {
                if let WorkerEvent::Received(n) = e {
                    seen = n;
                    cancel.store(true, Ordering::Relaxed);
                }
            },
        );
        assert_eq!((values.len(), seen), (1, 1));
        assert_eq!(error, Some(LinkError::Cancelled));
    }

    #[test]
    fn scan_lists_strongest_first_without_repeats() {
        let mut fake = FakeCuff::with_records("AA:BB", "BLEsmart_1", &[]).with_advert(CuffAdvert {
            id: "CC:DD".into(),
            name: "A&D_UA-651".into(),
            rssi: Some(-40),
        });
        let found = scan(&mut fake, Duration::from_secs(1)).unwrap();
        assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec!["CC:DD", "AA:BB"]);
    }
}
