//! Mutual TLS through rustls (ring) to a real mosquitto that requires client certificates:
//! a gateway with its own certificate streams; one without a certificate, or trusting another
//! CA, never gets in and says so in its health.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

use crate::receiver::Receiver;
use crate::{Running, SITE, assert_exact, http_get, metric, parse, sim_devices};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A site CA, a broker certificate for localhost and a client certificate for the gateway;
    /// plus a second, unrelated CA.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            (p.self_signed(&key).unwrap(), key)
        };
        let (ca_cert, ca_key) = ca("test site CA");
        write("ca.pem", ca_cert.pem());
        let (other, _) = ca("someone else's CA");
        write("other-ca.pem", other.pem());
        let leaf = |sans: Vec<String>, cn: &str, name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(sans).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        };
        leaf(vec!["localhost".into(), "127.0.0.1".into()], "broker", "broker");
        leaf(vec![], "gw-tls", "gateway");
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// mosquitto with a mutual-TLS listener for gateways and a plain loopback listener for the
/// receiver.
struct TlsBroker {
    child: Child,
    tls_port: u16,
    plain_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsBroker {
    fn start(pki: &Pki) -> TlsBroker {
        let program =
            test_support::find_program("mosquitto").expect("mosquitto (cargo xtask setup)");
        let dir = tempfile::tempdir().unwrap();
        let (tls_port, plain_port) = (test_support::free_port(), test_support::free_port());
        let user =
            std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into());
        let conf = format!(
            "per_listener_settings true\nuser {user}\npersistence false\nlog_dest stderr\n\
             listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             require_certificate true\nuse_identity_as_username true\n\
             listener {plain_port} 127.0.0.1\nallow_anonymous true\n",
            ca = pki.path("ca.pem"),
            cert = pki.path("broker.pem"),
            key = pki.path("broker.key"),
        );
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = test_support::wait_until(Duration::from_secs(10), || {
            [tls_port, plain_port]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        assert!(up, "mosquitto with TLS listens");
        TlsBroker { child, tls_port, plain_port, _dir: dir }
    }
}

fn tls_config(port: u16, gateway: &str, state: &Path, tls: &str) -> String {
    format!(
        "[gateway]\nid = \"{gateway}\"\nsite = \"{SITE}\"\nstate_dir = \"{}\"\n\
         [broker]\nurl = \"mqtts://localhost:{port}\"\nkeep_alive_s = 5\n[broker.tls]\n{tls}\n\
         [http]\nlisten = \"127.0.0.1:0\"\n{}",
        state.display(),
        sim_devices(1, "normal-labour", 8.0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_gets_in_and_a_gateway_without_the_right_identity_does_not() {
    let pki = Pki::new();
    let broker = TlsBroker::start(&pki);
    let rx = Receiver::start(broker.plain_port, SITE, "gw-tls");
    let state = tempfile::tempdir().unwrap();
    let good = format!(
        "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
        pki.path("ca.pem"),
        pki.path("gateway.pem"),
        pki.path("gateway.key")
    );
    let gw =
        Running::start(parse(&tls_config(broker.tls_port, "gw-tls", state.path(), &good))).await;
    assert!(
        rx.wait_for(Duration::from_secs(20), |s| s
            .streams
            .get("bed-1")
            .is_some_and(|l| l.samples.len() >= 40))
            .await
    );
    gw.stop().await;
    let next = rx.wait_offline().await.devices[0].next_seq;
    assert_exact(&rx.stream("bed-1"), "bed-1", Some(next));

    // No client certificate, or a CA that did not sign the broker: never connected, and the
    // health endpoint says why nothing flows.
    for tls in [
        format!("ca = \"{}\"", pki.path("ca.pem")),
        format!(
            "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
            pki.path("other-ca.pem"),
            pki.path("gateway.pem"),
            pki.path("gateway.key")
        ),
    ] {
        let state = tempfile::tempdir().unwrap();
        let gw =
            Running::start(parse(&tls_config(broker.tls_port, "gw-tls-bad", state.path(), &tls)))
                .await;
        let http = gw.http.unwrap();
        // Three seconds of failing attempts (the reconnect delay starts at 250 ms).
        let mut health = String::new();
        for _ in 0..30 {
            let (code, body) = http_get(http, "/health").await;
            assert_eq!(code, 503, "{body}");
            health = body;
            let (_, m) = http_get(http, "/metrics").await;
            assert_eq!(metric(&m, "ctg_gateway_mqtt_connects_total"), Some(0.0), "{tls}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(health.contains("waiting_for_ack_sync"), "{health}");
        gw.stop().await;
    }
}
