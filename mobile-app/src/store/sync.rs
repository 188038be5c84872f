//! What sync with the clinic needs from her database: the account and sync position, the full
//! current version of a record an outbox entry names (tombstones included), and applying changes
//! pulled from the server without putting them back into the outbox.

use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::notes::{StoredNote, upsert_note_tx};
use super::{Result, Store, StoreError, from_ms, ms, parse_id, utc_from_ms};
use crate::model::{Checkup, CheckupData, EpdsRecord, NewReading, Reading, Source, Tier};

/// The tables sync carries, by the name the outbox (`change_log.entity`) gives them.
pub const SYNCED_TABLES: [&str; 4] = ["bp_reading", "checkup", "epds", "note"];

/// How the last sync attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFailure {
    /// The server could not be reached.
    Offline,
    /// The server answered with an error (see `last_error`).
    Error,
}

/// Her account with the clinic's server and how far sync got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// The last outbox entry the server acknowledged.
    pub pushed_seq: i64,
    /// The server's change number pulled so far (`after` of the next download).
    pub pull_cursor: i64,
    pub mother_id: Option<Uuid>,
    pub login: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// The server refused her tokens: she must log in again.
    pub needs_login: bool,
    pub last_synced_at: Option<DateTime<FixedOffset>>,
    pub last_attempt_at: Option<DateTime<FixedOffset>>,
    pub last_failure: Option<SyncFailure>,
    pub last_error: Option<String>,
}

impl SyncState {
    /// She has tokens to use.
    pub fn signed_in(&self) -> bool {
        self.access_token.is_some() && self.refresh_token.is_some()
    }
}

/// A record as stored on the phone.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalRecord {
    Reading(Reading),
    Checkup(Checkup),
    Epds(EpdsRecord),
    Note(StoredNote),
}

/// The current version of a record, as the conflict rule needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalVersion {
    /// When it last changed (epoch ms, UTC).
    pub updated_ms: i64,
    /// `None` when deleted (a tombstone).
    pub record: Option<LocalRecord>,
}

/// A change pulled from the server that won against the phone's version.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteChange {
    Reading {
        id: Uuid,
        updated_ms: i64,
        data: NewReading,
        tier: Tier,
    },
    Checkup {
        id: Uuid,
        updated_ms: i64,
        data: CheckupData,
    },
    Epds {
        id: Uuid,
        updated_ms: i64,
        taken_at: DateTime<FixedOffset>,
        answers: [u8; 10],
        total: u8,
        item10: u8,
    },
    Note {
        id: Uuid,
        updated_ms: i64,
        note: phr_wire::records::Note,
    },
    /// A deletion of a record in `table` (one of [`SYNCED_TABLES`]).
    Delete {
        table: &'static str,
        id: Uuid,
        updated_ms: i64,
    },
}

fn failure_from(s: Option<String>) -> Option<SyncFailure> {
    match s.as_deref() {
        None => None,
        Some("offline") => Some(SyncFailure::Offline),
        Some(_) => Some(SyncFailure::Error),
    }
}

impl Store {
    /// Her account and sync position.
    pub fn sync_state(&self) -> Result<SyncState> {
        let row = self.conn.query_row(
            "SELECT pushed_seq, pull_cursor, mother_id, login, access_token, refresh_token, \
             needs_login, last_synced_at, last_attempt_at, last_failure, last_error \
             FROM sync_state WHERE singleton = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            },
        )?;
        let (
            pushed,
            cursor,
            mother,
            login,
            access,
            refresh,
            needs,
            synced,
            attempt,
            failure,
            error,
        ) = row;
        Ok(SyncState {
            pushed_seq: pushed,
            pull_cursor: cursor,
            mother_id: mother.map(|m| parse_id(&m)).transpose()?,
            login,
            access_token: access,
            refresh_token: refresh,
            needs_login: needs,
            last_synced_at: synced.map(|t| utc_from_ms(t, "sync_state")).transpose()?,
            last_attempt_at: attempt.map(|t| utc_from_ms(t, "sync_state")).transpose()?,
            last_failure: failure_from(failure),
            last_error: error,
        })
    }

