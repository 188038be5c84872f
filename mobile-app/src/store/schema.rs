//! Schema migrations, applied in order inside one transaction each. `PRAGMA user_version` holds the
//! number of migrations applied. Never edit a released migration: add a new one.

/// Each entry moves the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema. Every record has a client-generated UUID, created/updated timestamps
    // (epoch ms, UTC) and, where it can be deleted on its own, a `deleted_at` tombstone so a later
    // sync can tell the clinic about the deletion. Times a person sees keep their UTC offset.
    r#"
    CREATE TABLE profile (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        id TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL DEFAULT '',
        due_date TEXT,
        birth_date TEXT,
        height_cm REAL,
        pre_pregnancy_weight_kg REAL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE bp_reading (
        id TEXT PRIMARY KEY,
        measured_at INTEGER NOT NULL,
        utc_offset_s INTEGER NOT NULL,
        systolic REAL NOT NULL,
        diastolic REAL NOT NULL,
        pulse REAL,
        mean_arterial REAL,
        arm TEXT NOT NULL,
        session TEXT NOT NULL,
        symptoms INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL CHECK (source IN ('manual', 'cuff')),
        device_id TEXT,
        device_time TEXT,
        clock_untrusted INTEGER NOT NULL DEFAULT 0,
        cuff_status INTEGER,
        cuff_user INTEGER,
        tier TEXT NOT NULL,
        tier_confirmed INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE INDEX bp_reading_time ON bp_reading (measured_at) WHERE deleted_at IS NULL;
    -- The same stored cuff record imported twice: same device, same device time, same values.
    -- (NULLs are distinct in SQLite: records without a device time are never merged.)
    CREATE UNIQUE INDEX bp_reading_cuff_record
        ON bp_reading (device_id, device_time, systolic, diastolic, IFNULL(pulse, -1))
        WHERE source = 'cuff';

    CREATE TABLE checkup (
        id TEXT PRIMARY KEY,
        date TEXT NOT NULL,
        facility TEXT NOT NULL DEFAULT '',
        weight_kg REAL,
        systolic REAL,
        diastolic REAL,
        urine_protein TEXT NOT NULL,
        urine_glucose TEXT NOT NULL,
        fundal_height_cm REAL,
        abdominal_circumference_cm REAL,
        oedema TEXT NOT NULL,
        notes TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE INDEX checkup_date ON checkup (date) WHERE deleted_at IS NULL;

    CREATE TABLE epds (
        id TEXT PRIMARY KEY,
        taken_at INTEGER NOT NULL,
        utc_offset_s INTEGER NOT NULL,
        answers TEXT NOT NULL,
        total INTEGER NOT NULL,
        item10 INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );

    CREATE TABLE paired_cuff (
        device_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        paired_at INTEGER NOT NULL,
        last_import_at INTEGER
    );

    CREATE TABLE setting (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    -- The outbox a later sync pushes in order: one row per change, in the same transaction.
    CREATE TABLE change_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        entity TEXT NOT NULL,
        record_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
        changed_at INTEGER NOT NULL
    );
    "#,
    // 2: sync with the clinic. One row holds the account's tokens and how far sync got: the last
    // outbox entry the server acknowledged (`pushed_seq`) and the server's change number pulled
    // so far (`pull_cursor`). Changes pulled from the server are applied without an outbox row.
    r#"
    CREATE TABLE sync_state (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        pushed_seq INTEGER NOT NULL DEFAULT 0,
        pull_cursor INTEGER NOT NULL DEFAULT 0,
        mother_id TEXT,
        login TEXT,
        access_token TEXT,
        refresh_token TEXT,
        -- Set when the server refused her tokens: she must log in again.
        needs_login INTEGER NOT NULL DEFAULT 0,
        last_synced_at INTEGER,
        last_attempt_at INTEGER,
        -- NULL after a successful sync, 'offline' when the server was unreachable, else 'error'.
        last_failure TEXT,
        last_error TEXT
    );
    INSERT INTO sync_state (singleton) VALUES (1);
    "#,
    // 3: her notes (typed, or dictated and checked by her). The SOAP draft's four parts are
    // NULL together when the note has none. Synced like the other records.
    r#"
    CREATE TABLE note (
        id TEXT PRIMARY KEY,
        written_at INTEGER NOT NULL,
        utc_offset_s INTEGER NOT NULL,
        lang TEXT NOT NULL CHECK (lang IN ('ja', 'en')),
        text TEXT NOT NULL,
        soap_subjective TEXT,
        soap_objective TEXT,
        soap_assessment TEXT,
        soap_plan TEXT,
        origin TEXT NOT NULL
            CHECK (origin IN ('typed', 'dictated_on_phone', 'dictated_on_server')),
        checked_by_her INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE INDEX note_time ON note (written_at) WHERE deleted_at IS NULL;
    "#,
];
