//! `cargo xtask db start|stop|status`: a local PostgreSQL 17 + TimescaleDB for development and
//! tests, built from Debian 13 packages without touching the system.
//!
//! Debian 12 has no TimescaleDB and its PostgreSQL is 15. Debian 13's `postgresql-17` and
//! `postgresql-17-timescaledb` need a newer glibc, so we fetch them (with their whole dependency
//! closure, glibc included) through a private apt state, unpack them into a prefix and point the
//! PostgreSQL executables at the prefix's own loader and libraries with patchelf. About 15 s and
//! 420 MB, once; the prefix is cached outside the checkout so fresh clones reuse it.
//!
//! The server listens on 127.0.0.1 only, on a free port, with a generated password. PostgreSQL
//! refuses to run as root, so under root it runs as the system user `ctg-db`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const PACKAGES: &[&str] = &["postgresql-17", "postgresql-17-timescaledb"];
const SUITE: &str = "trixie";
const DB_USER: &str = "ctg";
const DB_NAME: &str = "ctg";
const SYSTEM_USER: &str = "ctg-db";

/// Where everything lives: `$CTG_DB_DIR`, else a system cache directory when root, else the
/// user's cache directory.
fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CTG_DB_DIR") {
        return PathBuf::from(d);
    }
    if crate::setup::is_root() {
        return PathBuf::from("/var/cache/ctg-timescaledb");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("ctg-timescaledb")
}

struct Layout {
    base: PathBuf,
}

impl Layout {
    fn prefix(&self) -> PathBuf {
        self.base.join("prefix")
    }
    fn bin(&self, name: &str) -> PathBuf {
        self.prefix().join("usr/lib/postgresql/17/bin").join(name)
    }
    fn data(&self) -> PathBuf {
        self.base.join("data")
    }
    fn log(&self) -> PathBuf {
        self.base.join("postgres.log")
    }
    fn url_file(&self) -> PathBuf {
        self.base.join("database-url")
    }
    fn installed_marker(&self) -> PathBuf {
        self.base.join("prefix.complete")
    }
}

pub fn run(args: &[&str]) -> Result<()> {
    match args {
        ["start"] => {
            let url = start()?;
            println!("DATABASE_URL={url}");
            Ok(())
        }
        ["stop"] => stop(),
        ["status"] => {
            let l = Layout { base: base_dir() };
            if is_running(&l) {
                println!("running: DATABASE_URL={}", fs::read_to_string(l.url_file())?.trim());
            } else {
                println!("stopped");
            }
            Ok(())
        }
        _ => bail!("usage: cargo xtask db start|stop|status"),
    }
}

/// Installs if needed, starts if not running, and returns the database URL.
pub fn start() -> Result<String> {
    let l = Layout { base: base_dir() };
    fs::create_dir_all(&l.base).with_context(|| format!("creating {}", l.base.display()))?;
    if !l.installed_marker().exists() {
        install(&l)?;
    }
    if is_running(&l) {
        return Ok(fs::read_to_string(l.url_file())?.trim().to_owned());
    }
    if !l.data().join("PG_VERSION").exists() {
        init_cluster(&l)?;
    }
    // A free port each start: a stale server of another checkout may still hold the last one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url_text = fs::read_to_string(l.url_file()).context("reading the saved database URL")?;
    let password = password_from_url(&url_text)?;
    let conf = format!(
        "listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{data}'\n\
         shared_preload_libraries = 'timescaledb'\n\
         timescaledb.telemetry_level = off\n\
         max_connections = 300\n\
         shared_buffers = 256MB\n\
         max_locks_per_transaction = 256\n",
        data = l.data().display()
    );
    let auto = l.data().join("postgresql.auto.conf");
    fs::write(&auto, conf)?;
    chown_for_server(&auto)?;
    let status = as_server_user(&l.bin("pg_ctl"))
        .arg("-D")
        .arg(l.data())
        .arg("-l")
        .arg(l.log())
        .args(["-w", "-t", "60", "start"])
        .status()
        .context("running pg_ctl start")?;
    if !status.success() {
        let log = fs::read_to_string(l.log()).unwrap_or_default();
        bail!("PostgreSQL did not start ({status}); log:\n{}", tail(&log, 20));
    }
    let url = format!("postgres://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}");
    fs::write(l.url_file(), &url)?;
    // The application database; per-test databases are created by the tests themselves.
    let exists = psql(
        &l,
        port,
        &password,
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"),
    )?;
    if exists.trim() != "1" {
        psql(&l, port, &password, "postgres", &format!("CREATE DATABASE {DB_NAME}"))?;
    }
    Ok(url)
}

pub fn stop() -> Result<()> {
    let l = Layout { base: base_dir() };
    if !is_running(&l) {
        println!("not running");
        return Ok(());
    }
    let status = as_server_user(&l.bin("pg_ctl"))
        .arg("-D")
        .arg(l.data())
        .args(["-m", "fast", "-w", "stop"])
        .status()
        .context("running pg_ctl stop")?;
    if !status.success() {
        bail!("pg_ctl stop failed ({status})");
    }
    Ok(())
}