    /// Saves the tokens of a registration, login or refresh. Signing in as a different mother
    /// starts sync over (everything on the phone is pushed to her account, all of hers pulled).
    pub fn save_tokens(
        &mut self,
        mother_id: Uuid,
        login: Option<&str>,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let previous: Option<String> =
            tx.query_row("SELECT mother_id FROM sync_state WHERE singleton = 1", [], |r| r.get(0))?;
        if previous.as_deref() != Some(mother_id.to_string().as_str()) {
            tx.execute(
                "UPDATE sync_state SET pushed_seq = 0, pull_cursor = 0, last_synced_at = NULL \
                 WHERE singleton = 1",
                [],
            )?;
        }
        tx.execute(
            "UPDATE sync_state SET mother_id = ?1, login = COALESCE(?2, login), access_token = ?3, \
             refresh_token = ?4, needs_login = 0, last_failure = NULL, last_error = NULL \
             WHERE singleton = 1",
            params![mother_id.to_string(), login, access_token, refresh_token],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets her tokens. `needs_login` marks that the server refused them (rather than that
    /// she logged out), so the app asks her to log in again.
    pub fn clear_tokens(&mut self, needs_login: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_state SET access_token = NULL, refresh_token = NULL, needs_login = ?1 \
             WHERE singleton = 1",
            [needs_login],
        )?;
        Ok(())
    }

    /// Moves the pushed position (the server acknowledged every outbox entry up to `seq`).
    pub fn set_pushed_seq(&mut self, seq: i64) -> Result<()> {
        self.conn.execute("UPDATE sync_state SET pushed_seq = ?1 WHERE singleton = 1", [seq])?;
        Ok(())
    }

    /// Records a complete sync.
    pub fn record_sync_success(&mut self, now: DateTime<FixedOffset>) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_state SET last_synced_at = ?1, last_attempt_at = ?1, last_failure = NULL, \
             last_error = NULL WHERE singleton = 1",
            [ms(now)],
        )?;
        Ok(())
    }

    /// Records a failed sync attempt.
    pub fn record_sync_failure(
        &mut self,
        failure: SyncFailure,
        message: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let kind = match failure {
            SyncFailure::Offline => "offline",
            SyncFailure::Error => "error",
        };
        self.conn.execute(
            "UPDATE sync_state SET last_attempt_at = ?1, last_failure = ?2, last_error = ?3 \
             WHERE singleton = 1",
            params![ms(now), kind, message],
        )?;
        Ok(())
    }

