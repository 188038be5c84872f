//! Desktop entry point: runs the app in a phone-sized window, or renders every screen to PNG
//! without a display (`--screenshots DIR`).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use mobile_app::clock::{Clock, FixedClock, SystemClock};
use mobile_app::config::AppConfig;
use mobile_app::i18n::Language;
use mobile_app::{App, AppOptions, headless, screenshots};

#[derive(Debug, Parser)]
#[command(version, about = "The expectant mother's PHR (home blood pressure, check-ups, EPDS)")]
struct Args {
    /// Where her data is kept (default: $XDG_DATA_HOME/mobile-app).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The clinic's configuration file (default: the built-in example, mobile-app.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Language: ja or en (default: her saved choice, else ja).
    #[arg(long)]
    lang: Option<String>,
    /// Run with demonstration data in memory (nothing is saved).
    #[arg(long)]
    demo: bool,
    /// Render every main screen in both languages to PNG files in DIR, without a display.
    #[arg(long, value_name = "DIR")]
    screenshots: Option<PathBuf>,
    /// Device pixels per logical pixel for --screenshots (2 for store listings).
    #[arg(long, default_value_t = 1.0)]
    scale: f32,
    /// Build the app headless, render its first frame and print the time it took (benchmarks).
    #[arg(long)]
    first_frame: bool,
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let language = match args.lang.as_deref() {
        None => None,
        Some(code) => Some(
            Language::from_code(code).with_context(|| format!("--lang {code}: use ja or en"))?,
        ),
    };

    if let Some(dir) = &args.screenshots {
        if !(0.5..=4.0).contains(&args.scale) {
            bail!("--scale {} must be between 0.5 and 4", args.scale);
        }
        headless::install()?;
        let written = screenshots::render_all(dir, args.scale)?;
        for path in written {
            println!("{}", path.display());
        }
        return Ok(());
    }

    let config = match &args.config {
        Some(path) => AppConfig::load(path)?,
        None => AppConfig::default(),
    };
    if args.first_frame {
        headless::install()?;
    }
    let app = if args.demo {
        let mut store = mobile_app::store::Store::open_in_memory()?;
        mobile_app::demo::populate(&mut store, language.unwrap_or_default(), &config)?;
        App::from_store(
            store,
            options(None, config, Arc::new(FixedClock::new(mobile_app::demo::now())), language),
        )?
    } else {
        let data_dir = args
            .data_dir
            .or_else(mobile_app::default_data_dir)
            .context("no data directory: pass --data-dir")?;
        App::new(options(Some(data_dir), config, Arc::new(SystemClock), language))?
    };

    if args.first_frame {
        let window = app.window();
        headless::size_window(slint::ComponentHandle::window(window), 1.0);
        slint::ComponentHandle::show(window)?;
        let frame = slint::ComponentHandle::window(window).take_snapshot()?;
        println!(
            "first-frame-ms {:.2} ({}x{})",
            started.elapsed().as_secs_f64() * 1000.0,
            frame.width(),
            frame.height()
        );
        return Ok(());
    }
    app.run()?;
    Ok(())
}

fn options(
    data_dir: Option<PathBuf>,
    config: AppConfig,
    clock: Arc<dyn Clock>,
    language: Option<Language>,
) -> AppOptions {
    AppOptions {
        data_dir,
        config,
        clock,
        links: mobile_app::ble::platform_link_factory(),
        // A desktop has no phone line: say what would be dialled.
        dialer: Rc::new(|number| eprintln!("mobile-app: would call {number}")),
        language,
    }
}
