//! Sync with the clinic, against the in-memory fake server: the outbox goes in order and in
//! batches, resumes after a failure, pulled changes are applied once and never re-queued, the
//! conflict rule holds both ways, and tokens are refreshed or she is asked to log in again.

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use mobile_app::config::AppConfig;
use mobile_app::i18n::Language;
use mobile_app::model::{
    Arm, CheckupData, Dipstick, NewReading, Oedema, Session, Source, Symptoms, Tier,
};
use mobile_app::store::Store;
use mobile_app::sync::fake::{FakeServer, UploadFailure};
use mobile_app::sync::{SyncEngine, SyncError, SyncStatus};
use phr_wire::auth::{LoginRequest, RegisterRequest};
use phr_wire::consent::{ConsentGrant, Scope};
use phr_wire::records::RecordKind;
use uuid::Uuid;

const LOGIN: &str = "hanako@example.jp";
const PASSWORD: &str = "correct horse battery";

fn server_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap()
}

/// Phone time, `minutes` after the start of the days offline (a week before the server's now).
fn at(minutes: i64) -> DateTime<FixedOffset> {
    let jst = FixedOffset::east_opt(9 * 3600).unwrap();
    (server_now() - Duration::days(7) + Duration::minutes(minutes)).with_timezone(&jst)
}

fn now() -> DateTime<FixedOffset> {
    server_now().fixed_offset()
}

fn reading(measured: DateTime<FixedOffset>, systolic: f64, diastolic: f64) -> NewReading {
    NewReading {
        measured_at: measured,
        systolic,
        diastolic,
        pulse: Some(74.0),
        mean_arterial: None,
        arm: Arm::Left,
        session: Session::Morning,
        symptoms: Symptoms::none(),
        note: "朝".into(),
        source: Source::Manual,
    }
}

fn checkup(weight: f64) -> CheckupData {
    CheckupData {
        date: "2026-11-14".parse().unwrap(),
        facility: "さくら産婦人科".into(),
        weight_kg: Some(weight),
        systolic: Some(118.0),
        diastolic: Some(72.0),
        urine_protein: Dipstick::Negative,
        urine_glucose: Dipstick::NotTested,
        fundal_height_cm: Some(27.0),
        abdominal_circumference_cm: None,
        oedema: Oedema::None,
        notes: String::new(),
    }
}

fn fake() -> FakeServer {
    FakeServer::new(
        server_now(),
        &["INVITE-1"],
        &[("sakura", "さくら産婦人科"), ("kaede", "かえで病院")],
    )
}

fn register(engine: &SyncEngine<'_>, store: &mut Store) -> Uuid {
    engine
        .register(
            store,
            &RegisterRequest {
                invitation_code: "INVITE-1".into(),
                login: LOGIN.into(),
                password: PASSWORD.into(),
                display_name: "山田 花子".into(),
                device_name: "test phone".into(),
            },
        )
        .unwrap()
}

fn login(engine: &SyncEngine<'_>, store: &mut Store) -> Uuid {
    engine
        .login(
            store,
            &LoginRequest {
                login: LOGIN.into(),
                password: PASSWORD.into(),
                device_name: "second".into(),
            },
        )
        .unwrap()
}

/// `n` readings, one every 10 minutes (about a week for 1000).
fn record_readings(store: &mut Store, n: usize) -> Vec<Uuid> {
    (0..n)
        .map(|i| {
            let t = at(i as i64 * 10);
            let sys = 110.0 + (i % 30) as f64;
            store.insert_reading(&reading(t, sys, 70.0), Tier::Normal, true, t).unwrap().id
        })
        .collect()
}