    /// Outbox entries after `seq`, in order, at most `limit`.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<super::Change>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, entity, record_id, op, changed_at FROM change_log WHERE seq > ?1 \
             ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![seq, limit as i64], |r| {
                Ok(super::Change {
                    seq: r.get(0)?,
                    entity: r.get(1)?,
                    record_id: r.get(2)?,
                    op: r.get(3)?,
                    changed_at_ms: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Outbox entries of synced records not yet acknowledged by the server.
    pub fn pending_changes(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM change_log, sync_state WHERE singleton = 1 AND seq > pushed_seq \
             AND entity IN ('bp_reading', 'checkup', 'epds', 'note')",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// The current version of a record in one of [`SYNCED_TABLES`], tombstones included; `None`
    /// when the phone never had it.
    pub fn local_version(&self, table: &str, id: Uuid) -> Result<Option<LocalVersion>> {
        let table = SYNCED_TABLES.into_iter().find(|t| *t == table).ok_or_else(|| {
            StoreError::Corrupt { id: id.to_string(), what: format!("entity {table:?}") }
        })?;
        let row: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                &format!("SELECT updated_at, deleted_at FROM {table} WHERE id = ?1"),
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((updated_ms, deleted)) = row else { return Ok(None) };
        if deleted.is_some() {
            return Ok(Some(LocalVersion { updated_ms, record: None }));
        }
        let record = match table {
            "bp_reading" => self.reading(id)?.map(LocalRecord::Reading),
            "checkup" => self.checkup(id)?.map(LocalRecord::Checkup),
            "note" => self.note(id)?.map(LocalRecord::Note),
            _ => self.epds_record(id)?.map(LocalRecord::Epds),
        };
        Ok(Some(LocalVersion { updated_ms, record }))
    }

    fn epds_record(&self, id: Uuid) -> Result<Option<EpdsRecord>> {
        Ok(self.epds_records()?.into_iter().find(|e| e.id == id))
    }

    /// Applies changes pulled from the server and moves the pull cursor, in one transaction, so a
    /// page is applied whole or not at all. Nothing enters the outbox: these changes came from
    /// the server and need not go back.
    pub fn apply_remote(&mut self, changes: &[RemoteChange], cursor: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for change in changes {
            match change {
                RemoteChange::Reading { id, updated_ms, data, tier } => {
                    let (source, device_id) = match &data.source {
                        Source::Manual => ("manual", None),
                        Source::Cuff { device_id, .. } => ("cuff", Some(device_id.as_str())),
                    };
                    // The other device confirmed (or not) the tier it showed; here the tier is
                    // recomputed from the values, so it is recorded as unconfirmed.
                    tx.execute(
                        "INSERT INTO bp_reading (id, measured_at, utc_offset_s, systolic, diastolic, \
                         pulse, arm, session, symptoms, note, source, device_id, tier, \
                         tier_confirmed, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?14) \
                         ON CONFLICT (id) DO UPDATE SET measured_at = ?2, utc_offset_s = ?3, \
                         systolic = ?4, diastolic = ?5, pulse = ?6, mean_arterial = NULL, arm = ?7, \
                         session = ?8, symptoms = ?9, note = ?10, source = ?11, device_id = ?12, \
                         device_time = NULL, tier = ?13, tier_confirmed = 0, updated_at = ?14, \
                         deleted_at = NULL",
                        params![
                            id.to_string(),
                            ms(data.measured_at),
                            data.measured_at.offset().local_minus_utc(),
                            data.systolic,
                            data.diastolic,
                            data.pulse,
                            data.arm.as_str(),
                            data.session.as_str(),
                            data.symptoms.bits(),
                            data.note,
                            source,
                            device_id,
                            tier.as_str(),
                            updated_ms,
                        ],
                    )?;
                }
                RemoteChange::Checkup { id, updated_ms, data: c } => {
                    tx.execute(
                        "INSERT INTO checkup (id, date, facility, weight_kg, systolic, diastolic, \
                         urine_protein, urine_glucose, fundal_height_cm, abdominal_circumference_cm, \
                         oedema, notes, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) \
                         ON CONFLICT (id) DO UPDATE SET date = ?2, facility = ?3, weight_kg = ?4, \
                         systolic = ?5, diastolic = ?6, urine_protein = ?7, urine_glucose = ?8, \
                         fundal_height_cm = ?9, abdominal_circumference_cm = ?10, oedema = ?11, \
                         notes = ?12, updated_at = ?13, deleted_at = NULL",
                        params![
                            id.to_string(),
                            c.date.to_string(),
                            c.facility,
                            c.weight_kg,
                            c.systolic,
                            c.diastolic,
                            c.urine_protein.as_str(),
                            c.urine_glucose.as_str(),
                            c.fundal_height_cm,
                            c.abdominal_circumference_cm,
                            c.oedema.as_str(),
                            c.notes,
                            updated_ms,
                        ],
                    )?;
                }
                RemoteChange::Epds { id, updated_ms, taken_at, answers, total, item10 } => {
                    let answers = answers.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
                    tx.execute(
                        "INSERT INTO epds (id, taken_at, utc_offset_s, answers, total, item10, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
                         ON CONFLICT (id) DO UPDATE SET taken_at = ?2, utc_offset_s = ?3, \
                         answers = ?4, total = ?5, item10 = ?6, updated_at = ?7, deleted_at = NULL",
                        params![
                            id.to_string(),
                            ms(*taken_at),
                            taken_at.offset().local_minus_utc(),
                            answers,
                            total,
                            item10,
                            updated_ms,
                        ],
                    )?;
                }
                RemoteChange::Note { id, updated_ms, note } => {
                    upsert_note_tx(&tx, *id, note, *updated_ms)?;
                }
                RemoteChange::Delete { table, id, updated_ms } => {
                    let table =
                        SYNCED_TABLES.into_iter().find(|t| t == table).ok_or_else(|| {
                            StoreError::Corrupt {
                                id: id.to_string(),
                                what: format!("entity {table:?}"),
                            }
                        })?;
                    // A deletion of a record this phone never had leaves nothing to delete.
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1"
                        ),
                        params![id.to_string(), updated_ms],
                    )?;
                }
            }
        }
        tx.execute("UPDATE sync_state SET pull_cursor = ?1 WHERE singleton = 1", [cursor])?;
        tx.commit()?;
        Ok(())
    }
}

/// Epoch milliseconds as a UTC time (for the wire's `updated_at`).
pub fn time_from_ms(updated_ms: i64) -> Result<DateTime<FixedOffset>> {
    from_ms(updated_ms, 0, "updated_at")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arm, Session, Symptoms};
    use rusqlite::Connection;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn reading(at: &str) -> NewReading {
        NewReading {
            measured_at: t(at),
            systolic: 121.0,
            diastolic: 79.0,
            pulse: None,
            mean_arterial: None,
            arm: Arm::Left,
            session: Session::Morning,
            symptoms: Symptoms::none(),
            note: String::new(),
            source: Source::Manual,
        }
    }

    #[test]
    fn a_database_of_the_first_release_gains_sync_state_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::DB_FILE);
        let now = t("2026-05-12T08:00:00+09:00");
        {
            let mut s = Store::open(&path).unwrap();
            s.insert_reading(&reading("2026-05-12T07:00:00+09:00"), Tier::Normal, true, now)
                .unwrap();
        }
        // Back to schema 1, as the first release left it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE note; DROP TABLE sync_state; PRAGMA user_version = 1;")
            .unwrap();
        drop(conn);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), super::super::schema::MIGRATIONS.len() as u32);
        assert_eq!(s.reading_count().unwrap(), 1);
        assert_eq!(s.sync_state().unwrap(), SyncState::default());
        assert_eq!(s.pending_changes().unwrap(), 1);
    }

    #[test]
    fn remote_changes_are_applied_without_entering_the_outbox() {
        let mut s = Store::open_in_memory().unwrap();
        let id = Uuid::now_v7();
        let data = reading("2026-05-12T07:00:00+09:00");
        let change =
            RemoteChange::Reading { id, updated_ms: 1_000, data: data.clone(), tier: Tier::Normal };
        s.apply_remote(&[change], 7).unwrap();
        assert_eq!(s.reading(id).unwrap().unwrap().data, data);
        assert!(s.changes_since(0).unwrap().is_empty());
        assert_eq!(s.sync_state().unwrap().pull_cursor, 7);
        let v = s.local_version("bp_reading", id).unwrap().unwrap();
        assert_eq!(v.updated_ms, 1_000);

        s.apply_remote(&[RemoteChange::Delete { table: "bp_reading", id, updated_ms: 2_000 }], 8)
            .unwrap();
        assert!(s.reading(id).unwrap().is_none());
        assert_eq!(
            s.local_version("bp_reading", id).unwrap(),
            Some(LocalVersion { updated_ms: 2_000, record: None })
        );
        assert!(s.changes_since(0).unwrap().is_empty());
        assert!(s.local_version("profile", id).is_err(), "only synced tables");
    }

    #[test]
    fn tokens_and_positions_follow_the_account_and_go_with_everything_else() {
        let mut s = Store::open_in_memory().unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        s.save_tokens(a, Some("hanako"), "acc", "ref").unwrap();
        s.set_pushed_seq(5).unwrap();
        s.apply_remote(&[], 9).unwrap();
        s.save_tokens(a, None, "acc2", "ref2").unwrap();
        let st = s.sync_state().unwrap();
        assert_eq!((st.pushed_seq, st.pull_cursor, st.login.as_deref()), (5, 9, Some("hanako")));
        // Another mother on this phone: everything is pushed to her account from the start.
        s.save_tokens(b, Some("other"), "acc3", "ref3").unwrap();
        let st = s.sync_state().unwrap();
        assert_eq!((st.pushed_seq, st.pull_cursor), (0, 0));
        s.clear_tokens(true).unwrap();
        let st = s.sync_state().unwrap();
        assert!(st.needs_login && !st.signed_in());
        s.save_tokens(b, None, "acc4", "ref4").unwrap();
        s.delete_everything().unwrap();
        assert_eq!(s.sync_state().unwrap(), SyncState::default());
    }
}
