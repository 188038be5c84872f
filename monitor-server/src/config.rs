//! The server's one typed configuration: a TOML file (see `monitor-server.example.toml`) with
//! command-line overrides, validated at start with messages that name the offending key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("configuration file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

/// Everything the server can be told.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database and other state live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub mqtt: MqttConfig,
    pub embedded_broker: EmbeddedBrokerConfig,
    pub ingest: IngestConfig,
    pub storage: StorageConfig,
    pub live: LiveConfig,
    pub auth: AuthConfig,
    pub phr: PhrConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpConfig::default(),
            mqtt: MqttConfig::default(),
            embedded_broker: EmbeddedBrokerConfig::default(),
            ingest: IngestConfig::default(),
            storage: StorageConfig::default(),
            live: LiveConfig::default(),
            auth: AuthConfig::default(),
            phr: PhrConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the web page and API. Loopback by default.
    pub listen: SocketAddr,
    /// Must be set to listen on anything but loopback: without TLS in front, passwords and
    /// patient data would cross the network in clear.
    pub allow_remote: bool,
    /// Mark the session cookie `Secure` (set when a TLS proxy fronts the server).
    pub secure_cookies: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_remote: false,
            secure_cookies: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` of an external broker; absent = start the embedded broker.
    pub url: Option<String>,
    /// Client id at the broker. The session is persistent (clean session off), so the broker
    /// keeps QoS 1 messages for the server while it restarts.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive_s: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: None,
            client_id: "monitor-server".into(),
            username: None,
            password: None,
            keep_alive_s: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedBrokerConfig {
    /// Where the embedded broker listens when `mqtt.url` is absent. Loopback by default.
    pub listen: SocketAddr,
    pub max_connections: usize,
}

impl Default for EmbeddedBrokerConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 1883)), max_connections: 2000 }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Sites this server accepts streams from; empty = any site.
    pub sites: Vec<String>,
    /// A storage batch is written when it holds this many samples...
    pub batch_max_samples: usize,
    /// ...or when its first item is this old.
    pub batch_max_delay_ms: u64,
    /// A gateway heard from neither by heartbeat nor by data for this long is offline
    /// (the wire contract says 15 s).
    pub gateway_timeout_s: u64,
    /// Accepted blocks waiting for storage before the ingest stops reading from the broker.
    pub queue_blocks: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            sites: Vec::new(),
            batch_max_samples: 4000,
            batch_max_delay_ms: 100,
            gateway_timeout_s: 15,
            queue_blocks: 20_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` (embedded, the default) or `timescaledb` (needs `database_url`). A
    /// `database_url` selects the backend by itself.
    pub backend: String,
    /// SQLite file; default `<data_dir>/monitor.sqlite`.
    pub sqlite_path: Option<PathBuf>,
    /// `postgres://…` (TimescaleDB), or `sqlite://PATH` / a file path (embedded). The
    /// `DATABASE_URL` environment variable overrides it.
    pub database_url: Option<String>,
    /// TimescaleDB: raw samples and device events older than this many days are dropped
    /// (whole chunks); unset = kept for ever.
    pub retention_days: Option<u32>,
    /// TimescaleDB: per-minute rollups older than this many days are dropped; unset = kept.
    pub rollup_retention_days: Option<u32>,
    /// TimescaleDB: connections in the pool.
    pub max_connections: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: "sqlite".into(),
            sqlite_path: None,
            database_url: None,
            retention_days: None,
            rollup_retention_days: None,
            max_connections: 8,
        }
    }
}

/// Where the data lives, resolved from `storage.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    Sqlite(PathBuf),
    /// A `postgres://` URL (holds a password: never log it).
    Postgres(String),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Messages queued per viewer before a slow viewer is reset (others are never slowed).
    pub viewer_queue: usize,
    /// History a viewer gets when it subscribes to a bed.
    pub history_minutes: u32,
    /// Server heartbeat to viewers; the page declares the connection lost after 3 missed.
    pub heartbeat_ms: u64,
    /// A bed whose newest data is older than this is shown stale and alarms.
    pub stale_after_ms: u64,
    /// Most beds one viewer may watch.
    pub max_beds_per_viewer: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            viewer_queue: 4096,
            history_minutes: 30,
            heartbeat_ms: 1000,
            stale_after_ms: 3000,
            max_beds_per_viewer: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a login session.
    pub session_hours: u64,
    /// Lifetime of a one-time login code.
    pub login_code_minutes: u64,
    /// Argon2id cost for new password hashes (OWASP minimum: 19 MiB, 2 iterations).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Failed logins for one username before it is locked for `lockout_s`.
    pub max_failed_logins: u32,
    pub lockout_s: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            login_code_minutes: 10,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            max_failed_logins: 5,
            lockout_s: 60,
        }
    }
}

