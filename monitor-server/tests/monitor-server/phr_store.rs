//! The PHR storage suite: every [`PhrStore`](monitor_server::store::PhrStore) method against a
//! fresh database, generic over a [`StoreFactory`] so it runs unchanged on SQLite (always) and
//! on PostgreSQL (when `TEST_DATABASE_URL` is set; a NOTE on stderr otherwise).
//!
//! Changes are built the way the API builds them: real upload items validated by `phr_wire`,
//! canonical data, `occurred_at` and the warnings `phr_wire::rules` raises.

use std::slice::from_ref;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use monitor_server::model::{Role, Staff};
use monitor_server::store::phr::{
    ClinicRow, ClinicalNote, ConsentRow, MotherRow, MotherToken, NewInvitation, PhrChange,
    RefreshUse, TokenKind, WarningQuery,
};
use monitor_server::store::{Store, StoreError};
use phr_wire::consent::Scope;
use phr_wire::records::{ItemOutcome, RecordKind, UploadItem};
use phr_wire::rules::{Thresholds, WarningKind};
use serde_json::{Value, json};
use uuid::Uuid;

use super::store_suite::StoreFactory;

use ItemOutcome::{Stored, Superseded, Unchanged};

/// The server's "now" in these tests.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn now_ms() -> i64 {
    now().timestamp_millis()
}

/// A change as the upload handler makes it from an item.
fn change(id: Uuid, kind: RecordKind, updated_at: &str, data: Option<Value>) -> PhrChange {
    let item = UploadItem {
        id,
        kind,
        updated_at: updated_at.parse().expect("RFC 3339"),
        deleted: data.is_none(),
        data,
    };
    let change = item.validate(now()).expect("a valid item");
    let data = change.canonical_data();
    let occurred_ms = change.record.as_ref().map_or(0, |r| r.occurred_at().timestamp_millis());
    let warnings = change
        .record
        .as_ref()
        .map_or_else(Vec::new, |r| phr_wire::rules::warnings(r, &Thresholds::default()));
    PhrChange { change, data, occurred_ms, warnings }
}

/// A home blood-pressure reading taken at `measured_at`, changed at `updated_at`.
fn bp(id: Uuid, updated_at: &str, measured_at: &str, sys: f64, dia: f64) -> PhrChange {
    let data = json!({"measured_at": measured_at, "systolic": sys, "diastolic": dia});
    change(id, RecordKind::BpReading, updated_at, Some(data))
}

fn deletion(id: Uuid, kind: RecordKind, updated_at: &str) -> PhrChange {
    change(id, kind, updated_at, None)
}

fn epds(id: Uuid, updated_at: &str, answers: [u8; 10]) -> PhrChange {
    let data = json!({"taken_at": "2026-11-20T20:00:00+09:00", "answers": answers});
    change(id, RecordKind::Epds, updated_at, Some(data))
}

fn rid(n: u128) -> Uuid {
    Uuid::from_u128(0x1000 + n)
}

const CLINIC: &str = "sakura";

/// A clinic, a midwife of it, and a mother registered with its invitation.
async fn setup(store: &dyn Store) -> MotherRow {
    store.put_clinic(&ClinicRow { id: CLINIC.into(), name: "Sakura Clinic".into() }).await.unwrap();
    staff(store, "midwife1").await;
    store.add_clinic_member(CLINIC, "midwife1").await.unwrap();
    register(store, "hanako", 1).await
}

async fn staff(store: &dyn Store, username: &str) {
    let s = Staff {
        username: username.into(),
        display_name: username.to_uppercase(),
        role: Role::Midwife,
        disabled: false,
    };
    store.create_staff(&s, "$argon2id$stub", now_ms()).await.unwrap();
}

async fn invite(store: &dyn Store, code: &str, expires_ms: i64) {
    store
        .create_invitation(&NewInvitation {
            code_hash: code.into(),
            clinic_id: CLINIC.into(),
            created_by: "midwife1".into(),
            created_ms: now_ms() - 1000,
            expires_ms,
        })
        .await
        .unwrap();
}

fn new_mother(login: &str, n: u128) -> MotherRow {
    MotherRow {
        id: Uuid::from_u128(n),
        login: login.into(),
        display_name: format!("{login} san"),
        invited_by: String::new(),
        created_ms: now_ms(),
        disabled: false,
    }
}

