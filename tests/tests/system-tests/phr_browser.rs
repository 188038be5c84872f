//! The clinicians' "Mothers" view (the mothers' PHR beside the central monitor) in a real
//! headless Chromium, against a real server (SQLite) holding the demo's PHR seed: three mothers
//! who consented to the demo clinic, with two weeks of home blood pressure, check-ups, EPDS and
//! notes. What the page shows is checked against what the store holds.

use std::net::SocketAddr;
use std::sync::Arc;

use fantoccini::Locator;
use monitor_server::api::handlers::{NewStaffRequest, create_staff_account, issue_login_code};
use monitor_server::app::{App, Core};
use monitor_server::config::Config;
use monitor_server::demo::DEMO_STAFF;
use monitor_server::phr::demo::{DEMO_MOTHERS, seed};
use monitor_server::store::phr::WarningQuery;
use serde_json::Value;
use system_tests::Browser;
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    core: Arc<Core>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// A server on a fresh SQLite database with the demo's staff and PHR seed.
async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.embedded_broker.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    // Cheap hashes: the test measures nothing about argon2.
    config.auth.argon2_memory_kib = 8 * 1024;
    config.auth.argon2_iterations = 1;
    let app = App::start(config).await.expect("server starts");
    let addr = app.local_addr().unwrap();
    let core = app.core.clone();
    for (username, display, role, password) in DEMO_STAFF {
        let req = NewStaffRequest {
            username: username.into(),
            display_name: display.into(),
            role,
            password: password.into(),
        };
        create_staff_account(&core, req).await.expect("demo staff");
    }
    let now = monitor_server::now_ms();
    seed(&core, now).await.expect("PHR seed");
    // A restart seeds again: nothing may be duplicated (checked by the callers' counts).
    seed(&core, now + 60_000).await.expect("PHR seed is idempotent");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    Server { addr, core, stop: Some(tx), task, _dir: dir }
}

impl Server {
    async fn login_url(&self, username: &str) -> String {
        let code = issue_login_code(&self.core, username).await.expect("login code");
        format!("http://{}{}", self.addr, code.path)
    }

