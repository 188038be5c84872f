//! The committed OpenAPI document (`monitor-server/openapi.json`, served at `/api/openapi.json`):
//! it is well formed (every `$ref` resolves, every operation has responses, path parameters match
//! their templates), its request and response schemas match the `phr-wire` types field by field
//! (real values of those types, serialised, are checked against the schema of the operation that
//! carries them, with exactly the schema's properties), and every route it names exists in the
//! server's router.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, NaiveDate};
use hyper::{Method, StatusCode};
use monitor_server::model::Role;
use phr_wire::auth::{LoginRequest, MotherAccount, RefreshRequest, RegisterRequest, Tokens};
use phr_wire::clinic::{
    AttestRequest, BpRow, CheckupRow, ClinicalNoteRow, DraftRequest, EpdsRow, Invitation,
    MotherRecord, MotherSummary, NoteRow, Warning,
};
use phr_wire::consent::{Clinic, Consent, ConsentGrant, Scope};
use phr_wire::records::{
    Arm, BpReading, BpSource, Checkup, DownloadItem, DownloadResponse, Epds, ItemOutcome,
    ItemResult, Note, NoteOrigin, RecordKind, Session, SoapText, Symptom, UploadItem,
    UploadRequest, UploadResponse,
};
use phr_wire::rules::{Tier, WarningKind};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::common::TestServer;

const DOC: &str = include_str!("../../openapi.json");
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// Every operation: (path, method, operation object).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn openapi_document_is_well_formed() {
    let doc = doc();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "the document uses shared schemas ({} refs)", refs.len());
    let dangling: Vec<&String> = refs.iter().filter(|r| resolve(&doc, r).is_none()).collect();
    assert!(dangling.is_empty(), "$refs that resolve to nothing: {dangling:?}");

    // Schemas: every required property is defined.
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        if let (Some(req), Some(props)) = (s["required"].as_array(), s["properties"].as_object()) {
            for r in req {
                assert!(props.contains_key(r.as_str().unwrap()), "{name}: required {r} undefined");
            }
        }
    }

    let schemes: BTreeSet<&String> =
        doc["components"]["securitySchemes"].as_object().unwrap().keys().collect();
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "{} operations", ops.len());
    let mut ids = BTreeSet::new();
    for (path, method, op) in &ops {
        let what = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(ids.insert(id.to_owned()), "{what}: operationId {id} used twice");
        let responses =
            op["responses"].as_object().unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(!responses.is_empty(), "{what}: no responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{what}: no success response in {:?}",
            responses.keys()
        );
        for (status, r) in responses {
            let r = match r.get("$ref").and_then(Value::as_str) {
                Some(x) => resolve(&doc, x).unwrap(),
                None => r,
            };
            assert!(r["description"].is_string(), "{what} {status}: no description");
        }
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| {
                        assert_eq!(p["required"], true, "{what}: path parameters are required");
                        p["name"].as_str().unwrap().to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(declared, template_params(path), "{what}: path parameters");
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{what}: no security"));
        for requirement in security {
            for name in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains(name), "{what}: unknown security scheme {name}");
            }
        }
    }
}

// --- schemas against the phr-wire types --------------------------------------------------------