async fn register(store: &dyn Store, login: &str, n: u128) -> MotherRow {
    let code = format!("code-{login}");
    invite(store, &code, now_ms() + 86_400_000).await;
    store.register_mother(&code, &new_mother(login, n), "$argon2id$pw", now_ms()).await.unwrap()
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

// ---- records ---------------------------------------------------------------------------------

pub async fn re_upload_is_unchanged_and_takes_no_change_number<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    assert_eq!(store.last_received_ms(m.id).await.unwrap(), None);
    let batch = vec![
        bp(rid(1), "2026-11-21T08:00:00+09:00", "2026-11-21T07:55:00+09:00", 128.0, 82.0),
        epds(rid(2), "2026-11-21T08:01:00+09:00", [0; 10]),
    ];
    assert_eq!(store.upload(m.id, &batch, now_ms()).await.unwrap(), vec![Stored, Stored]);
    let all = store.records_since(m.id, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| (r.seq, r.id)).collect::<Vec<_>>(), [(1, rid(1)), (2, rid(2))]);
    let r = &all[0];
    assert_eq!(r.kind, RecordKind::BpReading);
    assert_eq!(r.data, batch[0].data, "the canonical JSON is stored as given");
    assert!(!r.deleted);
    assert_eq!(r.updated_at, "2026-11-21T08:00:00+09:00", "the phone's offset is kept");
    assert_eq!(r.updated_ms, batch[0].change.updated_at.timestamp_millis());
    assert_eq!(r.occurred_ms, batch[0].occurred_ms);
    assert_eq!(r.received_ms, now_ms());
    assert_eq!(store.last_received_ms(m.id).await.unwrap(), Some(now_ms()));

    // The phone did not see the answer and sends the same batch again.
    let later = now_ms() + 60_000;
    assert_eq!(store.upload(m.id, &batch, later).await.unwrap(), vec![Unchanged, Unchanged]);
    assert!(store.records_since(m.id, 2, 100).await.unwrap().is_empty(), "no new change number");
    assert_eq!(store.records_since(m.id, 0, 100).await.unwrap(), all, "nothing was rewritten");
    assert_eq!(store.last_received_ms(m.id).await.unwrap(), Some(later), "but she was heard from");

    let next = [bp(rid(3), "2026-11-21T09:00:00+09:00", "2026-11-21T08:59:00+09:00", 120.0, 80.0)];
    assert_eq!(store.upload(m.id, &next, later).await.unwrap(), vec![Stored]);
    let new = store.records_since(m.id, 2, 100).await.unwrap();
    assert_eq!(new.iter().map(|r| (r.seq, r.id)).collect::<Vec<_>>(), [(3, rid(3))]);

    assert!(store.upload(m.id, &[], later).await.unwrap().is_empty());
    assert!(not_found(store.upload(Uuid::from_u128(999), &next, later).await));
}

pub async fn the_later_change_wins_in_both_directions<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let id = rid(1);
    let v1 = bp(id, "2026-11-21T08:00:00+09:00", "2026-11-21T07:55:00+09:00", 120.0, 80.0);
    let older = bp(id, "2026-11-21T07:30:00+09:00", "2026-11-21T07:55:00+09:00", 121.0, 81.0);
    let newer = bp(id, "2026-11-21T09:00:00+09:00", "2026-11-21T07:55:00+09:00", 122.0, 82.0);
    assert_eq!(store.upload(m.id, from_ref(&v1), now_ms()).await.unwrap(), vec![Stored]);

    // An older edit arriving late loses and changes nothing.
    assert_eq!(store.upload(m.id, from_ref(&older), now_ms()).await.unwrap(), vec![Superseded]);
    let stored = store.records_since(m.id, 0, 10).await.unwrap();
    assert_eq!((stored.len(), stored[0].seq, &stored[0].data), (1, 1, &v1.data));

    // A newer edit wins and takes a new change number.
    assert_eq!(store.upload(m.id, from_ref(&newer), now_ms()).await.unwrap(), vec![Stored]);
    let stored = store.records_since(m.id, 0, 10).await.unwrap();
    assert_eq!((stored.len(), stored[0].seq, &stored[0].data), (1, 2, &newer.data));
    assert_eq!(store.upload(m.id, &[v1], now_ms()).await.unwrap(), vec![Superseded]);

    // Within one batch, earlier changes of the batch count: the later one stays.
    let id2 = rid(2);
    let late = bp(id2, "2026-11-21T10:00:00+09:00", "2026-11-21T07:00:00+09:00", 118.0, 78.0);
    let early = bp(id2, "2026-11-21T09:30:00+09:00", "2026-11-21T07:00:00+09:00", 119.0, 79.0);
    assert_eq!(
        store.upload(m.id, &[late.clone(), early], now_ms()).await.unwrap(),
        vec![Stored, Superseded]
    );
    let r = store.records_since(m.id, 2, 10).await.unwrap();
    assert_eq!((r.len(), r[0].seq, &r[0].data), (1, 3, &late.data));

    // Two different edits at the same instant: the same one wins whatever the arrival order.
    let at = "2026-11-21T10:30:00+09:00";
    let a = bp(rid(3), at, "2026-11-21T07:00:00+09:00", 130.0, 80.0);
    let b = bp(rid(3), at, "2026-11-21T07:00:00+09:00", 131.0, 80.0);
    let a2 = bp(rid(4), at, "2026-11-21T07:00:00+09:00", 130.0, 80.0);
    let b2 = bp(rid(4), at, "2026-11-21T07:00:00+09:00", 131.0, 80.0);
    store.upload(m.id, &[a, b2], now_ms()).await.unwrap();
    let second = store.upload(m.id, &[b, a2], now_ms()).await.unwrap();
    assert_eq!(second.iter().filter(|o| **o == Stored).count(), 1, "{second:?}");
    let live = store.records_of(m.id, &[RecordKind::BpReading], 10).await.unwrap();
    let data = |n| live.iter().find(|r| r.id == rid(n)).unwrap().data.clone();
    assert_eq!(data(3), data(4), "both orders end with the same version");
}

