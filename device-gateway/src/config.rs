//! The gateway's configuration: one TOML file (see `gateway.example.toml`), parsed into typed,
//! validated values. Every error names the key that is wrong (`device[2].baud`), so an installer
//! can fix the file without reading code.
//!
//! Parsing is pure (text in, [`Config`] out). Checks that touch the machine (TLS files readable,
//! replay recording present, state directory writable) are separate: [`Config::check_environment`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctg_wire::Label;
use hardware::sim::Scenario;
use serde::Deserialize;

/// Default TCP port of plain MQTT.
pub const MQTT_PORT: u16 = 1883;
/// Default TCP port of MQTT over TLS.
pub const MQTTS_PORT: u16 = 8883;
/// Default address of the local health and metrics endpoint.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9187";

/// Why a configuration was refused. The message always says which key and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Syntax(String),
    #[error("key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Key { key: key.into(), message: message.into() }
    }

    /// The offending key, when the error is about one.
    pub fn offending_key(&self) -> Option<&str> {
        match self {
            Self::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The whole configuration of one gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub broker: BrokerConfig,
    pub outbox: OutboxConfig,
    pub http: HttpConfig,
    pub devices: Vec<DeviceConfig>,
}

/// `[gateway]`: who this gateway is and where it keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub id: Label,
    pub site: Label,
    /// Outbox segments and sequence numbers live here (systemd: `/var/lib/ctg-gateway`).
    pub state_dir: PathBuf,
    /// Interval of the heartbeat message (the wire contract says 5 s).
    pub heartbeat_interval: Duration,
    pub clock: ClockSource,
}

/// How the gateway judges its own UTC clock (the clock-quality flag of every block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// Synchronised when systemd-timesyncd says so (`/run/systemd/timesync/synchronized`),
    /// unknown otherwise.
    Auto,
    /// The installer guarantees NTP (chrony, ntpd) keeps the clock right.
    Synchronised,
    /// No time source: stamp blocks as known unsynchronised.
    Unsynchronised,
    /// Never claim anything.
    Unknown,
}

/// `[broker]`: where to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// As written in the file.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// `Some` for `mqtts://`: TLS with this CA and optionally a client identity.
    pub tls: Option<TlsConfig>,
    pub client_id: String,
    pub keep_alive: Duration,
}

/// `[broker.tls]`: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificate(s) that signed the broker's certificate.
    pub ca: PathBuf,
    /// Client certificate chain and private key (mutual TLS, one identity per gateway).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// `[outbox]`: size bound and durability of the on-disk log.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxConfig {
    /// Upper bound of the log on disk. When reached, the oldest segment is given up and
    /// announced with `samples_dropped` events (see README, "Outbox").
    pub max_bytes: u64,
    /// Size at which the active segment is closed and a new one started.
    pub segment_bytes: u64,
    pub sync: SyncPolicy,
    /// Backlog replay pace, blocks (of up to 1200 samples) per second.
    pub backlog_blocks_per_s: u32,
    /// When the server's watermark has not moved for this long although samples were
    /// published, the unacknowledged range is published again on the backlog topic.
    pub ack_timeout: Duration,
}

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Group commit: every record is fsynced before it is published (default). A power cut
    /// never loses a sample the server may already have stored.
    Always,
    /// Records are published as soon as they are written (kill -9 safe, the page cache holds
    /// them) and fsynced every interval; a power cut can lose up to one interval.
    Periodic(Duration),
}

/// `[http]`: the local health and metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `None`: disabled. Port 0 picks a free port (tests, several gateways in one process).
    pub listen: Option<SocketAddr>,
}

/// `[[device]]`: one device slot, one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// Stream label on the wire (`ctg/v1/{site}/{gateway}/{id}/…`). Never patient data.
    pub id: Label,
    /// Bed label shown to midwives ("3", "LDR-2", "ambulance 1").
    pub bed: String,
    /// No bytes at all for this long raises `cable_silence`.
    pub cable_silence: Duration,
    pub source: SourceConfig,
}