/// Checks `value` against `schema` (the subset of JSON Schema the document uses). Objects must
/// carry exactly the schema's properties: a field the type has and the schema lacks, or the
/// reverse, is an error.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(doc, r) {
            Some(s) => check(doc, s, value, at, errors),
            None => errors.push(format!("{at}: dangling {r}")),
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        all.iter().for_each(|s| check(doc, s, value, at, errors));
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let matching = one
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                check(doc, s, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: {value} matches {matching} of the oneOf schemas"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        errors.push(format!("{at}: {value} is not {c}"));
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {e:?}"));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {value} is not of type {t}"));
            return;
        }
    }
    if let Some(s) = value.as_str() {
        let format_ok = match schema["format"].as_str() {
            Some("uuid") => Uuid::parse_str(s).is_ok(),
            Some("date-time") => DateTime::parse_from_rfc3339(s).is_ok(),
            Some("date") => s.parse::<NaiveDate>().is_ok(),
            _ => true,
        };
        if !format_ok {
            errors.push(format!("{at}: {s:?} is not a {}", schema["format"]));
        }
        let n = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|m| n < m)
            || schema["maxLength"].as_u64().is_some_and(|m| n > m)
        {
            errors.push(format!("{at}: length {n} outside the schema's bounds"));
        }
    }
    if let Some(x) = value.as_f64()
        && (schema["minimum"].as_f64().is_some_and(|m| x < m)
            || schema["maximum"].as_f64().is_some_and(|m| x > m))
    {
        errors.push(format!("{at}: {x} outside the schema's bounds"));
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if schema["minItems"].as_u64().is_some_and(|m| n < m)
            || schema["maxItems"].as_u64().is_some_and(|m| n > m)
        {
            errors.push(format!("{at}: {n} items outside the schema's bounds"));
        }
        if let Some(s) = schema.get("items") {
            for (i, x) in items.iter().enumerate() {
                check(doc, s, x, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let (Some(obj), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
        let have: BTreeSet<&String> = obj.keys().collect();
        let want: BTreeSet<&String> = props.keys().collect();
        for k in have.difference(&want) {
            errors.push(format!("{at}: field {k} is not in the schema"));
        }
        for k in want.difference(&have) {
            errors.push(format!("{at}: schema property {k} is not a field of the type"));
        }
        if let Some(req) = schema["required"].as_array() {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: required {r} missing"));
                }
            }
        }
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                check(doc, s, v, &format!("{at}.{k}"), errors);
            }
        }
    }
}

fn errors_of(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut e = Vec::new();
    check(doc, schema, value, "$", &mut e);
    e
}

/// The JSON schema of an operation's request body or of one of its responses.
fn op_schema<'a>(doc: &'a Value, method: &str, path: &str, status: Option<&str>) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let holder = match status {
        None => &op["requestBody"],
        Some(s) => &op["responses"][s],
    };
    let holder = match holder.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, r).unwrap(),
        None => holder,
    };
    let content = holder["content"].as_object().unwrap_or_else(|| {
        panic!("{method} {path} {status:?}: no content");
    });
    &content.values().next().unwrap()["schema"]
}

fn t(s: &str) -> DateTime<FixedOffset> {
    s.parse().unwrap()
}

fn soap() -> SoapText {
    SoapText {
        subjective: "頭痛".into(),
        objective: "BP 150/96".into(),
        assessment: "妊娠高血圧の疑い".into(),
        plan: "明日再診".into(),
    }
}

fn reading() -> BpReading {
    BpReading {
        measured_at: t("2026-11-21T07:55:00+09:00"),
        systolic: 150.0,
        diastolic: 96.0,
        pulse: Some(71.0),
        arm: Arm::Left,
        session: Session::Morning,
        symptoms: vec![Symptom::Headache, Symptom::VisualDisturbance],
        note: "眠れなかった".into(),
        source: BpSource::Cuff,
        device_id: Some("cuff-1".into()),
    }
}

fn checkup() -> Checkup {
    Checkup {
        date: "2026-11-01".parse().unwrap(),
        facility: "さくら産婦人科".into(),
        weight_kg: Some(61.5),
        systolic: Some(118.0),
        diastolic: Some(72.0),
        urine_protein: "trace".into(),
        urine_glucose: "negative".into(),
        fundal_height_cm: Some(28.0),
        abdominal_circumference_cm: Some(88.0),
        oedema: "1+".into(),
        notes: "順調".into(),
    }
}

fn epds() -> Epds {
    Epds { taken_at: t("2026-11-20T10:00:00+09:00"), answers: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1] }
}

fn note(with_soap: bool) -> Note {
    Note {
        written_at: t("2026-11-20T21:00:00+09:00"),
        lang: "ja".into(),
        text: "お腹の張りが気になります".into(),
        soap: with_soap.then(soap),
        origin: if with_soap { NoteOrigin::DictatedOnPhone } else { NoteOrigin::Typed },
        checked_by_her: with_soap,
    }
}

fn item(kind: RecordKind, data: Option<Value>) -> UploadItem {
    UploadItem {
        id: Uuid::new_v4(),
        kind,
        updated_at: t("2026-11-21T08:00:00+09:00"),
        deleted: data.is_none(),
        data,
    }
}

fn to<T: Serialize + ?Sized>(x: &T) -> Value {
    serde_json::to_value(x).unwrap()
}

fn bp_row() -> BpRow {
    let r = reading();
    BpRow {
        id: Uuid::new_v4(),
        measured_at: r.measured_at,
        systolic: r.systolic,
        diastolic: r.diastolic,
        pulse: None,
        session: Session::Evening,
        symptoms: r.symptoms,
        note: r.note,
        tier: Tier::Emergency,
    }
}