pub async fn a_deletion_wins_a_tie_and_leaves_a_tombstone<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let id = rid(1);
    let at = "2026-11-21T08:00:00+09:00";
    let edit = bp(id, at, "2026-11-21T07:55:00+09:00", 120.0, 80.0);
    store.upload(m.id, from_ref(&edit), now_ms()).await.unwrap();
    let del = deletion(id, RecordKind::BpReading, at);
    assert_eq!(store.upload(m.id, from_ref(&del), now_ms()).await.unwrap(), vec![Stored]);
    let t = store.records_since(m.id, 1, 10).await.unwrap();
    assert_eq!(t.len(), 1);
    assert!(t[0].deleted && t[0].data.is_none() && t[0].seq == 2, "{:?}", t[0]);
    assert!(store.records_of(m.id, &RecordKind::ALL, 10).await.unwrap().is_empty());

    // The edit of the same instant arriving again loses to the deletion; the deletion again is
    // a no-op.
    assert_eq!(store.upload(m.id, &[edit], now_ms()).await.unwrap(), vec![Superseded]);
    assert_eq!(store.upload(m.id, &[del], now_ms()).await.unwrap(), vec![Unchanged]);
    // A later edit brings the record back under the same id.
    let back = bp(id, "2026-11-21T08:05:00+09:00", "2026-11-21T07:55:00+09:00", 121.0, 80.0);
    assert_eq!(store.upload(m.id, from_ref(&back), now_ms()).await.unwrap(), vec![Stored]);
    let live = store.records_of(m.id, &[RecordKind::BpReading], 10).await.unwrap();
    assert_eq!((live.len(), live[0].seq, &live[0].data), (1, 3, &back.data));
    // A deletion of a record the server never saw is kept as a tombstone too.
    let ghost = deletion(rid(9), RecordKind::Note, at);
    assert_eq!(store.upload(m.id, &[ghost], now_ms()).await.unwrap(), vec![Stored]);
    assert!(store.records_since(m.id, 3, 10).await.unwrap()[0].deleted);
}

pub async fn records_since_pages_in_change_number_order<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    for batch in 0..3u128 {
        let items: Vec<_> = (0..3u128)
            .map(|i| {
                let n = batch * 3 + i;
                let measured = format!("2026-11-{:02}T07:00:00+09:00", 10 + n);
                bp(rid(n), "2026-11-21T08:00:00+09:00", &measured, 110.0 + n as f64, 70.0)
            })
            .collect();
        store.upload(m.id, &items, now_ms()).await.unwrap();
    }
    let mut cursor = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.records_since(m.id, cursor, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().unwrap().seq;
        pages.push(page.iter().map(|r| r.seq).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9]]);

    // An edit of the first record moves it past the cursor; nothing else comes again.
    let edit = bp(rid(0), "2026-11-21T09:00:00+09:00", "2026-11-10T07:00:00+09:00", 140.0, 70.0);
    store.upload(m.id, &[edit], now_ms()).await.unwrap();
    let new = store.records_since(m.id, cursor, 4).await.unwrap();
    assert_eq!(new.iter().map(|r| (r.seq, r.id)).collect::<Vec<_>>(), [(10, rid(0))]);
    let all = store.records_since(m.id, 0, 100).await.unwrap();
    assert_eq!(all.len(), 9, "one row per record");

    // records_of: live records of the asked kinds, newest occurrence first, limited.
    let newest = store.records_of(m.id, &[RecordKind::BpReading], 2).await.unwrap();
    assert_eq!(newest.iter().map(|r| r.id).collect::<Vec<_>>(), [rid(8), rid(7)]);
    assert!(store.records_of(m.id, &[RecordKind::Epds], 10).await.unwrap().is_empty());
    assert!(store.records_of(m.id, &[], 10).await.unwrap().is_empty());
}

pub async fn another_mothers_same_uuid_is_her_own_record<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let a = setup(&*store).await;
    let b = register(&*store, "yuki", 2).await;
    let id = rid(1);
    let hers = bp(id, "2026-11-21T08:00:00+09:00", "2026-11-21T07:55:00+09:00", 120.0, 80.0);
    // Same id, later change: were it shared, this would overwrite hers.
    let other = bp(id, "2026-11-21T09:00:00+09:00", "2026-11-21T07:55:00+09:00", 150.0, 95.0);
    assert_eq!(store.upload(a.id, from_ref(&hers), now_ms()).await.unwrap(), vec![Stored]);
    assert_eq!(store.upload(b.id, from_ref(&other), now_ms()).await.unwrap(), vec![Stored]);
    let del = deletion(id, RecordKind::BpReading, "2026-11-21T10:00:00+09:00");
    assert_eq!(store.upload(b.id, &[del], now_ms()).await.unwrap(), vec![Stored]);

    let ra = store.records_since(a.id, 0, 10).await.unwrap();
    assert_eq!((ra.len(), ra[0].seq, &ra[0].data, ra[0].deleted), (1, 1, &hers.data, false));
    let rb = store.records_since(b.id, 0, 10).await.unwrap();
    assert_eq!((rb.len(), rb[0].seq, rb[0].deleted), (1, 2, true), "her own numbering");
    // Warnings follow the mother too: b's same-day reading is b's alone.
    let q = |m: Uuid| WarningQuery { mothers: vec![m], open_only: false, limit: 10 };
    assert!(store.warnings(&q(a.id)).await.unwrap().is_empty());
    let wb = store.warnings(&q(b.id)).await.unwrap();
    assert_eq!(
        wb.iter().map(|w| (w.mother_id, w.kind)).collect::<Vec<_>>(),
        [(b.id, WarningKind::BpSameDay)]
    );
}

