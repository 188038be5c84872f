//! The storage suite: every test is generic over a [`StoreFactory`] and gets a fresh database,
//! so the same suite runs against every `Store` implementation (SQLite now; the
//! PostgreSQL/TimescaleDB store of the next issue adds its factory and one line per test).

use std::future::Future;
use std::sync::Arc;

use ctg_wire::{Bpm, DeviceEvent, EventKind, Sample, StreamId, Toco};
use monitor_server::model::{
    AuditEntry, AuditOutcome, Bed, GestationalAge, IngestBatch, NewAdmission, Role, SampleRun,
    SessionRecord, Staff, StoredEvent, StoredSample, StreamDelta,
};
use monitor_server::store::{AuditQuery, LoginCode, SampleQuery, SqliteStore, Store, StoreError};

use super::common::{T0, sim_samples};

/// Makes a fresh, empty store for one test. The guard keeps its resources alive.
pub trait StoreFactory {
    type Guard;
    fn make(&self) -> impl Future<Output = (Arc<dyn Store>, Self::Guard)>;
}

pub struct Sqlite;

impl StoreFactory for Sqlite {
    type Guard = tempfile::TempDir;
    async fn make(&self) -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db").join("monitor.sqlite")).await.unwrap();
        (Arc::new(store), dir)
    }
}

fn stored(seq: u64, s: Sample) -> StoredSample {
    StoredSample {
        seq,
        rx_ms: T0 + seq as i64 * 250,
        device_ms: Some(T0 - 5000 + seq as i64 * 250),
        clock: ctg_wire::ClockQuality::Synchronised,
        arrived_ms: T0 + 1000,
        backlog: false,
        sample: s,
    }
}

fn run(key: i64, first: u64, samples: &[Sample]) -> SampleRun {
    SampleRun {
        stream_key: key,
        samples: samples.iter().enumerate().map(|(i, s)| stored(first + i as u64, *s)).collect(),
    }
}

fn all(from_seq: u64) -> SampleQuery {
    SampleQuery { from_seq, to_seq: None, from_ms: i64::MIN, to_ms: i64::MAX, limit: 1_000_000 }
}

fn sid(s: &str) -> StreamId {
    s.parse().unwrap()
}

// ---- the suite ------------------------------------------------------------------------------

pub async fn samples_round_trip_exactly<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let key = store.ensure_stream(&sid("s/g/d"), T0).await.unwrap();
    assert_eq!(
        store.ensure_stream(&sid("s/g/d"), T0 + 5).await.unwrap(),
        key,
        "ensure_stream is idempotent"
    );
    let mut samples = sim_samples(300, 1);
    // Every channel and the edges of every range, including "no value".
    samples[0] = Sample {
        fhr1: Bpm::from_quarters(120),
        fhr2: Bpm::from_quarters(960),
        mhr: None,
        toco: Toco::new(127),
        movement: Some(ctg_wire::Movement::Detected),
        mark: true,
        quality: ctg_wire::sample::Qualities::unpack(0b1110_0100),
    };
    samples[1] = Sample::EMPTY;
    // 300 samples exercise every multi-row chunk size (128, 16, 4, 1).
    let batch = IngestBatch { runs: vec![run(key, 0, &samples)], ..Default::default() };
    let out = store.write_batch(&batch).await.unwrap();
    assert_eq!(out.per_stream.len(), 1);
    assert_eq!(out.per_stream[0].1.inserted, 300);
    let back = store.samples(key, all(0)).await.unwrap();
    assert_eq!(back.len(), 300);
    for (i, s) in back.iter().enumerate() {
        assert_eq!(*s, stored(i as u64, samples[i]), "sample {i}");
    }
}

