//! The demo's PHR: one clinic whose team is the demo's clinicians, and three expectant mothers
//! who consented to it, with two weeks of home blood pressure, check-ups, EPDS results and
//! notes, so the clinicians' "Mothers" view has something true to show:
//!
//! * 高橋 由美: home BP rising over two weeks into the same-day tier (and protein in her urine);
//! * 小川 真央: her latest reading with a headache (emergency), and a positive EPDS with an
//!   answer to item 10;
//! * 森 咲良: normal readings, sharing only blood pressure and check-ups.
//!
//! Everything goes through the store as the API would put it: records are validated with
//! `phr_wire` and their warnings derived with `phr_wire::rules::warnings`, as the upload path
//! does. Ids are fixed, and a mother's records are written only while she has none, so restarts
//! neither duplicate nor move anything (and a consent she revoked stays revoked).

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Timelike, Utc};
use phr_wire::consent::Scope;
use phr_wire::records::{
    Arm, BpReading, BpSource, Checkup, Epds, Note, NoteOrigin, Record, RecordKind, Session,
    SoapText, Symptom, UploadItem, UploadRequest,
};
use uuid::Uuid;

use crate::app::Core;
use crate::model::{Millis, Role};
use crate::store::StoreError;
use crate::store::phr::{ClinicRow, MotherRow, NewInvitation, PhrChange};

/// The demo clinic.
pub const CLINIC_ID: &str = "demo-clinic";
pub const CLINIC_NAME: &str = "みなと産婦人科 / Minato Maternity Clinic";

/// A demo mother: id, login, display name, password (documented in the README), scopes.
#[derive(Debug)]
pub struct DemoMother {
    pub id: Uuid,
    pub login: &'static str,
    pub display_name: &'static str,
    pub password: &'static str,
    pub scope: &'static [Scope],
}

/// The demo's mothers, in the order of the module documentation.
pub const DEMO_MOTHERS: [DemoMother; 3] = [
    DemoMother {
        id: mother_uuid(1),
        login: "yumi",
        display_name: "高橋 由美",
        password: "demo-mother-yumi",
        scope: &Scope::ALL,
    },
    DemoMother {
        id: mother_uuid(2),
        login: "mao",
        display_name: "小川 真央",
        password: "demo-mother-mao",
        scope: &Scope::ALL,
    },
    DemoMother {
        id: mother_uuid(3),
        login: "sakura",
        display_name: "森 咲良",
        password: "demo-mother-sakura",
        scope: &[Scope::BloodPressure, Scope::Checkups],
    },
];

/// Fixed ids in the UUID v4 layout: `deb0…-4…-8…` with the mother and record number inside.
const ID_BASE: u128 = 0xdeb0_0000_0000_4000_8000_0000_0000_0000;

const fn mother_uuid(n: u128) -> Uuid {
    Uuid::from_u128(ID_BASE | (n << 80))
}

fn record_uuid(mother: Uuid, kind: RecordKind, n: u32) -> Uuid {
    let k = RecordKind::ALL.iter().position(|x| *x == kind).unwrap_or(0) as u128;
    Uuid::from_u128(mother.as_u128() | ((k + 1) << 32) | u128::from(n))
}

fn setup(what: impl std::fmt::Display) -> StoreError {
    // The seed's signature is the store's error; failures outside the store are reported as
    // corrupt seed input, naming what failed.
    StoreError::Corrupt(format!("demo PHR seed: {what}"))
}

/// Creates the demo clinic, its team (the demo's clinicians), the three mothers with their
/// consent and records, where they do not exist yet. `now_ms` anchors the two weeks of data.
pub async fn seed(core: &Core, now_ms: i64) -> Result<(), StoreError> {
    let store = &core.store;
    store.put_clinic(&ClinicRow { id: CLINIC_ID.into(), name: CLINIC_NAME.into() }).await?;
    for (username, _, role, _) in crate::demo::DEMO_STAFF {
        if matches!(role, Role::Midwife | Role::Obstetrician) {
            store.add_clinic_member(CLINIC_ID, username).await?;
        }
    }
    let now = Utc.timestamp_millis_opt(now_ms).single().ok_or_else(|| setup("now_ms"))?;
    for (i, m) in DEMO_MOTHERS.iter().enumerate() {
        if store.mother(m.id).await?.is_none() {
            register(core, m, now_ms).await?;
        }
        let consents = store.consents_of_mother(m.id).await?;
        if !consents.iter().any(|c| c.clinic_id == CLINIC_ID) {
            store.grant_consent(m.id, CLINIC_ID, m.scope, now_ms - 15 * DAY_MS).await?;
        }
        let every_kind = RecordKind::ALL;
        if store.records_of(m.id, &every_kind, 1).await?.is_empty() {
            let changes = changes(core, records(i, m.id, now), now)?;
            store.upload(m.id, &changes, now_ms).await?;
        }
    }
    Ok(())
}