pub async fn concurrent_uploads_number_changes_without_gaps<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let mother = setup(&*store).await.id;
    let uploads = (0..8u128).map(|u| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let items: Vec<_> = (0..5u128)
                .map(|i| {
                    bp(
                        rid(u * 5 + i),
                        "2026-11-21T08:00:00+09:00",
                        "2026-11-21T07:00:00+09:00",
                        120.0,
                        80.0,
                    )
                })
                .collect();
            store.upload(mother, &items, now_ms()).await.unwrap()
        })
    });
    for r in futures::future::join_all(uploads).await {
        assert_eq!(r.unwrap(), vec![Stored; 5]);
    }
    let all = store.records_since(mother, 0, 1000).await.unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<i64>>());
    // One batch's changes are numbered consecutively: batches did not interleave.
    for chunk in all.chunks(5) {
        let batch = (chunk[0].id.as_u128() - 0x1000) / 5;
        assert!(chunk.iter().all(|r| (r.id.as_u128() - 0x1000) / 5 == batch), "{chunk:?}");
    }
}

pub async fn a_full_batch_is_stored_whole_with_consecutive_numbers<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let n = phr_wire::MAX_BATCH_ITEMS as u128;
    let items: Vec<_> = (0..n)
        .map(|i| {
            // Every tenth reading is in the same-day tier.
            let sys = if i % 10 == 0 { 145.0 } else { 118.0 };
            let measured = format!("2026-11-{:02}T07:00:00+09:00", 1 + i % 20);
            bp(rid(i), "2026-11-21T08:00:00+09:00", &measured, sys, 76.0)
        })
        .collect();
    let outcomes = store.upload(m.id, &items, now_ms()).await.unwrap();
    assert_eq!(outcomes, vec![Stored; items.len()]);
    let all = store.records_since(m.id, 0, 1000).await.unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=n as i64).collect::<Vec<_>>());
    assert!(all.iter().zip(&items).all(|(r, c)| r.id == c.change.id && r.data == c.data));
    let q = WarningQuery { mothers: vec![m.id], open_only: true, limit: 1000 };
    assert_eq!(store.warnings(&q).await.unwrap().len(), items.len() / 10);
    // The same batch again changes nothing.
    let again = store.upload(m.id, &items, now_ms()).await.unwrap();
    assert_eq!(again, vec![Unchanged; items.len()]);
    assert!(store.records_since(m.id, n as i64, 10).await.unwrap().is_empty());
}

// ---- warnings --------------------------------------------------------------------------------

pub async fn warnings_are_raised_once_per_record_and_kind<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let measured = "2026-11-21T07:55:00+09:00";
    let high = bp(rid(1), "2026-11-21T08:00:00+09:00", measured, 165.0, 112.0);
    assert_eq!(high.warnings.len(), 1, "an emergency reading raises one warning");
    let normal = bp(rid(2), "2026-11-21T08:00:00+09:00", measured, 118.0, 76.0);
    assert!(normal.warnings.is_empty());
    let sad = epds(rid(3), "2026-11-21T08:00:00+09:00", [3, 3, 0, 3, 3, 0, 0, 0, 0, 2]);
    assert_eq!(sad.warnings.len(), 2, "positive and self-harm");
    store.upload(m.id, &[high.clone(), normal, sad.clone()], now_ms()).await.unwrap();

    let all = WarningQuery { mothers: vec![m.id], open_only: false, limit: 100 };
    let first = store.warnings(&all).await.unwrap();
    let mut kinds: Vec<_> = first.iter().map(|w| (w.record_id, w.kind)).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (rid(1), WarningKind::BpEmergency),
            (rid(3), WarningKind::EpdsPositive),
            (rid(3), WarningKind::EpdsSelfHarm),
        ]
    );
    let w = first.iter().find(|w| w.record_id == rid(1)).unwrap();
    assert_eq!(w.detail, high.warnings[0].detail);
    assert_eq!((w.occurred_ms, w.raised_ms, w.mother_id), (high.occurred_ms, now_ms(), m.id));
    assert_eq!((&w.ack_by, &w.ack_clinic, w.ack_ms), (&None, &None, None));
    assert_eq!(store.warning(w.id).await.unwrap().as_ref(), Some(w));

    // Re-sent, and edited with other emergency values later: still one warning of that kind.
    store.upload(m.id, &[high, sad], now_ms() + 1).await.unwrap();
    let edited = bp(rid(1), "2026-11-21T08:30:00+09:00", measured, 170.0, 115.0);
    assert_eq!(store.upload(m.id, &[edited], now_ms() + 2).await.unwrap(), vec![Stored]);
    assert_eq!(store.warnings(&all).await.unwrap(), first);

    // A change that loses raises nothing: this older emergency version of a normal reading.
    let n = bp(rid(4), "2026-11-21T09:00:00+09:00", measured, 118.0, 76.0);
    let stale = bp(rid(4), "2026-11-21T08:50:00+09:00", measured, 170.0, 115.0);
    assert_eq!(store.upload(m.id, &[n, stale], now_ms()).await.unwrap(), vec![Stored, Superseded]);
    assert_eq!(store.warnings(&all).await.unwrap().len(), 3);

    // Newest occurrence first; limits; the mothers filter.
    let later = bp(rid(5), "2026-11-21T09:00:00+09:00", "2026-11-21T08:58:00+09:00", 142.0, 80.0);
    store.upload(m.id, &[later], now_ms()).await.unwrap();
    let top = store.warnings(&WarningQuery { limit: 1, ..all.clone() }).await.unwrap();
    assert_eq!((top[0].record_id, top[0].kind), (rid(5), WarningKind::BpSameDay));
    let none = WarningQuery { mothers: vec![], open_only: false, limit: 100 };
    assert!(store.warnings(&none).await.unwrap().is_empty());
    let stranger = WarningQuery { mothers: vec![Uuid::from_u128(77)], ..all };
    assert!(store.warnings(&stranger).await.unwrap().is_empty());
    assert_eq!(store.warning(123_456).await.unwrap(), None);
}

