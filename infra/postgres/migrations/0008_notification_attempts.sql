-- Every attempt to tell a person of a task (issue 18): one row per NotificationAttempted of
-- notifications.attempts, recorded once (attempt_id) with the recorder's offsets. The timeline
-- shows them among the events, the report counts them, the gateway says who was told when.
CREATE TABLE notification_attempts (
    attempt_id text PRIMARY KEY,
    notification_id text NOT NULL,
    attempt integer NOT NULL CHECK (attempt >= 1),
    reason text NOT NULL,
    incident_key text NOT NULL,
    incident_id text NOT NULL,
    task_id text,
    enterprise text NOT NULL,
    person_enterprise text NOT NULL,
    person_id text NOT NULL,
    person_name text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    priority text NOT NULL,
    caused_by text NOT NULL,
    caused_at timestamptz NOT NULL,
    attempted_at timestamptz NOT NULL,
    outcome text NOT NULL,
    detail text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- Where it was in the log, so a replay can tell which rows its range covers.
    source_topic text NOT NULL,
    source_partition integer NOT NULL CHECK (source_partition >= 0),
    source_offset bigint NOT NULL CHECK (source_offset >= 0)
);
CREATE INDEX notification_attempts_by_incident ON notification_attempts (incident_id, attempted_at);
CREATE INDEX notification_attempts_by_key ON notification_attempts (incident_key, attempted_at);
CREATE INDEX notification_attempts_by_time ON notification_attempts (attempted_at);