/// The mothers' PHR API and the clinic's view of it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PhrConfig {
    /// Lifetime of an app access token.
    pub access_token_minutes: u64,
    /// Lifetime of an app refresh token (she logs in again after this long offline).
    pub refresh_token_days: u64,
    /// Lifetime of a clinic's invitation code.
    pub invitation_days: u64,
    /// Home blood-pressure tiers the clinic works with, `[systolic, diastolic]` mmHg: a tier
    /// applies when either value reaches it (clinical.md §3).
    pub bp_advisory: [f64; 2],
    pub bp_same_day: [f64; 2],
    pub bp_emergency: [f64; 2],
    /// EPDS total at or above this is positive (Japanese cut-off 9).
    pub epds_cutoff: u8,
    /// An ai-notes configuration file (its `[model]` path and checksum, `[transcription]`
    /// threads) for transcribing dictations on the server. Unset: dictation endpoints answer 503
    /// and notes are drafted from typed transcripts only.
    pub speech_config: Option<PathBuf>,
}

impl Default for PhrConfig {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            refresh_token_days: 30,
            invitation_days: 14,
            bp_advisory: [135.0, 85.0],
            bp_same_day: [140.0, 90.0],
            bp_emergency: [160.0, 110.0],
            epds_cutoff: 9,
            speech_config: None,
        }
    }
}

impl PhrConfig {
    /// The thresholds as the rules take them.
    pub fn thresholds(&self) -> phr_wire::rules::Thresholds {
        let t = |[s, d]: [f64; 2]| (s, d);
        phr_wire::rules::Thresholds {
            advisory: t(self.bp_advisory),
            same_day: t(self.bp_same_day),
            emergency: t(self.bp_emergency),
            epds_cutoff: self.epds_cutoff,
        }
    }
}

