-- What supervisors and auditors ask of the timelines: response times, SLA breaches, overdue
-- incidents. Three clocks are kept apart and each figure says which it uses:
--   source time    incidents.source_occurred_at, reported_at: the enterprise's clock, from
--                  the opening report (when the fault began, when it was sent);
--   event time     opened_at, acknowledged_at, resolved_at, closed_at, due times: SignalPost's
--                  clock, the lifecycle events' occurred_at;
--   recorded time  incident_events.recorded_at: this database's clock, when the row landed.
-- Functions that compare with "now" take it as a parameter (default: the transaction's now()).

CREATE FUNCTION registry_timezone() RETURNS text
LANGUAGE sql STABLE SET search_path FROM CURRENT
AS $$ SELECT coalesce((SELECT timezone FROM registry_info), 'UTC') $$;

-- One row per incident with its response times as intervals.
CREATE VIEW incident_response_times AS
SELECT
    i.incident_id,
    i.incident_key,
    i.kind,
    i.district,
    i.primary_enterprise AS enterprise,
    i.priority,
    i.status,
    i.source_occurred_at,
    i.reported_at,
    i.opened_at,
    i.acknowledged_at,
    i.resolved_at,
    opening.recorded_at AS opened_recorded_at,
    -- event time to event time: how long the enterprise took to take it on, and to fix it
    i.acknowledged_at - i.opened_at AS time_to_acknowledge,
    i.resolved_at - i.opened_at AS time_to_resolve,
    -- source time to event time: the outage as the network saw it
    i.resolved_at - i.source_occurred_at AS outage_duration,
    -- source time to source time, and event time to recorded time: delays in the pipeline
    i.reported_at - i.source_occurred_at AS reporting_delay,
    opening.recorded_at - i.opened_at AS recording_lag
FROM incidents i
LEFT JOIN incident_events opening ON opening.incident_id = i.incident_id AND opening.sequence = 1;

COMMENT ON VIEW incident_response_times IS
    'time_to_acknowledge/time_to_resolve: event time (opened_at to acknowledged_at/resolved_at); '
    'outage_duration: source occurred_at to resolved_at; recording_lag: opened_at to recorded_at';

-- MTTA and MTTR, p50 and p90 in seconds, by enterprise, district and kind, per period bucket
-- ('day', 'week', 'month', ...) of opened_at in the registry's time zone.
CREATE FUNCTION response_time_percentiles(
    since timestamptz DEFAULT '-infinity',
    until timestamptz DEFAULT 'infinity',
    bucket text DEFAULT 'day'
)
RETURNS TABLE (
    dimension text,
    value text,
    period date,
    incidents bigint,
    acknowledged bigint,
    mtta_p50_s double precision,
    mtta_p90_s double precision,
    resolved bigint,
    mttr_p50_s double precision,
    mttr_p90_s double precision
)
LANGUAGE sql STABLE SET search_path FROM CURRENT
AS $$
    WITH t AS (
        SELECT
            r.*,
            date_trunc(bucket, r.opened_at AT TIME ZONE registry_timezone())::date AS period,
            extract(epoch FROM r.time_to_acknowledge)::double precision AS ack_s,
            extract(epoch FROM r.time_to_resolve)::double precision AS resolve_s
        FROM incident_response_times r
        WHERE r.opened_at >= since AND r.opened_at < until
    )
    SELECT
        CASE
            WHEN grouping(enterprise) = 0 THEN 'enterprise'
            WHEN grouping(district) = 0 THEN 'district'
            ELSE 'kind'
        END,
        CASE
            WHEN grouping(enterprise) = 0 THEN enterprise
            WHEN grouping(district) = 0 THEN district
            ELSE kind
        END,
        period,
        count(*),
        count(ack_s),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s),
        percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s),
        count(resolve_s),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_s),
        percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_s)
    FROM t
    GROUP BY GROUPING SETS ((enterprise, period), (district, period), (kind, period))
    ORDER BY 1, 2, 3
$$;

CREATE VIEW response_times_by_day AS SELECT * FROM response_time_percentiles();

-- Every deadline that was missed, or is being missed at `at`: event time against due time.
-- A deadline counts as met when the step happened, or when the incident ended without it.
CREATE FUNCTION sla_breaches(at timestamptz DEFAULT now())
RETURNS TABLE (
    incident_id text,
    incident_key text,
    kind text,
    district text,
    enterprise text,
    deadline text,
    due_at timestamptz,
    met_at timestamptz,
    late_by interval,
    still_open boolean
)
LANGUAGE sql STABLE SET search_path FROM CURRENT
AS $$
    WITH deadlines AS (
        SELECT i.*, 'acknowledge' AS deadline, i.ack_due_at AS due_at,
               coalesce(i.acknowledged_at, i.resolved_at, i.closed_at) AS met_at
        FROM incidents i WHERE i.ack_due_at IS NOT NULL
        UNION ALL
        SELECT i.*, 'resolve', i.resolve_due_at, coalesce(i.resolved_at, i.closed_at)
        FROM incidents i WHERE i.resolve_due_at IS NOT NULL
    )
    SELECT incident_id, incident_key, kind, district, primary_enterprise, deadline, due_at,
           met_at, coalesce(met_at, at) - due_at, met_at IS NULL
    FROM deadlines
    WHERE coalesce(met_at, at) > due_at
    ORDER BY due_at
$$;

-- Open incidents whose acknowledge or resolve deadline has passed at `at` (the CLI's --overdue).
CREATE FUNCTION overdue_incidents(at timestamptz DEFAULT now())
RETURNS SETOF incidents
LANGUAGE sql STABLE SET search_path FROM CURRENT
AS $$
    SELECT * FROM incidents
    WHERE is_open
      AND ((acknowledged_at IS NULL AND ack_due_at < at) OR resolve_due_at < at)
    ORDER BY least(CASE WHEN acknowledged_at IS NULL THEN ack_due_at END, resolve_due_at)
$$;
