//! `device-gateway`: the headless program beside the bed.
//!
//! ```text
//! device-gateway run --config /etc/ctg-gateway/gateway.toml
//! device-gateway check-config /etc/ctg-gateway/gateway.toml
//! device-gateway simulate --broker mqtt://127.0.0.1:1883 --beds 4 [--scenario NAME] [--gateway-id ID]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use device_gateway::config::{Config, SimulatedBed};

#[derive(Debug, Parser)]
#[command(
    name = "device-gateway",
    version,
    about = "Streams CTG monitors to the central monitor over MQTT, losing nothing"
)]
struct Cli {
    /// Log format: text for a terminal, json for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway with a configuration file (what the systemd unit does).
    Run {
        #[arg(long, short, default_value = "/etc/ctg-gateway/gateway.toml")]
        config: PathBuf,
    },
    /// Check a configuration file and the files it names; explain every problem.
    CheckConfig { file: PathBuf },
    /// Run a gateway with N simulated beds and no configuration file (smoke tests, demos).
    Simulate {
        /// Broker URL, e.g. mqtt://127.0.0.1:1883.
        #[arg(long)]
        broker: String,
        /// Number of simulated beds (1-64).
        #[arg(long, default_value_t = 1)]
        beds: u16,
        /// Scenario of every bed (see `ctg-sim list`).
        #[arg(long, default_value = "normal-labour")]
        scenario: String,
        #[arg(long, default_value = "gw-sim")]
        gateway_id: String,
        #[arg(long, default_value = "demo")]
        site: String,
        /// State (outbox) directory; default: a directory named after the gateway in the
        /// system's temporary directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Serve health and metrics on this address (e.g. 127.0.0.1:9187).
        #[arg(long)]
        http: Option<SocketAddr>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Run { config } => finish(
            Config::from_file(&config)
                .with_context(|| format!("configuration {}", config.display()))
                .and_then(serve),
        ),
        Command::Simulate { broker, beds, scenario, gateway_id, site, state_dir, http } => finish(
            simulated(&broker, beds, &scenario, &gateway_id, &site, state_dir, http)
                .and_then(serve),
        ),
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn finish(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("device-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let config = match Config::from_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let report = config.check_environment();
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    print!("{}", config.summary());
    if report.errors.is_empty() {
        println!("{}: OK", file.display());
        ExitCode::SUCCESS
    } else {
        println!("{}: {} problem(s)", file.display(), report.errors.len());
        ExitCode::FAILURE
    }
}

fn simulated(
    broker: &str,
    beds: u16,
    scenario: &str,
    gateway_id: &str,
    site: &str,
    state_dir: Option<PathBuf>,
    http: Option<SocketAddr>,
) -> Result<Config> {
    anyhow::ensure!((1..=64).contains(&beds), "--beds {beds} is outside 1-64");
    let beds: Vec<SimulatedBed> = (1..=beds)
        .map(|i| SimulatedBed {
            device: format!("bed-{i}"),
            bed: i.to_string(),
            scenario: scenario.to_owned(),
            seed: u64::from(i),
        })
        .collect();
    let state_dir = state_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("device-gateway-simulate-{site}-{gateway_id}"))
    });
    let mut config = Config::simulated(site, gateway_id, broker, &beds, &state_dir)?;
    config.http.listen = http;
    Ok(config)
}

fn serve(config: Config) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Two workers are plenty for a handful of devices and keep memory small on a Pi.
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let gateway = device_gateway::Gateway::start(config).await?;
        gateway.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
    }
}
