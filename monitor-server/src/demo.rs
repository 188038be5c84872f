//! The one-command demo: embedded broker, the server with SQLite, and simulated gateways feeding
//! beds that play different clinical scenarios, one of them an ambulance whose network drops
//! out for a minute at a time and backfills when it returns.
//!
//! ```text
//! ward gateway (beds 1..N-1) ───────────────────────────► embedded broker ◄──► server
//! ambulance gateway (bed N) ──► relay (cut 60 s of every 3 min) ──┘
//! ```
//!
//! Demo staff accounts are created on first start (their passwords are in the README); the
//! printed URL carries a one-time login code so opening it lands logged in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::handlers::{NewStaffRequest, create_staff_account, issue_login_code};
use crate::app::{App, Core, StartError};
use crate::config::Config;
use crate::model::{Bed, GestationalAge, NewAdmission, Role};
use crate::relay::Relay;
use crate::store::StoreError;

/// The site name of the demo's streams.
pub const SITE: &str = "demo";
/// The ward gateway's id.
pub const WARD_GATEWAY: &str = "ward-gw";
/// The ambulance gateway's id.
pub const AMBULANCE_GATEWAY: &str = "ambulance-gw";
/// Most beds the demo runs (one screen of the central monitor).
pub const MAX_BEDS: usize = 32;

/// Demo staff: username, display name, role, password. Documented in the README.
pub const DEMO_STAFF: [(&str, &str, Role, &str); 3] = [
    ("midwife", "助産師 山田", Role::Midwife, "demo-midwife-pass"),
    ("obstetrician", "産科医 佐々木", Role::Obstetrician, "demo-obstetrician-pass"),
    ("admin", "管理者", Role::Admin, "demo-admin-pass"),
];

/// Scenarios of the ward beds, in bed order (cycled beyond eight beds).
const WARD_SCENARIOS: [&str; 11] = [
    "normal-labour",
    "early-decelerations",
    "variable-decelerations",
    "late-decelerations",
    "signal-loss",
    "maternal-heart-rate",
    "tachycardia",
    "prolonged-bradycardia",
    "sinusoidal",
    "tachysystole",
    "wire-faults",
];

const FAMILY: [&str; 8] = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"];
const GIVEN: [&str; 8] = ["美咲", "陽菜", "結衣", "さくら", "葵", "凛", "楓", "彩花"];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("--beds must be 2-{MAX_BEDS} (the ambulance takes one bed)")]
    Beds,
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("demo setup: {0}")]
    Setup(String),
    #[error("demo setup: {0}")]
    Store(#[from] StoreError),
    #[error("cannot start the ambulance relay: {0}")]
    Relay(std::io::Error),
    #[error("gateway configuration: {0}")]
    Gateway(String),
}

/// How often the ambulance loses its network.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// Connected this long...
    pub online: Duration,
    /// ...then cut this long, repeatedly.
    pub offline: Duration,
}

impl Default for Outage {
    fn default() -> Self {
        Self { online: Duration::from_secs(120), offline: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub beds: usize,
    /// HTTP port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    pub data_dir: PathBuf,
    /// `None`: the ambulance never loses its network (tests drive the relay themselves).
    pub outage: Option<Outage>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            beds: 8,
            port: 8080,
            data_dir: std::env::temp_dir().join("ctg-monitor-demo"),
            outage: Some(Outage::default()),
        }
    }
}

/// A bed of the demo.
#[derive(Debug, Clone)]
pub struct DemoBed {
    pub bed: String,
    pub stream: String,
    pub scenario: String,
    pub patient_id: String,
    pub name: String,
    pub ambulance: bool,
}

/// The demo's beds, streams and patients.
pub fn plan(beds: usize) -> Vec<DemoBed> {
    (0..beds)
        .map(|i| {
            let n = i + 1;
            let ambulance = n == beds;
            let (gateway, device, scenario) = if ambulance {
                (AMBULANCE_GATEWAY, "probe-1".to_owned(), "normal-labour")
            } else {
                (WARD_GATEWAY, format!("bed-{n}"), WARD_SCENARIOS[i % WARD_SCENARIOS.len()])
            };
            DemoBed {
                bed: if ambulance { "救急車".to_owned() } else { n.to_string() },
                stream: format!("{SITE}/{gateway}/{device}"),
                scenario: scenario.to_owned(),
                patient_id: format!("P-{:04}", 1000 + n),
                name: format!(
                    "{} {}",
                    FAMILY[i % FAMILY.len()],
                    GIVEN[(i / FAMILY.len() + i * 3) % GIVEN.len()]
                ),
                ambulance,
            }
        })
        .collect()
}