pub async fn the_first_acknowledgement_stands<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    staff(&*store, "midwife2").await;
    let high = bp(rid(1), "2026-11-21T08:00:00+09:00", "2026-11-21T07:55:00+09:00", 165.0, 80.0);
    let same_day =
        bp(rid(2), "2026-11-21T08:00:00+09:00", "2026-11-21T07:50:00+09:00", 145.0, 80.0);
    store.upload(m.id, &[high, same_day], now_ms()).await.unwrap();
    let all = WarningQuery { mothers: vec![m.id], open_only: false, limit: 100 };
    let open = WarningQuery { open_only: true, ..all.clone() };
    let ws = store.warnings(&open).await.unwrap();
    assert_eq!(ws.len(), 2);
    let id = ws[0].id;

    let t = now_ms() + 5_000;
    let acked = store.acknowledge_warning(id, "midwife1", CLINIC, t).await.unwrap();
    assert_eq!(
        (acked.id, acked.ack_by.as_deref(), acked.ack_clinic.as_deref(), acked.ack_ms),
        (id, Some("midwife1"), Some(CLINIC), Some(t))
    );
    let again = store.acknowledge_warning(id, "midwife2", CLINIC, t + 1).await;
    assert!(conflict(again), "the second acknowledgement is refused");
    assert_eq!(store.warning(id).await.unwrap(), Some(acked));
    assert!(not_found(store.acknowledge_warning(id + 1000, "midwife1", CLINIC, t).await));

    let still_open = store.warnings(&open).await.unwrap();
    assert_eq!(still_open.iter().map(|w| w.id).collect::<Vec<_>>(), [ws[1].id]);
    assert_eq!(store.warnings(&all).await.unwrap().len(), 2);

    // Two clinicians at once: exactly one acknowledgement is recorded.
    let other = ws[1].id;
    let (s1, s2) = (Arc::clone(&store), Arc::clone(&store));
    let (a, b) = tokio::join!(
        async move { s1.acknowledge_warning(other, "midwife1", CLINIC, t).await },
        async move { s2.acknowledge_warning(other, "midwife2", CLINIC, t).await },
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    let winner = a.or(b).unwrap();
    assert_eq!(store.warning(other).await.unwrap(), Some(winner));
}

// ---- accounts and tokens ---------------------------------------------------------------------

pub async fn invitations_are_single_use_and_expire<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    store.put_clinic(&ClinicRow { id: CLINIC.into(), name: "Sakura".into() }).await.unwrap();
    let unknown_clinic = NewInvitation {
        code_hash: "x".into(),
        clinic_id: "nowhere".into(),
        created_by: "midwife1".into(),
        created_ms: now_ms(),
        expires_ms: now_ms() + 1000,
    };
    assert!(not_found(store.create_invitation(&unknown_clinic).await));

    let t = now_ms();
    invite(&*store, "good", t + 60_000).await;
    assert!(conflict(
        store
            .create_invitation(&NewInvitation {
                code_hash: "good".into(),
                clinic_id: CLINIC.into(),
                created_by: "midwife1".into(),
                created_ms: t,
                expires_ms: t + 60_000,
            })
            .await
    ));
    let mut hanako = new_mother("hanako", 1);
    hanako.invited_by = "ignored".into();
    let row = store.register_mother("good", &hanako, "$argon2id$h", t).await.unwrap();
    assert_eq!(row, MotherRow { invited_by: CLINIC.into(), ..hanako.clone() });
    assert_eq!(store.mother(hanako.id).await.unwrap(), Some(row.clone()));
    let creds = store.mother_credentials("hanako").await.unwrap().unwrap();
    assert_eq!((creds.mother, creds.password_hash.as_str()), (row, "$argon2id$h"));
    assert_eq!(store.mother_credentials("nobody").await.unwrap(), None);
    assert_eq!(store.mother(Uuid::from_u128(42)).await.unwrap(), None);

    // Used once: a second registration with it is refused.
    let yuki = new_mother("yuki", 2);
    assert!(not_found(store.register_mother("good", &yuki, "$h", t).await));
    assert!(not_found(store.register_mother("never-issued", &yuki, "$h", t).await));
    // Expired: refused at and after its expiry.
    invite(&*store, "old", t + 1000).await;
    assert!(not_found(store.register_mother("old", &yuki, "$h", t + 1000).await));
    assert!(not_found(store.register_mother("old", &yuki, "$h", t + 5000).await));

    // A taken login rolls back: the invitation stays usable with another login.
    invite(&*store, "fresh", t + 60_000).await;
    let taken = MotherRow { login: "hanako".into(), ..yuki.clone() };
    assert!(conflict(store.register_mother("fresh", &taken, "$h", t).await));
    assert_eq!(store.mother(yuki.id).await.unwrap(), None, "nothing of her was kept");
    let ok = store.register_mother("fresh", &yuki, "$h", t).await.unwrap();
    assert_eq!(ok.login, "yuki");
    let kei = new_mother("kei", 3);
    assert!(not_found(store.register_mother("fresh", &kei, "$h", t).await), "now it is used");
}

