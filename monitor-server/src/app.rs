//! Assembly: the shared core (configuration, store, registry, live hub) and the start-up of a
//! whole server (storage, broker, ingest, HTTP).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::{HashCost, LoginThrottle};
use crate::broker::{BrokerError, EmbeddedBroker};
use crate::config::{Config, ConfigError, parse_mqtt_url};
use crate::ingest::{BrokerEndpoint, IngestStats, IngestTasks};
use crate::live::Hub;
use crate::model::Millis;
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("phr.speech_config: {0}")]
    Speech(#[from] crate::phr::speech::SpeechError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Runs of samples waiting for the analysis thread at most (a few seconds of 1,000 beds); past
/// that the analysis sees gaps rather than slowing the ingest.
const ANALYSIS_QUEUE: usize = 8192;

/// State shared by ingest, live feed and API.
#[derive(Debug)]
pub struct Core {
    pub config: Config,
    pub store: Arc<dyn Store>,
    registry: Mutex<Registry>,
    pub hub: Hub,
    /// Serialises admissions and bindings so the store and the registry change together.
    pub assign_lock: tokio::sync::Mutex<()>,
    /// Bumped after every assignment change; viewers re-check their beds.
    pub epoch: watch::Sender<u64>,
    pub logins: Mutex<LoginThrottle>,
    pub ingest_stats: IngestStats,
    /// PHR API counters, bad input by reason.
    pub phr_stats: crate::phr::PhrStats,
    /// The dictation transcriber, when one is configured (`phr.speech_config`).
    pub speech: std::sync::OnceLock<Arc<crate::phr::speech::Speech>>,
    /// Live CTG analysis and alarms (fed by the ingest, run on its own thread).
    pub analysis: crate::analysis::LiveAnalysis,
    /// Verified against when a username is unknown, so timing does not reveal which exist.
    pub dummy_hash: String,
    /// Cancelled when the server shuts down; long-lived tasks (viewers) end on it.
    pub shutdown: CancellationToken,
}

impl Core {
    /// Builds the core over a store and loads persisted state into the registry.
    pub async fn new(config: Config, store: Arc<dyn Store>) -> Result<Arc<Self>, StoreError> {
        let mut registry = Registry::new();
        registry.load_streams(store.load_streams().await?);
        registry.set_assignments(
            store.beds().await?,
            store.active_admissions().await?,
            store.active_bindings().await?,
        );
        let cost = HashCost {
            memory_kib: config.auth.argon2_memory_kib,
            iterations: config.auth.argon2_iterations,
        };
        let dummy_hash = tokio::task::spawn_blocking(move || crate::auth::dummy_hash(cost))
            .await
            .unwrap_or_default();
        Ok(Arc::new(Self {
            hub: Hub::new(config.live.viewer_queue),
            config,
            store,
            registry: Mutex::new(registry),
            assign_lock: tokio::sync::Mutex::new(()),
            epoch: watch::channel(0).0,
            logins: Mutex::new(LoginThrottle::default()),
            ingest_stats: IngestStats::default(),
            phr_stats: crate::phr::PhrStats::default(),
            speech: std::sync::OnceLock::new(),
            analysis: crate::analysis::LiveAnalysis::new(ANALYSIS_QUEUE),
            dummy_hash,
            shutdown: CancellationToken::new(),
        }))
    }

    /// The registry. Critical sections are short and never await.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        // Registry methods keep it consistent at every return; a panic elsewhere leaves it usable.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn hash_cost(&self) -> HashCost {
        HashCost {
            memory_kib: self.config.auth.argon2_memory_kib,
            iterations: self.config.auth.argon2_iterations,
        }
    }

    pub fn gateway_timeout_ms(&self) -> Millis {
        (self.config.ingest.gateway_timeout_s * 1000) as Millis
    }

    /// Reloads beds, admissions and bindings from the store and tells every viewer.
    pub async fn reload_assignments(&self) -> Result<(), StoreError> {
        let beds = self.store.beds().await?;
        let admissions = self.store.active_admissions().await?;
        let bindings = self.store.active_bindings().await?;
        let epoch = {
            let mut r = self.registry();
            r.set_assignments(beds, admissions, bindings);
            r.assignment_epoch
        };
        self.epoch.send_replace(epoch);
        Ok(())
    }
}