/// A running demo.
#[derive(Debug)]
pub struct RunningDemo {
    pub core: Arc<Core>,
    pub http_addr: SocketAddr,
    pub broker_url: String,
    /// Open this to land logged in (as the obstetrician).
    pub login_url: String,
    pub beds: Vec<DemoBed>,
    /// The ambulance's link to the broker.
    pub relay: Arc<Relay>,
    app: Option<App>,
    gateways_stop: CancellationToken,
    gateway_stops: Vec<(&'static str, CancellationToken)>,
    gateways: Vec<JoinHandle<()>>,
    outage_task: Option<JoinHandle<()>>,
}

impl RunningDemo {
    /// Starts everything and returns once the server accepts connections.
    pub async fn start(opts: DemoOptions) -> Result<Self, DemoError> {
        Self::start_with_database(opts, None).await
    }

    /// Like [`RunningDemo::start`], storing in `database_url` (`postgres://…` = TimescaleDB)
    /// instead of SQLite in the data directory.
    pub async fn start_with_database(
        opts: DemoOptions,
        database_url: Option<String>,
    ) -> Result<Self, DemoError> {
        if !(2..=MAX_BEDS).contains(&opts.beds) {
            return Err(DemoError::Beds);
        }
        let mut config = Config { data_dir: opts.data_dir.join("server"), ..Config::default() };
        config.http.listen = SocketAddr::from(([127, 0, 0, 1], opts.port));
        config.storage.database_url = database_url;
        config.embedded_broker.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let app = App::start(config).await?;
        let http_addr = app.local_addr().map_err(|e| DemoError::Setup(e.to_string()))?;
        let core = app.core.clone();
        let beds = plan(opts.beds);
        setup_records(&core, &beds).await?;
        let code = issue_login_code(&core, "obstetrician")
            .await
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        let login_url = format!("http://{http_addr}{}", code.path);

        let broker_addr = app
            .embedded_broker
            .map(|b| b.addr)
            .ok_or_else(|| DemoError::Setup("no embedded broker".into()))?;
        let relay = Arc::new(Relay::start(broker_addr).await.map_err(DemoError::Relay)?);
        let gateways_stop = CancellationToken::new();
        let mut gateways = Vec::new();
        let mut gateway_stops = Vec::new();
        let ward: Vec<device_gateway::SimulatedBed> = beds
            .iter()
            .filter(|b| !b.ambulance)
            .enumerate()
            .map(|(i, b)| device_gateway::SimulatedBed {
                device: b.stream.rsplit('/').next().unwrap_or_default().to_owned(),
                bed: b.bed.clone(),
                scenario: b.scenario.clone(),
                seed: 1000 + i as u64,
            })
            .collect();
        let ambulance: Vec<device_gateway::SimulatedBed> = beds
            .iter()
            .filter(|b| b.ambulance)
            .map(|b| device_gateway::SimulatedBed {
                device: b.stream.rsplit('/').next().unwrap_or_default().to_owned(),
                bed: b.bed.clone(),
                scenario: b.scenario.clone(),
                seed: 7,
            })
            .collect();
        for (id, url, list) in [
            (WARD_GATEWAY, format!("mqtt://{broker_addr}"), ward),
            (AMBULANCE_GATEWAY, format!("mqtt://{}", relay.addr()), ambulance),
        ] {
            let dir = opts.data_dir.join("gateways").join(id);
            let cfg = device_gateway::Config::simulated(SITE, id, &url, &list, &dir)
                .map_err(|e| DemoError::Gateway(e.to_string()))?;
            let stop = gateways_stop.child_token();
            gateway_stops.push((id, stop.clone()));
            gateways.push(tokio::spawn(async move {
                if let Err(e) =
                    device_gateway::run(cfg, async move { stop.cancelled().await }).await
                {
                    tracing::error!(gateway = id, "gateway stopped: {e}");
                }
            }));
        }
        let outage_task = opts.outage.map(|o| {
            let relay = relay.clone();
            let stop = gateways_stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(o.online) => {}
                    }
                    tracing::info!(
                        "demo: the ambulance loses its network for {} s",
                        o.offline.as_secs()
                    );
                    relay.set_cut(true);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(o.offline) => {}
                    }
                    tracing::info!("demo: the ambulance is back online and backfills");
                    relay.set_cut(false);
                }
            })
        });
        let broker_url = app.broker_url.clone();
        Ok(Self {
            core,
            http_addr,
            broker_url,
            login_url,
            beds,
            relay,
            app: Some(app),
            gateways_stop,
            gateway_stops,
            gateways,
            outage_task,
        })
    }

    /// Serves until `shutdown`, then stops the gateways (they announce a clean stop) and the
    /// server.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(app) = self.app.take() else { return Ok(()) };
        let stop = self.gateways_stop.clone();
        let gateways = std::mem::take(&mut self.gateways);
        let outage = self.outage_task.take();
        let server_shutdown = async move {
            shutdown.await;
            stop.cancel();
            for g in gateways {
                let _ = g.await;
            }
            if let Some(o) = outage {
                let _ = o.await;
            }
        };
        app.run(server_shutdown).await
    }

    /// A handle to stop gateways and cut the ambulance's link while the demo runs.
    pub fn control(&self) -> DemoControl {
        DemoControl { gateway_stops: self.gateway_stops.clone(), relay: self.relay.clone() }
    }
}

