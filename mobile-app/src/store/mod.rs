//! Her data on the phone: one SQLite file (bundled SQLite, so Android needs no system library),
//! offline-first. Only this module speaks SQL to it.
//!
//! Writes are durable when the call returns (WAL with `synchronous = FULL`), so a reading saved
//! with no network survives the app being killed. Deleted records leave tombstones until she
//! deletes everything, which removes every row and rewrites the file (`secure_delete` zeroes freed
//! pages).

mod notes;
mod schema;
mod sync;

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::model::{
    Arm, Checkup, CheckupData, Dipstick, EpdsRecord, NewReading, Oedema, PairedCuff, Profile,
    Reading, Session, Source, Symptoms, Tier, new_id,
};

/// File name of the database inside the app's data directory.
pub const DB_FILE: &str = "phr.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "the data file was written by a newer version of the app (schema {found}; this version knows {known}); update the app"
    )]
    TooNew { found: u32, known: u32 },
    #[error("stored record {id} is damaged: {what}")]
    Corrupt { id: String, what: String },
    #[error("no record with id {0}")]
    NotFound(Uuid),
}

pub use notes::StoredNote;
pub use sync::{
    LocalRecord, LocalVersion, RemoteChange, SYNCED_TABLES, SyncFailure, SyncState, time_from_ms,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    pub inserted: usize,
    /// Records already stored (same device, device time and values).
    pub duplicates: usize,
}

/// The few columns the trend chart needs, for fast range queries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BpPoint {
    pub measured_at: DateTime<FixedOffset>,
    pub systolic: f64,
    pub diastolic: f64,
    pub session: Session,
}

/// One entry of the sync outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub entity: String,
    pub record_id: String,
    pub op: String,
    pub changed_at_ms: i64,
}

/// The phone's database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn ms(t: DateTime<FixedOffset>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64, offset_s: i32, id: &str) -> Result<DateTime<FixedOffset>> {
    let corrupt =
        || StoreError::Corrupt { id: id.to_string(), what: format!("time {ms}/{offset_s}") };
    let offset = FixedOffset::east_opt(offset_s).ok_or_else(corrupt)?;
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&offset)).ok_or_else(corrupt)
}

fn utc_from_ms(ms: i64, id: &str) -> Result<DateTime<FixedOffset>> {
    from_ms(ms, 0, id)
}

fn parse_date(s: &str, id: &str) -> Result<NaiveDate> {
    s.parse().map_err(|_| StoreError::Corrupt { id: id.into(), what: format!("date {s:?}") })
}

fn parse_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt { id: s.into(), what: "id".into() })
}

const READING_COLUMNS: &str = "id, measured_at, utc_offset_s, systolic, diastolic, pulse, \
    mean_arterial, arm, session, symptoms, note, source, device_id, device_time, clock_untrusted, \
    cuff_status, cuff_user, tier, tier_confirmed, created_at, updated_at";

const CHECKUP_COLUMNS: &str = "id, date, facility, weight_kg, systolic, diastolic, urine_protein, \
    urine_glucose, fundal_height_cm, abdominal_circumference_cm, oedema, notes, created_at, \
    updated_at";

/// Raw columns of a reading; converted outside the rusqlite closure so damage is reported as such.
struct ReadingRow {
    id: String,
    measured_at: i64,
    offset: i32,
    systolic: f64,
    diastolic: f64,
    pulse: Option<f64>,
    mean_arterial: Option<f64>,
    arm: String,
    session: String,
    symptoms: i64,
    note: String,
    source: String,
    device_id: Option<String>,
    device_time: Option<String>,
    clock_untrusted: bool,
    cuff_status: Option<i64>,
    cuff_user: Option<i64>,
    tier: String,
    tier_confirmed: bool,
    created_at: i64,
    updated_at: i64,
}