pub async fn replays_never_alter_stored_samples<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let key = store.ensure_stream(&sid("s/g/d"), T0).await.unwrap();
    let original = sim_samples(50, 2);
    store
        .write_batch(&IngestBatch { runs: vec![run(key, 0, &original)], ..Default::default() })
        .await
        .unwrap();
    // A replay of 20..70 with different values: 20..49 exist and must stay as they are.
    let other = sim_samples(50, 99);
    let out = store
        .write_batch(&IngestBatch {
            runs: vec![run(key, 20, &other)],
            deltas: vec![(key, StreamDelta::default())],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.per_stream[0].1.inserted, 20);
    assert_eq!(out.per_stream[0].1.already_stored, 30);
    let back = store.samples(key, all(0)).await.unwrap();
    assert_eq!(back.len(), 70);
    for (i, s) in back.iter().enumerate().take(50) {
        assert_eq!(s.sample, original[i], "stored sample {i} was altered by a replay");
    }
    for (i, s) in back.iter().enumerate().skip(50) {
        assert_eq!(s.sample, other[i - 20]);
    }
    // Conflicting replays that reached the database are counted as duplicates.
    let rec = store.load_streams().await.unwrap();
    assert_eq!(rec[0].duplicates_rejected, 30);
}

pub async fn load_streams_reports_coverage_gaps_and_dropped_ranges<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let a = store.ensure_stream(&sid("s/g/a"), T0).await.unwrap();
    let b = store.ensure_stream(&sid("s/g/b"), T0).await.unwrap();
    let s = sim_samples(40, 3);
    let dropped = DeviceEvent::new(
        1,
        T0,
        40,
        EventKind::SamplesDropped { first_seq: 10, last_seq: 19, reason: "outbox full".into() },
    );
    let batch = IngestBatch {
        runs: vec![run(a, 0, &s[..10]), run(a, 20, &s[20..30]), run(b, 5, &s[..3])],
        events: vec![
            StoredEvent { stream_key: a, event: dropped.clone(), arrived_ms: T0 },
            // The same event id again (QoS 1 redelivery) is skipped.
            StoredEvent { stream_key: a, event: dropped, arrived_ms: T0 + 1 },
        ],
        deltas: vec![
            (
                a,
                StreamDelta {
                    duplicates_rejected: 4,
                    rejected_payloads: 2,
                    last_arrival_ms: Some(T0 + 500),
                },
            ),
            (
                b,
                StreamDelta { duplicates_rejected: 0, rejected_payloads: 1, last_arrival_ms: None },
            ),
        ],
    };
    let out = store.write_batch(&batch).await.unwrap();
    assert_eq!(out.events_inserted, 1);
    let recs = store.load_streams().await.unwrap();
    let ra = recs.iter().find(|r| r.key == a).unwrap();
    assert_eq!(ra.stream, sid("s/g/a"));
    assert_eq!(ra.stored, vec![(0, 9), (20, 29)]);
    assert_eq!(ra.stored_samples, 20);
    assert_eq!(ra.dropped, vec![(10, 19)]);
    assert_eq!(
        (ra.duplicates_rejected, ra.rejected_payloads, ra.last_arrival_ms),
        (4, 2, Some(T0 + 500))
    );
    let rb = recs.iter().find(|r| r.key == b).unwrap();
    assert_eq!(rb.stored, vec![(5, 7)]);
    assert_eq!((rb.rejected_payloads, rb.last_arrival_ms), (1, None));
    // A later, older arrival time never moves last_arrival backwards.
    store
        .write_batch(&IngestBatch {
            deltas: vec![(a, StreamDelta { last_arrival_ms: Some(T0), ..Default::default() })],
            ..Default::default()
        })
        .await
        .unwrap();
    let recs = store.load_streams().await.unwrap();
    assert_eq!(recs.iter().find(|r| r.key == a).unwrap().last_arrival_ms, Some(T0 + 500));
}

pub async fn sample_queries_respect_sequence_and_time_bounds<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let key = store.ensure_stream(&sid("s/g/d"), T0).await.unwrap();
    let s = sim_samples(100, 4);
    store
        .write_batch(&IngestBatch { runs: vec![run(key, 0, &s)], ..Default::default() })
        .await
        .unwrap();
    let q = SampleQuery {
        from_seq: 10,
        to_seq: Some(20),
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        limit: 1000,
    };
    let seqs: Vec<u64> = store.samples(key, q).await.unwrap().iter().map(|x| x.seq).collect();
    assert_eq!(seqs, (10..20).collect::<Vec<_>>());
    let q = SampleQuery {
        from_seq: 0,
        to_seq: None,
        from_ms: T0 + 250 * 50,
        to_ms: T0 + 250 * 55,
        limit: 1000,
    };
    let seqs: Vec<u64> = store.samples(key, q).await.unwrap().iter().map(|x| x.seq).collect();
    assert_eq!(seqs, (50..55).collect::<Vec<_>>());
    let q = SampleQuery { limit: 3, ..all(90) };
    assert_eq!(store.samples(key, q).await.unwrap().len(), 3);
    let other = store.ensure_stream(&sid("s/g/other"), T0).await.unwrap();
    assert!(store.samples(other, all(0)).await.unwrap().is_empty());
}