/// Controls a running demo from outside (tests, screenshots).
#[derive(Debug, Clone)]
pub struct DemoControl {
    gateway_stops: Vec<(&'static str, CancellationToken)>,
    pub relay: Arc<Relay>,
}

impl DemoControl {
    /// Stops one gateway ([`WARD_GATEWAY`] or [`AMBULANCE_GATEWAY`]) with a clean stop.
    pub fn stop_gateway(&self, id: &str) {
        for (g, t) in &self.gateway_stops {
            if *g == id {
                t.cancel();
            }
        }
    }
}

/// Creates the demo staff, beds, admissions and bindings that do not exist yet.
async fn setup_records(core: &Core, beds: &[DemoBed]) -> Result<(), DemoError> {
    for (username, display, role, password) in DEMO_STAFF {
        if core.store.staff_credentials(username).await?.is_none() {
            let req = NewStaffRequest {
                username: username.into(),
                display_name: display.into(),
                role,
                password: password.into(),
            };
            create_staff_account(core, req).await.map_err(|e| DemoError::Setup(e.to_string()))?;
        }
    }
    for (i, b) in beds.iter().enumerate() {
        core.store.put_bed(&Bed { bed: b.bed.clone(), display_order: i as i64 + 1 }).await?;
    }
    core.reload_assignments().await?;
    let now = crate::now_ms();
    for (i, b) in beds.iter().enumerate() {
        let existing = core.registry().admission_in_bed(&b.bed).cloned();
        let admission = match existing {
            Some(a) => a,
            None => {
                let ga = GestationalAge::new(36 + (i % 6) as u8, (i * 3 % 7) as u8)
                    .ok_or_else(|| DemoError::Setup("ga".into()))?;
                let new = NewAdmission {
                    patient_id: b.patient_id.clone(),
                    name: b.name.clone(),
                    gestational_age: ga,
                    bed: b.bed.clone(),
                };
                match core.store.admit(&new, "demo", now).await {
                    Ok(a) => a,
                    // The patient lies in another bed from an earlier run with other options.
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let stream: ctg_wire::StreamId =
            b.stream.parse().map_err(|e| DemoError::Setup(format!("{e}")))?;
        let bound = core.registry().binding_of_admission(admission.admission_id).is_some()
            || core.registry().binding_of_stream(&stream).is_some();
        core.reload_assignments().await?;
        if !bound {
            let from = core.registry().binding_frontier(&stream);
            match core.store.bind(admission.admission_id, &stream, from, "demo", now).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    core.reload_assignments().await?;
    // Mothers who share their home records with the demo clinic (the "Mothers" view).
    crate::phr::demo::seed(core, now).await?;
    Ok(())
}