/// A started server: HTTP listener bound, ingest running.
#[derive(Debug)]
pub struct App {
    pub core: Arc<Core>,
    pub listener: TcpListener,
    /// The broker in use (embedded or configured).
    pub broker_url: String,
    pub embedded_broker: Option<EmbeddedBroker>,
    ingest: IngestTasks,
    analysis: Option<std::thread::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl App {
    /// Opens storage, starts the embedded broker when no broker is configured, connects the
    /// ingest and binds the HTTP listener.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let store: Arc<dyn Store> = crate::store::open(&config).await?;
        let listener = TcpListener::bind(config.http.listen)
            .await
            .map_err(|source| StartError::Listen { addr: config.http.listen, source })?;
        Self::start_with(config, store, listener).await
    }

    /// Like [`App::start`] with a given store and listener (tests bind port 0).
    pub async fn start_with(
        config: Config,
        store: Arc<dyn Store>,
        listener: TcpListener,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let (embedded_broker, host, port) = match &config.mqtt.url {
            Some(url) => {
                let (h, p) = parse_mqtt_url(url)
                    .map_err(|m| ConfigError::Invalid { key: "mqtt.url", message: m })?;
                (None, h, p)
            }
            None => {
                let (listen, max) =
                    (config.embedded_broker.listen, config.embedded_broker.max_connections);
                let b = tokio::task::spawn_blocking(move || EmbeddedBroker::start(listen, max))
                    .await
                    .map_err(|e| BrokerError::Start(e.to_string()))??;
                (Some(b), b.addr.ip().to_string(), b.addr.port())
            }
        };
        let broker_url = format!("mqtt://{host}:{port}");
        let endpoint = BrokerEndpoint {
            host,
            port,
            client_id: config.mqtt.client_id.clone(),
            credentials: config.mqtt.username.clone().zip(config.mqtt.password.clone()),
            keep_alive: Duration::from_secs(config.mqtt.keep_alive_s),
        };
        let speech = match config.phr.speech_config.clone() {
            Some(path) => Some(
                tokio::task::spawn_blocking(move || crate::phr::speech::Speech::from_config(&path))
                    .await
                    .map_err(|e| crate::phr::speech::SpeechError::Model(e.to_string()))??,
            ),
            None => None,
        };
        let core = Core::new(config, store).await?;
        if let Some(s) = speech {
            tracing::info!(model = %s.describe, "dictation: transcribing on the server");
            let _ = core.speech.set(Arc::new(s));
        }
        let shutdown = core.shutdown.clone();
        let ingest = crate::ingest::start(core.clone(), endpoint, shutdown.clone());
        spawn_housekeeping(core.clone(), shutdown.clone());
        let analysis = crate::analysis::start(core.clone());
        Ok(Self { core, listener, broker_url, embedded_broker, ingest, analysis, shutdown })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves HTTP until `shutdown` resolves, then stops the ingest after its last batch is
    /// stored and acknowledged.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shutdown.clone();
        let http_token = token.clone();
        let result = crate::api::run(self.listener, self.core.clone(), async move {
            tokio::select! {
                _ = shutdown => {}
                _ = http_token.cancelled() => {}
            }
        })
        .await;
        token.cancel();
        self.ingest.join().await;
        if let Some(analysis) = self.analysis {
            // The thread notices the shutdown within a quarter of a second.
            let _ = tokio::task::spawn_blocking(move || analysis.join()).await;
        }
        tracing::info!("monitor server stopped");
        result
    }
}

/// Purges expired sessions and login codes every few minutes.
fn spawn_housekeeping(core: Arc<Core>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = core.store.purge_expired(crate::now_ms()).await {
                        tracing::warn!("purging expired sessions failed: {e}");
                    }
                }
            }
        }
    });
}