impl ReadingRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            measured_at: r.get(1)?,
            offset: r.get(2)?,
            systolic: r.get(3)?,
            diastolic: r.get(4)?,
            pulse: r.get(5)?,
            mean_arterial: r.get(6)?,
            arm: r.get(7)?,
            session: r.get(8)?,
            symptoms: r.get(9)?,
            note: r.get(10)?,
            source: r.get(11)?,
            device_id: r.get(12)?,
            device_time: r.get(13)?,
            clock_untrusted: r.get(14)?,
            cuff_status: r.get(15)?,
            cuff_user: r.get(16)?,
            tier: r.get(17)?,
            tier_confirmed: r.get(18)?,
            created_at: r.get(19)?,
            updated_at: r.get(20)?,
        })
    }

    fn into_reading(self) -> Result<Reading> {
        let id = &self.id;
        let corrupt = |what: &str| StoreError::Corrupt { id: id.clone(), what: what.into() };
        let source = match self.source.as_str() {
            "manual" => Source::Manual,
            "cuff" => Source::Cuff {
                device_id: self.device_id.clone().ok_or_else(|| corrupt("cuff without device"))?,
                device_time: self.device_time.clone(),
                clock_untrusted: self.clock_untrusted,
                status: self.cuff_status.and_then(|s| u16::try_from(s).ok()),
                user_id: self.cuff_user.and_then(|u| u8::try_from(u).ok()),
            },
            _ => return Err(corrupt("source")),
        };
        Ok(Reading {
            id: parse_id(id)?,
            data: NewReading {
                measured_at: from_ms(self.measured_at, self.offset, id)?,
                systolic: self.systolic,
                diastolic: self.diastolic,
                pulse: self.pulse,
                mean_arterial: self.mean_arterial,
                arm: Arm::parse(&self.arm).ok_or_else(|| corrupt("arm"))?,
                session: Session::parse(&self.session).ok_or_else(|| corrupt("session"))?,
                symptoms: Symptoms::from_bits(u8::try_from(self.symptoms).unwrap_or(0)),
                note: self.note,
                source,
            },
            tier: Tier::parse(&self.tier).ok_or_else(|| corrupt("tier"))?,
            tier_confirmed: self.tier_confirmed,
            created_at: utc_from_ms(self.created_at, id)?,
            updated_at: utc_from_ms(self.updated_at, id)?,
        })
    }
}

