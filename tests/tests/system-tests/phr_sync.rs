//! The mother's app syncs with a real server: the app as a library (its real SQLite store in a
//! temporary directory, its real HTTP transport) against `monitor-server` in-process on port 0.
//! She registers with her clinic's invitation, records readings while the server cannot be
//! reached, comes online and syncs; the clinician API shows the readings with their tiers and the
//! same-day warning; re-sending the same batch stores nothing twice; revoking consent in the app
//! turns the clinician away (403) and the audit log shows the refused attempt.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mobile_app::clock::{Clock, SystemClock};
use mobile_app::config::AppConfig;
use mobile_app::model::{Arm, NewReading, Session, Source, Symptoms, Tier};
use mobile_app::store::{DB_FILE, Store, time_from_ms};
use mobile_app::sync::{HttpTransport, SyncEngine, SyncError, SyncStatus, SyncTransport};
use monitor_server::api::handlers::{NewStaffRequest, create_staff_account};
use monitor_server::app::App;
use monitor_server::config::Config;
use monitor_server::model::Role;
use phr_wire::auth::{LoginRequest, RegisterRequest};
use phr_wire::consent::{ConsentGrant, Scope};
use serde_json::{Value, json};

const STAFF_PASSWORD: &str = "staff-password-1";
const CLINIC: &str = "sakura";

/// A blocking HTTP/1.1 JSON client for the staff side (one request per connection).
struct Staff {
    addr: SocketAddr,
    token: String,
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut payload = raw[split + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    let value = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into()))
    };
    (status, value)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

