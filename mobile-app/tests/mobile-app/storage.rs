//! Her data on the phone: a reading saved offline survives the app being killed, and the export
//! holds every record.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, FixedOffset};
use mobile_app::config::AppConfig;
use mobile_app::export::{self, Snapshot};
use mobile_app::i18n::Language;
use mobile_app::model::{Arm, NewReading, Session, Source, Symptoms, Tier};
use mobile_app::store::{DB_FILE, Store};
use serde_json::Value;

const CHILD_ENV: &str = "MOBILE_APP_TEST_CRASH_DB";

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn reading(at: &str) -> NewReading {
    NewReading {
        measured_at: t(at),
        systolic: 131.0,
        diastolic: 84.0,
        pulse: Some(77.0),
        mean_arterial: None,
        arm: Arm::Right,
        session: Session::Evening,
        symptoms: Symptoms::none(),
        note: "寝る前".into(),
        source: Source::Manual,
    }
}

/// The child half of `reading_saved_offline_survives_a_killed_app`: writes one reading, then dies
/// without closing anything (no destructors, no checkpoint), like an app killed by the OS.
#[test]
fn crash_child_writes_then_aborts() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let mut store = Store::open(Path::new(&path)).unwrap();
    store
        .insert_reading(
            &reading("2026-05-12T22:10:00+09:00"),
            Tier::Normal,
            true,
            t("2026-05-12T22:10:05+09:00"),
        )
        .unwrap();
    std::process::abort();
}

#[test]
fn reading_saved_offline_survives_a_killed_app() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    // An earlier session left data behind.
    {
        let mut store = Store::open(&db).unwrap();
        store
            .insert_reading(
                &reading("2026-05-12T07:00:00+09:00"),
                Tier::Normal,
                true,
                t("2026-05-12T07:00:05+09:00"),
            )
            .unwrap();
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "storage::crash_child_writes_then_aborts", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .output()
        .unwrap();
    assert!(
        !child.status.success(),
        "the child must die abruptly, not exit cleanly:\n{}",
        String::from_utf8_lossy(&child.stdout)
    );

    let store = Store::open(&db).unwrap();
    let all = store.all_readings().unwrap();
    assert_eq!(all.len(), 2, "both readings survive: {all:#?}");
    let last = &all[1].data;
    assert_eq!(last.measured_at, t("2026-05-12T22:10:00+09:00"));
    assert_eq!((last.systolic, last.diastolic, last.note.as_str()), (131.0, 84.0, "寝る前"));
    // Everything the later sync needs survived with it.
    assert_eq!(store.changes_since(0).unwrap().len(), 2);
}

#[test]
fn reopening_keeps_every_kind_of_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    let cfg = AppConfig::default();
    let before = {
        let mut store = Store::open(&db).unwrap();
        mobile_app::demo::populate(&mut store, Language::Japanese, &cfg).unwrap();
        store
            .insert_epds(
                [0, 1, 2, 1, 2, 3, 2, 3, 3, 2],
                6,
                1,
                mobile_app::demo::now(),
                mobile_app::demo::now(),
            )
            .unwrap();
        Snapshot::read(&store).unwrap()
    };
    let after = Snapshot::read(&Store::open(&db).unwrap()).unwrap();
    assert_eq!(before.readings, after.readings);
    assert_eq!(before.checkups, after.checkups);
    assert_eq!(before.epds, after.epds);
    assert_eq!(before.profile, after.profile);
    assert_eq!(before.cuffs, after.cuffs);
}

fn full_store() -> Store {
    let cfg = AppConfig::default();
    let mut store = Store::open_in_memory().unwrap();
    mobile_app::demo::populate(&mut store, Language::English, &cfg).unwrap();
    let now = mobile_app::demo::now();
    store.insert_epds([1, 0, 2, 1, 2, 2, 3, 3, 3, 2], 4, 1, now, now).unwrap();
    // A reading with symptoms, one from a cuff with a wrong clock, and one deleted.
    let mut with_symptoms = reading("2026-05-11T20:00:00+09:00");
    with_symptoms.symptoms = Symptoms::HEADACHE.with(Symptoms::VISUAL_DISTURBANCE, true);
    store.insert_reading(&with_symptoms, Tier::Emergency, true, now).unwrap();
    let untrusted = NewReading {
        source: Source::Cuff {
            device_id: "C0:FF:EE:00:00:01".into(),
            device_time: Some("2000-01-01T00:04:00".into()),
            clock_untrusted: true,
            status: Some(4),
            user_id: Some(1),
        },
        ..reading("2026-05-11T21:00:00+09:00")
    };
    store.import_readings(&[(untrusted, Tier::Normal, true)], now).unwrap();
    let gone = store
        .insert_reading(&reading("2026-05-11T22:00:00+09:00"), Tier::Normal, true, now)
        .unwrap();
    store.delete_reading(gone.id, now).unwrap();
    store
}

