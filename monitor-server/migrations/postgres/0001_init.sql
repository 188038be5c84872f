-- Monitor server schema, PostgreSQL with TimescaleDB (the region-wide store). Same tables and
-- constraints as the SQLite schema, plus per-minute rollups of the samples.
-- Sequence numbers and event ids are u64 on the wire; storage holds them as BIGINT, so the ingest
-- refuses values above 2^63 - 1. Times are Unix milliseconds (BIGINT), as everywhere in the server.
--
-- TimescaleDB is used when the server offers it (samples and rollups become hypertables
-- partitioned on time); on plain PostgreSQL they stay ordinary tables and everything still works,
-- only retention deletes rows instead of dropping chunks.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;

CREATE TABLE streams (
    stream_key          BIGSERIAL PRIMARY KEY,
    stream_id           TEXT   NOT NULL UNIQUE,  -- site/gateway/device
    first_seen_ms       BIGINT NOT NULL,
    duplicates_rejected BIGINT NOT NULL DEFAULT 0,
    rejected_payloads   BIGINT NOT NULL DEFAULT 0,
    last_arrival_ms     BIGINT
);

-- One row per 4 Hz sample. Heart rates in quarter bpm, NULL = no value (never 0).
-- Partitioned on rx_ms (gateway receive time): TimescaleDB requires the partitioning column in
-- every unique index, so uniqueness is on (stream_key, seq, rx_ms). A replay carries the receive
-- time the gateway stamped first; the ingest refuses a stored (stream, seq) before storage
-- whatever its time (see postgres.rs, WRITE_BATCH_SQL).
-- No foreign key to streams: its per-row check costs a fifth of the insert time at volume, and
-- only the server writes here, with keys it got from `streams`.
CREATE TABLE samples (
    stream_key BIGINT   NOT NULL,
    seq        BIGINT   NOT NULL CHECK (seq >= 0),
    rx_ms      BIGINT   NOT NULL,  -- gateway receive time, UTC
    device_ms  BIGINT,             -- device clock as read, when the device has one
    clock      SMALLINT NOT NULL,  -- gateway clock quality (0 unknown, 1 synchronised, 2 unsynchronised)
    arrived_ms BIGINT   NOT NULL,  -- server receive time
    backlog    BOOLEAN  NOT NULL,  -- replayed after an outage
    fhr1       SMALLINT,
    fhr2       SMALLINT,
    mhr        SMALLINT,
    toco       SMALLINT,
    movement   SMALLINT,
    mark       BOOLEAN  NOT NULL,
    quality    SMALLINT NOT NULL   -- packed per-channel signal quality, as on the wire
);

-- Ascending (stream, time) and (stream, seq): time-ordered inserts append at the right edge of
-- each chunk's index.
CREATE UNIQUE INDEX samples_identity ON samples (stream_key, seq, rx_ms);
CREATE INDEX samples_by_time ON samples (stream_key, rx_ms);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END
$$;

-- Stored samples are never altered: replays are skipped on insert, and this refuses the rest.
CREATE TRIGGER samples_are_immutable BEFORE UPDATE ON samples
    FOR EACH ROW EXECUTE FUNCTION refuse_change('stored samples are immutable');

CREATE TABLE device_events (
    stream_key BIGINT NOT NULL REFERENCES streams (stream_key),
    event_id   BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    body       TEXT   NOT NULL,  -- the event as received (JSON)
    arrived_ms BIGINT NOT NULL,
    PRIMARY KEY (stream_key, event_id)
);

CREATE INDEX device_events_by_time ON device_events (stream_key, at_ms);

-- Per-minute rollups of the samples, maintained by the server in the same statement that stores
-- the samples (only newly inserted rows are added, so they are exact). A 24-hour trend is
-- 1,440 rows instead of 345,600 samples. Sums and counts rather than means, so merging is exact.
CREATE TABLE samples_1m (
    stream_key   BIGINT NOT NULL,  -- no foreign key, as for samples
    minute_ms    BIGINT NOT NULL,  -- start of the minute (rx_ms floored)
    n            INTEGER NOT NULL, -- samples stored in the minute
    fhr_n        INTEGER NOT NULL, -- of which with an FHR1 value
    fhr_sum      BIGINT  NOT NULL, -- quarter bpm
    fhr_min      SMALLINT,
    fhr_max      SMALLINT,
    toco_n       INTEGER NOT NULL,
    toco_sum     BIGINT  NOT NULL,
    toco_min     SMALLINT,
    toco_max     SMALLINT,
    quality_n    INTEGER NOT NULL, -- samples whose FHR1 quality is reported (not unknown)
    quality_good INTEGER NOT NULL, -- of which rated good
    PRIMARY KEY (stream_key, minute_ms)
);

-- Sample ranges removed by retention, per stream (islands of consecutive sequence numbers). They
-- were stored and acknowledged: the accounting at start-up counts them as stored, so expiry never
-- makes a watermark go back.
CREATE TABLE expired_ranges (
    stream_key BIGINT NOT NULL REFERENCES streams (stream_key),
    first_seq  BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL,
    PRIMARY KEY (stream_key, first_seq)
);

CREATE TABLE staff (
    username      TEXT    PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('midwife', 'obstetrician', 'admin')),
    password_hash TEXT    NOT NULL,  -- argon2id PHC string
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,  -- SHA-256 of the bearer/cookie token; the token itself is never stored
    username   TEXT   NOT NULL REFERENCES staff (username),
    csrf_token TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE login_codes (
    code_hash  TEXT   PRIMARY KEY,
    username   TEXT   NOT NULL REFERENCES staff (username),
    expires_ms BIGINT NOT NULL
);