pub async fn events_are_stored_and_read_back<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let key = store.ensure_stream(&sid("s/g/d"), T0).await.unwrap();
    let e1 = DeviceEvent::new(
        1,
        T0 + 1000,
        4,
        EventKind::SignalLoss { channel: ctg_wire::Channel::Fhr1, active: true },
    );
    let e2 = DeviceEvent::new(2, T0 + 9000, 36, EventKind::Annotation { text: "体位変換".into() });
    store
        .write_batch(&IngestBatch {
            events: vec![
                StoredEvent { stream_key: key, event: e2.clone(), arrived_ms: T0 + 9100 },
                StoredEvent { stream_key: key, event: e1.clone(), arrived_ms: T0 + 1100 },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let back = store.events(key, T0, T0 + 10_000, 100).await.unwrap();
    assert_eq!(back.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), vec![e1, e2.clone()]);
    let back = store.events(key, T0 + 5000, T0 + 10_000, 100).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].event, e2);
}

pub async fn staff_sessions_and_login_codes<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let staff = Staff {
        username: "yamada".into(),
        display_name: "山田 助産師".into(),
        role: Role::Midwife,
        disabled: false,
    };
    store.create_staff(&staff, "$argon2id$fake", T0).await.unwrap();
    assert!(matches!(store.create_staff(&staff, "x", T0).await, Err(StoreError::Conflict(_))));
    let c = store.staff_credentials("yamada").await.unwrap().unwrap();
    assert_eq!((c.staff, c.password_hash.as_str()), (staff.clone(), "$argon2id$fake"));
    assert!(store.staff_credentials("nobody").await.unwrap().is_none());
    assert_eq!(store.list_staff().await.unwrap(), vec![staff]);

    let s = SessionRecord {
        token_hash: "h1".into(),
        username: "yamada".into(),
        csrf_token: "c".into(),
        created_ms: T0,
        expires_ms: T0 + 10,
    };
    store.create_session(&s).await.unwrap();
    assert_eq!(store.session("h1").await.unwrap(), Some(s.clone()));
    store.delete_session("h1").await.unwrap();
    assert_eq!(store.session("h1").await.unwrap(), None);
    store.create_session(&s).await.unwrap();

    let code = LoginCode { code_hash: "k".into(), username: "yamada".into(), expires_ms: T0 + 100 };
    store.create_login_code(&code).await.unwrap();
    assert_eq!(store.redeem_login_code("k", T0).await.unwrap().as_deref(), Some("yamada"));
    assert_eq!(store.redeem_login_code("k", T0).await.unwrap(), None, "a code works once");
    store.create_login_code(&LoginCode { code_hash: "late".into(), ..code }).await.unwrap();
    assert_eq!(store.redeem_login_code("late", T0 + 100).await.unwrap(), None, "expired");

    assert!(store.purge_expired(T0 + 50).await.unwrap() >= 1);
    assert_eq!(store.session("h1").await.unwrap(), None);
}

