-- The recorder's tables: the event log as timelines, the incidents projection, reference
-- data, rule sets and dead letters (issue 6). Plain SQL without schema names: the runner
-- sets search_path, so the same file builds production and every test's private schema.

-- Each lifecycle event exactly once. Append-only: the service role loses UPDATE, DELETE and
-- TRUNCATE below, and every row carries a hash chained to the previous event of the same
-- incident, so that an edit made with the owner's rights is still detectable (verify_chain).
CREATE TABLE incident_events (
    event_id text PRIMARY KEY,
    incident_key text NOT NULL,
    incident_id text NOT NULL,
    sequence integer NOT NULL CHECK (sequence >= 1),
    type text NOT NULL,
    -- When the event happened, by the clock of the service that wrote it to the log.
    occurred_at timestamptz NOT NULL,
    -- When the recorder wrote it here; kept apart from occurred_at so lag can be audited.
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- The event as it was in the log (unknown newer fields included), canonical key order.
    event jsonb NOT NULL,
    source_topic text NOT NULL,
    source_partition integer NOT NULL CHECK (source_partition >= 0),
    source_offset bigint NOT NULL CHECK (source_offset >= 0),
    prev_hash text NOT NULL,
    hash text NOT NULL,
    -- Also the index of a timeline by incident.
    UNIQUE (incident_id, sequence)
);
CREATE INDEX incident_events_by_key ON incident_events (incident_key, occurred_at);

-- Current state of each incident, rebuilt from incident_events at any time. Times named
-- *_at without a prefix are lifecycle-event times (SignalPost's clock); source_occurred_at
-- and reported_at are the opening report's times (the enterprise's clock).
CREATE TABLE incidents (
    incident_id text PRIMARY KEY,
    incident_key text NOT NULL,
    kind text,
    district text,
    summary text,
    priority text,
    status text NOT NULL,
    primary_enterprise text,
    escalation_level integer NOT NULL DEFAULT 0,
    ack_due_at timestamptz,
    resolve_due_at timestamptz,
    source_occurred_at timestamptz,
    reported_at timestamptz,
    opened_at timestamptz,
    routed_at timestamptz,
    acknowledged_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    source_cleared_at timestamptz,
    report_count integer NOT NULL DEFAULT 0,
    event_count integer NOT NULL DEFAULT 0,
    last_event_type text NOT NULL,
    last_event_at timestamptz NOT NULL,
    -- The head of the hash chain: the next event of this incident links to it.
    last_sequence integer NOT NULL,
    last_hash text NOT NULL,
    is_open boolean GENERATED ALWAYS AS (
        status NOT IN ('resolved', 'closed', 'cancelled')
    ) STORED
);
CREATE INDEX incidents_open_by_enterprise ON incidents (primary_enterprise, opened_at)
    WHERE is_open;
CREATE INDEX incidents_open_by_district ON incidents (district, opened_at) WHERE is_open;
CREATE INDEX incidents_open_by_ack_deadline ON incidents (ack_due_at)
    WHERE is_open AND acknowledged_at IS NULL;
CREATE INDEX incidents_open_by_resolve_deadline ON incidents (resolve_due_at) WHERE is_open;
CREATE INDEX incidents_by_key ON incidents (incident_key);

-- Reference data loaded from the registry when the recorder starts.
CREATE TABLE registry_info (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name text NOT NULL,
    province text NOT NULL,
    timezone text NOT NULL,
    version text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE districts (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL
);
CREATE TABLE enterprises (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    parent text,
    districts text[] NOT NULL
);

-- Which routing rule set was in force from when (rulesets.activations).
CREATE TABLE rule_sets (
    event_id text PRIMARY KEY,
    ruleset_version text NOT NULL,
    registry_version text NOT NULL,
    activated_at timestamptz NOT NULL,
    source_file text NOT NULL,
    actor jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rule_sets_by_time ON rule_sets (activated_at);

-- Input other stages set aside (reports.dead-letter), one row per dead-letter message.
CREATE TABLE dead_letters (
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    source_topic text NOT NULL,
    source_partition integer NOT NULL,
    source_offset bigint NOT NULL,
    rejected_by text NOT NULL,
    dead_lettered_at timestamptz NOT NULL,
    error jsonb NOT NULL,
    record jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX dead_letters_by_source ON dead_letters (source_topic, source_partition, source_offset);

-- Messages the recorder itself could not record, with why; the partition moves on.
CREATE TABLE recorder_dead_letters (
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    key bytea,
    value bytea,
    reason text NOT NULL,
    error jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

-- History is appended, never rewritten: not even the service that writes it may change it.
REVOKE UPDATE, DELETE, TRUNCATE ON incident_events, rule_sets, dead_letters, recorder_dead_letters
    FROM signalpost;