#[test]
fn days_offline_push_in_order_in_batches() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    register(&engine, &mut store);
    let ids = record_readings(&mut store, 1100);
    let c = store.insert_checkup(&checkup(60.0), at(11_000)).unwrap();
    let e =
        store.insert_epds([0, 1, 0, 1, 0, 1, 0, 1, 0, 0], 4, 0, at(11_001), at(11_001)).unwrap();
    store.delete_reading(ids[3], at(11_002)).unwrap();
    assert_eq!(SyncStatus::read(&store).unwrap(), SyncStatus::NotSyncedYet { pending: 1103 });

    let report = engine.sync(&mut store, now()).unwrap();
    let batches = server.batches();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![500, 500, 103]);
    let sent: Vec<Uuid> = batches.concat();
    let mut expected = ids.clone();
    expected.extend([c.id, e.id, ids[3]]);
    assert_eq!(sent, expected, "pushed in the order the changes were made");
    // Every entry sends the record's current version: the deleted reading already went as a
    // tombstone in the first batch, so its own deletion entry is answered `unchanged`.
    assert_eq!((report.batches, report.stored, report.unchanged), (3, 1102, 1));

    let held = server.records();
    assert_eq!(held.len(), 1102);
    assert!(held[&ids[3]].deleted && held[&ids[3]].data.is_none(), "deletion as a tombstone");
    assert_eq!(held[&c.id].kind, RecordKind::Checkup);
    assert_eq!(held[&e.id].kind, RecordKind::Epds);
    let status = SyncStatus::read(&store).unwrap();
    assert_eq!(status, SyncStatus::Synced { at: now(), pending: 0 });
    assert_eq!(
        status.describe(now() + Duration::minutes(2), Language::English),
        "Last synced 2 min ago"
    );

    // Nothing new: nothing is sent again.
    engine.sync(&mut store, now()).unwrap();
    assert_eq!(server.batches().len(), 3);
}

#[test]
fn a_record_changed_twice_goes_once_per_batch_with_its_latest_version() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    register(&engine, &mut store);
    let c = store.insert_checkup(&checkup(60.0), at(0)).unwrap();
    let other = record_readings(&mut store, 1)[0];
    store.update_checkup(c.id, &checkup(61.5), at(5)).unwrap();
    engine.sync(&mut store, now()).unwrap();
    assert_eq!(server.batches(), vec![vec![other, c.id]]);
    let data = server.records()[&c.id].data.clone().unwrap();
    assert!(data.contains("\"weight_kg\":61.5"), "{data}");
}

#[test]
fn a_failure_mid_way_resumes_where_the_server_acknowledged() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    register(&engine, &mut store);
    let ids = record_readings(&mut store, 1100);

    server.fail_upload(2, UploadFailure::Offline);
    let err = engine.sync(&mut store, now()).unwrap_err();
    assert!(matches!(err, SyncError::Offline(_)), "{err:?}");
    assert_eq!(server.records().len(), 500);
    let status = SyncStatus::read(&store).unwrap();
    assert_eq!(status, SyncStatus::Offline { pending: 600 });
    assert_eq!(status.describe(now(), Language::English), "Offline — 600 changes waiting");
    assert_eq!(status.describe(now(), Language::Japanese), "オフライン — 600件の変更が送信待ち");

    let report = engine.sync(&mut store, now()).unwrap();
    assert_eq!((report.batches, report.stored, report.unchanged), (2, 600, 0));
    assert_eq!(server.batches().concat(), ids, "nothing sent twice, nothing skipped");
    assert_eq!(SyncStatus::read(&store).unwrap().pending(), 0);
}

#[test]
fn a_lost_answer_is_resent_and_stores_nothing_twice() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    register(&engine, &mut store);
    record_readings(&mut store, 20);

    server.fail_upload(1, UploadFailure::AnswerLost);
    assert!(matches!(engine.sync(&mut store, now()), Err(SyncError::Offline(_))));
    let before = server.records();
    assert_eq!(before.len(), 20);
    assert_eq!(store.sync_state().unwrap().pushed_seq, 0, "no answer, no progress");

    let report = engine.sync(&mut store, now()).unwrap();
    assert_eq!((report.sent, report.stored, report.unchanged), (20, 0, 20));
    assert_eq!(server.records(), before, "the re-sent batch changed nothing");
}

