"""The SLA report's data, read through the auditor role from the recorder's views and tables."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import asyncpg

from services.auditor.access import open_audit
from services.auditor.figures import (
    AttemptFigures,
    Figures,
    IncidentFigures,
    about_report,
    figures,
)
from services.runtime.settings import Settings

INCIDENTS = """
    SELECT i.incident_id, i.incident_key, i.kind, i.district, i.primary_enterprise AS enterprise,
           i.status, i.opened_at, i.acknowledged_at, i.resolved_at, i.ack_due_at, i.resolve_due_at,
           i.closed_at
    FROM incidents i
    WHERE i.opened_at IS NOT NULL
      AND ($1::timestamptz IS NULL OR i.opened_at >= $1)
      AND ($2::timestamptz IS NULL OR i.opened_at < $2)
    ORDER BY i.opened_at, i.incident_id
"""
ESCALATIONS = """
    SELECT incident_id, occurred_at, (event->>'level')::int AS level, event->>'deadline' AS deadline
    FROM incident_events
    WHERE type = 'incident_escalated' AND incident_id = ANY($1::text[])
    ORDER BY incident_id, sequence
"""
# What each incident was about, for one never routed: its opening report.
OPENINGS = """
    SELECT incident_id, event->'report' AS report FROM incident_events
    WHERE type = 'incident_opened' AND incident_id = ANY($1::text[])
"""
# The recorder's own rule for a missed deadline (migration 0003), evaluated at the report's end.
BREACHES = "SELECT incident_id, deadline FROM sla_breaches($1) WHERE incident_id = ANY($2::text[])"
# Who was told of these incidents; latency counts from the event each attempt tells of.
ATTEMPTS = """
    SELECT incident_id, person_enterprise AS enterprise, channel, outcome,
           extract(epoch FROM attempted_at - caused_at)::float8 AS latency_s
    FROM notification_attempts WHERE incident_id = ANY($1::text[])
    ORDER BY attempted_at, attempt_id
"""
DEAD_LETTERS = """
    SELECT rejected_by, source_topic, error->>'error' AS error FROM dead_letters
    WHERE ($1::timestamptz IS NULL OR dead_lettered_at >= $1)
      AND ($2::timestamptz IS NULL OR dead_lettered_at < $2)
"""


async def load_figures(
    settings: Settings, *, since: datetime | None, until: datetime | None, now: datetime
) -> Figures:
    """The report's figures for incidents opened in [since, until), deadlines judged at the end."""
    conn = await open_audit(settings)
    try:
        return await figures_on(
            conn, topic_prefix=settings.topic_prefix, since=since, until=until, now=now
        )
    finally:
        await conn.close()


async def figures_on(
    conn: asyncpg.Connection,
    *,
    topic_prefix: str,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> Figures:
    """load_figures on a connection of the caller's (the gateway's role may read as much)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _load(conn, topic_prefix, since, until, until or now)


async def _load(
    conn: asyncpg.Connection,
    prefix: str,
    since: datetime | None,
    until: datetime | None,
    at: datetime,
) -> Figures:
    rows = await conn.fetch(INCIDENTS, since, until)
    ids = [r["incident_id"] for r in rows]
    escalations = defaultdict(list)
    for e in await conn.fetch(ESCALATIONS, ids):
        escalations[e["incident_id"]].append((e["occurred_at"], e["level"], e["deadline"]))
    breaches = defaultdict(set)
    for b in await conn.fetch(BREACHES, at, ids):
        breaches[b["incident_id"]].add(b["deadline"])
    about = {
        o["incident_id"]: about_report(json.loads(o["report"]))
        for o in await conn.fetch(OPENINGS, ids)
    }
    incidents = [
        IncidentFigures(
            **dict(r),
            escalations=tuple(escalations[r["incident_id"]]),
            breaches=frozenset(breaches[r["incident_id"]]),
            **about.get(r["incident_id"], {}),
        )
        for r in rows
    ]
    letters = [
        (d["rejected_by"], d["source_topic"].removeprefix(prefix), d["error"] or "?")
        for d in await conn.fetch(DEAD_LETTERS, since, until)
    ]
    attempts = [AttemptFigures(**dict(a)) for a in await conn.fetch(ATTEMPTS, ids)]
    return figures(incidents, letters, since=since, until=until, at=at, attempts=attempts)