const DAY_MS: Millis = 86_400_000;

async fn register(core: &Core, m: &DemoMother, now_ms: Millis) -> Result<(), StoreError> {
    let code = crate::auth::new_token().map_err(setup)?;
    let code_hash = crate::auth::token_digest(&code);
    core.store
        .create_invitation(&NewInvitation {
            code_hash: code_hash.clone(),
            clinic_id: CLINIC_ID.into(),
            created_by: "demo".into(),
            created_ms: now_ms,
            expires_ms: now_ms + DAY_MS,
        })
        .await?;
    let (password, cost) = (m.password.to_owned(), core.hash_cost());
    // argon2 is CPU-heavy: off the async threads.
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password, cost))
        .await
        .map_err(setup)?
        .map_err(setup)?;
    let row = MotherRow {
        id: m.id,
        login: phr_wire::auth::normalise_login(m.login),
        display_name: m.display_name.into(),
        invited_by: CLINIC_ID.into(),
        created_ms: now_ms - 15 * DAY_MS,
        disabled: false,
    };
    core.store.register_mother(&code_hash, &row, &hash, now_ms).await?;
    Ok(())
}

/// Validates the records as an upload and derives what the upload path derives.
fn changes(
    core: &Core,
    records: Vec<(Uuid, Record)>,
    now: DateTime<Utc>,
) -> Result<Vec<PhrChange>, StoreError> {
    let items = records
        .iter()
        .map(|(id, r)| UploadItem {
            id: *id,
            kind: r.kind(),
            updated_at: r.occurred_at(),
            deleted: false,
            data: Some(r.data()),
        })
        .collect();
    let valid = UploadRequest { items }.validate(now).map_err(setup)?;
    let thresholds = core.config.phr.thresholds();
    Ok(valid
        .into_iter()
        .map(|change| {
            let record = change.record.as_ref();
            PhrChange {
                data: change.canonical_data(),
                occurred_ms: record.map_or(0, |r| r.occurred_at().timestamp_millis()),
                warnings: record
                    .map(|r| phr_wire::rules::warnings(r, &thresholds))
                    .unwrap_or_default(),
                change,
            }
        })
        .collect())
}

fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00")
}

/// The last `n` morning (07:00) and evening (21:00) times in Japan before `now`, oldest first.
fn reading_times(now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let today = now.with_timezone(&jst()).date_naive();
    let mut times: Vec<DateTime<Utc>> = (0..=(n as i64 / 2 + 1))
        .flat_map(|d| [21, 7].map(move |h| (d, h)))
        .filter_map(|(d, h)| {
            let local = (today - Duration::days(d)).and_hms_opt(h, 0, 0)?;
            Some(local.and_local_timezone(jst()).single()?.with_timezone(&Utc))
        })
        // A reading takes a few minutes: only slots that ended before now.
        .filter(|t| *t + Duration::minutes(20) < now)
        .take(n)
        .collect();
    times.reverse();
    times
}

/// A small deterministic wobble (−2…+2 mmHg), so the series looks measured, not drawn.
fn wobble(i: usize, j: usize) -> f64 {
    ((i * 7 + j * 3) % 5) as f64 - 2.0
}

fn reading(at: DateTime<Utc>, sys: f64, dia: f64, pulse: f64) -> BpReading {
    let at = at.with_timezone(&jst());
    BpReading {
        measured_at: at,
        systolic: sys.round(),
        diastolic: dia.round(),
        pulse: Some(pulse.round()),
        arm: Arm::Left,
        session: if at.hour() < 12 { Session::Morning } else { Session::Evening },
        symptoms: Vec::new(),
        note: String::new(),
        source: BpSource::Cuff,
        device_id: Some("demo-cuff".into()),
    }
}

