//! The PHR storage ([`PhrStore`]) on the embedded SQLite store (schema:
//! `migrations/sqlite/0003_phr.sql`).
//!
//! Write transactions start with `BEGIN IMMEDIATE` (see [`SqliteStore::open`]): SQLite then has
//! one writer at a time, which is what serialises a mother's uploads and makes her change
//! numbers become visible in increasing order. UUIDs are stored as hyphenated lower-case TEXT.

use async_trait::async_trait;
use phr_wire::consent::{Scope, scope_from_string, scope_to_string};
use phr_wire::records::{ItemOutcome, RecordKind, StoredVersion, decide};
use phr_wire::rules::WarningKind;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::phr::{
    ClinicRow, ClinicalNote, ConsentRow, MotherCredentials, MotherRow, MotherToken, NewInvitation,
    PhrChange, PhrStore, RefreshUse, StoredRecord, TokenKind, WarningQuery, WarningRow,
};
use super::{SqliteStore, StoreError, StoreResult};
use crate::model::Millis;

// Column lists shared by the queries that read whole rows (macros so `concat!` keeps the SQL
// text static).
macro_rules! mother_cols {
    () => {
        "mother_id, login, display_name, invited_by, created_ms, disabled"
    };
}
macro_rules! token_cols {
    () => {
        "token_hash, mother_id, kind, family, device, created_ms, expires_ms, used_ms, revoked_ms"
    };
}
macro_rules! record_cols {
    () => {
        "seq, record_id, kind, updated_at, updated_ms, deleted, data, occurred_ms, received_ms"
    };
}
macro_rules! consent_select {
    () => {
        "SELECT c.consent_id, c.mother_id, c.clinic_id, k.name AS clinic_name, c.scope, \
         c.granted_ms, c.revoked_ms FROM phr_consents c JOIN clinics k ON k.clinic_id = c.clinic_id "
    };
}
macro_rules! warning_cols {
    () => {
        "warning_id, mother_id, record_id, kind, detail, occurred_ms, raised_ms, ack_by, \
         ack_clinic, ack_ms"
    };
}
macro_rules! note_cols {
    () => {
        "note_id, mother_id, clinic_id, author, attested_ms, lang, soap, composition, provenance, \
         signature"
    };
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

fn uuid_col(row: &SqliteRow, col: &str) -> StoreResult<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|e| corrupt(format!("{col} {s:?}: {e}")))
}

/// A list bound as one JSON array parameter and read with `json_each`, so the SQL text stays
/// fixed whatever the list's length.
fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::Value::from(items.into_iter().collect::<Vec<_>>()).to_string()
}

fn clinic_from_row(row: &SqliteRow) -> StoreResult<ClinicRow> {
    Ok(ClinicRow { id: row.try_get("clinic_id")?, name: row.try_get("name")? })
}

fn mother_from_row(row: &SqliteRow) -> StoreResult<MotherRow> {
    Ok(MotherRow {
        id: uuid_col(row, "mother_id")?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        invited_by: row.try_get("invited_by")?,
        created_ms: row.try_get("created_ms")?,
        disabled: row.try_get("disabled")?,
    })
}

