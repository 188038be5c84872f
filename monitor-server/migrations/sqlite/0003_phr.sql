-- The mothers' PHR (issue 9): clinics and their staff, invitations, mother accounts and app
-- tokens, her records, consents, the warnings her records raise and clinicians' attested notes.
-- The PostgreSQL schema (postgres/0002_phr.sql) keeps the same tables and constraints.
-- Ids of mothers, records and notes are UUIDs as lower-case hyphenated TEXT; times are epoch ms.

CREATE TABLE clinics (
    clinic_id TEXT PRIMARY KEY,
    name      TEXT NOT NULL
);

-- A staff member's PHR access goes through the clinics they work for.
CREATE TABLE clinic_members (
    clinic_id TEXT NOT NULL REFERENCES clinics (clinic_id),
    username  TEXT NOT NULL REFERENCES staff (username),
    PRIMARY KEY (clinic_id, username)
) WITHOUT ROWID;

CREATE INDEX clinic_members_by_staff ON clinic_members (username);

CREATE TABLE mothers (
    mother_id        TEXT    PRIMARY KEY,
    login            TEXT    NOT NULL UNIQUE,  -- normalised
    display_name     TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,         -- argon2id PHC string
    invited_by       TEXT    NOT NULL REFERENCES clinics (clinic_id),
    created_ms       INTEGER NOT NULL,
    disabled         INTEGER NOT NULL DEFAULT 0,
    -- Her change counter: each stored change takes the next number, inside the upload
    -- transaction, so numbers become visible in increasing order.
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_received_ms INTEGER
);

-- Registration codes, stored as digests; single use.
CREATE TABLE phr_invitations (
    code_hash  TEXT    PRIMARY KEY,
    clinic_id  TEXT    NOT NULL REFERENCES clinics (clinic_id),
    created_by TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER,
    used_by    TEXT    REFERENCES mothers (mother_id),
    CHECK ((used_ms IS NULL) = (used_by IS NULL))
);

-- App tokens, stored as digests. All tokens of one login share a family (revoked together).
CREATE TABLE mother_tokens (
    token_hash TEXT    PRIMARY KEY,
    mother_id  TEXT    NOT NULL REFERENCES mothers (mother_id),
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    family     TEXT    NOT NULL,
    device     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER,
    revoked_ms INTEGER
);

CREATE INDEX mother_tokens_by_family ON mother_tokens (family);

-- One row per record id of one mother: another mother's record with the same UUID is hers.
CREATE TABLE phr_records (
    mother_id   TEXT    NOT NULL REFERENCES mothers (mother_id),
    record_id   TEXT    NOT NULL,
    seq         INTEGER NOT NULL,  -- her change number of the latest stored change
    kind        TEXT    NOT NULL CHECK (kind IN ('bp_reading', 'checkup', 'epds', 'note')),
    updated_at  TEXT    NOT NULL,  -- RFC 3339 with the phone's offset, as sent
    updated_ms  INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    data        TEXT,              -- canonical JSON, compared byte for byte by the conflict rule
    occurred_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (mother_id, record_id),
    UNIQUE (mother_id, seq),
    CHECK ((deleted <> 0) = (data IS NULL))
);

CREATE INDEX phr_records_live ON phr_records (mother_id, occurred_ms) WHERE deleted = 0;

-- A new grant to a clinic revokes the active one, so at most one is active per clinic.
CREATE TABLE phr_consents (
    consent_id INTEGER PRIMARY KEY AUTOINCREMENT,
    mother_id  TEXT    NOT NULL REFERENCES mothers (mother_id),
    clinic_id  TEXT    NOT NULL REFERENCES clinics (clinic_id),
    scope      TEXT    NOT NULL,  -- comma-separated (phr_wire::consent::scope_to_string)
    granted_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);

CREATE UNIQUE INDEX phr_consents_active ON phr_consents (mother_id, clinic_id)
    WHERE revoked_ms IS NULL;
CREATE INDEX phr_consents_active_by_clinic ON phr_consents (clinic_id) WHERE revoked_ms IS NULL;
CREATE INDEX phr_consents_by_mother ON phr_consents (mother_id, granted_ms);

-- At most one warning of a kind per record: re-sends and edits never duplicate one.
CREATE TABLE phr_warnings (
    warning_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    mother_id   TEXT    NOT NULL,
    record_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('bp_same_day', 'bp_emergency', 'epds_positive', 'epds_self_harm')),
    detail      TEXT    NOT NULL,
    occurred_ms INTEGER NOT NULL,
    raised_ms   INTEGER NOT NULL,
    ack_by      TEXT    REFERENCES staff (username),
    ack_clinic  TEXT    REFERENCES clinics (clinic_id),
    ack_ms      INTEGER,
    UNIQUE (mother_id, record_id, kind),
    FOREIGN KEY (mother_id, record_id) REFERENCES phr_records (mother_id, record_id),
    CHECK ((ack_ms IS NULL) = (ack_by IS NULL) AND (ack_ms IS NULL) = (ack_clinic IS NULL))
);

CREATE INDEX phr_warnings_by_mother ON phr_warnings (mother_id, occurred_ms);

-- An acknowledgement, once recorded, stands; what was raised never changes.
CREATE TRIGGER phr_warnings_ack_stands BEFORE UPDATE ON phr_warnings
WHEN OLD.ack_ms IS NOT NULL
  OR OLD.mother_id IS NOT NEW.mother_id
  OR OLD.record_id IS NOT NEW.record_id
  OR OLD.kind IS NOT NEW.kind
BEGIN
    SELECT RAISE(ABORT, 'a warning acknowledgement stands once recorded');
END;

CREATE TABLE phr_clinical_notes (
    note_id     TEXT    PRIMARY KEY,
    mother_id   TEXT    NOT NULL REFERENCES mothers (mother_id),
    clinic_id   TEXT    NOT NULL REFERENCES clinics (clinic_id),
    author      TEXT    NOT NULL REFERENCES staff (username),
    attested_ms INTEGER NOT NULL,
    lang        TEXT    NOT NULL,
    soap        TEXT    NOT NULL,  -- phr_wire::records::SoapText as JSON
    composition TEXT    NOT NULL,  -- final FHIR Composition (JSON)
    provenance  TEXT    NOT NULL,  -- FHIR Provenance (JSON)
    signature   TEXT               -- detached HPKI signature, when a signer is configured
);

CREATE INDEX phr_clinical_notes_by_mother ON phr_clinical_notes (mother_id, attested_ms);

-- Attested notes are a legal record: never altered or deleted.
CREATE TRIGGER phr_clinical_notes_no_update BEFORE UPDATE ON phr_clinical_notes
BEGIN
    SELECT RAISE(ABORT, 'attested notes are immutable');
END;

CREATE TRIGGER phr_clinical_notes_no_delete BEFORE DELETE ON phr_clinical_notes
BEGIN
    SELECT RAISE(ABORT, 'attested notes are immutable');
END;
