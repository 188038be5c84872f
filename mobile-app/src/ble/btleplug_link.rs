//! The real radio: btleplug (BlueZ on Linux, CoreBluetooth on Apple systems, WinRT on Windows).
//! Thin on purpose: everything that can be tested without a radio lives elsewhere. Built only
//! with the `ble` feature; no test here can run it (no build machine has a radio).
//!
//! Each call blocks on a small Tokio runtime owned by the link, on the worker thread that owns it.

use std::pin::Pin;
use std::time::Duration;

use btleplug::api::{Central, Manager as _, Peripheral as _, ScanFilter, ValueNotification};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures::{Stream, StreamExt};
use hardware::ble::{sig_uuid, uuids};
use uuid::Uuid;

use super::{CuffAdvert, CuffLink, LinkError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

fn uuid(short: u16) -> Uuid {
    Uuid::from_u128(sig_uuid(short))
}

fn other(e: btleplug::Error) -> LinkError {
    match e {
        btleplug::Error::PermissionDenied | btleplug::Error::NoAdapterAvailable => {
            LinkError::Unavailable(e.to_string())
        }
        btleplug::Error::NotConnected | btleplug::Error::DeviceNotFound => {
            LinkError::Disconnected(e.to_string())
        }
        e => LinkError::Other(e.to_string()),
    }
}

type Notifications = Pin<Box<dyn Stream<Item = ValueNotification> + Send>>;

pub struct BtleplugLink {
    runtime: tokio::runtime::Runtime,
    adapter: Adapter,
    peripherals: Vec<Peripheral>,
    connected: Option<(Peripheral, Notifications)>,
}

impl std::fmt::Debug for BtleplugLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtleplugLink").field("connected", &self.connected.is_some()).finish()
    }
}

impl BtleplugLink {
    /// Opens the first Bluetooth adapter.
    pub fn new() -> Result<Self, LinkError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| LinkError::Other(e.to_string()))?;
        let adapter = runtime.block_on(async {
            let manager = Manager::new().await.map_err(other)?;
            manager
                .adapters()
                .await
                .map_err(other)?
                .into_iter()
                .next()
                .ok_or_else(|| LinkError::Unavailable("no Bluetooth adapter".into()))
        })?;
        Ok(Self { runtime, adapter, peripherals: Vec::new(), connected: None })
    }
}

impl CuffLink for BtleplugLink {
    fn scan(&mut self, timeout: Duration) -> Result<Vec<CuffAdvert>, LinkError> {
        let adapter = self.adapter.clone();
        let (peripherals, adverts) = self.runtime.block_on(async move {
            adapter
                .start_scan(ScanFilter { services: vec![uuid(uuids::BLOOD_PRESSURE_SERVICE)] })
                .await
                .map_err(other)?;
            // Listen for the whole window: cuffs advertise only for a few seconds after a press.
            tokio::time::sleep(timeout).await;
            adapter.stop_scan().await.map_err(other)?;
            let mut peripherals = Vec::new();
            let mut adverts = Vec::new();
            for p in adapter.peripherals().await.map_err(other)? {
                let Some(props) = p.properties().await.map_err(other)? else { continue };
                if !props.services.contains(&uuid(uuids::BLOOD_PRESSURE_SERVICE)) {
                    continue;
                }
                let id = p.id().to_string();
                adverts.push(CuffAdvert {
                    name: props.local_name.clone().unwrap_or_else(|| props.address.to_string()),
                    id,
                    rssi: props.rssi,
                });
                peripherals.push(p);
            }
            Ok::<_, LinkError>((peripherals, adverts))
        })?;
        self.peripherals = peripherals;
        Ok(adverts)
    }

    fn connect(&mut self, id: &str) -> Result<(), LinkError> {
        let peripheral =
            self.peripherals.iter().find(|p| p.id().to_string() == id).cloned().ok_or_else(
                || LinkError::ConnectFailed(format!("{id} was not seen in the last scan")),
            )?;
        let connected = self.runtime.block_on(async move {
            tokio::time::timeout(CONNECT_TIMEOUT, peripheral.connect())
                .await
                .map_err(|_| LinkError::ConnectFailed("timed out".into()))?
                .map_err(|e| LinkError::ConnectFailed(e.to_string()))?;
            peripheral.discover_services().await.map_err(other)?;
            let measurement = peripheral
                .characteristics()
                .into_iter()
                .find(|c| c.uuid == uuid(uuids::BLOOD_PRESSURE_MEASUREMENT))
                .ok_or(LinkError::NoBloodPressureService)?;
            // Subscribe before the cuff starts its burst; indications are acknowledged by the stack.
            let notifications = peripheral.notifications().await.map_err(other)?;
            peripheral.subscribe(&measurement).await.map_err(other)?;
            Ok::<_, LinkError>((peripheral, notifications))
        })?;
        self.connected = Some(connected);
        Ok(())
    }

    fn next_measurement(&mut self, idle: Duration) -> Result<Option<Vec<u8>>, LinkError> {
        let Some((_, notifications)) = self.connected.as_mut() else {
            return Err(LinkError::Disconnected("not connected".into()));
        };
        let wanted = uuid(uuids::BLOOD_PRESSURE_MEASUREMENT);
        self.runtime.block_on(async {
            loop {
                match tokio::time::timeout(idle, notifications.next()).await {
                    // Silence: the burst is over.
                    Err(_) => return Ok(None),
                    // The cuff closed the connection after sending its memory.
                    Ok(None) => return Ok(None),
                    Ok(Some(n)) if n.uuid == wanted => return Ok(Some(n.value)),
                    Ok(Some(_)) => continue,
                }
            }
        })
    }

    fn disconnect(&mut self) {
        if let Some((peripheral, _)) = self.connected.take() {
            // Nothing to report: the cuff may already have gone.
            let _ = self.runtime.block_on(peripheral.disconnect());
        }
    }
}