fn warning(acknowledged: bool) -> Warning {
    Warning {
        id: 42,
        mother_id: Uuid::new_v4(),
        display_name: "山田 花子".into(),
        record_id: Uuid::new_v4(),
        kind: WarningKind::BpEmergency,
        detail: "150/96 mmHg with headache".into(),
        occurred_at: t("2026-11-21T07:55:00+09:00"),
        raised_at: t("2026-11-21T08:00:01+09:00"),
        acknowledged_by: acknowledged.then(|| "midwife-a".into()),
        acknowledged_at: acknowledged.then(|| t("2026-11-21T09:00:00+09:00")),
    }
}

/// (method, path, status or `None` for the request body, a real value of the type it carries).
fn samples() -> Vec<(&'static str, &'static str, Option<&'static str>, Value)> {
    let clinic = Clinic { id: "clinic-a".into(), name: "さくら産婦人科".into() };
    let consent = |revoked: bool| Consent {
        id: 3,
        clinic: clinic.clone(),
        scope: vec![Scope::BloodPressure, Scope::Epds],
        granted_at: t("2026-11-01T10:00:00+09:00"),
        revoked_at: revoked.then(|| t("2026-11-02T10:00:00+09:00")),
    };
    let tokens = Tokens {
        mother_id: Uuid::new_v4(),
        access_token: "a".repeat(43),
        access_expires_in_s: 900,
        refresh_token: "r".repeat(43),
        refresh_expires_in_s: 2_592_000,
    };
    let items = vec![
        item(RecordKind::BpReading, Some(to(&reading()))),
        item(RecordKind::Checkup, Some(to(&checkup()))),
        item(RecordKind::Epds, Some(to(&epds()))),
        item(RecordKind::Note, Some(to(&note(true)))),
        item(RecordKind::Note, Some(to(&note(false)))),
        item(RecordKind::BpReading, None),
    ];
    let download = DownloadResponse {
        items: items
            .iter()
            .enumerate()
            .map(|(i, x)| DownloadItem {
                seq: i as i64 + 1,
                id: x.id,
                kind: x.kind,
                updated_at: x.updated_at,
                deleted: x.deleted,
                data: x.data.clone(),
            })
            .collect(),
        next_cursor: 6,
        more: false,
    };
    let results = UploadResponse {
        results: [ItemOutcome::Stored, ItemOutcome::Unchanged, ItemOutcome::Superseded]
            .into_iter()
            .map(|outcome| ItemResult { id: Uuid::new_v4(), outcome })
            .collect(),
    };
    let summary = |bp: Option<BpRow>| MotherSummary {
        mother_id: Uuid::new_v4(),
        display_name: "山田 花子".into(),
        clinic_id: "clinic-a".into(),
        scope: Scope::ALL.to_vec(),
        consented_at: t("2026-11-01T10:00:00+09:00"),
        open_warnings: 2,
        last_upload_at: bp.as_ref().map(|b| b.measured_at),
        latest_bp: bp,
    };
    let clinical_note = ClinicalNoteRow {
        id: Uuid::new_v4(),
        author: "midwife-a".into(),
        attested_at: t("2026-11-21T15:00:00+09:00"),
        lang: "ja".into(),
        soap: soap(),
        signed: false,
    };
    let record = MotherRecord {
        mother_id: Uuid::new_v4(),
        display_name: "山田 花子".into(),
        scope: Scope::ALL.to_vec(),
        readings: vec![bp_row()],
        checkups: vec![CheckupRow { id: Uuid::new_v4(), checkup: checkup() }],
        epds: vec![EpdsRow {
            id: Uuid::new_v4(),
            taken_at: epds().taken_at,
            total: 14,
            item10: 1,
            positive: true,
            self_harm: true,
        }],
        notes: vec![
            NoteRow { id: Uuid::new_v4(), note: note(true) },
            NoteRow { id: Uuid::new_v4(), note: note(false) },
        ],
        warnings: vec![warning(false), warning(true)],
        clinical_notes: vec![clinical_note.clone()],
    };
    let draft = monitor_server::phr::clinic::DraftResponse {
        lang: "en".into(),
        soap: soap(),
        rejected: vec!["BP 400/90".into()],
    };
    vec![
        (
            "post",
            "/phr/v1/register",
            None,
            to(&RegisterRequest {
                invitation_code: "ABCD-EFGH-JKLM".into(),
                login: "hanako@example.jp".into(),
                password: "correct horse battery".into(),
                display_name: "山田 花子".into(),
                device_name: "Pixel 9".into(),
            }),
        ),
        ("post", "/phr/v1/register", Some("201"), to(&tokens)),
        (
            "post",
            "/phr/v1/login",
            None,
            to(&LoginRequest {
                login: "hanako@example.jp".into(),
                password: "correct horse battery".into(),
                device_name: String::new(),
            }),
        ),
        ("post", "/phr/v1/login", Some("200"), to(&tokens)),
        ("post", "/phr/v1/token", None, to(&RefreshRequest { refresh_token: "r".repeat(43) })),
        ("post", "/phr/v1/token", Some("200"), to(&tokens)),
        (
            "get",
            "/phr/v1/me",
            Some("200"),
            to(&MotherAccount {
                mother_id: Uuid::new_v4(),
                login: "hanako@example.jp".into(),
                display_name: "山田 花子".into(),
                invited_by: "clinic-a".into(),
            }),
        ),
        ("get", "/phr/v1/clinics", Some("200"), to(std::slice::from_ref(&clinic))),
        ("get", "/phr/v1/consents", Some("200"), to(&[consent(false), consent(true)])),
        (
            "put",
            "/phr/v1/consents/{clinic_id}",
            None,
            to(&ConsentGrant { scope: vec![Scope::Notes, Scope::Checkups] }),
        ),
        ("put", "/phr/v1/consents/{clinic_id}", Some("200"), to(&consent(false))),
        ("delete", "/phr/v1/consents/{clinic_id}", Some("200"), to(&consent(true))),
        ("post", "/phr/v1/records", None, to(&UploadRequest { items })),
        ("post", "/phr/v1/records", Some("200"), to(&results)),
        ("get", "/phr/v1/records", Some("200"), to(&download)),
        ("get", "/api/v1/phr/mothers", Some("200"), to(&[summary(Some(bp_row())), summary(None)])),
        ("get", "/api/v1/phr/mothers/{mother_id}", Some("200"), to(&record)),
        ("get", "/api/v1/phr/warnings", Some("200"), to(&[warning(false), warning(true)])),
        ("post", "/api/v1/phr/warnings/{warning_id}/acknowledge", Some("200"), to(&warning(true))),
        (
            "post",
            "/api/v1/phr/invitations",
            Some("200"),
            to(&Invitation {
                code: "ABCD-EFGH-JKLM".into(),
                clinic_id: "clinic-a".into(),
                expires_at: t("2026-12-05T10:00:00+09:00"),
            }),
        ),
        (
            "post",
            "/api/v1/phr/mothers/{mother_id}/notes/draft",
            None,
            to(&DraftRequest { transcript: "頭痛があります".into(), lang: "ja".into() }),
        ),
        ("post", "/api/v1/phr/mothers/{mother_id}/notes/draft", Some("200"), to(&draft)),
        (
            "post",
            "/api/v1/phr/mothers/{mother_id}/notes",
            None,
            to(&AttestRequest {
                lang: "ja".into(),
                transcript: "頭痛があります".into(),
                soap: soap(),
                ai_drafted: true,
            }),
        ),
        ("post", "/api/v1/phr/mothers/{mother_id}/notes", Some("201"), to(&clinical_note)),
        ("get", "/api/v1/clinics", Some("200"), to(std::slice::from_ref(&clinic))),
        ("put", "/api/v1/clinics/{clinic_id}", None, json!({ "name": "さくら産婦人科" })),
        ("put", "/api/v1/clinics/{clinic_id}", Some("200"), to(&clinic)),
    ]
}