/// The `i`-th demo mother's records, relative to `now`.
fn records(i: usize, mother: Uuid, now: DateTime<Utc>) -> Vec<(Uuid, Record)> {
    let mut out = Vec::new();
    let mut push =
        |kind: RecordKind, n: u32, r: Record| out.push((record_uuid(mother, kind, n), r));
    // Readings twice a day for two weeks, in the morning (about 07:00) and the evening (about
    // 21:00) her time, the newest the last such time before now; j = 0 is the oldest.
    const READINGS: usize = 28;
    let slots = reading_times(now, READINGS);
    let at = |j: usize| slots[j] + Duration::minutes(7 * (j % 3) as i64);
    let day = |d: i64| (now - Duration::days(d)).with_timezone(&jst()).date_naive();
    match i {
        0 => {
            for j in 0..READINGS {
                // Slowly up for ten days, then faster: same-day tier in the last readings.
                let late = j.saturating_sub(20) as f64;
                let sys = 113.0 + 0.8 * j as f64 + 1.6 * late + wobble(i, j);
                let dia = 70.0 + 0.5 * j as f64 + 1.3 * late + wobble(i, j + 1) / 2.0;
                push(
                    RecordKind::BpReading,
                    j as u32,
                    Record::BpReading(reading(at(j), sys, dia, 78.0 + wobble(i, j))),
                );
            }
            push(
                RecordKind::Checkup,
                1,
                Record::Checkup(checkup(
                    day(20),
                    61.2,
                    (118.0, 74.0),
                    "negative",
                    27.0,
                    88.0,
                    "none",
                    "",
                )),
            );
            push(
                RecordKind::Checkup,
                2,
                Record::Checkup(checkup(
                    day(6),
                    62.9,
                    (134.0, 86.0),
                    "1+",
                    29.5,
                    90.5,
                    "1+",
                    "家庭血圧の記録を続け、上昇時は連絡するよう説明",
                )),
            );
            push(
                RecordKind::Epds,
                1,
                Record::Epds(Epds {
                    taken_at: (now - Duration::days(9)).with_timezone(&jst()),
                    answers: [0, 0, 2, 0, 2, 2, 3, 2, 3, 3],
                }),
            );
            push(
                RecordKind::Note,
                1,
                Record::Note(Note {
                    written_at: (now - Duration::minutes(50)).with_timezone(&jst()),
                    lang: "ja".into(),
                    text: "朝から足のむくみが強く、血圧もいつもより高めです。頭痛や目のちかちかはありません。".into(),
                    soap: Some(SoapText {
                        subjective: "朝から足のむくみが強い。頭痛・視覚症状なし。".into(),
                        objective: "家庭血圧が普段より高値。".into(),
                        assessment: String::new(),
                        plan: "助産師に相談したい。".into(),
                    }),
                    origin: NoteOrigin::DictatedOnPhone,
                    checked_by_her: true,
                }),
            );
        }
        1 => {
            for j in 0..READINGS - 1 {
                let sys = 116.0 + wobble(i, j) + (j % 4) as f64;
                let dia = 74.0 + wobble(i, j + 2) / 2.0;
                push(
                    RecordKind::BpReading,
                    j as u32,
                    Record::BpReading(reading(at(j), sys, dia, 82.0 + wobble(i, j))),
                );
            }
            // This morning: higher, with a headache and flashing lights: an emergency.
            let mut r = reading(now - Duration::minutes(40), 152.0, 102.0, 96.0);
            r.symptoms = vec![Symptom::Headache, Symptom::VisualDisturbance];
            r.note = "今朝から頭痛".into();
            push(RecordKind::BpReading, READINGS as u32, Record::BpReading(r));
            push(
                RecordKind::Checkup,
                1,
                Record::Checkup(checkup(
                    day(13),
                    57.4,
                    (112.0, 70.0),
                    "negative",
                    31.0,
                    92.0,
                    "none",
                    "",
                )),
            );
            // Total 13 (cut-off 9), item 10 scored 1.
            push(
                RecordKind::Epds,
                1,
                Record::Epds(Epds {
                    taken_at: (now - Duration::days(3)).with_timezone(&jst()),
                    answers: [2, 1, 1, 1, 2, 1, 2, 2, 2, 2],
                }),
            );
            push(
                RecordKind::Note,
                1,
                Record::Note(Note {
                    written_at: (now - Duration::minutes(35)).with_timezone(&jst()),
                    lang: "ja".into(),
                    text: "今朝から頭が痛く、目がちかちかします。最近よく眠れません。".into(),
                    soap: None,
                    origin: NoteOrigin::Typed,
                    checked_by_her: false,
                }),
            );
        }
        _ => {
            // Mornings only, and three days without readings (a trip): the chart breaks there.
            for j in (1..READINGS).step_by(2).filter(|j| !(13..=17).contains(j)) {
                let sys = 108.0 + wobble(i, j) * 2.0;
                let dia = 68.0 + wobble(i, j + 3);
                push(
                    RecordKind::BpReading,
                    j as u32,
                    Record::BpReading(reading(at(j), sys, dia, 74.0 + wobble(i, j))),
                );
            }
            push(
                RecordKind::Checkup,
                1,
                Record::Checkup(checkup(
                    day(18),
                    55.0,
                    (108.0, 66.0),
                    "negative",
                    24.0,
                    84.0,
                    "none",
                    "",
                )),
            );
            push(
                RecordKind::Checkup,
                2,
                Record::Checkup(checkup(
                    day(4),
                    55.8,
                    (110.0, 68.0),
                    "trace",
                    25.5,
                    85.0,
                    "none",
                    "",
                )),
            );
            // Not shared with the clinic (her scope): the clinic must not see it.
            push(
                RecordKind::Epds,
                1,
                Record::Epds(Epds {
                    taken_at: (now - Duration::days(5)).with_timezone(&jst()),
                    answers: [1, 1, 2, 1, 2, 3, 3, 3, 3, 3],
                }),
            );
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn checkup(
    date: chrono::NaiveDate,
    weight_kg: f64,
    (sys, dia): (f64, f64),
    protein: &str,
    fundal_height_cm: f64,
    abdominal_circumference_cm: f64,
    oedema: &str,
    notes: &str,
) -> Checkup {
    Checkup {
        date,
        facility: "みなと産婦人科".into(),
        weight_kg: Some(weight_kg),
        systolic: Some(sys),
        diastolic: Some(dia),
        urine_protein: protein.into(),
        urine_glucose: "negative".into(),
        fundal_height_cm: Some(fundal_height_cm),
        abdominal_circumference_cm: Some(abdominal_circumference_cm),
        oedema: oedema.into(),
        notes: notes.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phr_wire::rules::{Thresholds, WarningKind, bp_tier, epds_score, warnings};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 3, 30, 0).unwrap()
    }

    fn kinds(i: usize) -> Vec<WarningKind> {
        let t = Thresholds::default();
        records(i, DEMO_MOTHERS[i].id, now())
            .iter()
            .flat_map(|(_, r)| warnings(r, &t))
            .map(|w| w.kind)
            .collect()
    }

    #[test]
    fn every_record_is_valid_and_ids_are_unique_and_stable() {
        for (i, m) in DEMO_MOTHERS.iter().enumerate() {
            let recs = records(i, m.id, now());
            let items = recs
                .iter()
                .map(|(id, r)| UploadItem {
                    id: *id,
                    kind: r.kind(),
                    updated_at: r.occurred_at(),
                    deleted: false,
                    data: Some(r.data()),
                })
                .collect();
            let valid = UploadRequest { items }.validate(now()).expect("valid demo records");
            assert_eq!(valid.len(), recs.len());
            let again: Vec<Uuid> = records(i, m.id, now()).iter().map(|(id, _)| *id).collect();
            assert_eq!(again, recs.iter().map(|(id, _)| *id).collect::<Vec<_>>());
            assert!(recs.iter().all(|(id, _)| id.get_version_num() == 4));
        }
        let mothers: std::collections::HashSet<Uuid> = DEMO_MOTHERS.iter().map(|m| m.id).collect();
        assert_eq!(mothers.len(), 3);
    }

    #[test]
    fn the_three_mothers_raise_the_warnings_the_demo_promises() {
        let rising = kinds(0);
        assert!(rising.contains(&WarningKind::BpSameDay), "{rising:?}");
        assert!(!rising.contains(&WarningKind::BpEmergency), "{rising:?}");
        assert!(rising.len() <= 4, "a few same-day readings, not a flood: {rising:?}");
        let urgent = kinds(1);
        assert_eq!(
            urgent,
            vec![WarningKind::BpEmergency, WarningKind::EpdsPositive, WarningKind::EpdsSelfHarm]
        );
        // The third mother's BP is normal throughout; her (unshared) EPDS is negative.
        assert!(kinds(2).is_empty(), "{:?}", kinds(2));
        let t = Thresholds::default();
        for (_, r) in records(2, DEMO_MOTHERS[2].id, now()) {
            match r {
                Record::BpReading(b) => assert_eq!(bp_tier(&b, &t), phr_wire::rules::Tier::Normal),
                Record::Epds(e) => assert!(!epds_score(&e, t.epds_cutoff).positive),
                _ => {}
            }
        }
    }

    #[test]
    fn the_emergency_is_the_newest_warning_and_nothing_is_in_the_future() {
        let t = Thresholds::default();
        let mut newest = None;
        for (i, m) in DEMO_MOTHERS.iter().enumerate() {
            for (_, r) in records(i, m.id, now()) {
                assert!(r.occurred_at() <= now(), "{r:?}");
                for w in warnings(&r, &t) {
                    if newest.as_ref().is_none_or(|(at, _)| r.occurred_at() > *at) {
                        newest = Some((r.occurred_at(), w.kind));
                    }
                }
            }
        }
        assert_eq!(newest.map(|(_, k)| k), Some(WarningKind::BpEmergency));
    }
}