fn token(hash: &str, mother: Uuid, kind: TokenKind, family: &str, expires_ms: i64) -> MotherToken {
    MotherToken {
        token_hash: hash.into(),
        mother_id: mother,
        kind,
        family: family.into(),
        device: "Pixel 8".into(),
        created_ms: now_ms(),
        expires_ms,
        used_ms: None,
        revoked_ms: None,
    }
}

pub async fn expired_tokens_and_unused_invitations_are_purged<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let t = now_ms();
    let old = token("old", m.id, TokenKind::Access, "phone", t + 1_000);
    let live = token("live", m.id, TokenKind::Refresh, "phone", t + 60_000);
    store.insert_mother_tokens(&[old, live.clone()]).await.unwrap();
    invite(&*store, "stale-code", t + 1_000).await;
    invite(&*store, "fresh-code", t + 60_000).await;
    assert!(store.purge_expired(t + 2_000).await.unwrap() >= 2);
    assert_eq!(store.mother_token("old").await.unwrap(), None);
    assert_eq!(store.mother_token("live").await.unwrap(), Some(live));
    let late = new_mother("late@example.jp", 77);
    assert!(not_found(store.register_mother("stale-code", &late, "hash", t + 2_000).await));
    assert!(store.register_mother("fresh-code", &late, "hash", t + 2_000).await.is_ok());
}

pub async fn refresh_tokens_rotate_and_a_replay_revokes_the_family<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let (t, day) = (now_ms(), 86_400_000);
    let (a1, r1) = (
        token("a1", m.id, TokenKind::Access, "phone", t + 900_000),
        token("r1", m.id, TokenKind::Refresh, "phone", t + 30 * day),
    );
    let tablet = [
        token("a9", m.id, TokenKind::Access, "tablet", t + 900_000),
        token("r9", m.id, TokenKind::Refresh, "tablet", t + 30 * day),
    ];
    store.insert_mother_tokens(&[a1.clone(), r1.clone()]).await.unwrap();
    store.insert_mother_tokens(&tablet).await.unwrap();
    assert_eq!(store.mother_token("a1").await.unwrap(), Some(a1.clone()));
    assert!(conflict(store.insert_mother_tokens(from_ref(&a1)).await));
    let stranger = token("zz", Uuid::from_u128(5), TokenKind::Access, "x", t + 1);
    assert!(not_found(store.insert_mother_tokens(&[stranger]).await));

    // Exchanged once: marked used, the caller issues the next pair in the family.
    let used = match store.use_refresh_token("r1", t + 10).await.unwrap() {
        RefreshUse::Fresh(tok) => tok,
        other => panic!("expected Fresh, got {other:?}"),
    };
    assert_eq!(used, MotherToken { used_ms: Some(t + 10), ..r1.clone() });
    let (a2, r2) = (
        token("a2", m.id, TokenKind::Access, "phone", t + 900_000),
        token("r2", m.id, TokenKind::Refresh, "phone", t + 30 * day),
    );
    store.insert_mother_tokens(&[a2, r2]).await.unwrap();

    // The spent token comes back: a replay. Every token of the family is revoked, others not.
    let replay = store.use_refresh_token("r1", t + 20).await.unwrap();
    assert_eq!(replay, RefreshUse::Replayed { mother_id: m.id, family: "phone".into() });
    for h in ["a1", "r1", "a2", "r2"] {
        let tok = store.mother_token(h).await.unwrap().unwrap();
        assert_eq!(tok.revoked_ms, Some(t + 20), "{h}");
    }
    assert_eq!(store.mother_token("r9").await.unwrap().unwrap().revoked_ms, None);
    // The new refresh token of that family is now dead too.
    assert!(matches!(
        store.use_refresh_token("r2", t + 30).await.unwrap(),
        RefreshUse::Replayed { .. }
    ));

    assert_eq!(store.use_refresh_token("nope", t).await.unwrap(), RefreshUse::Unknown);
    assert_eq!(
        store.use_refresh_token("a9", t).await.unwrap(),
        RefreshUse::Unknown,
        "an access token is not a refresh token"
    );
    assert_eq!(
        store.use_refresh_token("r9", t + 30 * day).await.unwrap(),
        RefreshUse::Expired { mother_id: m.id }
    );
    assert_eq!(store.mother_token("r9").await.unwrap().unwrap().used_ms, None, "untouched");

    // Logout: how many were live, once.
    assert_eq!(store.revoke_token_family("tablet", t + 40).await.unwrap(), 2);
    assert_eq!(store.revoke_token_family("tablet", t + 50).await.unwrap(), 0);
    assert_eq!(store.mother_token("a9").await.unwrap().unwrap().revoked_ms, Some(t + 40));

    // Two exchanges of one token at once: exactly one is Fresh.
    let r3 = token("r3", m.id, TokenKind::Refresh, "laptop", t + day);
    store.insert_mother_tokens(&[r3]).await.unwrap();
    let (s1, s2) = (Arc::clone(&store), Arc::clone(&store));
    let (x, y) = tokio::join!(
        async move { s1.use_refresh_token("r3", t + 60).await.unwrap() },
        async move { s2.use_refresh_token("r3", t + 60).await.unwrap() },
    );
    let fresh = [&x, &y].iter().filter(|u| matches!(u, RefreshUse::Fresh(_))).count();
    assert_eq!(fresh, 1, "{x:?} {y:?}");
}

// ---- consent, clinics, notes -----------------------------------------------------------------