#[test]
fn openapi_schemas_match_the_phr_wire_types() {
    let doc = doc();
    let mut failures = Vec::new();
    for (method, path, status, value) in samples() {
        let schema = op_schema(&doc, method, path, status);
        for e in errors_of(&doc, schema, &value) {
            failures.push(format!(
                "{} {path} {}: {e}",
                method.to_uppercase(),
                status.unwrap_or("body")
            ));
        }
    }
    assert!(failures.is_empty(), "the document disagrees with the types:\n{}", failures.join("\n"));
    // The clinic name body is what the handler accepts.
    let body = json!({ "name": "x" });
    assert!(
        errors_of(&doc, op_schema(&doc, "put", "/api/v1/clinics/{clinic_id}", None), &body)
            .is_empty()
    );
    // Errors have one shape.
    let error = json!({ "error": "invalid", "message": "items[0].data.systolic: 420 mmHg is outside 40–300 mmHg" });
    let e = op_schema(&doc, "post", "/phr/v1/records", Some("422"));
    assert_eq!(errors_of(&doc, e, &error), Vec::<String>::new());
}

#[test]
fn openapi_schema_check_catches_disagreements() {
    // The checker is strict enough to fail: an extra field, a missing field, a wrong enum value,
    // a wrong type and a questionnaire with three answers are each reported.
    let doc = doc();
    let bp = &doc["components"]["schemas"]["BpReading"];
    let good = to(&reading());
    assert!(errors_of(&doc, bp, &good).is_empty());
    let mut extra = good.clone();
    extra["cuff_size"] = json!("M");
    assert!(errors_of(&doc, bp, &extra).iter().any(|e| e.contains("cuff_size")));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("arm");
    assert!(errors_of(&doc, bp, &missing).iter().any(|e| e.contains("arm")));
    let mut wrong_enum = good.clone();
    wrong_enum["session"] = json!("night");
    assert!(!errors_of(&doc, bp, &wrong_enum).is_empty());
    let mut wrong_type = good.clone();
    wrong_type["systolic"] = json!("150");
    assert!(!errors_of(&doc, bp, &wrong_type).is_empty());
    let upload = op_schema(&doc, "post", "/phr/v1/records", None);
    let mut req = to(&UploadRequest { items: vec![item(RecordKind::Epds, Some(to(&epds())))] });
    assert!(errors_of(&doc, upload, &req).is_empty());
    req["items"][0]["data"]["answers"] = json!([0, 1, 2]);
    assert!(!errors_of(&doc, upload, &req).is_empty(), "ten answers");
}