fn is_running(l: &Layout) -> bool {
    l.data().join("postmaster.pid").exists()
        && l.bin("pg_ctl").exists()
        && as_server_user(&l.bin("pg_ctl"))
            .arg("-D")
            .arg(l.data())
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn install(l: &Layout) -> Result<()> {
    eprintln!(
        "xtask: installing PostgreSQL 17 + TimescaleDB from Debian {SUITE} into {}",
        l.prefix().display()
    );
    let apt_dir = l.base.join("apt");
    let _ = fs::remove_dir_all(&apt_dir);
    let _ = fs::remove_dir_all(l.prefix());
    for d in ["state/lists/partial", "cache/archives/partial"] {
        fs::create_dir_all(apt_dir.join(d))?;
    }
    fs::write(apt_dir.join("status"), "")?;
    fs::write(
        apt_dir.join("sources.list"),
        format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {SUITE} main\n",
            mirror()
        ),
    )?;
    let opts = |a: &Path| -> Vec<String> {
        [
            format!("Dir::State={}", a.join("state").display()),
            format!("Dir::State::status={}", a.join("status").display()),
            format!("Dir::Cache={}", a.join("cache").display()),
            format!("Dir::Etc::SourceList={}", a.join("sources.list").display()),
            "Dir::Etc::SourceParts=/dev/null".into(),
            "Dir::Etc::Preferences=/dev/null".into(),
            "Dir::Etc::PreferencesParts=/dev/null".into(),
            "Debug::NoLocking=1".into(),
            "APT::Install-Recommends=false".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_owned(), o])
        .collect()
    };
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get")
            .args(opts(&apt_dir))
            .args(args)
            .status()
            .context("running apt-get (Debian's package tool is required)")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    apt(&["-qq", "update"])?;
    let mut install = vec!["-qq", "-y", "--download-only", "install"];
    install.extend_from_slice(PACKAGES);
    apt(&install)?;

    let prefix = l.prefix();
    fs::create_dir_all(&prefix)?;
    let archives = apt_dir.join("cache/archives");
    let mut debs: Vec<PathBuf> = fs::read_dir(&archives)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    for deb in &debs {
        let status = Command::new("dpkg-deb").arg("-x").arg(deb).arg(&prefix).status()?;
        if !status.success() {
            bail!("dpkg-deb -x {} failed", deb.display());
        }
    }
    let loader = prefix.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    let rpath = format!(
        "{}:{}",
        prefix.join("usr/lib/x86_64-linux-gnu").display(),
        prefix.join("usr/lib/postgresql/17/lib").display()
    );
    let bindir = prefix.join("usr/lib/postgresql/17/bin");
    for entry in fs::read_dir(&bindir)? {
        let path = entry?.path();
        // DT_RPATH (not RUNPATH) also applies to libraries PostgreSQL dlopens (timescaledb.so).
        let status = Command::new("patchelf")
            .arg("--set-interpreter")
            .arg(&loader)
            .arg("--force-rpath")
            .arg("--set-rpath")
            .arg(&rpath)
            .arg(&path)
            .status()
            .context("running patchelf (installed by `cargo xtask setup`)")?;
        if !status.success() {
            bail!("patchelf failed on {}", path.display());
        }
    }
    let _ = fs::remove_dir_all(&apt_dir);
    fs::write(l.installed_marker(), format!("{}\n", PACKAGES.join(" ")))?;
    Ok(())
}

fn init_cluster(l: &Layout) -> Result<()> {
    if crate::setup::is_root() {
        ensure_system_user()?;
    }
    let data = l.data();
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data)?;
    let password = random_hex(16)?;
    let pwfile = l.base.join("pwfile");
    fs::write(&pwfile, &password)?;
    for p in [&data, &pwfile] {
        chown_for_server(p)?;
    }
    let log = l.log();
    fs::write(&log, "")?;
    chown_for_server(&log)?;
    let out = as_server_user(&l.bin("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            DB_USER,
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .context("running initdb")?;
    let _ = fs::remove_file(&pwfile);
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Port is filled in at each start; the URL file keeps the password.
    fs::write(l.url_file(), format!("postgres://{DB_USER}:{password}@127.0.0.1:0/{DB_NAME}"))?;
    Ok(())
}

fn psql(l: &Layout, port: u16, password: &str, db: &str, sql: &str) -> Result<String> {
    let out = Command::new(l.bin("psql"))
        .env("PGPASSWORD", password)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", DB_USER, "-d", db, "-tAc", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn password_from_url(url: &str) -> Result<String> {
    let rest = url
        .trim()
        .strip_prefix(&format!("postgres://{DB_USER}:"))
        .context("malformed saved URL")?;
    Ok(rest.split('@').next().unwrap_or_default().to_owned())
}

/// A command run as the database's system user when we are root, else as ourselves.
fn as_server_user(program: &Path) -> Command {
    if crate::setup::is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", SYSTEM_USER, "--regid", SYSTEM_USER, "--init-groups"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_for_server(path: &Path) -> Result<()> {
    if !crate::setup::is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{SYSTEM_USER}:{SYSTEM_USER}"))
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("chown {} failed", path.display());
    }
    Ok(())
}

fn ensure_system_user() -> Result<()> {
    let exists = Command::new("id").arg(SYSTEM_USER).output().is_ok_and(|o| o.status.success());
    if exists {
        return Ok(());
    }
    let status = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ])
        .status()
        .context("running useradd")?;
    if !status.success() {
        bail!("could not create the system user {SYSTEM_USER}");
    }
    Ok(())
}

/// The Debian mirror this machine already uses, so the packages come from the same place.
fn mirror() -> String {
    let text = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|u| u.ends_with("/debian") || u.ends_with("/debian/"))
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