#[test]
fn json_export_contains_every_record() {
    let store = full_store();
    let snapshot = Snapshot::read(&store).unwrap();
    let json = export::to_json(&snapshot, mobile_app::demo::now());
    assert_eq!(json["format"], export::JSON_FORMAT);
    let ids = |key: &str| -> BTreeSet<String> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let stored_readings: BTreeSet<String> =
        store.all_readings().unwrap().iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids("blood_pressure"), stored_readings);
    assert_eq!(stored_readings.len(), store.reading_count().unwrap());
    let stored_checkups: BTreeSet<String> =
        store.checkups().unwrap().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids("checkups"), stored_checkups);
    assert_eq!(ids("epds").len(), 1);
    assert_eq!(json["paired_cuffs"].as_array().unwrap().len(), 1);
    assert_eq!(json["profile"]["due_date"], "2026-08-01");
    // Every field of a reading is there, symptoms and cuff details included.
    let with_symptoms = json["blood_pressure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tier"] == "emergency")
        .unwrap();
    assert_eq!(with_symptoms["symptoms"], 3);
    let cuff = json["blood_pressure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"]["device_id"] == "C0:FF:EE:00:00:01")
        .unwrap();
    assert_eq!(cuff["source"]["clock_untrusted"], true);
    assert_eq!(cuff["source"]["device_time"], "2000-01-01T00:04:00");
    // The JSON is what the export writes: it must round-trip through text.
    let text = serde_json::to_string(&json).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json);
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

fn codes(concept: &Value) -> Vec<(String, String)> {
    concept["coding"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| (c["system"].as_str().unwrap().into(), c["code"].as_str().unwrap().into()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fhir_bundle_contains_every_record_with_standard_codes() {
    let store = full_store();
    let snapshot = Snapshot::read(&store).unwrap();
    let patient = uuid::Uuid::now_v7();
    let bundle = export::to_fhir(&snapshot, mobile_app::demo::now(), patient);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");

    // Every fullUrl is unique and every reference points inside the bundle.
    let entries = bundle["entry"].as_array().unwrap();
    let urls: BTreeSet<&str> = entries.iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), entries.len(), "duplicate fullUrl");
    fn references<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("reference") {
                    out.push(r);
                }
                m.values().for_each(|v| references(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    references(&bundle, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(urls.contains(r), "dangling reference {r}");
    }

    // One blood-pressure Observation per stored reading, with LOINC panel and components.
    let loinc = |c: &str| ("http://loinc.org".to_string(), c.to_string());
    let observations = resources(&bundle, "Observation");
    let bp: Vec<_> = observations
        .iter()
        .filter(|o| codes(&o["code"]).contains(&loinc("85354-9")) && o["encounter"].is_null())
        .collect();
    let stored: BTreeSet<String> =
        store.all_readings().unwrap().iter().map(|r| r.id.to_string()).collect();
    let exported: BTreeSet<String> =
        bp.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(exported, stored);
    for o in &bp {
        let components: Vec<_> =
            o["component"].as_array().unwrap().iter().flat_map(|c| codes(&c["code"])).collect();
        assert!(components.contains(&loinc("8480-6")) && components.contains(&loinc("8462-4")));
        let systolic = &o["component"][0]["valueQuantity"];
        assert_eq!(
            (systolic["system"].as_str(), systolic["code"].as_str()),
            (Some("http://unitsofmeasure.org"), Some("mm[Hg]"))
        );
        assert_eq!(o["meta"]["profile"][0], "http://hl7.org/fhir/StructureDefinition/bp");
    }
    // Pulse as its own vital sign for each reading that has one.
    let pulses =
        observations.iter().filter(|o| codes(&o["code"]).contains(&loinc("8867-4"))).count();
    let with_pulse =
        store.all_readings().unwrap().iter().filter(|r| r.data.pulse.is_some()).count();
    assert_eq!(pulses, with_pulse);

    // One Encounter per check-up, with its weight observation.
    let encounters = resources(&bundle, "Encounter");
    assert_eq!(encounters.len(), store.checkups().unwrap().len());
    let weights =
        observations.iter().filter(|o| codes(&o["code"]).contains(&loinc("29463-7"))).count();
    assert_eq!(
        weights,
        store.checkups().unwrap().iter().filter(|c| c.data.weight_kg.is_some()).count()
    );
    assert!(
        observations.iter().any(|o| codes(&o["code"]).contains(&loinc("11881-0"))),
        "fundal height"
    );
    assert!(
        observations.iter().any(|o| codes(&o["code"]).contains(&loinc("11884-4"))),
        "gestational age"
    );

    // EPDS as a QuestionnaireResponse of ten item scores.
    let epds = resources(&bundle, "QuestionnaireResponse");
    assert_eq!(epds.len(), 1);
    let scores: Vec<i64> = epds[0]["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["answer"][0]["valueInteger"].as_i64().unwrap())
        .collect();
    assert_eq!(scores.len(), 10);
    assert_eq!(scores[9], 1, "item 10: displayed option 2 of a reverse-scored item scores 1");

    // The cuffs as Devices; the patient once.
    assert_eq!(resources(&bundle, "Patient").len(), 1);
    assert_eq!(resources(&bundle, "Device").len(), 2);
}
