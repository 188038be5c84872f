//! Helpers for integration tests across the workspace: start real service processes on free
//! loopback ports and wait for them by condition, never by a fixed sleep.
//!
//! Services are installed by `cargo xtask setup`; when one is missing the helper fails with a
//! message saying so (tests that need a real broker must not silently pass without one).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 at the time of the call.
///
/// Only for programs that cannot take an already bound listener (mosquitto, chromedriver);
/// callers retry if another process takes the port first.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind an ephemeral port on 127.0.0.1")
}

/// Polls `cond` until it returns true or `timeout` passes. Returns whether it became true.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Finds an executable on `PATH` or in the usual system directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn accepts_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A real mosquitto broker on 127.0.0.1, anonymous access, no persistence; killed on drop.
///
/// `stop` and `start` keep the same port, so a test can take the broker away and bring it back
/// while clients keep their configured address.
#[derive(Debug)]
pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free port.
    pub fn start() -> io::Result<Self> {
        let mut last_err = None;
        for _ in 0..5 {
            let mut m = Self { port: free_port(), dir: tempfile::tempdir()?, child: None };
            match m.start_again() {
                Ok(()) => return Ok(m),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("mosquitto did not start")))
    }

    /// Broker URL for clients, `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether the broker process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// (Re)starts the broker process on the same port and waits until it accepts connections.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let program = find_program("mosquitto").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "mosquitto is not installed: run `cargo xtask setup`",
            )
        })?;
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(&conf, config(self.port, self.dir.path()))?;
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log"))?;
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let addr = self.addr();
        let up = wait_until(Duration::from_secs(10), || {
            self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
                && accepts_connections(addr)
        });
        if !up {
            let log =
                std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default();
            self.stop();
            return Err(io::Error::other(format!(
                "mosquitto did not start on port {}: {log}",
                self.port
            )));
        }
        Ok(())
    }

    /// Kills the broker (as a crash would: SIGKILL, no clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(port: u16, dir: &Path) -> String {
    // `user root` keeps mosquitto from switching to a `mosquitto` account when tests run as root.
    format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         user {user}\n\
         max_queued_messages 100000\n\
         max_inflight_messages 100\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         pid_file {pid}\n",
        user = current_user(),
        pid = dir.join("mosquitto.pid").display(),
    )
}

fn current_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into())
}

/// The path of binary `name` of workspace package `package`, built into the shared target
/// directory (`cargo build -p package --bin name`, once per test process) so a test can run
/// another crate's tool, e.g. `workspace_binary("hardware", "ctg-sim")`.
pub fn workspace_binary(package: &str, name: &str) -> io::Result<PathBuf> {
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let exe = std::env::current_exe()?;
    // Test executables live in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(|deps| if deps.ends_with("deps") { deps.parent() } else { Some(deps) })
        .ok_or_else(|| io::Error::other("cannot locate the target directory"))?
        .to_owned();
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| io::Error::other("cannot locate the target directory"))?;
    let path = profile_dir.join(name);
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{package}/{name}");
    if !built.contains(&key) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status()?;
        if !status.success() && !path.is_file() {
            return Err(io::Error::other(format!(
                "`cargo build -p {package} --bin {name}` failed ({status})"
            )));
        }
        built.push(key);
    }
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(io::ErrorKind::NotFound, format!("{} was not built", path.display())))
    }
}

/// Two linked pseudo-terminals made by `socat`, at stable symlink paths: a device simulator
/// writes to one end, the program under test reads the other, as over a null-modem cable.
/// `unplug` kills socat (both ends vanish, as when a USB serial adapter is pulled out) and
/// `plug_in` recreates them at the same paths. Killed on drop.
#[derive(Debug)]
pub struct PtyPair {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PtyPair {
    /// Creates the pair; fails clearly when socat is not installed.
    pub fn start() -> io::Result<Self> {
        let mut p = Self { dir: tempfile::tempdir()?, child: None };
        p.plug_in()?;
        Ok(p)
    }

    /// The end the simulator writes to.
    pub fn device_end(&self) -> PathBuf {
        self.dir.path().join("device")
    }

    /// The end the program under test opens (its configured serial port path).
    pub fn host_end(&self) -> PathBuf {
        self.dir.path().join("host")
    }

    pub fn is_plugged_in(&self) -> bool {
        self.child.is_some()
    }

    /// (Re)creates the linked pair at the same paths and waits until both exist.
    pub fn plug_in(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let program = find_program("socat").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "socat is not installed: run `cargo xtask setup`",
            )
        })?;
        let end = |p: PathBuf| format!("PTY,link={},raw,echo=0", p.display());
        let child = Command::new(program)
            .args([end(self.device_end()), end(self.host_end())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let (a, b) = (self.device_end(), self.host_end());
        if !wait_until(Duration::from_secs(10), || a.exists() && b.exists()) {
            self.unplug();
            return Err(io::Error::other("socat did not create the pseudo-terminals"));
        }
        Ok(())
    }

    /// Kills socat: both terminals disappear; readers see end of file or an error.
    pub fn unplug(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // socat removes its links on a clean exit only.
        let _ = std::fs::remove_file(self.device_end());
        let _ = std::fs::remove_file(self.host_end());
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        self.unplug();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_starts_stops_and_restarts_on_the_same_port() {
        let mut m = Mosquitto::start().expect("mosquitto must be installed (cargo xtask setup)");
        let port = m.port();
        assert!(accepts_connections(m.addr()));
        m.stop();
        assert!(wait_until(Duration::from_secs(5), || !accepts_connections(m.addr())));
        m.start_again().unwrap();
        assert_eq!(m.port(), port);
        assert!(accepts_connections(m.addr()), "{}", m.log());
    }
}
