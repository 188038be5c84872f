//! Her notes: typed, or dictated and checked by her. The phone keeps exactly what the PHR API
//! carries ([`phr_wire::records::Note`]), with a client-generated id, timestamps and tombstones
//! like her other records; every change enters the outbox in the same transaction.

use chrono::{DateTime, FixedOffset};
use phr_wire::records::{Note, NoteOrigin, SoapText};
use rusqlite::{Row, params};
use uuid::Uuid;

use super::{Result, Store, StoreError, from_ms, ms, parse_id, utc_from_ms};
use crate::model::new_id;

/// A note as stored on the phone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNote {
    pub id: Uuid,
    pub note: Note,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

const NOTE_COLUMNS: &str = "id, written_at, utc_offset_s, lang, text, soap_subjective, \
    soap_objective, soap_assessment, soap_plan, origin, checked_by_her, created_at, updated_at";

pub(super) fn origin_str(o: NoteOrigin) -> &'static str {
    match o {
        NoteOrigin::Typed => "typed",
        NoteOrigin::DictatedOnPhone => "dictated_on_phone",
        NoteOrigin::DictatedOnServer => "dictated_on_server",
    }
}

fn parse_origin(s: &str, id: &str) -> Result<NoteOrigin> {
    match s {
        "typed" => Ok(NoteOrigin::Typed),
        "dictated_on_phone" => Ok(NoteOrigin::DictatedOnPhone),
        "dictated_on_server" => Ok(NoteOrigin::DictatedOnServer),
        other => Err(StoreError::Corrupt { id: id.into(), what: format!("origin {other:?}") }),
    }
}

/// The four SOAP columns, all `None` when the note has no draft.
pub(super) fn soap_columns(soap: Option<&SoapText>) -> [Option<&str>; 4] {
    match soap {
        Some(s) => [
            Some(s.subjective.as_str()),
            Some(s.objective.as_str()),
            Some(s.assessment.as_str()),
            Some(s.plan.as_str()),
        ],
        None => [None; 4],
    }
}

/// Raw columns; converted outside the rusqlite closure so damage is reported as such.
struct NoteRow {
    id: String,
    written_at: i64,
    offset: i32,
    lang: String,
    text: String,
    soap: [Option<String>; 4],
    origin: String,
    checked: bool,
    created_at: i64,
    updated_at: i64,
}

impl NoteRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            written_at: r.get(1)?,
            offset: r.get(2)?,
            lang: r.get(3)?,
            text: r.get(4)?,
            soap: [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
            origin: r.get(9)?,
            checked: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        })
    }

    fn into_note(self) -> Result<StoredNote> {
        let id = &self.id;
        let soap = match self.soap {
            [Some(s), Some(o), Some(a), Some(p)] => {
                Some(SoapText { subjective: s, objective: o, assessment: a, plan: p })
            }
            [None, None, None, None] => None,
            _ => {
                return Err(StoreError::Corrupt { id: id.clone(), what: "partial SOAP".into() });
            }
        };
        Ok(StoredNote {
            id: parse_id(id)?,
            note: Note {
                written_at: from_ms(self.written_at, self.offset, id)?,
                lang: self.lang.clone(),
                text: self.text.clone(),
                soap,
                origin: parse_origin(&self.origin, id)?,
                checked_by_her: self.checked,
            },
            created_at: utc_from_ms(self.created_at, id)?,
            updated_at: utc_from_ms(self.updated_at, id)?,
        })
    }
}

/// Writes `note` under `id` (insert, or replace and revive). Shared with applying pulled notes.
pub(super) fn upsert_note_tx(
    tx: &rusqlite::Transaction<'_>,
    id: Uuid,
    note: &Note,
    updated_ms: i64,
) -> Result<()> {
    let [s, o, a, p] = soap_columns(note.soap.as_ref());
    tx.execute(
        &format!(
            "INSERT INTO note ({NOTE_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) \
             ON CONFLICT (id) DO UPDATE SET written_at = ?2, utc_offset_s = ?3, lang = ?4, \
             text = ?5, soap_subjective = ?6, soap_objective = ?7, soap_assessment = ?8, \
             soap_plan = ?9, origin = ?10, checked_by_her = ?11, updated_at = ?12, \
             deleted_at = NULL"
        ),
        params![
            id.to_string(),
            ms(note.written_at),
            note.written_at.offset().local_minus_utc(),
            note.lang,
            note.text,
            s,
            o,
            a,
            p,
            origin_str(note.origin),
            note.checked_by_her,
            updated_ms,
        ],
    )?;
    Ok(())
}

impl Store {
    /// Saves a new note and queues it for sync. The caller validates it first (the API's rules,
    /// [`Note::validate`]); the schema still refuses an unknown language or origin.
    pub fn insert_note(&mut self, note: &Note, now: DateTime<FixedOffset>) -> Result<StoredNote> {
        let id = new_id();
        let tx = self.conn.transaction()?;
        upsert_note_tx(&tx, id, note, ms(now))?;
        Self::log_change(&tx, "note", &id.to_string(), "upsert", now)?;
        tx.commit()?;
        self.note(id)?.ok_or(StoreError::NotFound(id))
    }