    async fn open_warnings(&self) -> Vec<monitor_server::store::phr::WarningRow> {
        let q = WarningQuery {
            mothers: DEMO_MOTHERS.iter().map(|m| m.id).collect(),
            open_only: true,
            limit: 1000,
        };
        self.core.store.warnings(&q).await.unwrap()
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn text(browser: &Browser, css: &str) -> String {
    let v = browser
        .eval(&format!(
            "const e = document.querySelector(\"{css}\"); return e ? e.textContent : null;"
        ))
        .await;
    v.as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
}

async fn count(browser: &Browser, css: &str) -> u64 {
    browser
        .eval(&format!("return document.querySelectorAll(\"{css}\").length;"))
        .await
        .as_u64()
        .unwrap()
}

/// Logs in as the midwife and opens the Mothers view with its lists loaded.
async fn open_mothers_view(server: &Server, browser: &Browser) {
    browser.client.goto(&server.login_url("midwife").await).await.unwrap();
    browser
        .wait_script(20, "the view tabs", "return !document.getElementById('views').hidden;")
        .await;
    // Uncaught errors of the page, for the timeout message below.
    browser
        .eval(
            "window.__phrErrors = []; \
             window.addEventListener('error', (e) => window.__phrErrors.push(String(e.message))); \
             window.addEventListener('unhandledrejection', (e) => window.__phrErrors.push(String(e.reason))); \
             return true;",
        )
        .await;
    click(browser, "#tab-phr").await;
    // Generous: on a cold 2-core CI machine two Chromiums and a demo share the cores. On a
    // timeout, say what the page showed.
    let ready = "const p = document.getElementById('phr'); return !p.hidden && p.dataset.loaded === 'true';";
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while browser.eval(ready).await != Value::Bool(true) {
        if tokio::time::Instant::now() >= deadline {
            let state = browser
                .eval(
                    "const p = document.getElementById('phr'); \
                     return JSON.stringify({ hidden: p.hidden, data: Object.assign({}, p.dataset), \
                       message: document.getElementById('phr-lists-msg').textContent, \
                       view: document.body.dataset.view, errors: window.__phrErrors });",
                )
                .await;
            // And what the server saw: refusals and failures are audited.
            let audit = server
                .core
                .store
                .audit(monitor_server::store::AuditQuery { before_id: None, limit: 30 })
                .await
                .map(|rows| serde_json::to_string(&rows).unwrap())
                .unwrap_or_else(|e| format!("audit log unreadable: {e}"));
            panic!(
                "timed out after 60 s waiting for the Mothers view with its lists: {state}\n\
                 last audit entries: {audit}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_sees_who_to_call_acknowledges_and_attests_a_note() {
    let server = start_server().await;
    let open = server.open_warnings().await;
    let (rising, urgent, normal) = (&DEMO_MOTHERS[0], &DEMO_MOTHERS[1], &DEMO_MOTHERS[2]);
    let browser = Browser::start(1400, 900).await;
    open_mothers_view(&server, &browser).await;

    // Every open warning of a consented mother is listed once, the emergency first.
    assert_eq!(count(&browser, "#phr-warnings li.phr-warning").await, open.len() as u64);
    assert_eq!(text(&browser, "#tab-phr-count").await, open.len().to_string());
    let first = browser
        .eval("return Object.assign({}, document.querySelector('#phr-warnings li.phr-warning').dataset);")
        .await;
    assert_eq!(first["kind"], "bp_emergency", "{first}");
    assert_eq!(first["motherId"], urgent.id.to_string());
    let first_text = text(&browser, "#phr-warnings li.phr-warning").await;
    assert!(
        first_text.contains(urgent.display_name) && first_text.contains("頭痛"),
        "mother and symptom in Japanese: {first_text}"
    );
    // Same-day readings of the rising mother and the EPDS answers are listed too.
    let kinds = browser
        .eval("return [...document.querySelectorAll('#phr-warnings li.phr-warning')].map(l => l.dataset.kind);")
        .await;
    let kinds: Vec<&str> = kinds.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for k in ["bp_same_day", "epds_positive", "epds_self_harm"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The mothers list: three mothers, the one with the emergency flagged with her warnings.
    assert_eq!(count(&browser, "#phr-mothers tr.mother-row").await, 3);
    let urgent_open = open.iter().filter(|w| w.mother_id == urgent.id).count();
    let row = browser
        .eval(&format!(
            "return Object.assign({{}}, document.querySelector(\"#phr-mothers tr[data-mother-id='{}']\").dataset);",
            urgent.id
        ))
        .await;
    assert_eq!(row["openWarnings"], urgent_open.to_string());
    assert_eq!(row["tier"], "emergency");

    // Acknowledge the emergency: it leaves the open list and shows who and when.
    let id = first["warningId"].as_str().unwrap().to_owned();
    click(&browser, "#phr-warnings li.phr-warning button.ack").await;
    browser
        .wait_script(
            10,
            "the warning acknowledged",
            &format!(
                "return document.querySelector(\"#phr-warnings li[data-warning-id='{id}']\") === null \
                 && document.querySelector(\"#phr-acked li[data-warning-id='{id}'][data-acknowledged='true']\") !== null;"
            ),
        )
        .await;
    let stored = server.core.store.warning(id.parse().unwrap()).await.unwrap().unwrap();
    let by = stored.ack_by.expect("acknowledged in the store");
    let acked = text(&browser, &format!("#phr-acked li[data-warning-id='{id}'] .acked-by")).await;
    assert!(acked.contains(&by), "who acknowledged: {acked} (store: {by})");
    assert_eq!(text(&browser, "#tab-phr-count").await, (open.len() - 1).to_string());

    // The rising mother: chart with one point per reading, tier colours, bands; tables; notes.
    click(&browser, &format!("#phr-mothers tr[data-mother-id='{}']", rising.id)).await;
    browser
        .wait_script(
            10,
            "her record",
            &format!("return document.getElementById('phr-detail').dataset.motherId === '{}' && !document.getElementById('phr-record').hidden;", rising.id),
        )
        .await;
    let readings = server
        .core
        .store
        .records_since(rising.id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind.as_str() == "bp_reading" && !r.deleted)
        .count() as u64;
    assert!(readings >= 20, "two weeks of readings: {readings}");
    assert_eq!(count(&browser, "#phr-bp-chart circle.bp-point.sys").await, readings);
    assert_eq!(count(&browser, "#phr-bp-chart circle.bp-point.dia").await, readings);
    let same_day = open
        .iter()
        .filter(|w| w.mother_id == rising.id && w.kind.as_str() == "bp_same_day")
        .count() as u64;
    assert!(same_day > 0);
    assert_eq!(
        count(&browser, "#phr-bp-chart circle.bp-point.sys[data-tier='same_day']").await,
        same_day,
        "one same-day point per same-day warning"
    );
    assert_eq!(count(&browser, "#phr-bp-chart line.threshold").await, 6, "135/85, 140/90, 160/110");
    assert_eq!(count(&browser, "#phr-checkups tbody tr").await, 2);
    assert_eq!(count(&browser, "#phr-epds tbody tr").await, 1);
    assert_eq!(count(&browser, "#phr-notes li.note").await, 1);
    assert!(text(&browser, "#phr-checkups tbody").await.contains("1+"), "protein in her urine");

    // Dictation: transcript → draft (ai-notes) → edited S/O/A/P → attested, listed as final.
    browser
        .client
        .find(Locator::Id("phr-transcript"))
        .await
        .unwrap()
        .send_keys("昨日から足のむくみが強いとのこと。頭痛はなし。血圧 144/92。尿蛋白 1+。明日受診して採血。")
        .await
        .unwrap();
    click(&browser, "#phr-draft").await;
    browser
        .wait_script(
            20,
            "a SOAP draft",
            "return document.getElementById('phr-compose').dataset.state === 'drafted';",
        )
        .await;
    let drafted = browser
        .eval("return ['subjective','objective','assessment','plan'].map(k => document.getElementById('phr-soap-' + k).value).join('');")
        .await;
    assert!(!drafted.as_str().unwrap().trim().is_empty(), "the draft says something");
    let plan = browser.client.find(Locator::Id("phr-soap-plan")).await.unwrap();
    plan.clear().await.unwrap();
    plan.send_keys("明日外来受診、血液検査 (確認: 助産師 山田)").await.unwrap();
    click(&browser, "#phr-attest").await;
    browser
        .wait_script(
            20,
            "the attested note listed",
            "return document.querySelectorAll('#phr-clinical li.note.clinical').length === 1;",
        )
        .await;
    let listed = text(&browser, "#phr-clinical li.note.clinical").await;
    assert!(listed.contains("明日外来受診、血液検査"), "{listed}");
    let notes = server.core.store.clinical_notes(rising.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].soap.contains("明日外来受診"), "{}", notes[0].soap);
    assert!(listed.contains(&notes[0].author), "author shown: {listed}");

    // The third mother shares BP and check-ups only: her EPDS exists but is not shown.
    click(&browser, &format!("#phr-mothers tr[data-mother-id='{}']", normal.id)).await;
    browser
        .wait_script(
            10,
            "her record",
            &format!(
                "return document.getElementById('phr-detail').dataset.motherId === '{}';",
                normal.id
            ),
        )
        .await;
    assert_eq!(count(&browser, "#phr-epds tbody tr").await, 0);
    assert!(!text(&browser, "#phr-epds-empty").await.is_empty());
    assert_eq!(
        browser.eval("return document.getElementById('phr-epds-empty').hidden;").await,
        Value::Bool(false)
    );
    assert_eq!(
        count(&browser, "#phr-bp-chart circle.bp-point.sys[data-tier='normal']").await,
        count(&browser, "#phr-bp-chart circle.bp-point.sys").await
    );

    // English, then back to the central monitor.
    click(&browser, "#lang").await;
    browser
        .wait_script(
            5,
            "English",
            "return document.getElementById('phr-calls-title').textContent === 'Call today';",
        )
        .await;
    click(&browser, "#tab-monitor").await;
    browser
        .wait_script(
            5,
            "the monitor again",
            "return !document.getElementById('monitor').hidden && document.getElementById('phr').hidden;",
        )
        .await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dictation_recorded_in_the_page_is_transcribed_into_a_draft() {
    let server = start_server().await;
    let rising = &DEMO_MOTHERS[0];
    let browser = Browser::start(1400, 900).await;
    open_mothers_view(&server, &browser).await;
    click(&browser, &format!("#phr-mothers tr[data-mother-id='{}']", rising.id)).await;
    browser
        .wait_script(
            10,
            "her record",
            &format!(
                "return document.getElementById('phr-detail').dataset.motherId === '{}';",
                rising.id
            ),
        )
        .await;

    // Without a speech model the page says so and keeps the typed path.
    click(&browser, "#phr-dictate").await;
    browser
        .wait_script(
            10,
            "recording",
            "return Number(document.getElementById('phr-dictate').dataset.samples) > 8000;",
        )
        .await;
    click(&browser, "#phr-dictate").await;
    browser
        .wait_script(
            20,
            "the no-model message",
            "return document.getElementById('phr-note-msg').textContent.includes('音声認識モデル');",
        )
        .await;

    // With a transcriber (Whisper's trained weights cannot run here: ai-notes' scripted one stands
    // in; the microphone, WAV encoding, upload, decoding and resampling are real).
    let said = "頭痛が昨日からあります。血圧 150/100。明日受診してください。";
    let fake = ai_notes::transcribe::FakeTranscriber::new(vec![said.to_owned()]);
    let speech = monitor_server::phr::speech::Speech::new(Box::new(fake), "scripted");
    server.core.speech.set(Arc::new(speech)).unwrap();
    click(&browser, "#phr-dictate").await;
    browser
        .wait_script(
            10,
            "recording",
            "return Number(document.getElementById('phr-dictate').dataset.samples) > 24000;",
        )
        .await;
    click(&browser, "#phr-dictate").await;
    browser
        .wait_script(
            20,
            "a drafted note",
            "return document.getElementById('phr-compose').dataset.state === 'drafted';",
        )
        .await;
    let transcript = browser.eval("return document.getElementById('phr-transcript').value;").await;
    assert_eq!(transcript.as_str(), Some(said));
    let objective =
        browser.eval("return document.getElementById('phr-soap-objective').value;").await;
    assert!(objective.as_str().unwrap().contains("150/100"), "{objective}");
    let audit = server
        .core
        .store
        .audit(monitor_server::store::AuditQuery { before_id: None, limit: 50 })
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.entry.action == "phr.note.transcribe"
            && e.entry.actor.as_deref() == Some("midwife")),
        "the dictation is audited"
    );
    browser.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_of_no_clinic_sees_the_empty_state() {
    let server = start_server().await;
    let req = NewStaffRequest {
        username: "visiting-ob".into(),
        display_name: "非常勤 医師".into(),
        role: monitor_server::model::Role::Obstetrician,
        password: "visiting-ob-password".into(),
    };
    create_staff_account(&server.core, req).await.unwrap();
    // A clinic of her own, with nobody's consent.
    server
        .core
        .store
        .put_clinic(&monitor_server::store::phr::ClinicRow {
            id: "other-clinic".into(),
            name: "Other".into(),
        })
        .await
        .unwrap();
    server.core.store.add_clinic_member("other-clinic", "visiting-ob").await.unwrap();
    let browser = Browser::start(1200, 800).await;
    browser.client.goto(&server.login_url("visiting-ob").await).await.unwrap();
    browser
        .wait_script(20, "the view tabs", "return !document.getElementById('views').hidden;")
        .await;
    click(&browser, "#tab-phr").await;
    browser
        .wait_script(
            20,
            "lists loaded",
            "return document.getElementById('phr').dataset.loaded === 'true';",
        )
        .await;
    assert_eq!(count(&browser, "#phr-mothers tr.mother-row").await, 0);
    assert_eq!(count(&browser, "#phr-warnings li").await, 0);
    let empty = browser
        .eval("const e = document.getElementById('phr-mothers-empty'); return e.hidden ? '' : e.textContent;")
        .await;
    assert_eq!(empty, "あなたの施設に記録を共有している妊産婦はまだいません");
    browser.close().await;
    server.stop().await;
}

/// Writes docs/monitor/phr-warnings.png and docs/monitor/phr-mother.png (run on demand:
/// `cargo test -p system-tests --test system-tests -- --ignored phr_screenshots`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/monitor/phr-*.png"]
async fn phr_screenshots() {
    let server = start_server().await;
    let browser = Browser::start(1600, 1000).await;
    // The window size includes the browser's frame: grow it so the page itself is 1600×1000.
    let frame = browser.eval("return [outerWidth - innerWidth, outerHeight - innerHeight];").await;
    let (fw, fh) = (frame[0].as_u64().unwrap_or(0) as u32, frame[1].as_u64().unwrap_or(0) as u32);
    browser.client.set_window_size(1600 + fw, 1000 + fh).await.unwrap();
    open_mothers_view(&server, &browser).await;
    // One warning acknowledged, so the list shows both states.
    let same_day = server
        .open_warnings()
        .await
        .into_iter()
        .find(|w| w.kind.as_str() == "bp_same_day")
        .unwrap();
    click(&browser, &format!("#phr-warnings li[data-warning-id='{}'] button.ack", same_day.id))
        .await;
    browser
        .wait_script(
            10,
            "acknowledged",
            &format!(
                "return document.querySelector(\"#phr-acked li[data-warning-id='{}']\") !== null;",
                same_day.id
            ),
        )
        .await;
    browser.eval("document.getElementById('phr-acked-box').open = true; return true;").await;
    let urgent = &DEMO_MOTHERS[1];
    click(&browser, &format!("#phr-mothers tr[data-mother-id='{}']", urgent.id)).await;
    browser
        .wait_script(
            10,
            "her record",
            &format!(
                "return document.getElementById('phr-detail').dataset.motherId === '{}';",
                urgent.id
            ),
        )
        .await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("docs").join("monitor");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("phr-warnings.png"), browser.client.screenshot().await.unwrap())
        .unwrap();
    let rising = &DEMO_MOTHERS[0];
    click(&browser, &format!("#phr-mothers tr[data-mother-id='{}']", rising.id)).await;
    browser
        .wait_script(
            10,
            "her record",
            &format!(
                "return document.getElementById('phr-detail').dataset.motherId === '{}';",
                rising.id
            ),
        )
        .await;
    // An attested note from the day's call, so her record shows one.
    for (field, words) in [
        ("subjective", "朝から足のむくみ。頭痛・視覚症状なし。"),
        ("objective", "家庭血圧 145/94 mmHg、健診時 尿蛋白 1+。"),
        ("assessment", "妊娠高血圧症候群の疑い。"),
        ("plan", "本日外来受診、血液検査と NST。"),
    ] {
        browser
            .client
            .find(Locator::Id(&format!("phr-soap-{field}")))
            .await
            .unwrap()
            .send_keys(words)
            .await
            .unwrap();
    }
    click(&browser, "#phr-attest").await;
    browser
        .wait_script(
            10,
            "attested",
            "return document.querySelectorAll('#phr-clinical li.note').length === 1;",
        )
        .await;
    browser.eval("document.getElementById('phr-detail').scrollTop = 0; return true;").await;
    std::fs::write(dir.join("phr-mother.png"), browser.client.screenshot().await.unwrap()).unwrap();
    browser.close().await;
    server.stop().await;
}
