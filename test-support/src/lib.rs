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
            io::Error::new(io::ErrorKind::NotFound, "mosquitto is not installed: run `cargo xtask setup`")
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
            self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))) && accepts_connections(addr)
        });
        if !up {
            let log = std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default();
            self.stop();
            return Err(io::Error::other(format!("mosquitto did not start on port {}: {log}", self.port)));
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
