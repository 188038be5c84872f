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
];
