//! A TCP relay that can be cut, to play a network outage between a gateway and the broker (the
//! demo's ambulance drives out of coverage and comes back).
//!
//! While cut, open connections are closed abruptly and new ones are accepted and closed at once,
//! as a lost mobile link looks to both ends.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A running relay; dropping it stops accepting and closes every connection.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
    stop: CancellationToken,
}

impl Relay {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(watch::channel(false).0);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, upstream, cut.clone(), stop.clone()));
        Ok(Self { addr, cut, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts (`true`) or restores (`false`) the link.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }

    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
    stop: CancellationToken,
) {
    loop {
        let (mut client, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("relay accept failed: {e}");
                    continue;
                }
            },
        };
        if *cut.borrow() {
            let _ = client.shutdown().await;
            continue;
        }
        let mut cut_rx = cut.subscribe();
        let stop = stop.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = stop.cancelled() => {}
                _ = cut_rx.wait_for(|c| *c) => {}
            }
            // Dropping both sockets closes the connection: the link is gone.
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn forwards_until_cut_and_again_after() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = echo.accept().await else { return };
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let relay = Relay::start(echo_addr).await.unwrap();
        let mut c = TcpStream::connect(relay.addr()).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        relay.set_cut(true);
        // The open connection is closed by the relay: reads end.
        let n = c.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        // New connections are closed at once while cut.
        let mut c2 = TcpStream::connect(relay.addr()).await.unwrap();
        assert_eq!(c2.read(&mut buf).await.unwrap_or(0), 0);

        relay.set_cut(false);
        let mut c3 = TcpStream::connect(relay.addr()).await.unwrap();
        c3.write_all(b"back").await.unwrap();
        c3.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    }
}