// --- the document against the router ------------------------------------------------------------

/// A value for a path parameter of this schema.
fn placeholder(schema: &Value) -> String {
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (_, Some("uuid")) => Uuid::new_v4().to_string(),
        (Some("integer"), _) => "1".into(),
        _ => "x".into(),
    }
}

fn concrete_path(path: &str, op: &Value) -> String {
    let params: BTreeMap<String, Value> = op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == "path")
                .map(|p| (p["name"].as_str().unwrap().to_owned(), p["schema"].clone()))
                .collect()
        })
        .unwrap_or_default();
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => placeholder(&params[name]),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The mount point whose fallback answers for `path` when no route matches.
fn prefix_of(path: &str) -> &'static str {
    ["/phr/v1", "/api/v1", "/fhir/r4"].into_iter().find(|p| path.starts_with(p)).unwrap_or("")
}

#[tokio::test]
async fn openapi_routes_all_exist_in_the_router() {
    let server = TestServer::start(None, |_| {}).await;
    // An authenticated caller, so a route that authenticates in a layer still reaches routing.
    let http = server.staff("openapi-admin", Role::Admin).await;
    // What "no such route" looks like under each mount point: a path nobody routes, and a method
    // a routed path does not take. A documented route must answer differently.
    let mut no_route = BTreeMap::new();
    for prefix in ["/phr/v1", "/api/v1", "/fhir/r4", ""] {
        let (s, _, b) = http
            .raw(Method::GET, &format!("{prefix}/no-such-route-{}", Uuid::new_v4()), None, &[])
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{prefix}: {}", String::from_utf8_lossy(&b));
        no_route.insert(prefix, (s, b));
    }
    let (s, _, _) = http.raw(Method::DELETE, "/phr/v1/me", None, &[]).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "a routed path with a method it lacks");

    let doc = doc();
    let mut missing = Vec::new();
    for (path, method, op) in operations(&doc) {
        let uri = concrete_path(&path, &op);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = op.get("requestBody").map(|_| json!({}));
        let (status, _, bytes) = http.raw(m.clone(), &uri, body, &[]).await;
        let fallback = &no_route[prefix_of(&path)];
        if status == StatusCode::METHOD_NOT_ALLOWED || (status, &bytes) == (fallback.0, &fallback.1)
        {
            missing.push(format!("{m} {path} ({uri} answered {status})"));
        }
    }
    assert!(missing.is_empty(), "documented but not routed:\n{}", missing.join("\n"));
    let served = http.get_ok("/api/openapi.json").await;
    assert!(served == doc, "/api/openapi.json is not the committed monitor-server/openapi.json");
}