    /// Replaces a note's contents (she edited it) and queues the change.
    pub fn update_note(&mut self, id: Uuid, note: &Note, now: DateTime<FixedOffset>) -> Result<()> {
        let tx = self.conn.transaction()?;
        let live: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM note WHERE id = ?1 AND deleted_at IS NULL)",
            [id.to_string()],
            |r| r.get(0),
        )?;
        if !live {
            return Err(StoreError::NotFound(id));
        }
        upsert_note_tx(&tx, id, note, ms(now))?;
        Self::log_change(&tx, "note", &id.to_string(), "upsert", now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete_note(&mut self, id: Uuid, now: DateTime<FixedOffset>) -> Result<()> {
        self.tombstone("note", id, now)
    }

    fn query_notes(&self, where_sql: &str, args: impl rusqlite::Params) -> Result<Vec<StoredNote>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {NOTE_COLUMNS} FROM note WHERE deleted_at IS NULL {where_sql}"
        ))?;
        let rows =
            stmt.query_map(args, NoteRow::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(NoteRow::into_note).collect()
    }

    pub fn note(&self, id: Uuid) -> Result<Option<StoredNote>> {
        Ok(self.query_notes("AND id = ?1", [id.to_string()])?.pop())
    }

    /// Her notes, newest first.
    pub fn notes(&self) -> Result<Vec<StoredNote>> {
        self.query_notes("ORDER BY written_at DESC, created_at DESC", [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn dictated() -> Note {
        Note {
            written_at: t("2026-05-12T07:30:00+09:00"),
            lang: "ja".into(),
            text: "朝から頭痛があります".into(),
            soap: Some(SoapText {
                subjective: "朝から頭痛".into(),
                objective: String::new(),
                assessment: String::new(),
                plan: "助産師に相談".into(),
            }),
            origin: NoteOrigin::DictatedOnServer,
            checked_by_her: true,
        }
    }

    #[test]
    fn notes_round_trip_enter_the_outbox_and_leave_tombstones() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t("2026-05-12T08:00:00+09:00");
        let a = s.insert_note(&dictated(), now).unwrap();
        assert_eq!(a.note, dictated());
        let typed = Note {
            written_at: t("2026-05-13T21:00:00+09:00"),
            lang: "en".into(),
            text: "Baby moved a lot tonight".into(),
            soap: None,
            origin: NoteOrigin::Typed,
            checked_by_her: false,
        };
        let b = s.insert_note(&typed, now).unwrap();
        let ids: Vec<Uuid> = s.notes().unwrap().into_iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![b.id, a.id], "newest first");
        assert_eq!(s.note(b.id).unwrap().unwrap().note.soap, None);

        let mut edited = typed.clone();
        edited.text = "Baby moved a lot tonight, less this morning".into();
        s.update_note(b.id, &edited, t("2026-05-14T08:00:00+09:00")).unwrap();
        assert_eq!(s.note(b.id).unwrap().unwrap().note, edited);

        s.delete_note(a.id, now).unwrap();
        assert!(s.note(a.id).unwrap().is_none());
        assert!(matches!(s.update_note(a.id, &typed, now), Err(StoreError::NotFound(_))));
        let log: Vec<(String, String)> =
            s.changes_since(0).unwrap().into_iter().map(|c| (c.entity, c.op)).collect();
        let expect =
            [("note", "upsert"), ("note", "upsert"), ("note", "upsert"), ("note", "delete")];
        assert_eq!(log, expect.map(|(e, o)| (e.to_string(), o.to_string())));
        assert_eq!(s.pending_changes().unwrap(), 4);
    }

    #[test]
    fn a_database_of_the_sync_release_gains_notes_and_keeps_its_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::DB_FILE);
        let now = t("2026-05-12T08:00:00+09:00");
        {
            let mut s = Store::open(&path).unwrap();
            s.insert_epds([0; 10], 0, 0, now, now).unwrap();
            s.set_pushed_seq(1).unwrap();
        }
        // Back to schema 2, as the sync release left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE note; PRAGMA user_version = 2;").unwrap();
        drop(conn);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), super::super::schema::MIGRATIONS.len() as u32);
        assert_eq!(s.epds_records().unwrap().len(), 1);
        assert_eq!(s.sync_state().unwrap().pushed_seq, 1);
        s.insert_note(&dictated(), now).unwrap();
        assert_eq!(s.pending_changes().unwrap(), 1, "only the new note waits");
    }

    #[test]
    fn a_note_with_an_unknown_language_is_refused_by_the_schema() {
        let mut s = Store::open_in_memory().unwrap();
        let mut n = dictated();
        n.lang = "fr".into();
        assert!(matches!(
            s.insert_note(&n, t("2026-05-12T08:00:00+09:00")),
            Err(StoreError::Sql(_))
        ));
        assert!(s.changes_since(0).unwrap().is_empty(), "nothing half-written");
    }
}
