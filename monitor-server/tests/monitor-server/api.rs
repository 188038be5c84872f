//! The HTTP API: authentication, roles, CSRF, admissions and bindings, history, audit.

use hyper::{Method, StatusCode};
use monitor_server::model::Role;
use serde_json::{Value, json};

use super::common::{Http, PASSWORD, TestGateway, TestServer, block, sim_samples, wait_for};

/// Routes that carry patient data, with a body where they need one.
fn patient_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/beds", None),
        (Method::GET, "/api/v1/admissions", None),
        (
            Method::POST,
            "/api/v1/admissions",
            Some(json!({"patient_id":"P1","name":"n","ga_weeks":38,"ga_days":0,"bed":"1"})),
        ),
        (Method::POST, "/api/v1/admissions/1/discharge", None),
        (Method::PUT, "/api/v1/admissions/1/binding", Some(json!({"stream_id":"s/g/d"}))),
        (Method::DELETE, "/api/v1/admissions/1/binding", None),
        (Method::GET, "/api/v1/admissions/1/history?from_ms=0&to_ms=1000", None),
        (Method::GET, "/api/v1/live", None),
    ]
}

fn assert_error_body(v: &Value, code: &str) {
    assert_eq!(v["error"], code, "{v}");
    let m = v["message"].as_str().unwrap();
    for leak in ["sqlx", "sqlite", "SELECT", "panicked", "src/"] {
        assert!(!m.contains(leak), "error message leaks internals: {m}");
    }
}