struct CheckupRow {
    id: String,
    date: String,
    facility: String,
    weight_kg: Option<f64>,
    systolic: Option<f64>,
    diastolic: Option<f64>,
    urine_protein: String,
    urine_glucose: String,
    fundal_height_cm: Option<f64>,
    abdominal_circumference_cm: Option<f64>,
    oedema: String,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

impl CheckupRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            date: r.get(1)?,
            facility: r.get(2)?,
            weight_kg: r.get(3)?,
            systolic: r.get(4)?,
            diastolic: r.get(5)?,
            urine_protein: r.get(6)?,
            urine_glucose: r.get(7)?,
            fundal_height_cm: r.get(8)?,
            abdominal_circumference_cm: r.get(9)?,
            oedema: r.get(10)?,
            notes: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
        })
    }

    fn into_checkup(self) -> Result<Checkup> {
        let id = &self.id;
        let corrupt = |what: &str| StoreError::Corrupt { id: id.clone(), what: what.into() };
        Ok(Checkup {
            id: parse_id(id)?,
            data: CheckupData {
                date: parse_date(&self.date, id)?,
                facility: self.facility,
                weight_kg: self.weight_kg,
                systolic: self.systolic,
                diastolic: self.diastolic,
                urine_protein: Dipstick::parse(&self.urine_protein)
                    .ok_or_else(|| corrupt("urine_protein"))?,
                urine_glucose: Dipstick::parse(&self.urine_glucose)
                    .ok_or_else(|| corrupt("urine_glucose"))?,
                fundal_height_cm: self.fundal_height_cm,
                abdominal_circumference_cm: self.abdominal_circumference_cm,
                oedema: Oedema::parse(&self.oedema).ok_or_else(|| corrupt("oedema"))?,
                notes: self.notes,
            },
            created_at: utc_from_ms(self.created_at, id)?,
            updated_at: utc_from_ms(self.updated_at, id)?,
        })
    }
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::init(Connection::open(path)?)
    }

    /// A database that lives only in memory (demonstration data, tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // WAL keeps the UI responsive while writing; FULL makes every commit durable on return.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let known = schema::MIGRATIONS.len() as u32;
        let found = self.schema_version()?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as u32 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Number of migrations applied.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn log_change(
        tx: &rusqlite::Transaction<'_>,
        entity: &str,
        id: &str,
        op: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO change_log (entity, record_id, op, changed_at) VALUES (?1, ?2, ?3, ?4)",
            params![entity, id, op, ms(now)],
        )?;
        Ok(())
    }

    fn insert_reading_tx(
        tx: &rusqlite::Transaction<'_>,
        id: Uuid,
        r: &NewReading,
        tier: Tier,
        confirmed: bool,
        now: DateTime<FixedOffset>,
    ) -> Result<bool> {
        let (source, device_id, device_time, untrusted, status, user) = match &r.source {
            Source::Manual => ("manual", None, None, false, None, None),
            Source::Cuff { device_id, device_time, clock_untrusted, status, user_id } => (
                "cuff",
                Some(device_id.as_str()),
                device_time.as_deref(),
                *clock_untrusted,
                *status,
                *user_id,
            ),
        };
        let id_text = id.to_string();
        let inserted = tx.execute(
            &format!(
                "INSERT INTO bp_reading ({READING_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                  ?19, ?20, ?20) ON CONFLICT DO NOTHING"
            ),
            params![
                id_text,
                ms(r.measured_at),
                r.measured_at.offset().local_minus_utc(),
                r.systolic,
                r.diastolic,
                r.pulse,
                r.mean_arterial,
                r.arm.as_str(),
                r.session.as_str(),
                r.symptoms.bits(),
                r.note,
                source,
                device_id,
                device_time,
                untrusted,
                status,
                user,
                tier.as_str(),
                confirmed,
                ms(now),
            ],
        )?;
        if inserted == 1 {
            Self::log_change(tx, "bp_reading", &id_text, "upsert", now)?;
        }
        Ok(inserted == 1)
    }

    /// Stores one reading with the tier the app showed for it.
    pub fn insert_reading(
        &mut self,
        r: &NewReading,
        tier: Tier,
        confirmed: bool,
        now: DateTime<FixedOffset>,
    ) -> Result<Reading> {
        let id = new_id();
        let tx = self.conn.transaction()?;
        Self::insert_reading_tx(&tx, id, r, tier, confirmed, now)?;
        tx.commit()?;
        self.reading(id)?.ok_or(StoreError::NotFound(id))
    }

    /// Stores imported cuff readings in one transaction, skipping records already stored (same
    /// device, device time and values). Each reading comes with the tier to record for it.
    pub fn import_readings(
        &mut self,
        readings: &[(NewReading, Tier, bool)],
        now: DateTime<FixedOffset>,
    ) -> Result<ImportOutcome> {
        let tx = self.conn.transaction()?;
        let mut outcome = ImportOutcome::default();
        for (r, tier, confirmed) in readings {
            if Self::insert_reading_tx(&tx, new_id(), r, *tier, *confirmed, now)? {
                outcome.inserted += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn query_readings(&self, where_sql: &str, args: impl rusqlite::Params) -> Result<Vec<Reading>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {READING_COLUMNS} FROM bp_reading WHERE deleted_at IS NULL {where_sql}"
        ))?;
        let rows =
            stmt.query_map(args, ReadingRow::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(ReadingRow::into_reading).collect()
    }

    /// One reading by id (tombstoned ones are gone).
    pub fn reading(&self, id: Uuid) -> Result<Option<Reading>> {
        Ok(self.query_readings("AND id = ?1", [id.to_string()])?.pop())
    }

    /// All readings in time order.
    pub fn all_readings(&self) -> Result<Vec<Reading>> {
        self.query_readings("ORDER BY measured_at, id", [])
    }

    /// The newest `n` readings, newest first.
    pub fn latest_readings(&self, n: usize) -> Result<Vec<Reading>> {
        self.query_readings("ORDER BY measured_at DESC, id DESC LIMIT ?1", [n as i64])
    }

    /// The newest reading strictly before `at`.
    pub fn reading_before(&self, at: DateTime<FixedOffset>) -> Result<Option<Reading>> {
        Ok(self
            .query_readings(
                "AND measured_at < ?1 ORDER BY measured_at DESC, id DESC LIMIT 1",
                [ms(at)],
            )?
            .pop())
    }

    /// Number of stored readings.
    pub fn reading_count(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM bp_reading WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// The chart's columns for readings in `[from, to)`, in time order.
    pub fn bp_series(
        &self,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Result<Vec<BpPoint>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT measured_at, utc_offset_s, systolic, diastolic, session FROM bp_reading \
             WHERE deleted_at IS NULL AND measured_at >= ?1 AND measured_at < ?2 ORDER BY measured_at",
        )?;
        let rows = stmt
            .query_map([ms(from), ms(to)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i32>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(t, off, systolic, diastolic, session)| {
                Ok(BpPoint {
                    measured_at: from_ms(t, off, "bp_series")?,
                    systolic,
                    diastolic,
                    session: Session::parse(&session).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Marks a reading deleted (a tombstone, so a later sync can pass the deletion on).
    pub fn delete_reading(&mut self, id: Uuid, now: DateTime<FixedOffset>) -> Result<()> {
        self.tombstone("bp_reading", id, now)
    }

    fn tombstone(
        &mut self,
        table: &'static str,
        id: Uuid,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            &format!("UPDATE {table} SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL"),
            params![id.to_string(), ms(now)],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(id));
        }
        Self::log_change(&tx, table, &id.to_string(), "delete", now)?;
        tx.commit()?;
        Ok(())
    }

    /// Her profile (empty until she fills it in).
    pub fn profile(&self) -> Result<Profile> {
        let row = self
            .conn
            .query_row(
                "SELECT display_name, due_date, birth_date, height_cm, pre_pregnancy_weight_kg \
                 FROM profile WHERE singleton = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((display_name, due, birth, height_cm, weight)) = row else {
            return Ok(Profile::default());
        };
        Ok(Profile {
            display_name,
            due_date: due.map(|d| parse_date(&d, "profile")).transpose()?,
            birth_date: birth.map(|d| parse_date(&d, "profile")).transpose()?,
            height_cm,
            pre_pregnancy_weight_kg: weight,
        })
    }

    /// Saves her profile.
    pub fn save_profile(&mut self, p: &Profile, now: DateTime<FixedOffset>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let id: String = tx
            .query_row("SELECT id FROM profile WHERE singleton = 1", [], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| new_id().to_string());
        tx.execute(
            "INSERT INTO profile (singleton, id, display_name, due_date, birth_date, height_cm, \
             pre_pregnancy_weight_kg, created_at, updated_at) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             ON CONFLICT (singleton) DO UPDATE SET display_name = ?2, due_date = ?3, birth_date = ?4, \
             height_cm = ?5, pre_pregnancy_weight_kg = ?6, updated_at = ?7",
            params![
                id,
                p.display_name,
                p.due_date.map(|d| d.to_string()),
                p.birth_date.map(|d| d.to_string()),
                p.height_cm,
                p.pre_pregnancy_weight_kg,
                ms(now),
            ],
        )?;
        Self::log_change(&tx, "profile", &id, "upsert", now)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores a new check-up record.
    pub fn insert_checkup(
        &mut self,
        c: &CheckupData,
        now: DateTime<FixedOffset>,
    ) -> Result<Checkup> {
        let id = new_id();
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!(
                "INSERT INTO checkup ({CHECKUP_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)"
            ),
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
                ms(now),
            ],
        )?;
        Self::log_change(&tx, "checkup", &id.to_string(), "upsert", now)?;
        tx.commit()?;
        self.checkup(id)?.ok_or(StoreError::NotFound(id))
    }

    /// Replaces a check-up record's contents.
    pub fn update_checkup(
        &mut self,
        id: Uuid,
        c: &CheckupData,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE checkup SET date = ?2, facility = ?3, weight_kg = ?4, systolic = ?5, \
             diastolic = ?6, urine_protein = ?7, urine_glucose = ?8, fundal_height_cm = ?9, \
             abdominal_circumference_cm = ?10, oedema = ?11, notes = ?12, updated_at = ?13 \
             WHERE id = ?1 AND deleted_at IS NULL",
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
                ms(now),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(id));
        }
        Self::log_change(&tx, "checkup", &id.to_string(), "upsert", now)?;
        tx.commit()?;
        Ok(())
    }

    fn query_checkups(&self, where_sql: &str, args: impl rusqlite::Params) -> Result<Vec<Checkup>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHECKUP_COLUMNS} FROM checkup WHERE deleted_at IS NULL {where_sql}"
        ))?;
        let rows =
            stmt.query_map(args, CheckupRow::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(CheckupRow::into_checkup).collect()
    }

    pub fn checkup(&self, id: Uuid) -> Result<Option<Checkup>> {
        Ok(self.query_checkups("AND id = ?1", [id.to_string()])?.pop())
    }

    /// All check-ups, oldest first.
    pub fn checkups(&self) -> Result<Vec<Checkup>> {
        self.query_checkups("ORDER BY date, created_at", [])
    }

    pub fn delete_checkup(&mut self, id: Uuid, now: DateTime<FixedOffset>) -> Result<()> {
        self.tombstone("checkup", id, now)
    }

    /// Stores a completed EPDS questionnaire with its score.
    pub fn insert_epds(
        &mut self,
        answers: [u8; 10],
        total: u8,
        item10: u8,
        taken_at: DateTime<FixedOffset>,
        now: DateTime<FixedOffset>,
    ) -> Result<EpdsRecord> {
        let id = new_id();
        let answers_text = answers.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO epds (id, taken_at, utc_offset_s, answers, total, item10, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![
                id.to_string(),
                ms(taken_at),
                taken_at.offset().local_minus_utc(),
                answers_text,
                total,
                item10,
                ms(now)
            ],
        )?;
        Self::log_change(&tx, "epds", &id.to_string(), "upsert", now)?;
        tx.commit()?;
        Ok(EpdsRecord {
            id,
            taken_at,
            answers,
            total,
            item10,
            created_at: utc_from_ms(ms(now), "epds")?,
        })
    }

    /// All EPDS questionnaires, oldest first.
    pub fn epds_records(&self) -> Result<Vec<EpdsRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, taken_at, utc_offset_s, answers, total, item10, created_at FROM epds \
             WHERE deleted_at IS NULL ORDER BY taken_at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u8>(4)?,
                    r.get::<_, u8>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, taken, off, answers, total, item10, created)| {
                let parsed: Vec<u8> = answers.split(',').filter_map(|a| a.parse().ok()).collect();
                let answers: [u8; 10] = parsed
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { id: id.clone(), what: "answers".into() })?;
                Ok(EpdsRecord {
                    id: parse_id(&id)?,
                    taken_at: from_ms(taken, off, &id)?,
                    answers,
                    total,
                    item10,
                    created_at: utc_from_ms(created, &id)?,
                })
            })
            .collect()
    }

    /// Remembers a cuff she paired (or renames it).
    pub fn remember_cuff(
        &mut self,
        device_id: &str,
        name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO paired_cuff (device_id, name, paired_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (device_id) DO UPDATE SET name = ?2",
            params![device_id, name, ms(now)],
        )?;
        Ok(())
    }

    /// Notes when a cuff's records were last imported.
    pub fn record_cuff_import(
        &mut self,
        device_id: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE paired_cuff SET last_import_at = ?2 WHERE device_id = ?1",
            params![device_id, ms(now)],
        )?;
        Ok(())
    }

    pub fn paired_cuffs(&self) -> Result<Vec<PairedCuff>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT device_id, name, paired_at, last_import_at FROM paired_cuff ORDER BY paired_at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(device_id, name, paired, last)| {
                Ok(PairedCuff {
                    paired_at: utc_from_ms(paired, &device_id)?,
                    last_import_at: last.map(|t| utc_from_ms(t, &device_id)).transpose()?,
                    device_id,
                    name,
                })
            })
            .collect()
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM setting WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            [key, value],
        )?;
        Ok(())
    }

    /// The sync outbox after `seq`, in order.
    pub fn changes_since(&self, seq: i64) -> Result<Vec<Change>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, entity, record_id, op, changed_at FROM change_log WHERE seq > ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([seq], |r| {
                Ok(Change {
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

    /// Deletes all of her data: every row of every table (settings included), then rewrites the
    /// file so nothing remains in free pages.
    pub fn delete_everything(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        for table in [
            "bp_reading",
            "checkup",
            "epds",
            "note",
            "paired_cuff",
            "profile",
            "setting",
            "change_log",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        // Her account and sync position go too; the row itself stays (it is the schema's).
        tx.execute("DELETE FROM sync_state", [])?;
        tx.execute("INSERT INTO sync_state (singleton) VALUES (1)", [])?;
        tx.commit()?;
        self.conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn manual(at: &str, s: f64, d: f64) -> NewReading {
        NewReading {
            measured_at: t(at),
            systolic: s,
            diastolic: d,
            pulse: Some(78.0),
            mean_arterial: None,
            arm: Arm::Left,
            session: Session::Morning,
            symptoms: Symptoms::HEADACHE,
            note: "朝、少し頭痛".into(),
            source: Source::Manual,
        }
    }

    fn cuff(at: &str, device_time: Option<&str>, s: f64) -> NewReading {
        NewReading {
            source: Source::Cuff {
                device_id: "AA:BB".into(),
                device_time: device_time.map(String::from),
                clock_untrusted: false,
                status: Some(4),
                user_id: Some(1),
            },
            symptoms: Symptoms::none(),
            ..manual(at, s, 80.0)
        }
    }

    #[test]
    fn reading_round_trips_with_offset_and_every_field() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T07:10:00+09:00");
        let r = manual("2026-05-12T07:02:00+09:00", 128.0, 82.0);
        let stored = s.insert_reading(&r, Tier::Normal, true, now).unwrap();
        assert_eq!(stored.data, r);
        assert_eq!(stored.data.measured_at.offset().local_minus_utc(), 9 * 3600);
        assert_eq!(s.reading(stored.id).unwrap().unwrap(), stored);
        assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as u32);
    }

    #[test]
    fn import_skips_records_already_stored_but_keeps_timeless_ones() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T08:00:00+09:00");
        let a = cuff("2026-05-12T07:00:00+09:00", Some("2026-05-12T07:00:00"), 131.0);
        let b = cuff("2026-05-12T07:02:00+09:00", Some("2026-05-12T07:02:00"), 129.0);
        let timeless = cuff("2026-05-12T08:00:00+09:00", None, 120.0);
        let batch: Vec<_> =
            [&a, &b, &a, &timeless].iter().map(|r| ((*r).clone(), Tier::Normal, true)).collect();
        assert_eq!(
            s.import_readings(&batch, now).unwrap(),
            ImportOutcome { inserted: 3, duplicates: 1 }
        );
        // The same burst again: only the record without a device time cannot be recognised.
        assert_eq!(
            s.import_readings(&batch, now).unwrap(),
            ImportOutcome { inserted: 1, duplicates: 3 }
        );
        // Same time, different values: a different measurement.
        let c = cuff("2026-05-12T07:00:00+09:00", Some("2026-05-12T07:00:00"), 140.0);
        assert_eq!(
            s.import_readings(&[(c, Tier::SameDay, false)], now).unwrap(),
            ImportOutcome { inserted: 1, duplicates: 0 }
        );
        assert_eq!(s.reading_count().unwrap(), 5);
    }

    #[test]
    fn tombstones_hide_records_and_enter_the_outbox_in_order() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T08:00:00+09:00");
        let r = s
            .insert_reading(
                &manual("2026-05-12T07:00:00+09:00", 120.0, 80.0),
                Tier::Normal,
                true,
                now,
            )
            .unwrap();
        s.delete_reading(r.id, now).unwrap();
        assert!(s.reading(r.id).unwrap().is_none());
        assert!(matches!(s.delete_reading(r.id, now), Err(StoreError::NotFound(_))));
        let ops: Vec<_> = s.changes_since(0).unwrap().into_iter().map(|c| c.op).collect();
        assert_eq!(ops, vec!["upsert", "delete"]);
        assert_eq!(s.changes_since(1).unwrap().len(), 1);
    }

    #[test]
    fn profile_checkups_epds_and_settings_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T08:00:00+09:00");
        assert_eq!(s.profile().unwrap(), Profile::default());
        let p = Profile {
            display_name: "さくら".into(),
            due_date: Some("2026-08-01".parse().unwrap()),
            birth_date: None,
            height_cm: Some(158.0),
            pre_pregnancy_weight_kg: Some(52.0),
        };
        s.save_profile(&p, now).unwrap();
        s.save_profile(&p, now).unwrap();
        assert_eq!(s.profile().unwrap(), p);

        let c = CheckupData {
            date: "2026-05-01".parse().unwrap(),
            facility: "さくら産婦人科".into(),
            weight_kg: Some(58.4),
            systolic: Some(118.0),
            diastolic: Some(72.0),
            urine_protein: Dipstick::Negative,
            urine_glucose: Dipstick::Trace,
            fundal_height_cm: Some(25.5),
            abdominal_circumference_cm: Some(84.0),
            oedema: Oedema::Plus1,
            notes: "Hb 11.2".into(),
        };
        let stored = s.insert_checkup(&c, now).unwrap();
        assert_eq!(stored.data, c);
        let mut changed = c.clone();
        changed.weight_kg = Some(58.9);
        s.update_checkup(stored.id, &changed, now).unwrap();
        assert_eq!(s.checkups().unwrap()[0].data, changed);

        let e = s.insert_epds([0, 1, 2, 3, 0, 1, 2, 3, 0, 3], 12, 0, now, now).unwrap();
        assert_eq!(s.epds_records().unwrap(), vec![e]);

        s.set_setting("language", "en").unwrap();
        assert_eq!(s.setting("language").unwrap().as_deref(), Some("en"));
    }

    #[test]
    fn delete_everything_leaves_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T08:00:00+09:00");
        s.insert_reading(
            &manual("2026-05-12T07:00:00+09:00", 120.0, 80.0),
            Tier::Normal,
            true,
            now,
        )
        .unwrap();
        s.remember_cuff("AA:BB", "UA-651BLE", now).unwrap();
        s.set_setting("language", "en").unwrap();
        s.delete_everything().unwrap();
        assert_eq!(s.reading_count().unwrap(), 0);
        assert!(s.paired_cuffs().unwrap().is_empty());
        assert!(s.changes_since(0).unwrap().is_empty());
        assert_eq!(s.setting("language").unwrap(), None);
    }

    #[test]
    fn newer_schema_is_refused_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 99, .. })));
    }
}