pub async fn admissions_beds_and_bindings_enforce_one_to_one<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let new = |pid: &str, bed: &str| NewAdmission {
        patient_id: pid.into(),
        name: format!("{pid} name"),
        gestational_age: GestationalAge::new(38, 2).unwrap(),
        bed: bed.into(),
    };
    assert!(
        matches!(store.admit(&new("P1", "1"), "u", T0).await, Err(StoreError::NotFound(_))),
        "unknown bed"
    );
    for (i, b) in ["1", "2"].iter().enumerate() {
        store.put_bed(&Bed { bed: (*b).into(), display_order: i as i64 }).await.unwrap();
    }
    store.put_bed(&Bed { bed: "2".into(), display_order: -1 }).await.unwrap();
    assert_eq!(
        store.beds().await.unwrap().iter().map(|b| b.bed.as_str()).collect::<Vec<_>>(),
        vec!["2", "1"]
    );

    let a1 = store.admit(&new("P1", "1"), "u", T0).await.unwrap();
    assert_eq!(
        (a1.patient_id.as_str(), a1.bed.as_str(), a1.admitted_by.as_str()),
        ("P1", "1", "u")
    );
    assert!(
        matches!(store.admit(&new("P2", "1"), "u", T0).await, Err(StoreError::Conflict(_))),
        "bed occupied"
    );
    assert!(
        matches!(store.admit(&new("P1", "2"), "u", T0).await, Err(StoreError::Conflict(_))),
        "already admitted"
    );
    let a2 = store.admit(&new("P2", "2"), "u", T0).await.unwrap();
    assert_eq!(store.active_admissions().await.unwrap().len(), 2);

    let s = sid("s/g/d");
    let b1 = store.bind(a1.admission_id, &s, 100, "u", T0).await.unwrap();
    assert_eq!((b1.from_seq, b1.to_seq, b1.admission_id), (100, None, a1.admission_id));
    assert!(
        matches!(store.bind(a2.admission_id, &s, 100, "u", T0).await, Err(StoreError::Conflict(_))),
        "stream taken"
    );
    assert!(
        matches!(
            store.bind(a1.admission_id, &sid("s/g/e"), 0, "u", T0).await,
            Err(StoreError::Conflict(_))
        ),
        "patient has one"
    );
    assert_eq!(store.active_bindings().await.unwrap(), vec![b1.clone()]);

    let ended = store.unbind(a1.admission_id, 250, T0 + 1).await.unwrap();
    assert_eq!(ended.to_seq, Some(250));
    assert!(matches!(store.unbind(a1.admission_id, 300, T0).await, Err(StoreError::NotFound(_))));
    let b2 = store.bind(a2.admission_id, &s, 250, "u", T0 + 2).await.unwrap();
    // Discharge ends the binding; a binding never ends before it began.
    let d = store.discharge(a2.admission_id, 10, T0 + 3).await.unwrap();
    assert_eq!(d.discharged_ms, Some(T0 + 3));
    let hist = store.bindings_of_admission(a2.admission_id).await.unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!((hist[0].binding_id, hist[0].to_seq), (b2.binding_id, Some(250)));
    assert!(matches!(store.discharge(a2.admission_id, 0, T0).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.discharge(999, 0, T0).await, Err(StoreError::NotFound(_))));
    assert!(
        matches!(store.bind(a2.admission_id, &s, 0, "u", T0).await, Err(StoreError::Conflict(_))),
        "discharged"
    );
    // The bed is free again; the patient can be re-admitted.
    let a3 = store.admit(&new("P2", "2"), "u", T0 + 4).await.unwrap();
    assert_ne!(a3.admission_id, a2.admission_id);
    assert_eq!(
        store.admission(a2.admission_id).await.unwrap().unwrap().discharged_ms,
        Some(T0 + 3)
    );
}

pub async fn audit_log_is_append_only_and_pages_newest_first<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = AuditEntry {
            at_ms: T0 + i,
            actor: (i % 2 == 0).then(|| "yamada".to_owned()),
            role: (i % 2 == 0).then_some(Role::Midwife),
            action: "history.read".into(),
            target: format!("patient:P{i}"),
            outcome: if i == 3 { AuditOutcome::Denied } else { AuditOutcome::Ok },
            remote: "127.0.0.1:5000".into(),
            detail: String::new(),
        };
        ids.push(store.append_audit(&e).await.unwrap());
    }
    let page = store.audit(AuditQuery { before_id: None, limit: 2 }).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[4], ids[3]]);
    assert_eq!(page[1].entry.outcome, AuditOutcome::Denied);
    assert_eq!(page[1].entry.actor, None);
    let next = store.audit(AuditQuery { before_id: Some(ids[3]), limit: 10 }).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[2], ids[1], ids[0]]);
    assert_eq!(next[0].entry.target, "patient:P2");
}