#[tokio::test]
async fn unknown_users_get_401_and_wrong_roles_403() {
    let server = TestServer::start(None, |_| {}).await;
    let anonymous = server.http();
    let mut forged = server.http();
    forged.token = Some("0".repeat(64));
    for (m, path, body) in patient_routes().into_iter().chain([
        (Method::GET, "/api/v1/streams", None),
        (Method::GET, "/api/v1/audit", None),
        (Method::GET, "/api/v1/me", None),
    ]) {
        for client in [&anonymous, &forged] {
            let (s, v) = client.call(m.clone(), path, body.clone()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {path}");
            assert_error_body(&v, "unauthorized");
        }
    }
    let admin = server.staff("admin1", Role::Admin).await;
    for (m, path, body) in patient_routes() {
        let (s, v) = admin.call(m.clone(), path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "admin {m} {path}: {v}");
        assert_error_body(&v, "forbidden");
    }
    let midwife = server.staff("midwife1", Role::Midwife).await;
    for (m, path, body) in [
        (Method::GET, "/api/v1/audit", None),
        (Method::GET, "/api/v1/staff", None),
        (
            Method::POST,
            "/api/v1/staff",
            Some(
                json!({"username":"x","display_name":"x","role":"admin","password":"long-enough-pw"}),
            ),
        ),
        (Method::PUT, "/api/v1/beds/9", Some(json!({"display_order": 1}))),
        (Method::POST, "/api/v1/login-codes", Some(json!({"username":"midwife1"}))),
    ] {
        let (s, v) = midwife.call(m.clone(), path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "midwife {m} {path}: {v}");
    }
    // Every refusal is in the audit log, with who (when known) and from where.
    let audit = admin.get_ok("/api/v1/audit?limit=1000").await;
    let denied: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|e| e["outcome"] == "denied").collect();
    assert!(
        denied.iter().any(|e| e["actor"] == "admin1" && e["action"] == "history.read"),
        "{audit}"
    );
    assert!(denied.iter().any(|e| e["actor"] == "midwife1" && e["action"] == "audit.read"));
    assert!(denied.iter().any(|e| e["actor"].is_null() && e["target"].as_str().unwrap().contains("/api/v1/beds")));
    assert!(denied.iter().all(|e| e["remote"].as_str().unwrap().starts_with("127.0.0.1:")));
    server.stop().await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_and_same_origin_for_writes() {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    assert_eq!(
        admin.put("/api/v1/beds/1", json!({"display_order": 1})).await.0,
        StatusCode::NO_CONTENT
    );
    server.staff("sato", Role::Midwife).await;
    let http = server.http();
    let (s, headers, body) = http
        .raw(
            Method::POST,
            "/api/v1/login",
            Some(json!({"username":"sato","password":PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let set_cookie = headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body.get("token").is_none(), "the cookie login does not expose the token to scripts");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let host = format!("{}", server.addr);
    let admit = json!({"patient_id":"P-1","name":"佐藤 花子","ga_weeks":39,"ga_days":1,"bed":"1"});

    let (s, _, _) = http.raw(Method::GET, "/api/v1/me", None, &[("cookie", &cookie)]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = http
        .raw(Method::POST, "/api/v1/admissions", Some(admit.clone()), &[("cookie", &cookie)])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = http
        .raw(
            Method::POST,
            "/api/v1/admissions",
            Some(admit.clone()),
            &[("cookie", &cookie), ("x-csrf-token", "wrong")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = http
        .raw(
            Method::POST,
            "/api/v1/admissions",
            Some(admit.clone()),
            &[("cookie", &cookie), ("x-csrf-token", &csrf), ("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "cross-site request with a valid token");
    let origin = format!("http://{host}");
    let (s, _, b) = http
        .raw(
            Method::POST,
            "/api/v1/admissions",
            Some(admit),
            &[("cookie", &cookie), ("x-csrf-token", &csrf), ("origin", &origin)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));

    // Logout ends the session for good.
    let (s, h, _) = http
        .raw(Method::POST, "/api/v1/logout", None, &[("cookie", &cookie), ("x-csrf-token", &csrf)])
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let (s, _, _) = http.raw(Method::GET, "/api/v1/me", None, &[("cookie", &cookie)]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_lock_the_account_and_login_codes_work_once() {
    let server = TestServer::start(None, |c| c.auth.max_failed_logins = 3).await;
    let admin = server.staff("admin1", Role::Admin).await;
    server.staff("tanaka", Role::Obstetrician).await;
    let http = server.http();
    for _ in 0..3 {
        let (s, v) = http
            .post("/api/v1/login", json!({"username":"tanaka","password":"wrong-password"}))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (s, _) = http.post("/api/v1/login", json!({"username":"tanaka","password":PASSWORD})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    // Unknown users get the same answer as wrong passwords.
    let (s, v) = http.post("/api/v1/login", json!({"username":"nobody","password":PASSWORD})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["message"], "wrong username or password");

    let (s, code) = admin.post("/api/v1/login-codes", json!({"username":"tanaka"})).await;
    assert_eq!(s, StatusCode::OK, "{code}");
    let path = code["path"].as_str().unwrap().to_owned();
    let (s, h, _) = http.raw(Method::GET, &path, None, &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h.get("location").unwrap(), "/");
    let cookie =
        h.get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let (s, _, me) = http.raw(Method::GET, "/api/v1/me", None, &[("cookie", &cookie)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&me).unwrap()["role"], "obstetrician");
    let (s, h, _) = http.raw(Method::GET, &path, None, &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h.get("location").unwrap(), "/#login-code-invalid", "a code works once");
    assert!(h.get("set-cookie").is_none());
    server.stop().await;
}

async fn setup_ward(server: &TestServer) -> (Http, Http) {
    let admin = server.staff("admin1", Role::Admin).await;
    for (i, bed) in ["1", "2"].iter().enumerate() {
        assert_eq!(
            admin.put(&format!("/api/v1/beds/{bed}"), json!({"display_order": i})).await.0,
            StatusCode::NO_CONTENT
        );
    }
    (admin, server.staff("midwife1", Role::Midwife).await)
}

#[tokio::test]
async fn admit_bind_history_discharge_with_patient_stamps_gaps_and_audit() {
    let server = TestServer::start(None, |_| {}).await;
    let (admin, mw) = setup_ward(&server).await;
    let gw = TestGateway::connect(&server.broker_url, "ward", "gw1").await;
    let s = gw.stream("bed-1");
    let samples = sim_samples(200, 21);
    // Samples before the binding belong to nobody.
    gw.publish_block(&s, &block(0, &samples[..40], false)).await;
    wait_for(10, "pre-binding samples stored", || async { gw.ack(&s) == Some(39) }).await;

    let (st, a) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P-0001","name":"高橋 結衣","ga_weeks":38,"ga_days":4,"bed":"1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let id = a["admission"]["admission_id"].as_i64().unwrap();
    let (st, v) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P-0002","name":"x","ga_weeks":38,"ga_days":4,"bed":"1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "bed occupied: {v}");
    let (st, v) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P 2","name":"x","ga_weeks":60,"ga_days":4,"bed":"1"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, b) = mw
        .put(&format!("/api/v1/admissions/{id}/binding"), json!({"stream_id": s.to_string()}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["from_seq"], 40, "the binding starts after everything already received");

    // After the binding: 40..80, a gap of 20, then 100..140.
    gw.publish_block(&s, &block(40, &samples[40..80], false)).await;
    gw.publish_block(&s, &block(100, &samples[100..140], false)).await;
    wait_for(10, "stored", || async {
        mw.stream(&s.to_string()).await.is_some_and(|v| v["stored_samples"] == 120)
    })
    .await;
    let v = mw.stream(&s.to_string()).await.unwrap();
    assert_eq!(v["patient"]["name"], "高橋 結衣");
    assert_eq!(v["patient"]["patient_id"], "P-0001");
    assert_eq!((v["bed"].as_str(), v["bed_source"].as_str()), (Some("1"), Some("admission")));
    assert_eq!(v["missing_samples"], 20);

    let t0 = super::common::T0;
    let h = mw
        .get_ok(&format!("/api/v1/admissions/{id}/history?from_ms={}&to_ms={}", t0, t0 + 3_600_000))
        .await;
    assert_eq!(h["patient"]["name"], "高橋 結衣");
    assert_eq!(h["bed"], "1");
    let seg = &h["segments"][0];
    let seqs: Vec<u64> =
        seg["samples"]["seq"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (40..80).chain(100..140).collect::<Vec<_>>(),
        "history keeps the gap and excludes pre-binding data"
    );
    assert_eq!(
        seg["samples"]["fhr1"][0].as_f64().map(|x| x as f32),
        samples[40].fhr1.map(|b| b.as_f32())
    );
    let (st, _) = mw.get(&format!("/api/v1/admissions/{id}/history?from_ms=10&to_ms=5")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) =
        mw.get(&format!("/api/v1/admissions/{id}/history?from_ms=0&to_ms={}", 3 * 3_600_000)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "more than 2 hours at once");

    let (st, v) = mw.post(&format!("/api/v1/admissions/{id}/discharge"), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let v = mw.stream(&s.to_string()).await.unwrap();
    assert!(v["patient"].is_null(), "after discharge the stream is unassigned: {v}");
    let un = mw.get_ok("/api/v1/streams/unassigned").await;
    assert_eq!(un[0]["stream_id"], s.to_string());
    assert!(un[0]["patient"].is_null());

    let audit = admin.get_ok("/api/v1/audit?limit=1000").await;
    let has = |action: &str, target: &str| {
        audit.as_array().unwrap().iter().any(|e| {
            e["action"] == action
                && e["target"] == target
                && e["actor"] == "midwife1"
                && e["outcome"] == "ok"
        })
    };
    for action in ["patient.admit", "stream.bind", "history.read", "patient.discharge"] {
        assert!(has(action, "patient:P-0001"), "no audit entry for {action}: {audit}");
    }
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "patient.admit" && e["outcome"] == "failed")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stream_feeds_one_patient_and_a_patient_one_stream() {
    let server = TestServer::start(None, |_| {}).await;
    let (_admin, mw) = setup_ward(&server).await;
    let mut ids = Vec::new();
    for (pid, bed) in [("P-1", "1"), ("P-2", "2")] {
        let (_, a) = mw
            .post(
                "/api/v1/admissions",
                json!({"patient_id":pid,"name":pid,"ga_weeks":37,"ga_days":0,"bed":bed}),
            )
            .await;
        ids.push(a["admission"]["admission_id"].as_i64().unwrap());
    }
    let bind = |id: i64, stream: &'static str| {
        let mw = mw.clone();
        async move {
            mw.put(&format!("/api/v1/admissions/{id}/binding"), json!({"stream_id": stream})).await
        }
    };
    assert_eq!(bind(ids[0], "w/g/a").await.0, StatusCode::OK);
    assert_eq!(bind(ids[1], "w/g/a").await.0, StatusCode::CONFLICT);
    assert_eq!(bind(ids[0], "w/g/b").await.0, StatusCode::CONFLICT);
    assert_eq!(bind(ids[1], "not a stream").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(bind(999, "w/g/c").await.0, StatusCode::NOT_FOUND);
    let (st, _) =
        mw.call(Method::DELETE, &format!("/api/v1/admissions/{}/binding", ids[0]), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(bind(ids[1], "w/g/a").await.0, StatusCode::OK);
    let beds = mw.get_ok("/api/v1/beds").await;
    let bed2 = beds.as_array().unwrap().iter().find(|b| b["bed"] == "2").unwrap();
    assert_eq!(bed2["patient"]["patient_id"], "P-2");
    assert_eq!(bed2["stream"], "w/g/a");
    let bed1 = beds.as_array().unwrap().iter().find(|b| b["bed"] == "1").unwrap();
    assert!(bed1["stream"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let server = TestServer::start(None, |_| {}).await;
    let (_admin, mw) = setup_ward(&server).await;
    let (s, _, b) = mw
        .raw(Method::POST, "/api/v1/admissions", None, &[("content-type", "application/json")])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&b));
    let (s, v) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P","name":"","ga_weeks":38,"ga_days":0,"bed":"1"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("name"), "{v}");
    let (s, v) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P","name":"n","ga_weeks":38,"ga_days":0,"bed":"9"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = mw
        .post(
            "/api/v1/admissions",
            json!({"patient_id":"P","name":"n","ga_weeks":38,"ga_days":0,"bed":"1","extra":1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = mw.get("/api/v1/nothing-here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_body(&v, "not_found");
    let (s, v) = mw.get("/api/v1/admissions/abc/history?from_ms=0&to_ms=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let page = server.http().raw(Method::GET, "/", None, &[]).await;
    assert_eq!(page.0, StatusCode::OK);
    let csp = page.1.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'self'"));
    assert!(String::from_utf8_lossy(&page.2).contains("app.js"));
    server.stop().await;
}