CREATE TABLE beds (
    bed           TEXT   PRIMARY KEY,
    display_order BIGINT NOT NULL
);

CREATE TABLE admissions (
    admission_id   BIGSERIAL PRIMARY KEY,
    patient_id     TEXT     NOT NULL,
    name           TEXT     NOT NULL,
    ga_weeks       SMALLINT NOT NULL,
    ga_days        SMALLINT NOT NULL,
    ga_recorded_ms BIGINT   NOT NULL,
    bed            TEXT     NOT NULL REFERENCES beds (bed),
    admitted_ms    BIGINT   NOT NULL,
    admitted_by    TEXT     NOT NULL,
    discharged_ms  BIGINT
);

-- A patient is admitted once at a time, and a bed holds one patient at a time.
CREATE UNIQUE INDEX one_active_admission_per_patient ON admissions (patient_id) WHERE discharged_ms IS NULL;
CREATE UNIQUE INDEX one_patient_per_bed ON admissions (bed) WHERE discharged_ms IS NULL;

-- Which patient a stream's samples belong to: sequence numbers from_seq .. to_seq (exclusive).
CREATE TABLE bindings (
    binding_id   BIGSERIAL PRIMARY KEY,
    stream_id    TEXT   NOT NULL,
    admission_id BIGINT NOT NULL REFERENCES admissions (admission_id),
    from_seq     BIGINT NOT NULL,
    to_seq       BIGINT,
    bound_ms     BIGINT NOT NULL,
    bound_by     TEXT   NOT NULL,
    unbound_ms   BIGINT
);

-- A stream feeds one patient at a time, and a patient has one stream at a time.
CREATE UNIQUE INDEX one_active_binding_per_stream ON bindings (stream_id) WHERE to_seq IS NULL;
CREATE UNIQUE INDEX one_active_binding_per_admission ON bindings (admission_id) WHERE to_seq IS NULL;

-- Alarm history: every alarm raised, stamped with the binding (and so the admission);
-- acknowledgement (who, when) and clearing recorded once each. Rows are never deleted.
CREATE TABLE alarms (
    alarm_id        BIGSERIAL PRIMARY KEY,
    admission_id    BIGINT NOT NULL REFERENCES admissions (admission_id),
    binding_id      BIGINT NOT NULL REFERENCES bindings (binding_id),
    stream_id       TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    priority        TEXT   NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    raised_ms       BIGINT NOT NULL,
    raised_seq      BIGINT NOT NULL,
    detail          TEXT   NOT NULL,
    acknowledged_ms BIGINT,
    acknowledged_by TEXT,
    cleared_ms      BIGINT,
    CHECK ((acknowledged_ms IS NULL) = (acknowledged_by IS NULL))
);

CREATE INDEX alarms_by_admission ON alarms (admission_id, raised_ms);
CREATE INDEX alarms_open ON alarms (raised_ms) WHERE cleared_ms IS NULL;

-- What was raised never changes, and an acknowledgement or clearing, once recorded, stands.
CREATE FUNCTION alarms_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.admission_id IS DISTINCT FROM NEW.admission_id
       OR OLD.binding_id IS DISTINCT FROM NEW.binding_id
       OR OLD.stream_id IS DISTINCT FROM NEW.stream_id
       OR OLD.kind IS DISTINCT FROM NEW.kind
       OR OLD.priority IS DISTINCT FROM NEW.priority
       OR OLD.raised_ms IS DISTINCT FROM NEW.raised_ms
       OR OLD.raised_seq IS DISTINCT FROM NEW.raised_seq
       OR OLD.detail IS DISTINCT FROM NEW.detail
       OR (OLD.acknowledged_ms IS NOT NULL AND (OLD.acknowledged_ms IS DISTINCT FROM NEW.acknowledged_ms
                                                OR OLD.acknowledged_by IS DISTINCT FROM NEW.acknowledged_by))
       OR (OLD.cleared_ms IS NOT NULL AND OLD.cleared_ms IS DISTINCT FROM NEW.cleared_ms) THEN
        RAISE EXCEPTION 'alarm history is append-only';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER alarms_history_is_kept BEFORE UPDATE ON alarms
    FOR EACH ROW EXECUTE FUNCTION alarms_keep_history();
CREATE TRIGGER alarms_no_delete BEFORE DELETE ON alarms
    FOR EACH ROW EXECUTE FUNCTION refuse_change('alarm history is append-only');

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    actor   TEXT,
    role    TEXT,
    action  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    outcome TEXT   NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    remote  TEXT   NOT NULL,
    detail  TEXT   NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change('the audit log is append-only');
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change('the audit log is append-only');
-- TRUNCATE bypasses row triggers.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('the audit log is append-only');

-- "Now" in the unit of the time columns, for TimescaleDB policies on integer time (licensed builds).
CREATE FUNCTION ctg_now_ms() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT (extract(epoch FROM now()) * 1000)::BIGINT
$$;

-- Hypertables when TimescaleDB is present. Chunks of 6 hours of receive time: at 5,000 beds
-- (20,000 samples/s) a samples chunk holds ~430 M rows; retention drops whole chunks. Operators
-- with other volumes adjust it with set_chunk_time_interval. Device events are few and keyed by
-- (stream, event id), which cannot include the time column: they stay an ordinary table.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- No default index on time alone: every query names the stream, and each index costs
        -- insert time.
        PERFORM create_hypertable('samples', by_range('rx_ms', 21600000),
                                  create_default_indexes => false);
        PERFORM create_hypertable('samples_1m', by_range('minute_ms', 604800000),
                                  create_default_indexes => false);
    END IF;
END
$$;