pub async fn consent_is_granted_replaced_revoked_and_kept_as_history<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let other = register(&*store, "yuki", 2).await;
    store.put_clinic(&ClinicRow { id: "ume".into(), name: "Ume Hospital".into() }).await.unwrap();
    let t = now_ms();

    let g1 = store.grant_consent(m.id, CLINIC, &[Scope::Epds, Scope::BloodPressure], t).await;
    let g1 = g1.unwrap();
    assert_eq!(
        (g1.mother_id, g1.clinic_id.as_str(), g1.clinic_name.as_str()),
        (m.id, CLINIC, "Sakura Clinic")
    );
    assert_eq!(g1.scope, [Scope::BloodPressure, Scope::Epds], "stored normalised");
    assert_eq!((g1.granted_ms, g1.revoked_ms), (t, None));

    // A new grant to the same clinic replaces the active one at that instant.
    let g2 = store.grant_consent(m.id, CLINIC, &[Scope::Notes], t + 10).await.unwrap();
    let g3 = store.grant_consent(m.id, "ume", &[Scope::Checkups], t + 20).await.unwrap();
    let g4 = store.grant_consent(other.id, CLINIC, &Scope::ALL, t + 30).await.unwrap();
    let history = store.consents_of_mother(m.id).await.unwrap();
    let past = ConsentRow { revoked_ms: Some(t + 10), ..g1.clone() };
    assert_eq!(history, [g3.clone(), g2.clone(), past]);
    assert_ne!(g1.id, g2.id);

    let clinic_view = store.active_consents_for(&[CLINIC.to_string()]).await.unwrap();
    assert_eq!(clinic_view, [g4.clone(), g2.clone()], "every mother's, newest first");
    let both = store.active_consents_for(&[CLINIC.to_string(), "ume".to_string()]).await;
    assert_eq!(both.unwrap(), [g4.clone(), g3.clone(), g2.clone()]);
    assert!(store.active_consents_for(&[]).await.unwrap().is_empty());

    // Revocation ends it; a second one finds nothing to revoke.
    let rev = store.revoke_consent(m.id, CLINIC, t + 40).await.unwrap();
    assert_eq!(rev, ConsentRow { revoked_ms: Some(t + 40), ..g2.clone() });
    assert!(not_found(store.revoke_consent(m.id, CLINIC, t + 50).await));
    assert!(not_found(store.revoke_consent(m.id, "nowhere", t + 50).await));
    assert_eq!(store.active_consents_for(&[CLINIC.to_string()]).await.unwrap(), [g4]);
    assert_eq!(store.consents_of_mother(m.id).await.unwrap().len(), 3, "history kept");

    assert!(not_found(store.grant_consent(m.id, "nowhere", &[Scope::Epds], t).await));
    assert!(not_found(store.grant_consent(Uuid::from_u128(9), CLINIC, &[Scope::Epds], t).await));
}

pub async fn clinics_staff_membership_and_clinical_notes<F: StoreFactory>(f: F) {
    let (store, _g) = f.make().await;
    let m = setup(&*store).await;
    let other = register(&*store, "yuki", 2).await;
    store.put_clinic(&ClinicRow { id: "ume".into(), name: "Ume".into() }).await.unwrap();
    store.put_clinic(&ClinicRow { id: "ume".into(), name: "Ume Hospital".into() }).await.unwrap();
    assert_eq!(
        store.clinics().await.unwrap(),
        [
            ClinicRow { id: CLINIC.into(), name: "Sakura Clinic".into() },
            ClinicRow { id: "ume".into(), name: "Ume Hospital".into() },
        ]
    );

    staff(&*store, "dr_sato").await;
    assert!(store.clinics_of_staff("dr_sato").await.unwrap().is_empty());
    store.add_clinic_member("ume", "dr_sato").await.unwrap();
    store.add_clinic_member(CLINIC, "dr_sato").await.unwrap();
    store.add_clinic_member("ume", "dr_sato").await.unwrap();
    assert_eq!(store.clinics_of_staff("dr_sato").await.unwrap(), [CLINIC, "ume"]);
    assert_eq!(store.clinics_of_staff("midwife1").await.unwrap(), [CLINIC]);
    assert!(not_found(store.add_clinic_member("nowhere", "dr_sato").await));
    assert!(not_found(store.add_clinic_member("ume", "nobody").await));
    assert!(store.clinics_of_staff("nobody").await.unwrap().is_empty());

    let note = |n: u128, mother: Uuid, at: i64| ClinicalNote {
        id: Uuid::from_u128(0xA000 + n),
        mother_id: mother,
        clinic_id: CLINIC.into(),
        author: "dr_sato".into(),
        attested_ms: at,
        lang: "ja".into(),
        soap: r#"{"subjective":"頭痛","objective":"","assessment":"","plan":""}"#.into(),
        composition: r#"{"resourceType":"Composition"}"#.into(),
        provenance: r#"{"resourceType":"Provenance"}"#.into(),
        signature: n.is_multiple_of(2).then(|| "MIIB...".to_string()),
    };
    let t = now_ms();
    let (n1, n2, n3) = (note(1, m.id, t), note(2, m.id, t + 1000), note(3, other.id, t + 500));
    for n in [&n1, &n2, &n3] {
        store.insert_clinical_note(n).await.unwrap();
    }
    assert!(conflict(store.insert_clinical_note(&n1).await), "an id is stored once");
    assert_eq!(store.clinical_notes(m.id).await.unwrap(), [n2, n1]);
    assert_eq!(store.clinical_notes(other.id).await.unwrap(), [n3]);
    assert!(store.clinical_notes(Uuid::from_u128(77)).await.unwrap().is_empty());
    let orphan = note(4, Uuid::from_u128(77), t);
    assert!(not_found(store.insert_clinical_note(&orphan).await));
}

