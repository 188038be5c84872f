-- Alarm history: every alarm raised by the analysis or the stream watch, stamped with the
-- binding (and so the admission) like samples; acknowledgement (who, when) and clearing recorded
-- once each. Rows are never deleted.

CREATE TABLE alarms (
    alarm_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    admission_id    INTEGER NOT NULL REFERENCES admissions (admission_id),
    binding_id      INTEGER NOT NULL REFERENCES bindings (binding_id),
    stream_id       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,  -- pathological, prolonged_deceleration, bradycardia, ...
    priority        TEXT    NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    raised_ms       INTEGER NOT NULL,
    raised_seq      INTEGER NOT NULL,
    detail          TEXT    NOT NULL,
    acknowledged_ms INTEGER,
    acknowledged_by TEXT,
    cleared_ms      INTEGER,
    CHECK ((acknowledged_ms IS NULL) = (acknowledged_by IS NULL))
);

CREATE INDEX alarms_by_admission ON alarms (admission_id, raised_ms);
CREATE INDEX alarms_open ON alarms (raised_ms) WHERE cleared_ms IS NULL;

-- What was raised never changes, and an acknowledgement or clearing, once recorded, stands.
CREATE TRIGGER alarms_history_is_kept BEFORE UPDATE ON alarms
WHEN OLD.admission_id IS NOT NEW.admission_id
  OR OLD.binding_id IS NOT NEW.binding_id
  OR OLD.stream_id IS NOT NEW.stream_id
  OR OLD.kind IS NOT NEW.kind
  OR OLD.priority IS NOT NEW.priority
  OR OLD.raised_ms IS NOT NEW.raised_ms
  OR OLD.raised_seq IS NOT NEW.raised_seq
  OR OLD.detail IS NOT NEW.detail
  OR (OLD.acknowledged_ms IS NOT NULL AND (OLD.acknowledged_ms IS NOT NEW.acknowledged_ms
                                           OR OLD.acknowledged_by IS NOT NEW.acknowledged_by))
  OR (OLD.cleared_ms IS NOT NULL AND OLD.cleared_ms IS NOT NEW.cleared_ms)
BEGIN
    SELECT RAISE(ABORT, 'alarm history is append-only');
END;

CREATE TRIGGER alarms_no_delete BEFORE DELETE ON alarms
BEGIN
    SELECT RAISE(ABORT, 'alarm history is append-only');
END;