fn token_from_row(row: &SqliteRow) -> StoreResult<MotherToken> {
    let kind: String = row.try_get("kind")?;
    Ok(MotherToken {
        token_hash: row.try_get("token_hash")?,
        mother_id: uuid_col(row, "mother_id")?,
        kind: match kind.as_str() {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            other => return Err(corrupt(format!("token kind {other:?}"))),
        },
        family: row.try_get("family")?,
        device: row.try_get("device")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        used_ms: row.try_get("used_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
    })
}

fn record_from_row(row: &SqliteRow) -> StoreResult<StoredRecord> {
    let kind: String = row.try_get("kind")?;
    Ok(StoredRecord {
        seq: row.try_get("seq")?,
        id: uuid_col(row, "record_id")?,
        kind: RecordKind::parse(&kind).ok_or_else(|| corrupt(format!("record kind {kind:?}")))?,
        updated_at: row.try_get("updated_at")?,
        updated_ms: row.try_get("updated_ms")?,
        deleted: row.try_get("deleted")?,
        data: row.try_get("data")?,
        occurred_ms: row.try_get("occurred_ms")?,
        received_ms: row.try_get("received_ms")?,
    })
}

fn consent_from_row(row: &SqliteRow) -> StoreResult<ConsentRow> {
    let scope: String = row.try_get("scope")?;
    Ok(ConsentRow {
        id: row.try_get("consent_id")?,
        mother_id: uuid_col(row, "mother_id")?,
        clinic_id: row.try_get("clinic_id")?,
        clinic_name: row.try_get("clinic_name")?,
        scope: scope_from_string(&scope),
        granted_ms: row.try_get("granted_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
    })
}

fn warning_from_row(row: &SqliteRow) -> StoreResult<WarningRow> {
    let kind: String = row.try_get("kind")?;
    Ok(WarningRow {
        id: row.try_get("warning_id")?,
        mother_id: uuid_col(row, "mother_id")?,
        record_id: uuid_col(row, "record_id")?,
        kind: WarningKind::parse(&kind).ok_or_else(|| corrupt(format!("warning kind {kind:?}")))?,
        detail: row.try_get("detail")?,
        occurred_ms: row.try_get("occurred_ms")?,
        raised_ms: row.try_get("raised_ms")?,
        ack_by: row.try_get("ack_by")?,
        ack_clinic: row.try_get("ack_clinic")?,
        ack_ms: row.try_get("ack_ms")?,
    })
}

fn note_from_row(row: &SqliteRow) -> StoreResult<ClinicalNote> {
    Ok(ClinicalNote {
        id: uuid_col(row, "note_id")?,
        mother_id: uuid_col(row, "mother_id")?,
        clinic_id: row.try_get("clinic_id")?,
        author: row.try_get("author")?,
        attested_ms: row.try_get("attested_ms")?,
        lang: row.try_get("lang")?,
        soap: row.try_get("soap")?,
        composition: row.try_get("composition")?,
        provenance: row.try_get("provenance")?,
        signature: row.try_get("signature")?,
    })
}

/// Sorted, without repeats: the stored scope of a grant does not depend on the order it was sent.
fn normalised_scope(scope: &[Scope]) -> Vec<Scope> {
    let mut s = scope.to_vec();
    s.sort();
    s.dedup();
    s
}

#[async_trait]
impl PhrStore for SqliteStore {
    async fn put_clinic(&self, clinic: &ClinicRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clinics (clinic_id, name) VALUES (?, ?) \
             ON CONFLICT (clinic_id) DO UPDATE SET name = excluded.name",
        )
        .bind(&clinic.id)
        .bind(&clinic.name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clinics(&self) -> StoreResult<Vec<ClinicRow>> {
        let rows = sqlx::query("SELECT clinic_id, name FROM clinics ORDER BY clinic_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(clinic_from_row).collect()
    }

    async fn add_clinic_member(&self, clinic_id: &str, username: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Checked first so the caller learns which of the two is unknown.
        let clinic = sqlx::query("SELECT 1 FROM clinics WHERE clinic_id = ?")
            .bind(clinic_id)
            .fetch_optional(&mut *tx)
            .await?;
        if clinic.is_none() {
            return Err(StoreError::NotFound(format!("clinic {clinic_id:?}")));
        }
        let staff = sqlx::query("SELECT 1 FROM staff WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        if staff.is_none() {
            return Err(StoreError::NotFound(format!("staff {username:?}")));
        }
        sqlx::query(
            "INSERT INTO clinic_members (clinic_id, username) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(clinic_id)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clinics_of_staff(&self, username: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT clinic_id FROM clinic_members WHERE username = ? ORDER BY clinic_id",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn create_invitation(&self, inv: &NewInvitation) -> StoreResult<()> {
        let r = sqlx::query(
            "INSERT INTO phr_invitations (code_hash, clinic_id, created_by, created_ms, expires_ms) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&inv.code_hash)
        .bind(&inv.clinic_id)
        .bind(&inv.created_by)
        .bind(inv.created_ms)
        .bind(inv.expires_ms)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_foreign_key_violation(&e) => {
                Err(StoreError::NotFound(format!("clinic {:?}", inv.clinic_id)))
            }
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict("an invitation with this code exists".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn register_mother(
        &self,
        invitation_hash: &str,
        mother: &MotherRow,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<MotherRow> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Only the mother's row is inserted before the invitation is marked used (its used_by
        // refers to her); any failure drops the transaction, so the invitation stays unused.
        let clinic: Option<String> = sqlx::query_scalar(
            "SELECT clinic_id FROM phr_invitations \
             WHERE code_hash = ? AND used_ms IS NULL AND expires_ms > ?",
        )
        .bind(invitation_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(clinic) = clinic else {
            return Err(StoreError::NotFound("invitation".into()));
        };
        let row = MotherRow { invited_by: clinic, ..mother.clone() };
        let id = row.id.to_string();
        let r = sqlx::query(
            "INSERT INTO mothers (mother_id, login, display_name, password_hash, invited_by, \
             created_ms, disabled) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&row.login)
        .bind(&row.display_name)
        .bind(password_hash)
        .bind(&row.invited_by)
        .bind(row.created_ms)
        .bind(row.disabled)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("login {:?} is taken", row.login)));
            }
            Err(e) => return Err(e.into()),
        }
        let used = sqlx::query(
            "UPDATE phr_invitations SET used_ms = ?, used_by = ? \
             WHERE code_hash = ? AND used_ms IS NULL",
        )
        .bind(now)
        .bind(&id)
        .bind(invitation_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used != 1 {
            return Err(StoreError::NotFound("invitation".into()));
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn mother_credentials(&self, login: &str) -> StoreResult<Option<MotherCredentials>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            mother_cols!(),
            ", password_hash FROM mothers WHERE login = ?"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(MotherCredentials {
                mother: mother_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn mother(&self, id: Uuid) -> StoreResult<Option<MotherRow>> {
        let row =
            sqlx::query(concat!("SELECT ", mother_cols!(), " FROM mothers WHERE mother_id = ?"))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(mother_from_row).transpose()
    }

    async fn insert_mother_tokens(&self, tokens: &[MotherToken]) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for t in tokens {
            let r = sqlx::query(concat!(
                "INSERT INTO mother_tokens (",
                token_cols!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&t.token_hash)
            .bind(t.mother_id.to_string())
            .bind(t.kind.as_str())
            .bind(&t.family)
            .bind(&t.device)
            .bind(t.created_ms)
            .bind(t.expires_ms)
            .bind(t.used_ms)
            .bind(t.revoked_ms)
            .execute(&mut *tx)
            .await;
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict("a token with this digest exists".into()));
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::NotFound(format!("mother {}", t.mother_id)));
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mother_token(&self, token_hash: &str) -> StoreResult<Option<MotherToken>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM mother_tokens WHERE token_hash = ?"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn use_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<RefreshUse> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Marking it used is the check: only one exchange can find it unused.
        let fresh = sqlx::query(concat!(
            "UPDATE mother_tokens SET used_ms = ? \
             WHERE token_hash = ? AND kind = 'refresh' AND used_ms IS NULL AND revoked_ms IS NULL \
             AND expires_ms > ? RETURNING ",
            token_cols!()
        ))
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = fresh {
            let token = token_from_row(&row)?;
            tx.commit().await?;
            return Ok(RefreshUse::Fresh(token));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM mother_tokens WHERE token_hash = ? AND kind = 'refresh'"
        ))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(RefreshUse::Unknown) };
        let token = token_from_row(&row)?;
        if token.used_ms.is_some() || token.revoked_ms.is_some() {
            // Someone holds a copy of a spent token: end every session of that login.
            sqlx::query(
                "UPDATE mother_tokens SET revoked_ms = ? WHERE family = ? AND revoked_ms IS NULL",
            )
            .bind(now)
            .bind(&token.family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RefreshUse::Replayed { mother_id: token.mother_id, family: token.family });
        }
        Ok(RefreshUse::Expired { mother_id: token.mother_id })
    }

    async fn revoke_token_family(&self, family: &str, now: Millis) -> StoreResult<u64> {
        // Expired tokens are dead already and keep their record as it was.
        let r = sqlx::query(
            "UPDATE mother_tokens SET revoked_ms = ? \
             WHERE family = ? AND revoked_ms IS NULL AND expires_ms > ?",
        )
        .bind(now)
        .bind(family)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn upload(
        &self,
        mother_id: Uuid,
        changes: &[PhrChange],
        now: Millis,
    ) -> StoreResult<Vec<ItemOutcome>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mother = mother_id.to_string();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let known = sqlx::query(
            "UPDATE mothers SET last_received_ms = MAX(COALESCE(last_received_ms, ?1), ?1) \
             WHERE mother_id = ?2",
        )
        .bind(now)
        .bind(&mother)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if known == 0 {
            return Err(StoreError::NotFound(format!("mother {mother_id}")));
        }
        let mut outcomes = Vec::with_capacity(changes.len());
        for c in changes {
            let record_id = c.change.id.to_string();
            let deleted = c.change.record.is_none();
            let data =
                if deleted { None } else { c.data.clone().or_else(|| c.change.canonical_data()) };
            // Read inside the transaction, so earlier changes of this batch count.
            let stored = sqlx::query(
                "SELECT updated_ms, deleted, data FROM phr_records WHERE mother_id = ? AND record_id = ?",
            )
            .bind(&mother)
            .bind(&record_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| -> StoreResult<(i64, bool, Option<String>)> {
                Ok((r.try_get("updated_ms")?, r.try_get("deleted")?, r.try_get("data")?))
            })
            .transpose()?;
            let stored = stored.as_ref().map(|(updated_ms, deleted, data)| StoredVersion {
                updated_ms: *updated_ms,
                deleted: *deleted,
                data: data.as_deref(),
            });
            let incoming = StoredVersion {
                updated_ms: c.change.updated_at.timestamp_millis(),
                deleted,
                data: data.as_deref(),
            };
            let outcome = decide(stored.as_ref(), &incoming);
            outcomes.push(outcome);
            if outcome != ItemOutcome::Stored {
                continue;
            }
            let seq: i64 = sqlx::query_scalar(
                "UPDATE mothers SET last_seq = last_seq + 1 WHERE mother_id = ? RETURNING last_seq",
            )
            .bind(&mother)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(concat!(
                "INSERT INTO phr_records (mother_id, ",
                record_cols!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (mother_id, record_id) DO UPDATE SET seq = excluded.seq, \
                 kind = excluded.kind, updated_at = excluded.updated_at, \
                 updated_ms = excluded.updated_ms, deleted = excluded.deleted, data = excluded.data, \
                 occurred_ms = excluded.occurred_ms, received_ms = excluded.received_ms"
            ))
            .bind(&mother)
            .bind(seq)
            .bind(&record_id)
            .bind(c.change.kind.as_str())
            .bind(c.change.updated_at.to_rfc3339())
            .bind(incoming.updated_ms)
            .bind(deleted)
            .bind(data.as_deref())
            .bind(c.occurred_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if deleted {
                continue;
            }
            for w in &c.warnings {
                sqlx::query(
                    "INSERT INTO phr_warnings (mother_id, record_id, kind, detail, occurred_ms, raised_ms) \
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mother_id, record_id, kind) DO NOTHING",
                )
                .bind(&mother)
                .bind(&record_id)
                .bind(w.kind.as_str())
                .bind(&w.detail)
                .bind(c.occurred_ms)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn records_since(
        &self,
        mother_id: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            record_cols!(),
            " FROM phr_records WHERE mother_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(mother_id.to_string())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn records_of(
        &self,
        mother_id: Uuid,
        kinds: &[RecordKind],
        limit: u32,
    ) -> StoreResult<Vec<StoredRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            record_cols!(),
            " FROM phr_records WHERE mother_id = ? AND deleted = 0 \
             AND kind IN (SELECT value FROM json_each(?)) \
             ORDER BY occurred_ms DESC, seq DESC LIMIT ?"
        ))
        .bind(mother_id.to_string())
        .bind(json_list(kinds.iter().map(|k| k.as_str())))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn last_received_ms(&self, mother_id: Uuid) -> StoreResult<Option<Millis>> {
        let v: Option<Option<Millis>> =
            sqlx::query_scalar("SELECT last_received_ms FROM mothers WHERE mother_id = ?")
                .bind(mother_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.flatten())
    }

    async fn grant_consent(
        &self,
        mother_id: Uuid,
        clinic_id: &str,
        scope: &[Scope],
        now: Millis,
    ) -> StoreResult<ConsentRow> {
        let mother = mother_id.to_string();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let known = sqlx::query("SELECT 1 FROM mothers WHERE mother_id = ?")
            .bind(&mother)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("mother {mother_id}")));
        }
        let clinic = sqlx::query("SELECT 1 FROM clinics WHERE clinic_id = ?")
            .bind(clinic_id)
            .fetch_optional(&mut *tx)
            .await?;
        if clinic.is_none() {
            return Err(StoreError::NotFound(format!("clinic {clinic_id:?}")));
        }
        sqlx::query(
            "UPDATE phr_consents SET revoked_ms = ? \
             WHERE mother_id = ? AND clinic_id = ? AND revoked_ms IS NULL",
        )
        .bind(now)
        .bind(&mother)
        .bind(clinic_id)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO phr_consents (mother_id, clinic_id, scope, granted_ms) \
             VALUES (?, ?, ?, ?) RETURNING consent_id",
        )
        .bind(&mother)
        .bind(clinic_id)
        .bind(scope_to_string(&normalised_scope(scope)))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(consent_select!(), "WHERE c.consent_id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        consent_from_row(&row)
    }

    async fn revoke_consent(
        &self,
        mother_id: Uuid,
        clinic_id: &str,
        now: Millis,
    ) -> StoreResult<ConsentRow> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE phr_consents SET revoked_ms = ? \
             WHERE mother_id = ? AND clinic_id = ? AND revoked_ms IS NULL RETURNING consent_id",
        )
        .bind(now)
        .bind(mother_id.to_string())
        .bind(clinic_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(StoreError::NotFound(format!("active consent to clinic {clinic_id:?}")));
        };
        let row = sqlx::query(concat!(consent_select!(), "WHERE c.consent_id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        consent_from_row(&row)
    }

    async fn consents_of_mother(&self, mother_id: Uuid) -> StoreResult<Vec<ConsentRow>> {
        let rows = sqlx::query(concat!(
            consent_select!(),
            "WHERE c.mother_id = ? ORDER BY c.granted_ms DESC, c.consent_id DESC"
        ))
        .bind(mother_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn active_consents_for(&self, clinic_ids: &[String]) -> StoreResult<Vec<ConsentRow>> {
        let rows = sqlx::query(concat!(
            consent_select!(),
            "WHERE c.revoked_ms IS NULL AND c.clinic_id IN (SELECT value FROM json_each(?)) \
             ORDER BY c.granted_ms DESC, c.consent_id DESC"
        ))
        .bind(json_list(clinic_ids.iter().map(String::as_str)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn warnings(&self, q: &WarningQuery) -> StoreResult<Vec<WarningRow>> {
        let mothers: Vec<String> = q.mothers.iter().map(Uuid::to_string).collect();
        let rows = sqlx::query(concat!(
            "SELECT ",
            warning_cols!(),
            " FROM phr_warnings WHERE mother_id IN (SELECT value FROM json_each(?)) \
             AND (? = 0 OR ack_ms IS NULL) ORDER BY occurred_ms DESC, warning_id DESC LIMIT ?"
        ))
        .bind(json_list(mothers.iter().map(String::as_str)))
        .bind(q.open_only)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(warning_from_row).collect()
    }

    async fn warning(&self, id: i64) -> StoreResult<Option<WarningRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            warning_cols!(),
            " FROM phr_warnings WHERE warning_id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(warning_from_row).transpose()
    }

    async fn acknowledge_warning(
        &self,
        id: i64,
        by: &str,
        clinic_id: &str,
        now: Millis,
    ) -> StoreResult<WarningRow> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // First wins: only an unacknowledged row is updated.
        let r = sqlx::query(concat!(
            "UPDATE phr_warnings SET ack_by = ?, ack_clinic = ?, ack_ms = ? \
             WHERE warning_id = ? AND ack_ms IS NULL RETURNING ",
            warning_cols!()
        ))
        .bind(by)
        .bind(clinic_id)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await;
        let row = match r {
            Ok(row) => row,
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::NotFound(format!("staff {by:?} or clinic {clinic_id:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(row) = row {
            let w = warning_from_row(&row)?;
            tx.commit().await?;
            return Ok(w);
        }
        let exists = sqlx::query("SELECT 1 FROM phr_warnings WHERE warning_id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match exists {
            None => Err(StoreError::NotFound(format!("warning {id}"))),
            Some(_) => Err(StoreError::Conflict(format!("warning {id} is already acknowledged"))),
        }
    }

    async fn insert_clinical_note(&self, note: &ClinicalNote) -> StoreResult<()> {
        let r = sqlx::query(concat!(
            "INSERT INTO phr_clinical_notes (",
            note_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(note.id.to_string())
        .bind(note.mother_id.to_string())
        .bind(&note.clinic_id)
        .bind(&note.author)
        .bind(note.attested_ms)
        .bind(&note.lang)
        .bind(&note.soap)
        .bind(&note.composition)
        .bind(&note.provenance)
        .bind(note.signature.as_deref())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("note {} exists", note.id)))
            }
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound(format!(
                "mother {}, clinic {:?} or staff {:?}",
                note.mother_id, note.clinic_id, note.author
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn clinical_notes(&self, mother_id: Uuid) -> StoreResult<Vec<ClinicalNote>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            note_cols!(),
            " FROM phr_clinical_notes WHERE mother_id = ? ORDER BY attested_ms DESC, note_id"
        ))
        .bind(mother_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(note_from_row).collect()
    }
}
