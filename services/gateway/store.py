"""The gateway's PostgreSQL side: publish idempotency, and what the recorder knows of incidents."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import asyncpg

from services.gateway.errors import ApiError
from services.gateway.intake import Admitted
from services.gateway.outcomes import CommandOutcome, SeenIncident, outcome_of

# Every enterprise an incident's recorded events gave a task to, or named as a task's holder.
PARTICIPANTS = """
    SELECT i.incident_key, ARRAY(
        SELECT DISTINCT who FROM (
            SELECT e.event->>'enterprise' AS who FROM incident_events e
            WHERE e.incident_id = i.incident_id
            UNION
            SELECT t->>'enterprise' FROM incident_events e,
                jsonb_array_elements(e.event->'tasks') t
            WHERE e.incident_id = i.incident_id AND e.type = 'incident_routed'
        ) named WHERE who IS NOT NULL
    ) AS enterprises
    FROM incidents i WHERE i.incident_id = $1
"""

# The first event a command caused on an incident's timeline (a rejection is one too).
FIRST_EVENT_OF_COMMAND = """
    SELECT event FROM incident_events
    WHERE incident_id = $1 AND event->'caused_by'->>'command_id' = $2
    ORDER BY sequence LIMIT 1
"""


async def accept_report(
    *, conn: asyncpg.Connection, admitted: Admitted, send: Callable[[], Awaitable[Any]]
) -> bool:
    """Record the report id and send the report once; False for a retry of the same report.

    The row and the send share a transaction: a concurrent retry waits on the row and then
    finds it, and a send that fails leaves no row, so the publisher's retry sends again.
    """
    report = admitted.report
    async with conn.transaction():
        inserted = await conn.fetchval(
            """
            INSERT INTO gateway_reports (reported_by, report_id, kind, body_sha256, incident_key)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true
            """,
            report.reported_by,
            report.report_id,
            report.kind,
            admitted.digest,
            admitted.incident_key,
        )
        if inserted:
            await send()
            return True
        digest = await conn.fetchval(
            "SELECT body_sha256 FROM gateway_reports WHERE reported_by = $1 AND report_id = $2",
            report.reported_by,
            report.report_id,
        )
    if digest != admitted.digest:
        reason = f"report {report.report_id} was already accepted with a different body"
        raise ApiError(409, "report_id_reused", "report_id", reason)
    return False


async def recorded_incident(*, conn: asyncpg.Connection, incident_id: str) -> SeenIncident | None:
    """The recorder's knowledge of an incident: its key and participants, or None."""
    row = await conn.fetchrow(PARTICIPANTS, incident_id)
    return None if row is None else SeenIncident(row["incident_key"], set(row["enterprises"]))


async def recorded_outcome(
    *, conn: asyncpg.Connection, incident_id: str, command_id: str
) -> CommandOutcome | None:
    """What the recorded timeline says a command did (its first event), or None."""
    row = await conn.fetchrow(FIRST_EVENT_OF_COMMAND, incident_id, command_id)
    if row is None:
        return None
    event = json.loads(row["event"])
    return outcome_of(event["type"], event.get("error"))


def participants(rows: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """incident_events rows -> each incident's enterprises with (or once with) a task on it."""
    found: dict[str, set[str]] = {}
    for row in rows:
        event = row["event"]
        event = json.loads(event) if isinstance(event, str) else event
        named = found.setdefault(row["incident_id"], set())
        named.update(t["enterprise"] for t in event.get("tasks", ()))
        if event.get("enterprise"):
            named.add(event["enterprise"])
    return found
