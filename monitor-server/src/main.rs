//! `monitor-server`: the central CTG monitor.
//!
//! * `monitor-server demo [--beds N] [--port P] [--data-dir D] [--no-browser]`: everything in
//!   one process with simulated gateways; prints the URL and opens it in a browser.
//! * `monitor-server serve [--config FILE] [--listen ADDR] [--data-dir D] [--mqtt-url URL]`
//! * `monitor-server add-staff --username U --role R --display-name NAME [--config FILE]`
//!   (password from `MONITOR_STAFF_PASSWORD` or standard input)
//! * `monitor-server login-code --username U [--config FILE]`: a one-time login URL path
//! * `monitor-server check-config --config FILE`

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use monitor_server::api::handlers::{NewStaffRequest, create_staff_account, issue_login_code};
use monitor_server::demo::{DemoOptions, RunningDemo};
use monitor_server::model::Role;
use monitor_server::store::Store;
use monitor_server::{App, Config, Core};

#[derive(Debug, Parser)]
#[command(
    name = "monitor-server",
    version,
    about = "Central CTG monitor: ingest, storage, live browser view"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// TOML configuration (see monitor-server.example.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides http.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Overrides data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Overrides mqtt.url (an external broker instead of the embedded one).
        #[arg(long)]
        mqtt_url: Option<String>,
    },
    /// Embedded broker, server and simulated gateways in one process.
    Demo {
        /// Number of beds (2-32; the last is an ambulance that loses its network).
        #[arg(long, default_value_t = 8)]
        beds: usize,
        /// HTTP port on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where the demo keeps its database and gateway outboxes.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Only print the URL; do not open a browser.
        #[arg(long)]
        no_browser: bool,
        /// Store in this database instead of SQLite: `postgres://…` for TimescaleDB (e.g. the
        /// URL `cargo xtask db start` prints). DATABASE_URL works too.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Create a staff account.
    AddStaff {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
        /// midwife, obstetrician or admin.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        display_name: String,
    },
    /// Issue a one-time login code (prints the path to open on the server).
    LoginCode {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
    },
    /// Validate a configuration file and print the effective configuration.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    let mut c = match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    // DATABASE_URL selects the store over the file (postgres://… = TimescaleDB).
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.trim().is_empty()) {
        c.storage.database_url = Some(url);
    }
    Ok(c)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,rumqttd=warn,rumqttc=warn,sqlx=warn,device_gateway=warn",
        )
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Opens `url` in the user's browser when there is a desktop to show it on: `$BROWSER`, then
/// `xdg-open`, then Chromium. Failure is not an error: the URL is printed anyway.
fn open_browser(url: &str) {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if !has_display {
        println!("  (no desktop display found: open the link above in a browser)");
        return;
    }
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(b) = std::env::var("BROWSER") {
        candidates.extend(b.split(':').filter(|c| !c.is_empty()).map(str::to_owned));
    }
    candidates.extend(["xdg-open", "chromium", "firefox"].map(str::to_owned));
    for program in candidates {
        let started = std::process::Command::new(&program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = started {
            // Reaped in the background: a browser may run as long as the demo does.
            std::thread::spawn(move || child.wait());
            println!("  Opened in the browser ({program}).");
            return;
        }
    }
    println!("  (no browser could be started: open the link above)");
}

/// Opens the store of a configuration for the account commands.
async fn offline_core(config: Config) -> Result<std::sync::Arc<Core>> {
    config.validate()?;
    let store: std::sync::Arc<dyn Store> = monitor_server::store::open(&config).await?;
    Ok(Core::new(config, store).await?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve { config, listen, data_dir, mqtt_url } => {
            let mut c = load_config(config.as_ref())?;
            if let Some(l) = listen {
                c.http.listen = l;
            }
            if let Some(d) = data_dir {
                c.data_dir = d;
            }
            if mqtt_url.is_some() {
                c.mqtt.url = mqtt_url;
            }
            let app = App::start(c).await?;
            let addr = app.local_addr()?;
            println!("monitor-server listening on http://{addr}/ (MQTT broker {})", app.broker_url);
            app.run(shutdown_signal()).await?;
        }
        Command::Demo { beds, port, data_dir, no_browser, database_url } => {
            let database_url = database_url
                .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.trim().is_empty()));
            let mut opts = DemoOptions { beds, port, ..DemoOptions::default() };
            if let Some(d) = data_dir {
                opts.data_dir = d;
            }
            let data_dir = opts.data_dir.clone();
            let demo = RunningDemo::start_with_database(opts, database_url)
                .await
                .with_context(|| format!("starting the demo (is port {port} free? try --port)"))?;
            println!();
            println!(
                "  CTG central monitor demo: {} beds, data in {}",
                demo.beds.len(),
                data_dir.display()
            );
            println!();
            println!("  Open (logged in as the obstetrician, one-time link):");
            println!("    {}", demo.login_url);
            println!();
            println!("  Or log in at http://{}/ with midwife / demo-midwife-pass,", demo.http_addr);
            println!("  obstetrician / demo-obstetrician-pass or admin / demo-admin-pass.");
            println!(
                "  The last bed is an ambulance that loses its network for 60 s every 3 minutes."
            );
            println!(
                "  The 妊産婦 / Mothers tab: three mothers share their home records with the demo clinic;"
            );
            println!(
                "  her app (mobile-app) logs in to http://{}/ as yumi / demo-mother-yumi.",
                demo.http_addr
            );
            println!("  Ctrl-C stops everything.");
            println!();
            if !no_browser {
                open_browser(&demo.login_url);
            }
            demo.run(shutdown_signal()).await?;
        }
        Command::AddStaff { config, username, role, display_name } => {
            let core = offline_core(load_config(config.as_ref())?).await?;
            let password = match std::env::var("MONITOR_STAFF_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password (10+ characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let staff = create_staff_account(
                &core,
                NewStaffRequest { username, display_name, role, password },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!("created {} ({})", staff.username, staff.role);
        }
        Command::LoginCode { config, username } => {
            let core = offline_core(load_config(config.as_ref())?).await?;
            let code = issue_login_code(&core, &username)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!("{}", code.path);
        }
        Command::CheckConfig { config } => {
            let c = Config::load(&config)?;
            if let Err(e) = c.validate() {
                bail!("{e}");
            }
            println!("{c:#?}");
        }
    }
    Ok(())
}