/// Where a device's data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// A bedside monitor on RS-232 (USB adapter).
    Serial { path: PathBuf, baud: u32, protocol: SerialProtocol },
    /// A wireless CTG probe speaking our open GATT profile.
    Ble { target: BleTarget, adapter: Option<String> },
    /// The built-in simulator, encoded on the Corometrics wire and decoded again, so it takes
    /// the same path as a real monitor.
    Simulator { scenario: Scenario, seed: u64, speed: f64 },
    /// A recording (FHRMA `.fhr`/`.fhrm`, CTU-UHB `.hea`) played through the same path.
    Replay { path: PathBuf, speed: f64, repeat: bool },
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Serial { .. } => "serial",
            Self::Ble { .. } => "ble",
            Self::Simulator { .. } => "simulator",
            Self::Replay { .. } => "replay",
        }
    }
}

/// Serial protocols the gateway can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SerialProtocol {
    /// GE Corometrics "Model 115-compatible" (120 and 170 series).
    #[serde(rename = "corometrics115")]
    Corometrics115,
}

/// How to find a BLE probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BleTarget {
    /// `AA:BB:CC:DD:EE:FF`.
    Address(String),
    /// Advertised local name.
    Name(String),
}

/// One simulated bed for [`Config::simulated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedBed {
    pub device: String,
    pub bed: String,
    pub scenario: String,
    pub seed: u64,
}

// ---- raw file layout -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    gateway: RawGateway,
    broker: RawBroker,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    device: Vec<RawDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    id: String,
    site: String,
    state_dir: PathBuf,
    #[serde(default = "default_heartbeat_s")]
    heartbeat_s: u64,
    #[serde(default = "default_clock")]
    clock: ClockSource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    url: String,
    client_id: Option<String>,
    #[serde(default = "default_keep_alive_s")]
    keep_alive_s: u64,
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    #[serde(default = "default_max_mib")]
    max_mib: u64,
    #[serde(default = "default_segment_kib")]
    segment_kib: u64,
    #[serde(default = "default_sync")]
    sync: RawSync,
    #[serde(default = "default_sync_interval_ms")]
    sync_interval_ms: u64,
    #[serde(default = "default_backlog_rate")]
    backlog_blocks_per_s: u32,
    #[serde(default = "default_ack_timeout_s")]
    ack_timeout_s: u64,
}