/// Alarm history: raised with the binding, acknowledged once (who, when), cleared once, read
/// newest first per admission or open only.
pub async fn alarm_history_records_acknowledgement_and_clearing_once<F: StoreFactory>(f: F) {
    use monitor_server::model::{AlarmKind, AlarmPriority, NewAlarm};
    use monitor_server::store::AlarmQuery;
    let (store, _g) = f.make().await;
    for b in ["1", "2"] {
        store.put_bed(&Bed { bed: b.into(), display_order: 0 }).await.unwrap();
    }
    let admit = |pid: &'static str, bed: &'static str| NewAdmission {
        patient_id: pid.into(),
        name: pid.into(),
        gestational_age: GestationalAge::new(39, 0).unwrap(),
        bed: bed.into(),
    };
    let a1 = store.admit(&admit("P1", "1"), "u", T0).await.unwrap();
    let a2 = store.admit(&admit("P2", "2"), "u", T0).await.unwrap();
    let b1 = store.bind(a1.admission_id, &sid("s/g/a"), 0, "u", T0).await.unwrap();
    let b2 = store.bind(a2.admission_id, &sid("s/g/b"), 7, "u", T0).await.unwrap();
    let alarm = |a: &monitor_server::model::Admission,
                 b: &monitor_server::model::Binding,
                 kind,
                 priority,
                 at| NewAlarm {
        admission_id: a.admission_id,
        binding_id: b.binding_id,
        stream: b.stream.clone(),
        kind,
        priority,
        raised_ms: at,
        raised_seq: 1 << 40,
        detail: format!("{kind:?} at {at}"),
    };
    let n1 = alarm(&a1, &b1, AlarmKind::Pathological, AlarmPriority::High, T0 + 10);
    let n2 = alarm(&a1, &b1, AlarmKind::SignalLoss, AlarmPriority::Low, T0 + 20);
    let n3 = alarm(&a2, &b2, AlarmKind::Tachysystole, AlarmPriority::Medium, T0 + 15);
    let id1 = store.insert_alarm(&n1).await.unwrap();
    let id2 = store.insert_alarm(&n2).await.unwrap();
    let id3 = store.insert_alarm(&n3).await.unwrap();
    assert!(id1 != id2 && id2 != id3 && id1 != id3);

    let everything =
        AlarmQuery { admission_id: None, open_only: false, since_ms: i64::MIN, limit: 100 };
    let all = store.alarms(everything).await.unwrap();
    assert_eq!(all.iter().map(|r| r.alarm_id).collect::<Vec<_>>(), vec![id2, id3, id1]);
    assert_eq!(all[2].alarm, n1, "stored exactly, u64 sequence included");
    assert_eq!((all[2].acknowledged_ms, all[2].cleared_ms), (None, None));

    // Acknowledged once: the first stands.
    let acked = store.acknowledge_alarm(id1, "yamada", T0 + 30).await.unwrap();
    assert_eq!(acked.alarm_id, id1);
    assert_eq!(acked.acknowledged_ms, Some(T0 + 30));
    assert_eq!(acked.acknowledged_by.as_deref(), Some("yamada"));
    assert!(matches!(
        store.acknowledge_alarm(id1, "sasaki", T0 + 40).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.acknowledge_alarm(id3 + 1000, "yamada", T0).await,
        Err(StoreError::NotFound(_))
    ));

    // Cleared once: clearing again changes nothing.
    store.clear_alarm(id2, T0 + 50).await.unwrap();
    store.clear_alarm(id2, T0 + 60).await.unwrap();
    assert!(matches!(store.clear_alarm(id3 + 1000, T0).await, Err(StoreError::NotFound(_))));

    let p1 = store
        .alarms(AlarmQuery { admission_id: Some(a1.admission_id), ..everything })
        .await
        .unwrap();
    assert_eq!(p1.iter().map(|r| r.alarm_id).collect::<Vec<_>>(), vec![id2, id1]);
    assert_eq!(p1[0].cleared_ms, Some(T0 + 50));
    assert_eq!(p1[1].acknowledged_by.as_deref(), Some("yamada"));
    assert_eq!(p1[1].cleared_ms, None);

    let open = store.alarms(AlarmQuery { open_only: true, ..everything }).await.unwrap();
    assert_eq!(open.iter().map(|r| r.alarm_id).collect::<Vec<_>>(), vec![id3, id1]);
    let recent = store.alarms(AlarmQuery { since_ms: T0 + 15, limit: 1, ..everything }).await;
    assert_eq!(recent.unwrap().iter().map(|r| r.alarm_id).collect::<Vec<_>>(), vec![id2]);
    let none = store
        .alarms(AlarmQuery { admission_id: Some(a2.admission_id + 100), ..everything })
        .await
        .unwrap();
    assert!(none.is_empty());
}