impl Config {
    /// Parses TOML text (unknown keys are errors: a typo must not silently fall back to a
    /// default).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_owned(), message: e.to_string() })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks every value; the first problem is reported with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if !self.http.listen.ip().is_loopback() && !self.http.allow_remote {
            return Err(invalid(
                "http.listen",
                format!(
                    "{} is not a loopback address; set http.allow_remote = true only behind a TLS proxy",
                    self.http.listen
                ),
            ));
        }
        if let Some(url) = &self.mqtt.url {
            parse_mqtt_url(url).map_err(|m| invalid("mqtt.url", m))?;
        } else if !self.embedded_broker.listen.ip().is_loopback() {
            return Err(invalid(
                "embedded_broker.listen",
                "the embedded broker has no authentication; it may only listen on loopback",
            ));
        }
        if self.mqtt.client_id.is_empty() || self.mqtt.client_id.len() > 23 {
            return Err(invalid("mqtt.client_id", "must be 1-23 characters (MQTT 3.1.1)"));
        }
        if !(5..=300).contains(&self.mqtt.keep_alive_s) {
            return Err(invalid("mqtt.keep_alive_s", "must be 5-300 seconds"));
        }
        if self.mqtt.username.is_some() != self.mqtt.password.is_some() {
            return Err(invalid(
                "mqtt.password",
                "set both mqtt.username and mqtt.password, or neither",
            ));
        }
        if self.embedded_broker.max_connections == 0 {
            return Err(invalid("embedded_broker.max_connections", "must be at least 1"));
        }
        for s in &self.ingest.sites {
            ctg_wire::Label::new(s.as_str())
                .map_err(|e| invalid("ingest.sites", format!("{s:?}: {e}")))?;
        }
        if !(1..=100_000).contains(&self.ingest.batch_max_samples) {
            return Err(invalid("ingest.batch_max_samples", "must be 1-100000"));
        }
        if !(1..=10_000).contains(&self.ingest.batch_max_delay_ms) {
            return Err(invalid("ingest.batch_max_delay_ms", "must be 1-10000 ms"));
        }
        if !(5..=600).contains(&self.ingest.gateway_timeout_s) {
            return Err(invalid("ingest.gateway_timeout_s", "must be 5-600 seconds"));
        }
        if self.ingest.queue_blocks < 16 {
            return Err(invalid("ingest.queue_blocks", "must be at least 16"));
        }
        match self.storage.backend.as_str() {
            "sqlite" => {}
            "timescaledb" => {
                if !matches!(self.storage_target(), StorageTarget::Postgres(_)) {
                    return Err(invalid(
                        "storage.database_url",
                        "backend \"timescaledb\" needs a postgres://… URL (or DATABASE_URL)",
                    ));
                }
            }
            other => {
                return Err(invalid(
                    "storage.backend",
                    format!("{other:?}: must be \"sqlite\" or \"timescaledb\""),
                ));
            }
        }
        if let Some(url) = &self.storage.database_url
            && url.trim().is_empty()
        {
            return Err(invalid("storage.database_url", "is empty"));
        }
        for (key, days) in [
            ("storage.retention_days", self.storage.retention_days),
            ("storage.rollup_retention_days", self.storage.rollup_retention_days),
        ] {
            if days == Some(0) {
                return Err(invalid(key, "must be at least 1 day (leave it unset to keep data)"));
            }
        }
        if !(2..=200).contains(&self.storage.max_connections) {
            return Err(invalid("storage.max_connections", "must be 2-200"));
        }
        if self.live.viewer_queue < 16 {
            return Err(invalid("live.viewer_queue", "must be at least 16"));
        }
        if !(1..=24 * 60).contains(&self.live.history_minutes) {
            return Err(invalid("live.history_minutes", "must be 1-1440"));
        }
        if !(200..=5_000).contains(&self.live.heartbeat_ms) {
            return Err(invalid("live.heartbeat_ms", "must be 200-5000 ms"));
        }
        if !(1_000..=5_000).contains(&self.live.stale_after_ms) {
            // The issue requires a stopped stream to turn stale within 5 s.
            return Err(invalid("live.stale_after_ms", "must be 1000-5000 ms"));
        }
        if !(1..=1024).contains(&self.live.max_beds_per_viewer) {
            return Err(invalid("live.max_beds_per_viewer", "must be 1-1024"));
        }
        if !(1..=24 * 7).contains(&self.auth.session_hours) {
            return Err(invalid("auth.session_hours", "must be 1-168"));
        }
        if !(1..=24 * 60).contains(&self.phr.access_token_minutes) {
            return Err(invalid("phr.access_token_minutes", "must be 1-1440"));
        }
        if !(1..=365).contains(&self.phr.refresh_token_days) {
            return Err(invalid("phr.refresh_token_days", "must be 1-365"));
        }
        if !(1..=90).contains(&self.phr.invitation_days) {
            return Err(invalid("phr.invitation_days", "must be 1-90"));
        }
        for (key, [s, d]) in [
            ("phr.bp_advisory", self.phr.bp_advisory),
            ("phr.bp_same_day", self.phr.bp_same_day),
            ("phr.bp_emergency", self.phr.bp_emergency),
        ] {
            if !(80.0..=250.0).contains(&s) || !(40.0..=150.0).contains(&d) {
                return Err(invalid(key, format!("{s}/{d} mmHg is not a usable threshold")));
            }
        }
        let [a, sd, e] = [self.phr.bp_advisory, self.phr.bp_same_day, self.phr.bp_emergency];
        if a[0] > sd[0] || a[1] > sd[1] || sd[0] > e[0] || sd[1] > e[1] {
            return Err(invalid(
                "phr.bp_same_day",
                "tiers must not decrease: advisory <= same_day <= emergency",
            ));
        }
        if !(1..=30).contains(&self.phr.epds_cutoff) {
            return Err(invalid("phr.epds_cutoff", "must be 1-30"));
        }
        if !(1..=24 * 60).contains(&self.auth.login_code_minutes) {
            return Err(invalid("auth.login_code_minutes", "must be 1-1440"));
        }
        if self.auth.argon2_memory_kib < 8 * 1024 {
            return Err(invalid("auth.argon2_memory_kib", "must be at least 8192 (8 MiB)"));
        }
        if self.auth.argon2_iterations == 0 {
            return Err(invalid("auth.argon2_iterations", "must be at least 1"));
        }
        if self.auth.max_failed_logins == 0 {
            return Err(invalid("auth.max_failed_logins", "must be at least 1"));
        }
        Ok(())
    }

    /// The SQLite file this configuration uses.
    pub fn sqlite_path(&self) -> PathBuf {
        self.storage.sqlite_path.clone().unwrap_or_else(|| self.data_dir.join("monitor.sqlite"))
    }

    /// The store this configuration selects: `storage.database_url` when set (`postgres://` or
    /// `postgresql://` for TimescaleDB, `sqlite://PATH` or a plain path for SQLite), otherwise
    /// the SQLite file.
    pub fn storage_target(&self) -> StorageTarget {
        match self.storage.database_url.as_deref().map(str::trim) {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StorageTarget::Postgres(url.to_owned())
            }
            Some(url) if !url.is_empty() => {
                let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
                StorageTarget::Sqlite(PathBuf::from(path.unwrap_or(url)))
            }
            _ => StorageTarget::Sqlite(self.sqlite_path()),
        }
    }
}