// ---- schema guards ---------------------------------------------------------------------------

/// Statements the schema itself refuses, whatever writes them: an attested note is never
/// altered or deleted, an acknowledgement stands, what a warning was raised for never changes,
/// and a record is either live with data or a tombstone without.
const REFUSED: [&str; 6] = [
    "UPDATE phr_clinical_notes SET soap = '{}'",
    "DELETE FROM phr_clinical_notes",
    "UPDATE phr_warnings SET ack_by = NULL, ack_clinic = NULL, ack_ms = NULL WHERE ack_ms IS NOT NULL",
    "UPDATE phr_warnings SET ack_by = 'midwife1', ack_ms = 1 WHERE ack_ms IS NULL",
    "UPDATE phr_warnings SET kind = 'epds_positive'",
    "UPDATE phr_records SET data = NULL",
];

/// Fills a store with an attested note and one acknowledged and one open warning, then runs
/// [`REFUSED`] through `exec` (a connection of its own, not the store).
async fn schema_guards_hold<Fut>(store: &dyn Store, exec: impl Fn(&'static str) -> Fut)
where
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let m = setup(store).await;
    let measured = "2026-11-21T07:55:00+09:00";
    let readings = [
        bp(rid(1), "2026-11-21T08:00:00+09:00", measured, 165.0, 80.0),
        bp(rid(2), "2026-11-21T08:00:00+09:00", measured, 145.0, 80.0),
    ];
    store.upload(m.id, &readings, now_ms()).await.unwrap();
    let all = WarningQuery { mothers: vec![m.id], open_only: false, limit: 10 };
    let first = store.warnings(&all).await.unwrap()[0].id;
    store.acknowledge_warning(first, "midwife1", CLINIC, now_ms()).await.unwrap();
    let note = ClinicalNote {
        id: Uuid::from_u128(0xA001),
        mother_id: m.id,
        clinic_id: CLINIC.into(),
        author: "midwife1".into(),
        attested_ms: now_ms(),
        lang: "en".into(),
        soap: "{}".into(),
        composition: "{}".into(),
        provenance: "{}".into(),
        signature: None,
    };
    store.insert_clinical_note(&note).await.unwrap();
    let warnings_before = store.warnings(&all).await.unwrap();
    for sql in REFUSED {
        assert!(exec(sql).await.is_err(), "the schema let through: {sql}");
    }
    assert_eq!(store.warnings(&all).await.unwrap(), warnings_before);
    assert_eq!(store.clinical_notes(m.id).await.unwrap(), [note]);
    assert_eq!(store.records_of(m.id, &RecordKind::ALL, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sqlite_schema_keeps_notes_acknowledgements_and_records_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let store = monitor_server::store::SqliteStore::open(&path).await.unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let raw = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    schema_guards_hold(&store, |sql| {
        let raw = raw.clone();
        async move { sqlx::query(sql).execute(&raw).await.map(|r| r.rows_affected()) }
    })
    .await;
}

#[tokio::test]
async fn postgres_schema_keeps_notes_acknowledgements_and_records_whole() {
    let name = "postgres_schema_keeps_notes_acknowledgements_and_records_whole";
    let Some(db) = super::postgres::TestDb::create(name).await else { return };
    let store = db.store().await;
    let raw = sqlx::PgPool::connect(&db.url).await.unwrap();
    schema_guards_hold(&store, |sql| {
        let raw = raw.clone();
        async move { sqlx::query(sql).execute(&raw).await.map(|r| r.rows_affected()) }
    })
    .await;
    raw.close().await;
}

// ---- instantiation ---------------------------------------------------------------------------

macro_rules! phr_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::store_suite::Sqlite).await;
                }
            )*
        }

        /// The same suite against PostgreSQL (a fresh database per test).
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::postgres::TestDb::create(stringify!($name)).await
                    else {
                        return;
                    };
                    super::$name(super::Pg(std::sync::Mutex::new(Some(db)))).await;
                }
            )*
        }
    };
}

/// The factory for PostgreSQL: hands a suite function the database made for its test.
pub struct Pg(std::sync::Mutex<Option<super::postgres::TestDb>>);

impl StoreFactory for Pg {
    type Guard = super::postgres::TestDb;
    async fn make(&self) -> (Arc<dyn Store>, super::postgres::TestDb) {
        let db = self.0.lock().unwrap().take().expect("one store per suite test");
        let store = db.store().await;
        (Arc::new(store), db)
    }
}

phr_suite!(
    re_upload_is_unchanged_and_takes_no_change_number,
    the_later_change_wins_in_both_directions,
    a_deletion_wins_a_tie_and_leaves_a_tombstone,
    records_since_pages_in_change_number_order,
    another_mothers_same_uuid_is_her_own_record,
    concurrent_uploads_number_changes_without_gaps,
    a_full_batch_is_stored_whole_with_consecutive_numbers,
    warnings_are_raised_once_per_record_and_kind,
    the_first_acknowledgement_stands,
    invitations_are_single_use_and_expire,
    refresh_tokens_rotate_and_a_replay_revokes_the_family,
    expired_tokens_and_unused_invitations_are_purged,
    consent_is_granted_replaced_revoked_and_kept_as_history,
    clinics_staff_membership_and_clinical_notes,
);
