//! The pairing and import flow as a pure state machine. The UI sends her actions in, the worker
//! sends radio results in; the machine answers with the next effect to carry out. Events that do
//! not fit the current state (a late scan result after she cancelled, a double tap) change nothing.

use super::{CuffAdvert, LinkError};

/// What an import did, for the summary screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Values received from the cuff.
    pub received: usize,
    /// New readings stored.
    pub inserted: usize,
    /// Readings that were already stored (same cuff, time and values).
    pub duplicates: usize,
    /// Readings whose cuff clock was not believed (stored at the time of receipt).
    pub clock_untrusted: usize,
    /// Values that could not be read.
    pub rejected: usize,
    /// Guest measurements, not hers.
    pub guests: usize,
}

/// Why the flow stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoCuffFound,
    ConnectFailed,
    /// The connection dropped mid-burst; what arrived was stored.
    ConnectionLost,
    NothingReceived,
    Other,
}

impl Failure {
    /// Index the UI uses for its message.
    pub fn index(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PairingState {
    Ready,
    Scanning,
    Choosing(Vec<CuffAdvert>),
    Connecting(CuffAdvert),
    Receiving {
        device: CuffAdvert,
        received: usize,
    },
    /// The burst is over; its readings are being stored.
    Storing {
        device: CuffAdvert,
        received: usize,
        interrupted: bool,
    },
    Done {
        device: CuffAdvert,
        summary: ImportSummary,
    },
    Failed {
        failure: Failure,
        detail: String,
        summary: Option<ImportSummary>,
    },
    /// No radio, or no permission to use it.
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PairingEvent {
    /// She tapped "search".
    Scan,
    ScanFinished(Result<Vec<CuffAdvert>, LinkError>),
    /// She chose a cuff from the list.
    Choose(usize),
    Connected,
    /// A value arrived; the count so far.
    Received(usize),
    /// The burst ended (`error` when it ended badly) after `received` values.
    BurstEnded {
        received: usize,
        error: Option<LinkError>,
    },
    /// The received values were stored.
    Stored(ImportSummary),
    Cancel,
}

/// What the controller must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartScan,
    /// Connect and receive the burst.
    Import(CuffAdvert),
    /// Decode and store what was received.
    Store,
    /// Stop the worker (she cancelled).
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairingFlow {
    state: PairingState,
}

impl Default for PairingFlow {
    fn default() -> Self {
        Self { state: PairingState::Ready }
    }
}

impl PairingFlow {
    pub fn state(&self) -> &PairingState {
        &self.state
    }

    /// Whether the worker is busy (a scan or an import is under way).
    pub fn is_busy(&self) -> bool {
        matches!(
            self.state,
            PairingState::Scanning
                | PairingState::Connecting(_)
                | PairingState::Receiving { .. }
                | PairingState::Storing { .. }
        )
    }

    pub fn handle(&mut self, event: PairingEvent) -> Option<Effect> {
        use PairingEvent as E;
        use PairingState as S;
        let (next, effect) = match (&self.state, event) {
            (_, E::Cancel) => {
                let effect = self.is_busy().then_some(Effect::Stop);
                (S::Ready, effect)
            }
            (
                S::Ready | S::Done { .. } | S::Failed { .. } | S::Unavailable(_) | S::Choosing(_),
                E::Scan,
            ) => (S::Scanning, Some(Effect::StartScan)),
            (S::Scanning, E::ScanFinished(Ok(found))) if found.is_empty() => (
                S::Failed { failure: Failure::NoCuffFound, detail: String::new(), summary: None },
                None,
            ),
            (S::Scanning, E::ScanFinished(Ok(found))) => (S::Choosing(found), None),
            (S::Scanning, E::ScanFinished(Err(LinkError::Unavailable(why)))) => {
                (S::Unavailable(why), None)
            }
            (S::Scanning, E::ScanFinished(Err(e))) => {
                (S::Failed { failure: Failure::Other, detail: e.to_string(), summary: None }, None)
            }
            (S::Choosing(found), E::Choose(i)) => match found.get(i) {
                Some(device) => {
                    (S::Connecting(device.clone()), Some(Effect::Import(device.clone())))
                }
                None => return None,
            },
            (S::Connecting(device), E::Connected) => {
                (S::Receiving { device: device.clone(), received: 0 }, None)
            }
            (S::Connecting(device) | S::Receiving { device, .. }, E::Received(received)) => {
                (S::Receiving { device: device.clone(), received }, None)
            }
            (
                S::Connecting(device) | S::Receiving { device, .. },
                E::BurstEnded { received, error },
            ) => {
                match (received, error) {
                    (0, None) => (
                        S::Failed {
                            failure: Failure::NothingReceived,
                            detail: String::new(),
                            summary: None,
                        },
                        None,
                    ),
                    (0, Some(LinkError::Unavailable(why))) => (S::Unavailable(why), None),
                    (
                        0,
                        Some(e @ (LinkError::ConnectFailed(_) | LinkError::NoBloodPressureService)),
                    ) => (
                        S::Failed {
                            failure: Failure::ConnectFailed,
                            detail: e.to_string(),
                            summary: None,
                        },
                        None,
                    ),
                    (0, Some(e)) => (
                        S::Failed {
                            failure: Failure::ConnectionLost,
                            detail: e.to_string(),
                            summary: None,
                        },
                        None,
                    ),
                    // Whatever arrived is stored, even when the connection then dropped.
                    (n, error) => (
                        S::Storing {
                            device: device.clone(),
                            received: n,
                            interrupted: error.is_some(),
                        },
                        Some(Effect::Store),
                    ),
                }
            }
            (S::Storing { device, interrupted, .. }, E::Stored(summary)) => {
                if *interrupted {
                    (
                        S::Failed {
                            failure: Failure::ConnectionLost,
                            detail: String::new(),
                            summary: Some(summary),
                        },
                        None,
                    )
                } else {
                    (S::Done { device: device.clone(), summary }, None)
                }
            }
            // Anything else is stale or a double tap.
            _ => return None,
        };
        self.state = next;
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuff(id: &str) -> CuffAdvert {
        CuffAdvert { id: id.into(), name: format!("BLEsmart_{id}"), rssi: Some(-60) }
    }

    #[test]
    fn happy_path_scan_choose_receive_store() {
        let mut f = PairingFlow::default();
        assert_eq!(f.handle(PairingEvent::Scan), Some(Effect::StartScan));
        assert!(f.is_busy());
        assert_eq!(f.handle(PairingEvent::ScanFinished(Ok(vec![cuff("A"), cuff("B")]))), None);
        assert_eq!(f.state(), &PairingState::Choosing(vec![cuff("A"), cuff("B")]));
        assert_eq!(f.handle(PairingEvent::Choose(1)), Some(Effect::Import(cuff("B"))));
        assert_eq!(f.handle(PairingEvent::Connected), None);
        f.handle(PairingEvent::Received(1));
        f.handle(PairingEvent::Received(2));
        assert_eq!(f.state(), &PairingState::Receiving { device: cuff("B"), received: 2 });
        assert_eq!(
            f.handle(PairingEvent::BurstEnded { received: 2, error: None }),
            Some(Effect::Store)
        );
        let summary = ImportSummary { received: 2, inserted: 2, ..Default::default() };
        assert_eq!(f.handle(PairingEvent::Stored(summary)), None);
        assert_eq!(f.state(), &PairingState::Done { device: cuff("B"), summary });
        assert!(!f.is_busy());
        // And again from the summary screen.
        assert_eq!(f.handle(PairingEvent::Scan), Some(Effect::StartScan));
    }

    #[test]
    fn nothing_found_and_no_radio() {
        let mut f = PairingFlow::default();
        f.handle(PairingEvent::Scan);
        f.handle(PairingEvent::ScanFinished(Ok(vec![])));
        assert!(matches!(f.state(), PairingState::Failed { failure: Failure::NoCuffFound, .. }));
        f.handle(PairingEvent::Scan);
        f.handle(PairingEvent::ScanFinished(Err(LinkError::Unavailable("adapter off".into()))));
        assert_eq!(f.state(), &PairingState::Unavailable("adapter off".into()));
    }

    #[test]
    fn connect_failure_and_empty_burst() {
        let mut f = PairingFlow::default();
        f.handle(PairingEvent::Scan);
        f.handle(PairingEvent::ScanFinished(Ok(vec![cuff("A")])));
        f.handle(PairingEvent::Choose(0));
        f.handle(PairingEvent::BurstEnded {
            received: 0,
            error: Some(LinkError::ConnectFailed("timeout".into())),
        });
        assert!(matches!(f.state(), PairingState::Failed { failure: Failure::ConnectFailed, .. }));

        f.handle(PairingEvent::Scan);
        f.handle(PairingEvent::ScanFinished(Ok(vec![cuff("A")])));
        f.handle(PairingEvent::Choose(0));
        f.handle(PairingEvent::Connected);
        f.handle(PairingEvent::BurstEnded { received: 0, error: None });
        assert!(matches!(
            f.state(),
            PairingState::Failed { failure: Failure::NothingReceived, .. }
        ));
    }

    #[test]
    fn interrupted_burst_stores_what_arrived_then_reports_the_loss() {
        let mut f = PairingFlow::default();
        f.handle(PairingEvent::Scan);
        f.handle(PairingEvent::ScanFinished(Ok(vec![cuff("A")])));
        f.handle(PairingEvent::Choose(0));
        f.handle(PairingEvent::Connected);
        let effect = f.handle(PairingEvent::BurstEnded {
            received: 3,
            error: Some(LinkError::Disconnected("link loss".into())),
        });
        assert_eq!(effect, Some(Effect::Store));
        let summary = ImportSummary { received: 3, inserted: 3, ..Default::default() };
        f.handle(PairingEvent::Stored(summary));
        assert_eq!(
            f.state(),
            &PairingState::Failed {
                failure: Failure::ConnectionLost,
                detail: String::new(),
                summary: Some(summary)
            }
        );
    }

    #[test]
    fn stale_events_and_bad_choices_change_nothing() {
        let mut f = PairingFlow::default();
        assert_eq!(f.handle(PairingEvent::Choose(0)), None);
        assert_eq!(f.handle(PairingEvent::Connected), None);
        assert_eq!(f.state(), &PairingState::Ready);
        f.handle(PairingEvent::Scan);
        // A second tap while scanning does not start a second scan.
        assert_eq!(f.handle(PairingEvent::Scan), None);
        f.handle(PairingEvent::ScanFinished(Ok(vec![cuff("A")])));
        assert_eq!(f.handle(PairingEvent::Choose(5)), None);
        assert!(matches!(f.state(), PairingState::Choosing(_)));
        // Cancelling mid-import stops the worker; its late results are ignored.
        f.handle(PairingEvent::Choose(0));
        assert_eq!(f.handle(PairingEvent::Cancel), Some(Effect::Stop));
        assert_eq!(f.handle(PairingEvent::Received(4)), None);
        assert_eq!(f.handle(PairingEvent::BurstEnded { received: 4, error: None }), None);
        assert_eq!(f.state(), &PairingState::Ready);
        assert_eq!(f.handle(PairingEvent::Cancel), None, "nothing to stop");
    }
}
