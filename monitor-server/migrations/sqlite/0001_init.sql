-- Monitor server schema, SQLite (the embedded default). The PostgreSQL/TimescaleDB schema keeps
-- the same tables and constraints.
-- Sequence numbers and event ids are u64 on the wire; storage holds them as signed 64-bit, so the
-- ingest refuses values above 2^63 - 1 (a 4 Hz stream reaches that in 10^10 years).

CREATE TABLE streams (
    stream_key          INTEGER PRIMARY KEY,
    stream_id           TEXT    NOT NULL UNIQUE,  -- site/gateway/device
    first_seen_ms       INTEGER NOT NULL,
    duplicates_rejected INTEGER NOT NULL DEFAULT 0,
    rejected_payloads   INTEGER NOT NULL DEFAULT 0,
    last_arrival_ms     INTEGER
);

-- One row per 4 Hz sample. Heart rates in quarter bpm, NULL = no value (never 0).
CREATE TABLE samples (
    stream_key INTEGER NOT NULL REFERENCES streams (stream_key),
    seq        INTEGER NOT NULL,
    rx_ms      INTEGER NOT NULL,  -- gateway receive time, UTC
    device_ms  INTEGER,           -- device clock as read, when the device has one
    clock      INTEGER NOT NULL,  -- gateway clock quality (0 unknown, 1 synchronised, 2 unsynchronised)
    arrived_ms INTEGER NOT NULL,  -- server receive time
    backlog    INTEGER NOT NULL,  -- replayed after an outage
    fhr1       INTEGER,
    fhr2       INTEGER,
    mhr        INTEGER,
    toco       INTEGER,
    movement   INTEGER,
    mark       INTEGER NOT NULL,
    quality    INTEGER NOT NULL,  -- packed per-channel signal quality, as on the wire
    PRIMARY KEY (stream_key, seq)
) WITHOUT ROWID;

CREATE INDEX samples_by_time ON samples (stream_key, rx_ms);

-- Stored samples are never altered: replays are skipped on insert, and this refuses the rest.
CREATE TRIGGER samples_are_immutable BEFORE UPDATE ON samples
BEGIN
    SELECT RAISE(ABORT, 'stored samples are immutable');
END;

CREATE TABLE device_events (
    stream_key INTEGER NOT NULL REFERENCES streams (stream_key),
    event_id   INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    body       TEXT    NOT NULL,  -- the event as received (JSON)
    arrived_ms INTEGER NOT NULL,
    PRIMARY KEY (stream_key, event_id)
) WITHOUT ROWID;

CREATE INDEX device_events_by_time ON device_events (stream_key, at_ms);

CREATE TABLE staff (
    username      TEXT    PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('midwife', 'obstetrician', 'admin')),
    password_hash TEXT    NOT NULL,  -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,  -- SHA-256 of the bearer/cookie token; the token itself is never stored
    username   TEXT    NOT NULL REFERENCES staff (username),
    csrf_token TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);

CREATE TABLE login_codes (
    code_hash  TEXT    PRIMARY KEY,
    username   TEXT    NOT NULL REFERENCES staff (username),
    expires_ms INTEGER NOT NULL
);

CREATE TABLE beds (
    bed           TEXT    PRIMARY KEY,
    display_order INTEGER NOT NULL
);

CREATE TABLE admissions (
    admission_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id     TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    ga_weeks       INTEGER NOT NULL,
    ga_days        INTEGER NOT NULL,
    ga_recorded_ms INTEGER NOT NULL,
    bed            TEXT    NOT NULL REFERENCES beds (bed),
    admitted_ms    INTEGER NOT NULL,
    admitted_by    TEXT    NOT NULL,
    discharged_ms  INTEGER
);

-- A patient is admitted once at a time, and a bed holds one patient at a time.
CREATE UNIQUE INDEX one_active_admission_per_patient ON admissions (patient_id) WHERE discharged_ms IS NULL;
CREATE UNIQUE INDEX one_patient_per_bed ON admissions (bed) WHERE discharged_ms IS NULL;

-- Which patient a stream's samples belong to: sequence numbers from_seq .. to_seq (exclusive).
CREATE TABLE bindings (
    binding_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id    TEXT    NOT NULL,
    admission_id INTEGER NOT NULL REFERENCES admissions (admission_id),
    from_seq     INTEGER NOT NULL,
    to_seq       INTEGER,
    bound_ms     INTEGER NOT NULL,
    bound_by     TEXT    NOT NULL,
    unbound_ms   INTEGER
);

-- A stream feeds one patient at a time, and a patient has one stream at a time.
CREATE UNIQUE INDEX one_active_binding_per_stream ON bindings (stream_id) WHERE to_seq IS NULL;
CREATE UNIQUE INDEX one_active_binding_per_admission ON bindings (admission_id) WHERE to_seq IS NULL;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT,
    role    TEXT,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    outcome TEXT    NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    remote  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