#[test]
fn pulled_changes_reach_a_second_phone_and_are_not_queued_again() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut a = Store::open_in_memory().unwrap();
    let mother = register(&engine, &mut a);
    let ids = record_readings(&mut a, 3);
    let high =
        a.insert_reading(&reading(at(100), 152.0, 96.0), Tier::SameDay, true, at(100)).unwrap();
    let c = a.insert_checkup(&checkup(60.0), at(101)).unwrap();
    let answers = [3, 3, 0, 0, 0, 0, 0, 0, 0, 1];
    a.insert_epds(answers, 0, 0, at(102), at(102)).unwrap();
    a.delete_reading(ids[0], at(103)).unwrap();
    engine.sync(&mut a, now()).unwrap();

    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(login(&engine, &mut b), mother);
    let report = engine.sync(&mut b, now()).unwrap();
    assert_eq!((report.received, report.applied, report.sent), (6, 6, 0));
    assert!(b.changes_after(0, 100).unwrap().is_empty(), "applied changes are not in the outbox");
    assert_eq!(SyncStatus::read(&b).unwrap().pending(), 0);
    assert!(b.reading(ids[0]).unwrap().is_none(), "the deletion arrived");
    let got = b.reading(high.id).unwrap().unwrap();
    assert_eq!(got.data.measured_at, high.data.measured_at);
    assert_eq!((got.data.systolic, got.data.diastolic), (152.0, 96.0));
    assert_eq!(got.tier, Tier::SameDay, "tier recomputed from the values");
    assert_eq!(b.checkups().unwrap()[0].data, c.data);
    let epds = b.epds_records().unwrap();
    let expected =
        mobile_app::clinical::epds::score(&answers.map(Some), config.epds.cutoff).unwrap();
    assert_eq!(
        (epds[0].total, epds[0].item10),
        (expected.total, expected.item10),
        "scored on the phone"
    );
    assert_eq!(expected.item10, 2);

    // An edit on the second phone reaches the first, and neither queues it again.
    b.update_checkup(c.id, &checkup(62.0), at(200)).unwrap();
    engine.sync(&mut b, now()).unwrap();
    let pushed_a = a.sync_state().unwrap().pushed_seq;
    let report = engine.sync(&mut a, now()).unwrap();
    assert_eq!(report.applied, 1);
    assert_eq!(a.checkup(c.id).unwrap().unwrap().data.weight_kg, Some(62.0));
    assert!(a.changes_after(pushed_a, 100).unwrap().is_empty());
    let again = engine.sync(&mut a, now()).unwrap();
    assert_eq!((again.sent, again.received), (0, 0));
}

#[test]
fn conflict_the_later_change_wins_on_both_phones() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut a = Store::open_in_memory().unwrap();
    register(&engine, &mut a);
    let c = a.insert_checkup(&checkup(60.0), at(0)).unwrap();
    engine.sync(&mut a, now()).unwrap();
    let mut b = Store::open_in_memory().unwrap();
    login(&engine, &mut b);
    engine.sync(&mut b, now()).unwrap();

    // Both edit offline; A's edit is older than B's.
    a.update_checkup(c.id, &checkup(61.0), at(10)).unwrap();
    b.update_checkup(c.id, &checkup(63.0), at(20)).unwrap();
    engine.sync(&mut b, now()).unwrap();
    let report = engine.sync(&mut a, now()).unwrap();
    assert_eq!(report.superseded, 1, "the server keeps B's later edit");
    assert_eq!(report.applied, 1, "and A takes it");
    assert_eq!(a.checkup(c.id).unwrap().unwrap().data.weight_kg, Some(63.0));

    // The other way round: the phone's unsent change is newer than what it pulls.
    a.update_checkup(c.id, &checkup(64.0), at(40)).unwrap();
    b.update_checkup(c.id, &checkup(65.0), at(30)).unwrap();
    engine.sync(&mut b, now()).unwrap();
    let mut report = Default::default();
    engine.pull(&mut a, &mut report).unwrap();
    assert_eq!(report.applied, 0, "an older remote edit never overwrites a newer local one");
    assert_eq!(a.checkup(c.id).unwrap().unwrap().data.weight_kg, Some(64.0));
    engine.sync(&mut a, now()).unwrap();
    engine.sync(&mut b, now()).unwrap();
    assert_eq!(b.checkup(c.id).unwrap().unwrap().data.weight_kg, Some(64.0), "both converge");

    // At the same instant a deletion beats an edit, whichever phone syncs first.
    a.update_checkup(c.id, &checkup(66.0), at(50)).unwrap();
    b.delete_checkup(c.id, at(50)).unwrap();
    engine.sync(&mut a, now()).unwrap();
    engine.sync(&mut b, now()).unwrap();
    engine.sync(&mut a, now()).unwrap();
    assert!(a.checkup(c.id).unwrap().is_none());
    assert!(b.checkup(c.id).unwrap().is_none());
    assert!(server.records()[&c.id].deleted);
}

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_call_retried() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    register(&engine, &mut store);
    let before = store.sync_state().unwrap();
    record_readings(&mut store, 5);
    server.expire_access_tokens();
    let report = engine.sync(&mut store, now()).unwrap();
    assert_eq!(report.stored, 5);
    assert_eq!(server.refreshes(), 1);
    let after = store.sync_state().unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(after.refresh_token, before.refresh_token, "refresh tokens rotate");
}