/// Splits `mqtt://host:port` (port defaults to 1883).
pub fn parse_mqtt_url(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
        format!("{url:?}: only mqtt://host:port is supported (TLS brokers: run a local TLS bridge)")
    })?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{url:?}: bad port {p:?}"))?),
        None => (rest, 1883),
    };
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Err(format!("{url:?}: bad host"));
    }
    if port == 0 {
        return Err(format!("{url:?}: port 0"));
    }
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_local() {
        let c = Config::default();
        c.validate().unwrap();
        assert!(c.http.listen.ip().is_loopback());
        assert!(c.mqtt.url.is_none());
    }

    #[test]
    fn the_example_file_parses_and_validates() {
        let text = include_str!("../monitor-server.example.toml");
        let c = Config::from_toml(text, "example").unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let c = Config::from_toml("[http]\nlisten = \"0.0.0.0:80\"\n", "t").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("http.listen"), "{e}");

        let e =
            Config::from_toml("[http]\nlisen = \"127.0.0.1:80\"\n", "t").unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");

        let c = Config::from_toml("[mqtt]\nurl = \"mqtts://x\"\n", "t").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("mqtt.url"));

        let c = Config::from_toml("[live]\nstale_after_ms = 9000\n", "t").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("live.stale_after_ms"));
    }

    #[test]
    fn database_url_selects_the_store() {
        let mut c = Config::default();
        assert_eq!(c.storage_target(), StorageTarget::Sqlite(PathBuf::from("data/monitor.sqlite")));
        c.storage.database_url = Some("postgres://u:p@127.0.0.1:5432/ctg".into());
        assert!(matches!(c.storage_target(), StorageTarget::Postgres(_)));
        c.storage.database_url = Some("sqlite:///var/lib/ctg/m.sqlite".into());
        assert_eq!(
            c.storage_target(),
            StorageTarget::Sqlite(PathBuf::from("/var/lib/ctg/m.sqlite"))
        );
        c.storage.database_url = Some("state/m.sqlite".into());
        assert_eq!(c.storage_target(), StorageTarget::Sqlite(PathBuf::from("state/m.sqlite")));

        let c = Config::from_toml("[storage]\nbackend = \"timescaledb\"\n", "t").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("storage.database_url"));
        let c = Config::from_toml("[storage]\nbackend = \"oracle\"\n", "t").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("storage.backend"));
        let c = Config::from_toml("[storage]\nretention_days = 0\n", "t").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("storage.retention_days"));
    }

    #[test]
    fn mqtt_urls() {
        assert_eq!(parse_mqtt_url("mqtt://127.0.0.1:1884").unwrap(), ("127.0.0.1".into(), 1884));
        assert_eq!(parse_mqtt_url("mqtt://broker").unwrap(), ("broker".into(), 1883));
        assert!(parse_mqtt_url("tcp://x:1").is_err());
        assert!(parse_mqtt_url("mqtt://:1").is_err());
        assert!(parse_mqtt_url("mqtt://x:99999").is_err());
    }
}