impl Staff {
    fn login(addr: SocketAddr, username: &str) -> Self {
        let (s, v) = request(
            addr,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"username": username, "password": STAFF_PASSWORD, "bearer": true})),
        );
        assert_eq!(s, 200, "staff login: {v}");
        Self { addr, token: v["token"].as_str().unwrap().to_owned() }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        request(self.addr, method, path, Some(&self.token), body)
    }

    fn get_ok(&self, path: &str) -> Value {
        let (s, v) = self.call("GET", path, None);
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running server with a clinic, its admin and midwife, and an invitation for her.
struct ClinicServer {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    core: std::sync::Arc<monitor_server::app::Core>,
    admin: Staff,
    midwife: Staff,
    invitation: Value,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

fn start_clinic() -> ClinicServer {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server_dir = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: server_dir.path().to_path_buf(), ..Config::default() };
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.embedded_broker.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.auth.argon2_memory_kib = 8 * 1024;
    config.auth.argon2_iterations = 1;
    let app = rt.block_on(App::start(config)).expect("server starts");
    let addr = app.local_addr().unwrap();
    let core = app.core.clone();
    for (username, role) in [("admin1", Role::Admin), ("midwife1", Role::Midwife)] {
        let req = NewStaffRequest {
            username: username.into(),
            display_name: format!("{username} san"),
            role,
            password: STAFF_PASSWORD.into(),
        };
        rt.block_on(create_staff_account(&core, req)).expect("staff account");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(app.run(async move {
        let _ = stopped.await;
    }));

    // The clinic, its midwife, and an invitation for her.
    let admin = Staff::login(addr, "admin1");
    let midwife = Staff::login(addr, "midwife1");
    let (s, v) = admin.call(
        "PUT",
        &format!("/api/v1/clinics/{CLINIC}"),
        Some(json!({"name": "さくら産婦人科"})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = admin.call("PUT", &format!("/api/v1/clinics/{CLINIC}/members/midwife1"), None);
    assert_eq!(s, 204, "{v}");
    let (s, invitation) = midwife.call("POST", "/api/v1/phr/invitations", Some(json!({})));
    assert_eq!(s, 200, "{invitation}");
    ClinicServer { rt, addr, core, admin, midwife, invitation, stop, server, _dir: server_dir }
}

#[test]
fn readings_recorded_offline_reach_the_clinic_once_and_revoked_consent_stops_it() {
    let ClinicServer { rt, addr, core: _, admin, midwife, invitation, stop, server, _dir } =
        start_clinic();

    // The phone: her real store on disk, the real HTTP transport.
    let phone_dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&phone_dir.path().join(DB_FILE)).unwrap();
    let app_config = AppConfig::default();
    let online = HttpTransport::new(&format!("http://{addr}"), Duration::from_secs(30));
    let offline =
        HttpTransport::new(&format!("http://127.0.0.1:{}", closed_port()), Duration::from_secs(5));
    let engine = SyncEngine::new(&online, &app_config);
    let mother_id = engine
        .register(
            &mut store,
            &RegisterRequest {
                invitation_code: invitation["code"].as_str().unwrap().to_owned(),
                login: "hanako@example.jp".into(),
                password: "correct horse battery".into(),
                display_name: "山田 花子".into(),
                device_name: "system test".into(),
            },
        )
        .expect("registration");
    engine
        .grant(&mut store, CLINIC, &ConsentGrant { scope: vec![Scope::BloodPressure, Scope::Epds] })
        .expect("consent");

    // Offline: three days of readings, the last one today in the same-day tier. (Times come
    // from the app's clock and store helpers: chrono is not a dependency of this crate.)
    let now = SystemClock.now();
    let before = |minutes: i64| {
        time_from_ms(now.timestamp_millis() - minutes * 60_000)
            .unwrap()
            .with_timezone(&now.timezone())
    };
    let reading = |at, systolic, diastolic| NewReading {
        measured_at: at,
        systolic,
        diastolic,
        pulse: Some(76.0),
        mean_arterial: None,
        arm: Arm::Left,
        session: Session::Morning,
        symptoms: Symptoms::none(),
        note: "自宅".into(),
        source: Source::Manual,
    };
    let mut recorded = Vec::new();
    for (minutes_ago, sys, dia) in
        [(3 * 1440, 118.0, 76.0), (2 * 1440, 124.0, 80.0), (1440, 131.0, 83.0), (30, 146.0, 94.0)]
    {
        let at = before(minutes_ago);
        let tier = if sys >= 140.0 { Tier::SameDay } else { Tier::Normal };
        recorded.push(store.insert_reading(&reading(at, sys, dia), tier, false, at).unwrap());
    }
    let offline_engine = SyncEngine::new(&offline, &app_config);
    let err = offline_engine.sync(&mut store, now).unwrap_err();
    assert!(matches!(err, SyncError::Offline(_)), "{err:?}");
    assert_eq!(SyncStatus::read(&store).unwrap(), SyncStatus::Offline { pending: 4 });

    // Online again.
    let report = engine.sync(&mut store, SystemClock.now()).expect("sync");
    assert_eq!((report.sent, report.stored, report.unchanged), (4, 4, 0), "{report:?}");
    assert!(matches!(SyncStatus::read(&store).unwrap(), SyncStatus::Synced { pending: 0, .. }));

    // The clinician sees her readings with the clinic's tiers, and the same-day warning.
    let record = midwife.get_ok(&format!("/api/v1/phr/mothers/{mother_id}"));
    let rows = record["readings"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{record}");
    for r in &recorded {
        let row = rows.iter().find(|x| x["id"] == r.id.to_string()).expect("reading on the server");
        assert_eq!(row["systolic"], r.data.systolic);
        assert_eq!(row["diastolic"], r.data.diastolic);
        let tier = if r.data.systolic >= 140.0 { "same_day" } else { "normal" };
        assert_eq!(row["tier"], tier, "{row}");
    }
    let warnings = midwife.get_ok("/api/v1/phr/warnings?open=true");
    let high = recorded[3].id.to_string();
    let warning = warnings.as_array().unwrap().iter().find(|w| w["record_id"] == high);
    assert_eq!(warning.expect("same-day warning")["kind"], "bp_same_day", "{warnings}");
    assert_eq!(warning.unwrap()["mother_id"], mother_id.to_string());

    // Re-sending the same batch (the pushed position lost, as after a crash) stores nothing twice.
    let state = store.sync_state().unwrap();
    let access = state.access_token.clone().unwrap();
    let seqs = |t: &HttpTransport| {
        let mut s: Vec<i64> =
            t.download(&access, 0, 1000).unwrap().items.iter().map(|i| i.seq).collect();
        s.sort_unstable();
        s
    };
    let before_resend = seqs(&online);
    assert_eq!(before_resend.len(), 4);
    store.set_pushed_seq(0).unwrap();
    let report = engine.sync(&mut store, SystemClock.now()).expect("re-sync");
    assert_eq!((report.sent, report.stored, report.unchanged), (4, 0, 4), "{report:?}");
    assert_eq!(seqs(&online), before_resend, "the server holds the same changes");
    assert_eq!(
        midwife.get_ok(&format!("/api/v1/phr/mothers/{mother_id}"))["readings"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Her second phone logs in and converges, queuing nothing to send back.
    let second_dir = tempfile::tempdir().unwrap();
    let mut second = Store::open(&second_dir.path().join(DB_FILE)).unwrap();
    let login = LoginRequest {
        login: "hanako@example.jp".into(),
        password: "correct horse battery".into(),
        device_name: "second phone".into(),
    };
    assert_eq!(engine.login(&mut second, &login).expect("login"), mother_id);
    let report = engine.sync(&mut second, SystemClock.now()).expect("second phone sync");
    assert_eq!((report.sent, report.received, report.applied), (0, 4, 4), "{report:?}");
    assert_eq!(second.reading_count().unwrap(), 4);
    assert_eq!(second.pending_changes().unwrap(), 0);
    let high_there = second.reading(recorded[3].id).unwrap().expect("pulled reading");
    assert_eq!(high_there.tier, Tier::SameDay);
    assert_eq!(high_there.data.measured_at, recorded[3].data.measured_at);

    // She revokes consent in the app: the clinic is turned away at once, and it is audited.
    let consent = engine.revoke(&mut store, CLINIC).expect("revoke");
    assert!(consent.revoked_at.is_some());
    let (s, v) = midwife.call("GET", &format!("/api/v1/phr/mothers/{mother_id}"), None);
    assert_eq!(s, 403, "{v}");
    let audit = admin.get_ok("/api/v1/audit?limit=100");
    let denied = audit.as_array().unwrap().iter().any(|e| {
        e["actor"] == "midwife1"
            && e["target"] == format!("mother/{mother_id}")
            && e["outcome"] == "denied"
    });
    assert!(denied, "the refused read is in the audit log: {audit}");

    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
}

/// Three seconds of a 220 Hz tone at 16 kHz, as a WAV file (real bytes for the server's decoder).
fn dictation_wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..48_000)
        .map(|i| ((f64::from(i) / 16_000.0 * 220.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
        .collect();
    mobile_app::notes::wav::encode_pcm16(&samples, 16_000, 1).unwrap()
}

#[test]
fn a_dictated_note_is_drafted_by_the_server_checked_by_her_and_seen_by_the_midwife() {
    use ai_notes::transcribe::FakeTranscriber;
    use mobile_app::notes::{
        DraftError, Drafter, Recorder, ScriptedRecorder, checked_note, save_note,
    };
    use monitor_server::phr::speech::Speech;

    let ClinicServer { rt, addr, core, admin, midwife, invitation, stop, server, _dir } =
        start_clinic();
    let phone_dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&phone_dir.path().join(DB_FILE)).unwrap();
    let app_config = AppConfig::default();
    let transport = HttpTransport::new(&format!("http://{addr}"), Duration::from_secs(30));
    let engine = SyncEngine::new(&transport, &app_config);
    let mother_id = engine
        .register(
            &mut store,
            &RegisterRequest {
                invitation_code: invitation["code"].as_str().unwrap().to_owned(),
                login: "yuki@example.jp".into(),
                password: "correct horse battery".into(),
                display_name: "佐藤 由紀".into(),
                device_name: "system test".into(),
            },
        )
        .expect("registration");
    engine.grant(&mut store, CLINIC, &ConsentGrant { scope: vec![Scope::Notes] }).expect("consent");

    // Her phone has no speech model: the server drafts. It has none either, at first.
    let drafter = Drafter::server_only();
    let mut mic = ScriptedRecorder::new(dictation_wav());
    mic.start().unwrap();
    let wav = mic.stop().unwrap();
    let err = drafter.draft(&wav, "ja", Some((&engine, &mut store))).unwrap_err();
    assert!(matches!(err, DraftError::ServerHasNoModel), "{err:?}");

    let said = "昨日から頭痛があります。血圧は145/95でした。";
    let speech = Speech::new(Box::new(FakeTranscriber::new(vec![said.into()])), "scripted");
    core.speech.set(std::sync::Arc::new(speech)).expect("no speech model yet");
    let draft = drafter.draft(&wav, "ja", Some((&engine, &mut store))).expect("server draft");
    drop(wav);
    assert_eq!(draft.transcript, said);
    assert_eq!(draft.model, "scripted");
    assert!(draft.soap.subjective.contains("頭痛"), "{:?}", draft.soap);
    assert!(draft.soap.objective.contains("145"), "{:?}", draft.soap);
    assert_eq!(store.pending_changes().unwrap(), 0, "a draft is not stored");

    // She corrects the plan and confirms: "This is what I meant".
    let mut soap = draft.soap.clone();
    soap.plan = "今日、助産師さんに電話します".into();
    let note = checked_note(&draft, soap, SystemClock.now());
    let saved = save_note(&mut store, &note, SystemClock.now()).expect("saved");
    let report = engine.sync(&mut store, SystemClock.now()).expect("sync");
    assert_eq!((report.sent, report.stored), (1, 1), "{report:?}");

    // The midwife sees it with her check and the server's provenance.
    let record = midwife.get_ok(&format!("/api/v1/phr/mothers/{mother_id}"));
    let notes = record["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{record}");
    let row = &notes[0];
    assert_eq!(row["id"], saved.id.to_string());
    assert_eq!(row["text"], said);
    assert_eq!(row["origin"], "dictated_on_server");
    assert_eq!(row["checked_by_her"], true);
    assert_eq!(row["soap"]["plan"], "今日、助産師さんに電話します");
    assert_eq!(row["soap"]["subjective"], note.soap.as_ref().unwrap().subjective.as_str());

    // Her transcription requests are in the audit log under her login.
    let audit = admin.get_ok("/api/v1/audit?limit=100");
    let transcribed =
        audit.as_array().unwrap().iter().any(|e| {
            e["actor"] == "mother:yuki@example.jp" && e["action"] == "phr.note.transcribe"
        });
    assert!(transcribed, "{audit}");

    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
}
