//! The PHR API end to end over HTTP: mother accounts and tokens, idempotent upload, incremental
//! download, consent, the clinicians' view, warnings, notes, FHIR reads, authorisation for every
//! route and role, and bad input.

use hyper::{Method, StatusCode};
use monitor_server::model::Role;
use serde_json::{Value, json};

use super::common::{Http, TestServer};

const MOTHER_PASSWORD: &str = "mother-password-1";

struct Phr {
    server: TestServer,
    admin: Http,
    /// Member of clinic `a`.
    midwife_a: Http,
    /// Member of clinic `b`.
    midwife_b: Http,
    /// In no clinic.
    loner: Http,
}

async fn setup() -> Phr {
    let server = TestServer::start(None, |_| {}).await;
    let admin = server.staff("admin1", Role::Admin).await;
    let midwife_a = server.staff("midwife-a", Role::Midwife).await;
    let midwife_b = server.staff("midwife-b", Role::Obstetrician).await;
    let loner = server.staff("loner", Role::Midwife).await;
    for (id, name) in [("clinic-a", "Clinic A"), ("clinic-b", "Clinic B")] {
        let (s, v) = admin.put(&format!("/api/v1/clinics/{id}"), json!({"name": name})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for (c, u) in [("clinic-a", "midwife-a"), ("clinic-b", "midwife-b")] {
        let (s, v) =
            admin.call(Method::PUT, &format!("/api/v1/clinics/{c}/members/{u}"), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
    Phr { server, admin, midwife_a, midwife_b, loner }
}

/// Registers a mother with a fresh invitation of clinic A; returns her client and tokens.
async fn mother(p: &Phr, login: &str) -> (Http, Value) {
    let (s, inv) = p.midwife_a.post("/api/v1/phr/invitations", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{inv}");
    assert_eq!(inv["clinic_id"], "clinic-a");
    let (s, tokens) = p
        .server
        .http()
        .post(
            "/phr/v1/register",
            json!({"invitation_code": inv["code"].as_str().unwrap().to_lowercase(), "login": login,
                   "password": MOTHER_PASSWORD, "display_name": format!("{login} さん"), "device_name": "test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tokens}");
    let mut h = p.server.http();
    h.token = Some(tokens["access_token"].as_str().unwrap().to_owned());
    (h, tokens)
}

fn reading(id: u128, updated: &str, sys: f64, dia: f64) -> Value {
    json!({
        "id": uuid(id), "kind": "bp_reading", "updated_at": updated,
        "data": {"measured_at": "2026-11-20T07:30:00+09:00", "systolic": sys, "diastolic": dia,
                 "pulse": 76, "session": "morning"}
    })
}

fn uuid(n: u128) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}

async fn upload(m: &Http, items: Vec<Value>) -> (StatusCode, Value) {
    m.post("/phr/v1/records", json!({ "items": items })).await
}

fn outcomes(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

async fn grant(m: &Http, clinic: &str, scope: Value) {
    let (s, v) = m.put(&format!("/phr/v1/consents/{clinic}"), json!({ "scope": scope })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn resending_a_batch_stores_nothing_twice_and_download_is_incremental() {
    let p = setup().await;
    let (m, tokens) = mother(&p, "hanako@example.jp").await;
    let batch = vec![
        reading(1, "2026-11-20T07:31:00+09:00", 118.0, 76.0),
        reading(2, "2026-11-20T19:31:00+09:00", 142.0, 92.0),
        reading(3, "2026-11-21T07:31:00+09:00", 121.0, 79.0),
    ];
    let (s, v) = upload(&m, batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(outcomes(&v), ["stored", "stored", "stored"]);
    let (s, v) = upload(&m, batch.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(outcomes(&v), ["unchanged", "unchanged", "unchanged"]);

    let page = m.get_ok("/phr/v1/records?after=0&limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["more"], true);
    let rest = m.get_ok(&format!("/phr/v1/records?after={}", page["next_cursor"])).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["more"], false);
    let cursor = rest["next_cursor"].as_i64().unwrap();
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|i| i["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(m.get_ok(&format!("/phr/v1/records?after={cursor}")).await["items"], json!([]));

    // An edit (later) wins; an older edit is superseded; a deletion travels as a tombstone.
    let (_, v) = upload(&m, vec![reading(1, "2026-11-21T08:00:00+09:00", 119.0, 77.0)]).await;
    assert_eq!(outcomes(&v), ["stored"]);
    let (_, v) = upload(&m, vec![reading(1, "2026-11-20T08:00:00+09:00", 200.0, 100.0)]).await;
    assert_eq!(outcomes(&v), ["superseded"]);
    let del = json!({"id": uuid(3), "kind": "bp_reading", "updated_at": "2026-11-21T09:00:00+09:00", "deleted": true});
    let (_, v) = upload(&m, vec![del]).await;
    assert_eq!(outcomes(&v), ["stored"]);
    let news = m.get_ok(&format!("/phr/v1/records?after={cursor}")).await;
    let items = news["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{news}");
    assert_eq!(items[0]["id"], uuid(1));
    assert_eq!(items[0]["data"]["systolic"], 119.0);
    assert_eq!(items[1]["deleted"], true);
    assert_eq!(items[1]["data"], Value::Null);

    // A second device logs in and gets everything from the start.
    let (s, t2) = p
        .server
        .http()
        .post("/phr/v1/login", json!({"login": "HANAKO@example.jp", "password": MOTHER_PASSWORD}))
        .await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    assert_eq!(t2["mother_id"], tokens["mother_id"]);
    let mut second = p.server.http();
    second.token = Some(t2["access_token"].as_str().unwrap().to_owned());
    let all = second.get_ok("/phr/v1/records").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn another_mother_reusing_an_id_never_touches_hers() {
    let p = setup().await;
    let (m1, _) = mother(&p, "one@example.jp").await;
    let (m2, _) = mother(&p, "two@example.jp").await;
    upload(&m1, vec![reading(7, "2026-11-20T07:31:00+09:00", 118.0, 76.0)]).await;
    let (_, v) = upload(&m2, vec![reading(7, "2026-11-21T07:31:00+09:00", 150.0, 95.0)]).await;
    assert_eq!(outcomes(&v), ["stored"]);
    let mine = m1.get_ok("/phr/v1/records").await;
    assert_eq!(mine["items"][0]["data"]["systolic"], 118.0);
    let theirs = m2.get_ok("/phr/v1/records").await;
    assert_eq!(theirs["items"][0]["data"]["systolic"], 150.0);
}

/// Every PHR route, with a body where it needs one; `{m}` is a mother id, `{w}` a warning id.
fn staff_routes(m: &str, w: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/phr/mothers".into(), None),
        (Method::GET, format!("/api/v1/phr/mothers/{m}"), None),
        (Method::GET, "/api/v1/phr/warnings".into(), None),
        (Method::POST, format!("/api/v1/phr/warnings/{w}/acknowledge"), None),
        (Method::POST, "/api/v1/phr/invitations".into(), Some(json!({}))),
        (
            Method::POST,
            format!("/api/v1/phr/mothers/{m}/notes/draft"),
            Some(json!({"transcript": "頭痛があります", "lang": "ja"})),
        ),
        (
            Method::POST,
            format!("/api/v1/phr/mothers/{m}/notes"),
            Some(
                json!({"lang": "ja", "soap": {"subjective": "頭痛", "objective": "", "assessment": "", "plan": ""}}),
            ),
        ),
    ]
}

fn mother_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::POST, "/phr/v1/logout", None),
        (Method::GET, "/phr/v1/me", None),
        (Method::GET, "/phr/v1/clinics", None),
        (Method::GET, "/phr/v1/consents", None),
        (Method::PUT, "/phr/v1/consents/clinic-a", Some(json!({"scope": ["blood_pressure"]}))),
        (Method::DELETE, "/phr/v1/consents/clinic-a", None),
        (Method::POST, "/phr/v1/records", Some(json!({"items": []}))),
        (Method::GET, "/phr/v1/records", None),
    ]
}

fn fhir_routes(m: &str) -> Vec<String> {
    vec![
        format!("/fhir/r4/Patient/{m}"),
        format!("/fhir/r4/Observation?patient={m}"),
        format!("/fhir/r4/Composition?patient={m}"),
        format!("/fhir/r4/Consent?patient=Patient/{m}"),
    ]
}

#[tokio::test]
async fn every_phr_route_checks_who_is_asking() {
    let p = setup().await;
    let (m1, t1) = mother(&p, "one@example.jp").await;
    let (m2, _) = mother(&p, "two@example.jp").await;
    let id1 = t1["mother_id"].as_str().unwrap().to_owned();
    upload(&m1, vec![reading(1, "2026-11-20T19:31:00+09:00", 150.0, 95.0)]).await;
    let w = p
        .server
        .core
        .store
        .warnings(&monitor_server::store::phr::WarningQuery {
            mothers: vec![id1.parse().unwrap()],
            open_only: true,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(w.len(), 1, "a same-day reading raises one warning");
    let wid = w[0].id;

    // Nobody unauthenticated sees anything; a forged token is no better.
    let anonymous = p.server.http();
    let mut forged = p.server.http();
    forged.token = Some("f".repeat(64));
    for client in [&anonymous, &forged] {
        for (method, path, body) in staff_routes(&id1, wid) {
            let (s, v) = client.call(method.clone(), &path, body).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {v}");
        }
        for (method, path, body) in mother_routes() {
            let (s, v) = client.call(method.clone(), path, body).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {v}");
        }
        for path in fhir_routes(&id1) {
            let (s, v) = client.get(&path).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}: {v}");
            assert_eq!(v["resourceType"], "OperationOutcome");
        }
    }
    // A mother's token is not a staff session.
    for (method, path, body) in staff_routes(&id1, wid) {
        let (s, _) = m1.call(method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "mother on {method} {path}");
    }
    // A mother reads only her own FHIR resources.
    for path in fhir_routes(&id1) {
        assert_eq!(m1.get(&path).await.0, StatusCode::OK, "{path}");
        assert_eq!(m2.get(&path).await.0, StatusCode::FORBIDDEN, "other mother on {path}");
    }
    // Before consent no clinic sees her; the clinic list is empty.
    assert_eq!(p.midwife_a.get_ok("/api/v1/phr/mothers").await, json!([]));
    assert_eq!(p.midwife_a.get_ok("/api/v1/phr/warnings").await, json!([]));
    for client in [&p.midwife_a, &p.midwife_b] {
        for (method, path, body) in staff_routes(&id1, wid)
            .into_iter()
            .filter(|(_, p, _)| p.contains(&id1) || p.contains("warnings/"))
        {
            let (s, v) = client.call(method.clone(), &path, body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} before consent: {v}");
        }
        for path in fhir_routes(&id1) {
            assert_eq!(client.get(&path).await.0, StatusCode::FORBIDDEN, "{path} before consent");
        }
    }
    grant(&m1, "clinic-a", json!(["blood_pressure", "checkups", "epds", "notes"])).await;
    // Clinic A now sees her (every route); clinic B, an administrator, and staff in no clinic do not.
    for (method, path, body) in staff_routes(&id1, wid) {
        let (s, v) = p.midwife_a.call(method.clone(), &path, body.clone()).await;
        assert!(s.is_success(), "clinic A {method} {path}: {s} {v}");
        let (s, _) = p.midwife_b.call(method.clone(), &path, body.clone()).await;
        let listing = path.ends_with("/mothers")
            || path.ends_with("/warnings")
            || path.ends_with("/invitations");
        if listing {
            assert!(s.is_success(), "clinic B {method} {path} lists its own (empty) view");
        } else {
            assert_eq!(s, StatusCode::FORBIDDEN, "clinic B {method} {path}");
        }
        let (s, _) = p.admin.call(method.clone(), &path, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "admin {method} {path}");
        let (s, _) = p.loner.call(method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "no clinic {method} {path}");
    }
    assert_eq!(p.midwife_b.get_ok("/api/v1/phr/mothers").await, json!([]));
    for path in fhir_routes(&id1) {
        assert_eq!(p.midwife_a.get(&path).await.0, StatusCode::OK, "{path}");
        assert_eq!(p.midwife_b.get(&path).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(p.admin.get(&path).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    // Mother two never consented: clinic A cannot reach her.
    let id2 = m2.get_ok("/phr/v1/me").await["mother_id"].as_str().unwrap().to_owned();
    assert_eq!(
        p.midwife_a.get(&format!("/api/v1/phr/mothers/{id2}")).await.0,
        StatusCode::FORBIDDEN
    );
    // Clinic administration is for administrators only.
    for client in [&p.midwife_a, &m1] {
        let (s, _) = client.put("/api/v1/clinics/x", json!({"name": "X"})).await;
        assert!(s == StatusCode::FORBIDDEN || s == StatusCode::UNAUTHORIZED, "{s}");
    }
}

#[tokio::test]
async fn revoking_consent_stops_the_clinic_at_once_and_the_attempt_is_audited() {
    let p = setup().await;
    let (m, t) = mother(&p, "hanako@example.jp").await;
    let id = t["mother_id"].as_str().unwrap().to_owned();
    upload(&m, vec![reading(1, "2026-11-20T07:31:00+09:00", 118.0, 76.0)]).await;
    grant(&m, "clinic-a", json!(["blood_pressure"])).await;
    let rec = p.midwife_a.get_ok(&format!("/api/v1/phr/mothers/{id}")).await;
    assert_eq!(rec["readings"].as_array().unwrap().len(), 1);
    assert_eq!(rec["readings"][0]["tier"], "normal");

    let (s, v) = m.call(Method::DELETE, "/phr/v1/consents/clinic-a", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["revoked_at"].is_string());
    let (s, v) = p.midwife_a.get(&format!("/api/v1/phr/mothers/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "no_consent");
    assert_eq!(p.midwife_a.get_ok("/api/v1/phr/mothers").await, json!([]));

    let audit = p.admin.get_ok("/api/v1/audit?limit=50").await;
    let entries = audit.as_array().unwrap();
    let denied = entries.iter().find(|e| {
        e["actor"] == "midwife-a"
            && e["target"] == format!("mother/{id}")
            && e["outcome"] == "denied"
    });
    assert!(denied.is_some(), "the refused read is in the audit log: {audit}");
    let revoke =
        entries.iter().find(|e| e["action"] == "phr.consent.revoke" && e["outcome"] == "ok");
    assert_eq!(revoke.unwrap()["actor"], "mother:hanako@example.jp");
    // The history keeps the revoked consent.
    let history = m.get_ok("/phr/v1/consents").await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert!(history[0]["revoked_at"].is_string());
}

#[tokio::test]
async fn a_narrow_consent_shows_only_its_scope() {
    let p = setup().await;
    let (m, t) = mother(&p, "hanako@example.jp").await;
    let id = t["mother_id"].as_str().unwrap().to_owned();
    let epds = json!({"id": uuid(9), "kind": "epds", "updated_at": "2026-11-20T10:00:00+09:00",
                      "data": {"taken_at": "2026-11-20T10:00:00+09:00", "answers": [2,2,1,2,1,1,1,1,1,1]}});
    upload(&m, vec![reading(1, "2026-11-20T07:31:00+09:00", 165.0, 100.0), epds]).await;
    grant(&m, "clinic-a", json!(["blood_pressure"])).await;
    let rec = p.midwife_a.get_ok(&format!("/api/v1/phr/mothers/{id}")).await;
    assert_eq!(rec["readings"].as_array().unwrap().len(), 1);
    assert_eq!(rec["epds"], json!([]));
    let kinds: Vec<&str> =
        rec["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["bp_emergency"]);
    grant(&m, "clinic-a", json!(["blood_pressure", "epds"])).await;
    let rec = p.midwife_a.get_ok(&format!("/api/v1/phr/mothers/{id}")).await;
    // Items 1, 2, 4 score as chosen (6); the seven reverse-scored items score 3 − 1 each (14).
    assert_eq!(rec["epds"][0]["total"], 20);
    assert_eq!(rec["epds"][0]["self_harm"], true);
    assert_eq!(rec["warnings"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn warnings_are_listed_once_and_acknowledged_with_who_and_when() {
    let p = setup().await;
    let (m, t) = mother(&p, "hanako@example.jp").await;
    let id = t["mother_id"].as_str().unwrap().to_owned();
    grant(&m, "clinic-a", json!(["blood_pressure", "epds"])).await;
    let batch = vec![
        reading(1, "2026-11-20T07:31:00+09:00", 118.0, 76.0),
        reading(2, "2026-11-20T19:31:00+09:00", 144.0, 88.0),
    ];
    upload(&m, batch.clone()).await;
    upload(&m, batch).await;
    // Editing the reading keeps one warning per (record, kind).
    upload(&m, vec![reading(2, "2026-11-20T19:40:00+09:00", 146.0, 88.0)]).await;
    let list = p.midwife_a.get_ok("/api/v1/phr/warnings").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "bp_same_day");
    assert_eq!(list[0]["mother_id"], id);
    assert_eq!(list[0]["display_name"], "hanako@example.jp さん");
    let summary = p.midwife_a.get_ok("/api/v1/phr/mothers").await;
    assert_eq!(summary[0]["open_warnings"], 1);
    assert_eq!(summary[0]["latest_bp"]["tier"], "same_day");

    let wid = list[0]["id"].as_i64().unwrap();
    let (s, v) = p
        .midwife_a
        .call(Method::POST, &format!("/api/v1/phr/warnings/{wid}/acknowledge"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["acknowledged_by"], "midwife-a");
    assert!(v["acknowledged_at"].is_string());
    let (s, _) = p
        .midwife_a
        .call(Method::POST, &format!("/api/v1/phr/warnings/{wid}/acknowledge"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p.midwife_a.get_ok("/api/v1/phr/warnings").await, json!([]));
    let all = p.midwife_a.get_ok("/api/v1/phr/warnings?open=false").await;
    assert_eq!(all[0]["acknowledged_by"], "midwife-a");
    let (s, _) =
        p.midwife_a.call(Method::POST, "/api/v1/phr/warnings/999999/acknowledge", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_refused_clearly_counted_and_changes_nothing() {
    let p = setup().await;
    let (m, tokens) = mother(&p, "hanako@example.jp").await;
    upload(&m, vec![reading(1, "2026-11-20T07:31:00+09:00", 118.0, 76.0)]).await;
    let before = m.get_ok("/phr/v1/records").await;

    // Malformed JSON.
    let (s, _, b) =
        m.raw(Method::POST, "/phr/v1/records", None, &[("content-type", "application/json")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&b));
    let (s, v) = m.post("/phr/v1/records", json!({"items": [{"id": "not-a-uuid"}]})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "bad_request");
    // Impossible values: the whole batch is refused, naming the item and field.
    let (s, v) = upload(
        &m,
        vec![
            reading(1, "2026-11-22T07:31:00+09:00", 90.0, 60.0),
            reading(2, "2026-11-20T07:31:00+09:00", 420.0, 76.0),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("items[1].data.systolic"), "{v}");
    let (s, v) = upload(
        &m,
        vec![json!({"id": uuid(5), "kind": "epds", "updated_at": "2026-11-20T10:00:00+09:00",
        "data": {"taken_at": "2026-11-20T10:00:00+09:00", "answers": [0,0,0,0,0,0,0,0,0,7]}})],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Oversized payload.
    let big: Vec<Value> =
        (0..600).map(|i| reading(100 + i, "2026-11-20T07:31:00+09:00", 118.0, 76.0)).collect();
    let (s, v) = upload(&m, big).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::PAYLOAD_TOO_LARGE, "{s} {v}");
    let huge = json!({"items": [{"id": uuid(6), "kind": "note", "updated_at": "2026-11-20T10:00:00+09:00",
        "data": {"written_at": "2026-11-20T10:00:00+09:00", "lang": "ja", "text": "あ".repeat(400_000)}}]});
    let (s, v) = m.post("/phr/v1/records", huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"], "too_large");
    // Stored data is untouched.
    assert_eq!(m.get_ok("/phr/v1/records").await, before);

    // A replayed refresh token ends the login: the new pair stops working too.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (s, fresh) = p.server.http().post("/phr/v1/token", json!({"refresh_token": refresh})).await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    let (s, v) = p.server.http().post("/phr/v1/token", json!({"refresh_token": refresh})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "token_replayed");
    let mut after = p.server.http();
    after.token = Some(fresh["access_token"].as_str().unwrap().to_owned());
    assert_eq!(after.get("/phr/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        m.get("/phr/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the first access token is revoked too"
    );
    // A refresh token is not an access token.
    let mut wrong = p.server.http();
    wrong.token = Some(fresh["refresh_token"].as_str().unwrap().to_owned());
    assert_eq!(wrong.get("/phr/v1/me").await.0, StatusCode::UNAUTHORIZED);

    // Registration: a used invitation, bad fields, a taken login.
    let (s, inv) = p.midwife_a.post("/api/v1/phr/invitations", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let reg = |login: &str, pw: &str| json!({"invitation_code": inv["code"], "login": login, "password": pw, "display_name": "X"});
    let (s, v) =
        p.server.http().post("/phr/v1/register", reg("hanako@example.jp", MOTHER_PASSWORD)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = p.server.http().post("/phr/v1/register", reg("other@example.jp", "short")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) =
        p.server.http().post("/phr/v1/register", reg("other@example.jp", MOTHER_PASSWORD)).await;
    assert_eq!(s, StatusCode::CREATED, "the invitation survived the refused attempts");
    let (s, v) =
        p.server.http().post("/phr/v1/register", reg("third@example.jp", MOTHER_PASSWORD)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an invitation is used once: {v}");
    let (s, _) = p
        .server
        .http()
        .post("/phr/v1/login", json!({"login": "hanako@example.jp", "password": "wrong-password"}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let counts = p.admin.get_ok("/api/v1/ingest").await;
    let phr = &counts["phr"];
    assert!(phr["malformed_json"].as_u64().unwrap() >= 2, "{phr}");
    assert!(phr["invalid_values"].as_u64().unwrap() >= 3, "{phr}");
    assert!(phr["too_large"].as_u64().unwrap() >= 1, "{phr}");
    assert_eq!(phr["replayed_tokens"], 1);
}

#[tokio::test]
async fn fhir_reads_have_r4_shapes_and_attested_notes_are_final() {
    let p = setup().await;
    let (m, t) = mother(&p, "hanako@example.jp").await;
    let id = t["mother_id"].as_str().unwrap().to_owned();
    upload(&m, vec![reading(1, "2026-11-20T07:31:00+09:00", 142.0, 92.0)]).await;
    grant(&m, "clinic-a", json!(["blood_pressure", "notes"])).await;

    let (s, h, body) = p
        .midwife_a
        .raw(Method::GET, &format!("/fhir/r4/Observation?patient={id}"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("application/fhir+json"));
    let bundle: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 1);
    let obs = &bundle["entry"][0]["resource"];
    assert_eq!(obs["resourceType"], "Observation");
    assert_eq!(obs["code"]["coding"][0]["code"], "85354-9");
    assert_eq!(obs["subject"]["reference"], format!("Patient/{id}"));
    let comps = obs["component"].as_array().unwrap();
    let sys = comps.iter().find(|c| c["code"]["coding"][0]["code"] == "8480-6").unwrap();
    assert_eq!(sys["valueQuantity"]["value"], 142.0);
    assert_eq!(sys["valueQuantity"]["code"], "mm[Hg]");
    assert!(comps.iter().any(|c| c["code"]["coding"][0]["code"] == "8462-4"));

    let patient = p.midwife_a.get_ok(&format!("/fhir/r4/Patient/{id}")).await;
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["id"], id);
    // The login (an e-mail address) is an account detail, not shared: no telecom, and the only
    // identifier is the record id.
    assert!(patient.get("telecom").is_none(), "{patient}");
    assert_eq!(patient["identifier"].as_array().unwrap().len(), 1);
    assert_eq!(patient["identifier"][0]["value"], id);
    let consents = p.midwife_a.get_ok(&format!("/fhir/r4/Consent?patient={id}")).await;
    assert_eq!(consents["entry"][0]["resource"]["status"], "active");

    // Dictation → draft → attested, final Composition.
    let (s, draft) = p.midwife_a.post(&format!("/api/v1/phr/mothers/{id}/notes/draft"),
        json!({"transcript": "Headache since this morning. Blood pressure 142/92. Recheck tomorrow.", "lang": "en"})).await;
    assert_eq!(s, StatusCode::OK, "{draft}");
    let soap = &draft["soap"];
    assert!(soap["subjective"].as_str().unwrap().to_lowercase().contains("headache"), "{draft}");
    let (s, note) = p.midwife_a.post(&format!("/api/v1/phr/mothers/{id}/notes"),
        json!({"lang": "en", "transcript": "Headache since this morning.", "soap": soap, "ai_drafted": true})).await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
    assert_eq!(note["author"], "midwife-a");
    let comps = m.get_ok(&format!("/fhir/r4/Composition?patient={id}")).await;
    let c = &comps["entry"][0]["resource"];
    assert_eq!(c["status"], "final");
    assert_eq!(c["type"]["coding"][0]["code"], "11506-3");
    assert_eq!(c["attester"][0]["mode"], "legal");
    let rec = p.midwife_a.get_ok(&format!("/api/v1/phr/mothers/{id}")).await;
    assert_eq!(rec["clinical_notes"].as_array().unwrap().len(), 1);
    // Unknown FHIR types answer an OperationOutcome.
    let (s, v) = p.midwife_a.get("/fhir/r4/MedicationRequest").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["resourceType"], "OperationOutcome");
}

/// A 16-bit mono PCM WAV of `secs` seconds of a quiet tone at `rate` Hz.
fn wav(rate: u32, secs: f32) -> Vec<u8> {
    let n = (rate as f32 * secs) as u32;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let v = ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 3000.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

async fn post_wav(h: &Http, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (s, _, b) = h.raw_bytes(Method::POST, path, body, "audio/wav").await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn dictations_are_transcribed_on_the_server_when_it_has_a_model() {
    let p = setup().await;
    let (m, t) = mother(&p, "hanako@example.jp").await;
    let id = t["mother_id"].as_str().unwrap().to_owned();
    grant(&m, "clinic-a", json!(["notes"])).await;
    let clinic_path = format!("/api/v1/phr/mothers/{id}/notes/transcribe?lang=en");

    // No model configured: a clear 503, for her and for the clinic.
    let (s, v) = post_wav(&m, "/phr/v1/notes/transcribe?lang=ja", wav(16_000, 2.0)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"], "no_speech_model");

    // Whisper's trained weights cannot run here: ai-notes' scripted transcriber stands in for
    // the model; the audio path (WAV decoding, resampling, chunking) is the real one.
    let script =
        vec!["Headache since this morning. Blood pressure 150/100. Recheck tomorrow.".to_owned()];
    let fake = ai_notes::transcribe::FakeTranscriber::new(script);
    p.server
        .core
        .speech
        .set(std::sync::Arc::new(monitor_server::phr::speech::Speech::new(
            Box::new(fake),
            "scripted",
        )))
        .unwrap();

    let (s, d) = post_wav(&p.midwife_a, &clinic_path, wav(44_100, 3.0)).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert!(d["transcript"].as_str().unwrap().starts_with("Headache"), "{d}");
    assert!(d["soap"]["subjective"].as_str().unwrap().to_lowercase().contains("headache"), "{d}");
    assert!(d["soap"]["objective"].as_str().unwrap().contains("150/100"), "{d}");
    assert_eq!(d["model"], "scripted");

    // Her own dictation: the script has run out, so the transcript is empty but the call works.
    let (s, d) = post_wav(&m, "/phr/v1/notes/transcribe?lang=ja", wav(16_000, 1.0)).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    // Bad input: not a WAV, no language, too long, too large; a clinic without consent; nobody.
    let (s, v) =
        post_wav(&m, "/phr/v1/notes/transcribe?lang=ja", b"not a wav file at all".to_vec()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("WAV"), "{v}");
    let (s, _) = post_wav(&m, "/phr/v1/notes/transcribe", wav(16_000, 1.0)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = post_wav(&m, "/phr/v1/notes/transcribe?lang=ja", wav(8_000, 400.0)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("at most 300 s"), "{v}");
    let (s, v) = post_wav(&m, "/phr/v1/notes/transcribe?lang=ja", vec![0; 17 * 1024 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (s, _) = post_wav(&p.midwife_b, &clinic_path, wav(16_000, 1.0)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) =
        post_wav(&p.server.http(), "/phr/v1/notes/transcribe?lang=ja", wav(16_000, 1.0)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