impl Default for RawOutbox {
    fn default() -> Self {
        Self {
            max_mib: default_max_mib(),
            segment_kib: default_segment_kib(),
            sync: default_sync(),
            sync_interval_ms: default_sync_interval_ms(),
            backlog_blocks_per_s: default_backlog_rate(),
            ack_timeout_s: default_ack_timeout_s(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawSync {
    Always,
    Periodic,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default = "default_http_listen")]
    listen: String,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self { listen: default_http_listen() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Serial,
    Ble,
    Simulator,
    Replay,
}

/// One flat table per device; which keys apply depends on `kind`, checked after parsing so the
/// message can say "`baud` does not apply to a simulator".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: String,
    #[serde(default)]
    bed: Option<String>,
    kind: RawKind,
    cable_silence_ms: Option<u64>,
    // serial
    path: Option<PathBuf>,
    baud: Option<u32>,
    protocol: Option<SerialProtocol>,
    // ble
    address: Option<String>,
    name: Option<String>,
    adapter: Option<String>,
    // simulator
    scenario: Option<String>,
    seed: Option<u64>,
    // simulator, replay
    speed: Option<f64>,
    // replay
    repeat: Option<bool>,
}

fn default_heartbeat_s() -> u64 {
    5
}
fn default_clock() -> ClockSource {
    ClockSource::Auto
}
fn default_keep_alive_s() -> u64 {
    15
}
fn default_max_mib() -> u64 {
    512
}
fn default_segment_kib() -> u64 {
    4096
}
fn default_sync() -> RawSync {
    RawSync::Always
}
fn default_sync_interval_ms() -> u64 {
    1000
}
fn default_backlog_rate() -> u32 {
    20
}
fn default_ack_timeout_s() -> u64 {
    30
}
fn default_http_listen() -> String {
    DEFAULT_HTTP_LISTEN.to_owned()
}
/// Default cable-silence threshold: long enough for a monitor's reboot message gap, short
/// enough that the central monitor hears of an unplugged cable within 5 s.
pub const DEFAULT_CABLE_SILENCE: Duration = Duration::from_millis(3000);

/// Baud rates a Corometrics monitor can be set to (below 4800 the manual warns data is lost).
const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200];

impl Config {
    /// Parses and validates a configuration file's text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().to_string();
            if key == "." {
                ConfigError::Syntax(message)
            } else {
                ConfigError::Key { key, message }
            }
        })?;
        Self::from_raw(raw)
    }

    /// Reads and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml_str(&text)
    }

    /// N simulated beds and no file: what `device-gateway simulate` and the server's demo use.
    /// The HTTP endpoint is off; set `config.http.listen` to enable it.
    pub fn simulated(
        site: &str,
        gateway_id: &str,
        broker_url: &str,
        beds: &[SimulatedBed],
        state_dir: &Path,
    ) -> Result<Config, ConfigError> {
        let site_label =
            Label::new(site).map_err(|e| ConfigError::key("gateway.site", e.to_string()))?;
        let id =
            Label::new(gateway_id).map_err(|e| ConfigError::key("gateway.id", e.to_string()))?;
        let broker = parse_broker(
            RawBroker {
                url: broker_url.to_owned(),
                client_id: None,
                keep_alive_s: default_keep_alive_s(),
                tls: None,
            },
            &site_label,
            &id,
        )?;
        let mut devices = Vec::with_capacity(beds.len());
        for (i, b) in beds.iter().enumerate() {
            devices.push(parse_device(
                i,
                RawDevice {
                    id: b.device.clone(),
                    bed: Some(b.bed.clone()),
                    kind: RawKind::Simulator,
                    cable_silence_ms: None,
                    path: None,
                    baud: None,
                    protocol: None,
                    address: None,
                    name: None,
                    adapter: None,
                    scenario: Some(b.scenario.clone()),
                    seed: Some(b.seed),
                    speed: None,
                    repeat: None,
                },
            )?);
        }
        let config = Config {
            gateway: GatewayConfig {
                id,
                site: site_label,
                state_dir: state_dir.to_owned(),
                heartbeat_interval: Duration::from_secs(default_heartbeat_s()),
                clock: ClockSource::Auto,
            },
            broker,
            outbox: parse_outbox(RawOutbox::default())?,
            http: HttpConfig { listen: None },
            devices,
        };
        config.validate_devices()?;
        Ok(config)
    }

    fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let g = raw.gateway;
        let id = Label::new(g.id).map_err(|e| ConfigError::key("gateway.id", e.to_string()))?;
        let site =
            Label::new(g.site).map_err(|e| ConfigError::key("gateway.site", e.to_string()))?;
        if g.state_dir.as_os_str().is_empty() {
            return Err(ConfigError::key("gateway.state_dir", "must name a directory"));
        }
        if !(1..=60).contains(&g.heartbeat_s) {
            return Err(ConfigError::key(
                "gateway.heartbeat_s",
                format!("{} is outside 1-60 s", g.heartbeat_s),
            ));
        }
        let broker = parse_broker(raw.broker, &site, &id)?;
        let outbox = parse_outbox(raw.outbox)?;
        let listen = raw.http.listen.trim();
        let http = if listen.eq_ignore_ascii_case("off") {
            HttpConfig { listen: None }
        } else {
            let addr: SocketAddr = listen.parse().map_err(|_| {
                ConfigError::key(
                    "http.listen",
                    format!("{listen:?} is not an address such as \"127.0.0.1:9187\" or \"off\""),
                )
            })?;
            HttpConfig { listen: Some(addr) }
        };
        let devices = raw
            .device
            .into_iter()
            .enumerate()
            .map(|(i, d)| parse_device(i, d))
            .collect::<Result<_, _>>()?;
        let config = Config {
            gateway: GatewayConfig {
                id,
                site,
                state_dir: g.state_dir,
                heartbeat_interval: Duration::from_secs(g.heartbeat_s),
                clock: g.clock,
            },
            broker,
            outbox,
            http,
            devices,
        };
        config.validate_devices()?;
        Ok(config)
    }

    fn validate_devices(&self) -> Result<(), ConfigError> {
        if self.devices.is_empty() {
            return Err(ConfigError::key(
                "device",
                "no [[device]] configured; a gateway needs at least one",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            if !seen.insert(d.id.as_str()) {
                return Err(ConfigError::key(
                    format!("device[{i}].id"),
                    format!("{:?} is used by two devices", d.id.as_str()),
                ));
            }
        }
        let mut paths = BTreeSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            if let SourceConfig::Serial { path, .. } = &d.source
                && !paths.insert(path.clone())
            {
                return Err(ConfigError::key(
                    format!("device[{i}].path"),
                    format!("{} is used by two devices", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// Checks what parsing cannot: files exist and are readable, the state directory can be
    /// created and written. Returns problems (errors) and remarks (warnings) separately.
    pub fn check_environment(&self) -> EnvironmentReport {
        let mut report = EnvironmentReport::default();
        if let Some(tls) = &self.broker.tls {
            let mut files = vec![("broker.tls.ca", &tls.ca)];
            if let Some((cert, key)) = &tls.client {
                files.push(("broker.tls.cert", cert));
                files.push(("broker.tls.key", key));
            }
            for (key, path) in files {
                if let Err(e) = std::fs::File::open(path) {
                    report.errors.push(ConfigError::key(
                        key,
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
            if report.errors.is_empty()
                && let Err(e) = crate::mqtt::tls_config(tls)
            {
                report.errors.push(ConfigError::key("broker.tls", e.to_string()));
            }
        }
        let dir = &self.gateway.state_dir;
        match std::fs::create_dir_all(dir) {
            Ok(()) => {
                let probe = dir.join(".write-test");
                match std::fs::write(&probe, b"ok") {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&probe);
                    }
                    Err(e) => report.errors.push(ConfigError::key(
                        "gateway.state_dir",
                        format!("{} is not writable: {e}", dir.display()),
                    )),
                }
            }
            Err(e) => report.errors.push(ConfigError::key(
                "gateway.state_dir",
                format!("cannot create {}: {e}", dir.display()),
            )),
        }
        for (i, d) in self.devices.iter().enumerate() {
            match &d.source {
                SourceConfig::Serial { path, .. } => {
                    if !path.exists() {
                        report.warnings.push(format!(
                            "device[{i}].path: {} does not exist now; the gateway will keep trying to open it",
                            path.display()
                        ));
                    }
                }
                SourceConfig::Replay { path, .. } => {
                    if let Err(e) = hardware::datasets::read_recording(path) {
                        report
                            .errors
                            .push(ConfigError::key(format!("device[{i}].path"), e.to_string()));
                    }
                }
                SourceConfig::Ble { .. } => {
                    if !cfg!(feature = "ble") {
                        report.errors.push(ConfigError::key(
                            format!("device[{i}].kind"),
                            "this build has no Bluetooth support (built without the `ble` feature)",
                        ));
                    }
                }
                SourceConfig::Simulator { .. } => {}
            }
        }
        report
    }

    /// A short human summary, printed by `check-config`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "gateway {} at site {}", self.gateway.id, self.gateway.site);
        let _ = writeln!(
            s,
            "broker {}:{} ({}), client id {}",
            self.broker.host,
            self.broker.port,
            match &self.broker.tls {
                None => "plain TCP".to_owned(),
                Some(TlsConfig { client: Some(_), .. }) => "TLS, client certificate".to_owned(),
                Some(TlsConfig { client: None, .. }) => "TLS".to_owned(),
            },
            self.broker.client_id
        );
        let _ = writeln!(
            s,
            "state in {}, outbox up to {} MiB, sync {}",
            self.gateway.state_dir.display(),
            self.outbox.max_bytes / (1024 * 1024),
            match self.outbox.sync {
                SyncPolicy::Always => "always".to_owned(),
                SyncPolicy::Periodic(d) => format!("every {} ms", d.as_millis()),
            }
        );
        let _ = writeln!(
            s,
            "health and metrics: {}",
            self.http.listen.map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"))
        );
        for d in &self.devices {
            let what = match &d.source {
                SourceConfig::Serial { path, baud, .. } => {
                    format!("serial {} at {baud} baud, Corometrics 115", path.display())
                }
                SourceConfig::Ble { target: BleTarget::Address(a), .. } => {
                    format!("BLE CTG probe {a}")
                }
                SourceConfig::Ble { target: BleTarget::Name(n), .. } => {
                    format!("BLE CTG probe named {n:?}")
                }
                SourceConfig::Simulator { scenario, seed, .. } => {
                    format!("simulator {scenario}, seed {seed}")
                }
                SourceConfig::Replay { path, speed, .. } => {
                    format!("replay {} at {speed}x", path.display())
                }
            };
            let _ = writeln!(s, "device {} (bed {:?}): {what}", d.id, d.bed);
        }
        s
    }
}

/// What [`Config::check_environment`] found.
#[derive(Debug, Default)]
pub struct EnvironmentReport {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
}

fn parse_broker(raw: RawBroker, site: &Label, id: &Label) -> Result<BrokerConfig, ConfigError> {
    let url = raw.url.trim().to_owned();
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        ConfigError::key(
            "broker.url",
            format!("{url:?} is not a URL such as mqtt://host:1883 or mqtts://host:8883"),
        )
    })?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" | "tls" => true,
        other => {
            return Err(ConfigError::key(
                "broker.url",
                format!("scheme {other:?} is not supported; use mqtt:// (plain) or mqtts:// (TLS)"),
            ));
        }
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('?') || authority.contains('@') {
        return Err(ConfigError::key(
            "broker.url",
            format!("{url:?}: only scheme, host and port are allowed"),
        ));
    }
    let default_port = if secure { MQTTS_PORT } else { MQTT_PORT };
    let (host, port) = split_host_port(authority, default_port).ok_or_else(|| {
        ConfigError::key("broker.url", format!("{url:?}: cannot read host and port"))
    })?;
    let tls = match (secure, raw.tls) {
        (true, Some(t)) => {
            let client = match (t.cert, t.key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(ConfigError::key(
                        "broker.tls.key",
                        "cert is given, key is missing",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::key(
                        "broker.tls.cert",
                        "key is given, cert is missing",
                    ));
                }
            };
            Some(TlsConfig { ca: t.ca, client })
        }
        (true, None) => {
            return Err(ConfigError::key(
                "broker.tls",
                "mqtts:// needs a [broker.tls] section with at least `ca`",
            ));
        }
        (false, Some(_)) => {
            return Err(ConfigError::key(
                "broker.tls",
                "given, but broker.url is plain mqtt://; use mqtts://",
            ));
        }
        (false, None) => None,
    };
    let client_id = match raw.client_id {
        Some(c) if c.is_empty() || c.len() > 128 || !c.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(ConfigError::key(
                "broker.client_id",
                "must be 1-128 printable ASCII characters",
            ));
        }
        Some(c) => c,
        None => format!("ctg-gw-{site}-{id}"),
    };
    if !(5..=600).contains(&raw.keep_alive_s) {
        return Err(ConfigError::key(
            "broker.keep_alive_s",
            format!("{} is outside 5-600 s", raw.keep_alive_s),
        ));
    }
    Ok(BrokerConfig {
        url,
        host,
        port,
        tls,
        client_id,
        keep_alive: Duration::from_secs(raw.keep_alive_s),
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        // [IPv6]:port
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return (!host.is_empty()).then(|| (host.to_owned(), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, default_port),
    };
    (!host.is_empty() && port != 0).then(|| (host.to_owned(), port))
}

fn parse_outbox(raw: RawOutbox) -> Result<OutboxConfig, ConfigError> {
    if !(1..=1_048_576).contains(&raw.max_mib) {
        return Err(ConfigError::key(
            "outbox.max_mib",
            format!("{} is outside 1-1048576 MiB", raw.max_mib),
        ));
    }
    if !(64..=65_536).contains(&raw.segment_kib) {
        return Err(ConfigError::key(
            "outbox.segment_kib",
            format!("{} is outside 64-65536 KiB", raw.segment_kib),
        ));
    }
    let max_bytes = raw.max_mib * 1024 * 1024;
    let segment_bytes = raw.segment_kib * 1024;
    if segment_bytes * 4 > max_bytes {
        return Err(ConfigError::key(
            "outbox.segment_kib",
            format!(
                "{} KiB segments leave fewer than 4 in outbox.max_mib = {}",
                raw.segment_kib, raw.max_mib
            ),
        ));
    }
    let sync = match raw.sync {
        RawSync::Always => SyncPolicy::Always,
        RawSync::Periodic => {
            if !(10..=60_000).contains(&raw.sync_interval_ms) {
                return Err(ConfigError::key(
                    "outbox.sync_interval_ms",
                    format!("{} is outside 10-60000 ms", raw.sync_interval_ms),
                ));
            }
            SyncPolicy::Periodic(Duration::from_millis(raw.sync_interval_ms))
        }
    };
    if !(1..=1000).contains(&raw.backlog_blocks_per_s) {
        return Err(ConfigError::key(
            "outbox.backlog_blocks_per_s",
            format!("{} is outside 1-1000", raw.backlog_blocks_per_s),
        ));
    }
    if !(5..=3600).contains(&raw.ack_timeout_s) {
        return Err(ConfigError::key(
            "outbox.ack_timeout_s",
            format!("{} is outside 5-3600 s", raw.ack_timeout_s),
        ));
    }
    Ok(OutboxConfig {
        max_bytes,
        segment_bytes,
        sync,
        backlog_blocks_per_s: raw.backlog_blocks_per_s,
        ack_timeout: Duration::from_secs(raw.ack_timeout_s),
    })
}

fn parse_device(i: usize, d: RawDevice) -> Result<DeviceConfig, ConfigError> {
    let key = |k: &str| format!("device[{i}].{k}");
    let id = Label::new(d.id).map_err(|e| ConfigError::key(key("id"), e.to_string()))?;
    let bed = d.bed.unwrap_or_else(|| id.as_str().to_owned());
    if bed.len() > 64 || bed.chars().any(char::is_control) {
        return Err(ConfigError::key(key("bed"), "must be at most 64 bytes of printable text"));
    }
    let cable_silence = match d.cable_silence_ms {
        None => DEFAULT_CABLE_SILENCE,
        Some(ms) if (500..=60_000).contains(&ms) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(ConfigError::key(
                key("cable_silence_ms"),
                format!("{ms} is outside 500-60000 ms"),
            ));
        }
    };
    let kind = d.kind;
    let kind_name = match kind {
        RawKind::Serial => "serial",
        RawKind::Ble => "ble",
        RawKind::Simulator => "simulator",
        RawKind::Replay => "replay",
    };
    // Keys given that this kind does not use are mistakes worth reporting (a `baud` on a
    // simulator usually means the wrong `kind`).
    let given: [(&str, bool, &[RawKind]); 10] = [
        ("path", d.path.is_some(), &[RawKind::Serial, RawKind::Replay]),
        ("baud", d.baud.is_some(), &[RawKind::Serial]),
        ("protocol", d.protocol.is_some(), &[RawKind::Serial]),
        ("address", d.address.is_some(), &[RawKind::Ble]),
        ("name", d.name.is_some(), &[RawKind::Ble]),
        ("adapter", d.adapter.is_some(), &[RawKind::Ble]),
        ("scenario", d.scenario.is_some(), &[RawKind::Simulator]),
        ("seed", d.seed.is_some(), &[RawKind::Simulator]),
        ("speed", d.speed.is_some(), &[RawKind::Simulator, RawKind::Replay]),
        ("repeat", d.repeat.is_some(), &[RawKind::Replay]),
    ];
    for (name, present, kinds) in given {
        if present && !kinds.contains(&kind) {
            return Err(ConfigError::key(
                key(name),
                format!("does not apply to kind = \"{kind_name}\""),
            ));
        }
    }
    let speed = match d.speed {
        None => 1.0,
        Some(s) if s.is_finite() && (0.1..=1000.0).contains(&s) => s,
        Some(s) => return Err(ConfigError::key(key("speed"), format!("{s} is outside 0.1-1000"))),
    };
    let source = match kind {
        RawKind::Serial => {
            let path = d.path.ok_or_else(|| {
                ConfigError::key(key("path"), "missing: the serial port, e.g. /dev/ttyUSB0")
            })?;
            if path.as_os_str().is_empty() {
                return Err(ConfigError::key(key("path"), "is empty"));
            }
            let baud = d.baud.unwrap_or(9600);
            if !BAUD_RATES.contains(&baud) {
                return Err(ConfigError::key(
                    key("baud"),
                    format!("{baud} is not one of {BAUD_RATES:?}"),
                ));
            }
            let protocol = d.protocol.ok_or_else(|| {
                ConfigError::key(key("protocol"), "missing: use \"corometrics115\"")
            })?;
            SourceConfig::Serial { path, baud, protocol }
        }
        RawKind::Ble => {
            let target = match (d.address, d.name) {
                (Some(a), None) => {
                    if !is_ble_address(&a) {
                        return Err(ConfigError::key(
                            key("address"),
                            format!("{a:?} is not like AA:BB:CC:DD:EE:FF"),
                        ));
                    }
                    BleTarget::Address(a.to_ascii_uppercase())
                }
                (None, Some(n)) if !n.is_empty() && n.len() <= 248 => BleTarget::Name(n),
                (None, Some(_)) => {
                    return Err(ConfigError::key(key("name"), "must be 1-248 bytes"));
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::key(
                        key("name"),
                        "give either address or name, not both",
                    ));
                }
                (None, None) => {
                    return Err(ConfigError::key(
                        key("address"),
                        "missing: give the probe's address or name",
                    ));
                }
            };
            SourceConfig::Ble { target, adapter: d.adapter }
        }
        RawKind::Simulator => {
            let name = d.scenario.unwrap_or_else(|| Scenario::NormalLabour.name().to_owned());
            let scenario: Scenario = name.parse().map_err(|_| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                ConfigError::key(
                    key("scenario"),
                    format!("unknown scenario {name:?}; known: {}", names.join(", ")),
                )
            })?;
            SourceConfig::Simulator { scenario, seed: d.seed.unwrap_or(i as u64 + 1), speed }
        }
        RawKind::Replay => {
            let path = d.path.ok_or_else(|| {
                ConfigError::key(key("path"), "missing: a .fhr, .fhrm or .hea recording")
            })?;
            SourceConfig::Replay { path, speed, repeat: d.repeat.unwrap_or(true) }
        }
    };
    Ok(DeviceConfig { id, bed, cable_silence, source })
}

fn is_ble_address(a: &str) -> bool {
    let parts: Vec<&str> = a.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[gateway]
id = "gw-1"
site = "tokyo-1"
state_dir = "/var/lib/ctg-gateway"

[broker]
url = "mqtt://127.0.0.1"

[[device]]
id = "bed-1"
kind = "simulator"
"#;

    fn with(extra_device: &str) -> String {
        format!("{MINIMAL}\n[[device]]\n{extra_device}\n")
    }

    fn key_error(text: &str) -> (String, String) {
        match Config::from_toml_str(text) {
            Err(ConfigError::Key { key, message }) => (key, message),
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let c = Config::from_toml_str(MINIMAL).unwrap();
        assert_eq!(c.broker.port, MQTT_PORT);
        assert_eq!(c.broker.client_id, "ctg-gw-tokyo-1-gw-1");
        assert_eq!(c.outbox.sync, SyncPolicy::Always);
        assert_eq!(c.outbox.max_bytes, 512 * 1024 * 1024);
        assert_eq!(c.http.listen, Some(DEFAULT_HTTP_LISTEN.parse().unwrap()));
        assert_eq!(c.devices[0].bed, "bed-1");
        assert_eq!(c.devices[0].cable_silence, DEFAULT_CABLE_SILENCE);
        assert!(matches!(
            c.devices[0].source,
            SourceConfig::Simulator { scenario: Scenario::NormalLabour, seed: 1, .. }
        ));
    }

    #[test]
    fn example_file_in_the_repository_is_valid() {
        let text = include_str!("../gateway.example.toml");
        let c = Config::from_toml_str(text).unwrap();
        assert!(c.broker.tls.is_some());
        assert_eq!(
            c.devices.iter().map(|d| d.source.kind()).collect::<BTreeSet<_>>().len(),
            4,
            "example shows every kind"
        );
    }

    #[test]
    fn type_errors_name_the_key_and_line() {
        let text = MINIMAL.replace("id = \"gw-1\"", "id = 5");
        let (key, message) = key_error(&text);
        assert_eq!(key, "gateway.id");
        assert!(message.contains("line 3"), "{message}");
        let (key, message) = key_error(&with(
            "id = \"bed-2\"\nkind = \"serial\"\npath = \"/dev/ttyUSB0\"\nbaud = \"fast\"\nprotocol = \"corometrics115\"",
        ));
        assert_eq!(key, "device[1].baud", "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let (key, message) = key_error(&MINIMAL.replace("[broker]", "[broker]\nusername = \"x\""));
        assert_eq!(key, "broker.username");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("id = \"bed 2\"\nkind = \"simulator\"", "device[1].id"),
            ("id = \"bed-1\"\nkind = \"simulator\"", "device[1].id"),
            (
                "id = \"b\"\nkind = \"serial\"\npath = \"/dev/x\"\nbaud = 1234\nprotocol = \"corometrics115\"",
                "device[1].baud",
            ),
            ("id = \"b\"\nkind = \"serial\"\npath = \"/dev/x\"", "device[1].protocol"),
            ("id = \"b\"\nkind = \"serial\"\nbaud = 9600", "device[1].path"),
            ("id = \"b\"\nkind = \"simulator\"\nbaud = 9600", "device[1].baud"),
            ("id = \"b\"\nkind = \"simulator\"\nscenario = \"nope\"", "device[1].scenario"),
            ("id = \"b\"\nkind = \"ble\"", "device[1].address"),
            ("id = \"b\"\nkind = \"ble\"\naddress = \"12:34\"", "device[1].address"),
            ("id = \"b\"\nkind = \"replay\"\nspeed = 0.0\npath = \"x.fhr\"", "device[1].speed"),
            (
                "id = \"b\"\nkind = \"simulator\"\ncable_silence_ms = 10",
                "device[1].cable_silence_ms",
            ),
        ];
        for (device, expected) in cases {
            let (key, message) = key_error(&with(device));
            assert_eq!(&key, expected, "{device}: {message}");
        }
        let (key, _) = key_error(&MINIMAL.replace("mqtt://127.0.0.1", "http://x"));
        assert_eq!(key, "broker.url");
        let (key, _) = key_error(&MINIMAL.replace("mqtt://127.0.0.1", "mqtts://broker"));
        assert_eq!(key, "broker.tls");
        let (key, _) = key_error(&format!("{MINIMAL}\n[http]\nlisten = \"everywhere\""));
        assert_eq!(key, "http.listen");
        let (key, _) = key_error(&format!("{MINIMAL}\n[outbox]\nmax_mib = 1\nsegment_kib = 1024"));
        assert_eq!(key, "outbox.segment_kib");
        let (key, _) =
            key_error(&MINIMAL.replace("[[device]]\nid = \"bed-1\"\nkind = \"simulator\"", ""));
        assert_eq!(key, "device");
    }

    #[test]
    fn syntax_errors_are_reported_with_position() {
        let e = Config::from_toml_str("[gateway\nid = 1").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax(_)), "{e:?}");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = Config::from_toml_str("").unwrap_err();
        assert!(e.to_string().contains("gateway"), "{e}");
    }

    #[test]
    fn broker_urls() {
        assert_eq!(split_host_port("h", 1883), Some(("h".into(), 1883)));
        assert_eq!(split_host_port("h:1", 1883), Some(("h".into(), 1)));
        assert_eq!(split_host_port("[::1]:99", 1883), Some(("::1".into(), 99)));
        assert_eq!(split_host_port("[::1]", 8883), Some(("::1".into(), 8883)));
        assert_eq!(split_host_port(":5", 1883), None);
        assert_eq!(split_host_port("h:x", 1883), None);
        assert_eq!(split_host_port("h:0", 1883), None);
    }

    #[test]
    fn simulated_config_for_the_demo() {
        let beds: Vec<SimulatedBed> = (1..=3)
            .map(|i| SimulatedBed {
                device: format!("bed-{i}"),
                bed: i.to_string(),
                scenario: "normal-labour".into(),
                seed: i,
            })
            .collect();
        let c = Config::simulated(
            "demo",
            "gw-demo",
            "mqtt://127.0.0.1:1883",
            &beds,
            Path::new("/tmp/x"),
        )
        .unwrap();
        assert_eq!(c.devices.len(), 3);
        assert_eq!(c.http.listen, None);
        let bad = [SimulatedBed {
            device: "a".into(),
            bed: "1".into(),
            scenario: "unknown".into(),
            seed: 1,
        }];
        let e = Config::simulated("demo", "gw", "mqtt://h", &bad, Path::new("/tmp/x")).unwrap_err();
        assert_eq!(e.offending_key(), Some("device[0].scenario"));
        let e =
            Config::simulated("de mo", "gw", "mqtt://h", &beds, Path::new("/tmp/x")).unwrap_err();
        assert_eq!(e.offending_key(), Some("gateway.site"));
    }
}