// ---- instantiation ----------------------------------------------------------------------------

macro_rules! suite {
    ($factory:expr, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                super::$name($factory).await;
            }
        )*
    };
}

mod sqlite {
    use super::Sqlite;
    use monitor_server::store::Store;
    suite!(
        Sqlite,
        samples_round_trip_exactly,
        replays_never_alter_stored_samples,
        load_streams_reports_coverage_gaps_and_dropped_ranges,
        sample_queries_respect_sequence_and_time_bounds,
        events_are_stored_and_read_back,
        staff_sessions_and_login_codes,
        admissions_beds_and_bindings_enforce_one_to_one,
        audit_log_is_append_only_and_pages_newest_first,
        alarm_history_records_acknowledgement_and_clearing_once,
    );

    /// SQLite-specific: alarm history is append-only in the schema too: what was raised never
    /// changes, an acknowledgement or clearing stands once recorded, and no row is deleted.
    #[tokio::test]
    async fn schema_keeps_alarm_history() {
        use monitor_server::model::{AlarmKind, AlarmPriority, NewAlarm};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let store = monitor_server::store::SqliteStore::open(&path).await.unwrap();
        store.put_bed(&super::Bed { bed: "1".into(), display_order: 0 }).await.unwrap();
        let a = store
            .admit(
                &super::NewAdmission {
                    patient_id: "P1".into(),
                    name: "n".into(),
                    gestational_age: super::GestationalAge::new(39, 0).unwrap(),
                    bed: "1".into(),
                },
                "u",
                super::T0,
            )
            .await
            .unwrap();
        let b = store.bind(a.admission_id, &super::sid("s/g/d"), 0, "u", super::T0).await.unwrap();
        let id = store
            .insert_alarm(&NewAlarm {
                admission_id: a.admission_id,
                binding_id: b.binding_id,
                stream: b.stream.clone(),
                kind: AlarmKind::Bradycardia,
                priority: AlarmPriority::High,
                raised_ms: super::T0,
                raised_seq: 5,
                detail: "d".into(),
            })
            .await
            .unwrap();
        store.acknowledge_alarm(id, "yamada", super::T0 + 1).await.unwrap();
        store.clear_alarm(id, super::T0 + 2).await.unwrap();
        drop(store);
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        for sql in [
            "UPDATE alarms SET priority = 'low'",
            "UPDATE alarms SET detail = 'x'",
            "UPDATE alarms SET acknowledged_by = 'someone else'",
            "UPDATE alarms SET cleared_ms = NULL",
            "DELETE FROM alarms",
        ] {
            let e = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
    }

    /// SQLite-specific: the schema itself refuses to alter samples or the audit log.
    #[tokio::test]
    async fn schema_refuses_updates_of_samples_and_audit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let store = monitor_server::store::SqliteStore::open(&path).await.unwrap();
        let key = store.ensure_stream(&super::sid("s/g/d"), super::T0).await.unwrap();
        store
            .write_batch(&super::IngestBatch {
                runs: vec![super::run(key, 0, &super::sim_samples(3, 1))],
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .append_audit(&super::AuditEntry {
                at_ms: 1,
                actor: None,
                role: None,
                action: "a".into(),
                target: "t".into(),
                outcome: super::AuditOutcome::Ok,
                remote: "r".into(),
                detail: String::new(),
            })
            .await
            .unwrap();
        drop(store);
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        for sql in [
            "UPDATE samples SET fhr1 = 400",
            "UPDATE audit_log SET actor = 'x'",
            "DELETE FROM audit_log",
        ] {
            let e = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            assert!(
                e.to_string().contains("immutable") || e.to_string().contains("append-only"),
                "{sql}: {e}"
            );
        }
    }
}