#[test]
fn a_replayed_refresh_token_logs_her_out_until_she_logs_in_again() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    let mother = register(&engine, &mut store);
    let stale = store.sync_state().unwrap();
    server.expire_access_tokens();
    engine.sync(&mut store, now()).unwrap();

    // The app comes back with the tokens it had before the refresh (a restored backup, a crash
    // before the new pair was saved): the old refresh token is a replay.
    store
        .save_tokens(
            mother,
            None,
            stale.access_token.as_deref().unwrap(),
            stale.refresh_token.as_deref().unwrap(),
        )
        .unwrap();
    record_readings(&mut store, 2);
    let err = engine.sync(&mut store, now()).unwrap_err();
    assert!(matches!(err, SyncError::LoginRequired), "{err:?}");
    assert!(server.unused_refresh_tokens().is_empty(), "the server revoked every token");
    let status = SyncStatus::read(&store).unwrap();
    assert_eq!(status, SyncStatus::LoginRequired);
    assert_eq!(status.describe(now(), Language::Japanese), "もう一度ログインしてください");
    assert!(matches!(engine.sync(&mut store, now()), Err(SyncError::LoginRequired)));

    // Logging in again resumes: the two waiting readings go.
    login(&engine, &mut store);
    let report = engine.sync(&mut store, now()).unwrap();
    assert_eq!(report.stored, 2);
}

#[test]
fn consent_per_clinic_grant_with_scope_and_revoke() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    assert!(matches!(engine.consents(&mut store), Err(SyncError::NotSignedIn)));
    register(&engine, &mut store);
    let clinics = engine.clinics(&mut store).unwrap();
    assert_eq!(clinics.len(), 2);
    let granted = engine
        .grant(
            &mut store,
            "sakura",
            &ConsentGrant { scope: vec![Scope::Epds, Scope::BloodPressure] },
        )
        .unwrap();
    assert_eq!(granted.scope, vec![Scope::BloodPressure, Scope::Epds]);
    let revoked = engine.revoke(&mut store, "sakura").unwrap();
    assert!(revoked.revoked_at.is_some());
    let history = engine.consents(&mut store).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].revoked_at.is_some());
    assert!(matches!(engine.revoke(&mut store, "sakura"), Err(SyncError::Refused(_))));
}

#[test]
fn without_an_account_nothing_is_sent_and_the_state_says_so() {
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    let mut store = Store::open_in_memory().unwrap();
    record_readings(&mut store, 2);
    assert!(matches!(engine.sync(&mut store, now()), Err(SyncError::NotSignedIn)));
    assert_eq!(SyncStatus::read(&store).unwrap(), SyncStatus::NotConnected);
    assert!(server.batches().is_empty());
    // Registering later sends what she recorded before.
    register(&engine, &mut store);
    assert_eq!(engine.sync(&mut store, now()).unwrap().stored, 2);
}

#[test]
fn sync_position_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(mobile_app::store::DB_FILE);
    let server = fake();
    let config = AppConfig::default();
    let engine = SyncEngine::new(&server, &config);
    {
        let mut store = Store::open(&path).unwrap();
        register(&engine, &mut store);
        record_readings(&mut store, 3);
        engine.sync(&mut store, now()).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let state = store.sync_state().unwrap();
    assert!(state.signed_in() && state.pushed_seq > 0 && state.pull_cursor == 3);
    record_readings(&mut store, 1);
    assert_eq!(engine.sync(&mut store, now()).unwrap().sent, 1);
}
