"""The gateway's PostgreSQL side: publish idempotency, and what the recorder knows of incidents."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.gateway.batch import (
    ItemResult,
    Outcome,
    first_of_each,
    refused,
    repeat_result,
    reused_id,
)
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

# Recorded incidents, newest first, each filter applied when given; `party`: an enterprise
# the incident's events gave a task to or named (the rule of PARTICIPANTS); `before`: the
# incident after which the previous page ended.
INCIDENT_LIST = """
    SELECT i.* FROM incidents i
    WHERE ($1::text IS NULL OR i.district = $1)
      AND ($2::text IS NULL OR i.kind = $2)
      AND ($3::text IS NULL OR i.status = $3)
      AND ($4::text IS NULL OR EXISTS (
          SELECT 1 FROM incident_events e
          WHERE e.incident_id = i.incident_id
            AND (e.event->>'enterprise' = $4 OR (e.type = 'incident_routed'
                 AND e.event->'tasks' @> jsonb_build_array(jsonb_build_object('enterprise', $4))))
      ))
      AND ($5::text IS NULL OR (coalesce(i.opened_at, '-infinity'), i.incident_id) < (
          SELECT coalesce(c.opened_at, '-infinity'), c.incident_id FROM incidents c
          WHERE c.incident_id = $5
      ))
    ORDER BY coalesce(i.opened_at, '-infinity') DESC, i.incident_id DESC
    LIMIT $6
"""
# The events of those incidents, for their hash chains.
EVENTS_OF_INCIDENTS = """
    SELECT event_id, incident_id, sequence, type, event, prev_hash, hash FROM incident_events
    WHERE incident_id = ANY($1::text[]) ORDER BY incident_id, sequence
"""

# The first event a command caused on an incident's timeline (a rejection is one too).
FIRST_EVENT_OF_COMMAND = """
    SELECT event FROM incident_events
    WHERE incident_id = $1 AND event->'caused_by'->>'command_id' = $2
    ORDER BY sequence LIMIT 1
"""


# The rows of a flush in one statement; a row taken already (or by a concurrent flush that
# then commits) is skipped, and waited on while that flush is undecided.
INSERT_REPORTS = """
    INSERT INTO gateway_reports (reported_by, report_id, kind, body_sha256, incident_key)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[])
    ON CONFLICT DO NOTHING RETURNING reported_by, report_id
"""
# What was accepted before under the ids a flush could not take (a new statement: it sees
# what a flush it waited on committed).
ACCEPTED_DIGESTS = """
    SELECT g.reported_by, g.report_id, g.body_sha256 FROM gateway_reports g
    JOIN unnest($1::text[], $2::text[]) AS wanted (reported_by, report_id)
    USING (reported_by, report_id)
"""
Ref = tuple[str, str]
SendAll = Callable[[Sequence[Admitted]], Awaitable[Sequence[ApiError | None]]]


async def accept_reports(
    *, conn: asyncpg.Connection, admitted: Sequence[Admitted], send_all: SendAll
) -> list[ItemResult]:
    """Record the reports' ids and send the new ones, all at once; one result per report.

    A constant few round trips whatever the count: BEGIN, one INSERT of every row, one SELECT
    when some ids were taken, COMMIT; and one wait for the brokers' acks of every send. The
    rows and the sends share the transaction: a concurrent retry waits on its row, and only
    what the brokers acknowledged is committed, so a failed send leaves no row and the
    publisher's retry sends again.
    """
    firsts, repeats = first_of_each(admitted)
    unique = [admitted[i] for i in firsts]
    try:
        async with conn.transaction():
            inserted = await _insert(conn, unique)
            taken = [a for a in unique if _ref(a) not in inserted]
            digests = await _digests(conn, taken) if taken else {}
            fresh = [a for a in unique if _ref(a) in inserted]
            failures = dict(zip(map(_ref, fresh), await send_all(fresh), strict=True))
            if any(failures.values()):
                raise _SendFailed
    except _SendFailed:
        # Every row undone; those the brokers took are kept: a retry of one is a duplicate.
        # (Between the two, a concurrent retry of a sent report may send it once more: the
        # incident manager drops a report id it has seen, as after any 503.)
        sent = [a for a in fresh if failures[_ref(a)] is None]
        if sent:
            await _insert(conn, sent)
    results: dict[Ref, ItemResult] = {}
    for item in unique:
        ref = _ref(item)
        if ref in inserted:
            results[ref] = _sent(item, failures[ref])
        elif digests.get(ref) == item.digest:
            results[ref] = ItemResult(Outcome.DUPLICATE, admitted=item)
        else:
            results[ref] = refused(reused_id(item))
    answers = []
    for position, item in enumerate(admitted):
        first = repeats.get(position)
        if first is None:
            answers.append(results[_ref(item)])
        else:
            answers.append(repeat_result(item, admitted[first], results[_ref(item)]))
    return answers


class _SendFailed(Exception):
    """Some sends of a flush failed: its transaction is rolled back."""


async def recorded_incident(*, conn: asyncpg.Connection, incident_id: str) -> SeenIncident | None:
    """The recorder's knowledge of an incident: its key and participants, or None."""
    row = await conn.fetchrow(PARTICIPANTS, incident_id)
    return None if row is None else SeenIncident(row["incident_key"], set(row["enterprises"]))


async def recorded_incidents(
    *,
    conn: asyncpg.Connection,
    district: str | None,
    kind: str | None,
    status: str | None,
    party: str | None,
    before: str | None,
    limit: int,
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """A page of incidents, newest first, and all their events (timeline order) for the chain.

    Two queries in one snapshot, so every chain ends where its incident's head says it does
    even while the recorder writes.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        found = await conn.fetch(INCIDENT_LIST, district, kind, status, party, before, limit)
        ids = [r["incident_id"] for r in found]
        return found, await conn.fetch(EVENTS_OF_INCIDENTS, ids)


async def recorded_outcome(
    *, conn: asyncpg.Connection, incident_id: str, command_id: str
) -> CommandOutcome | None:
    """What the recorded timeline says a command did (its first event), or None."""
    row = await conn.fetchrow(FIRST_EVENT_OF_COMMAND, incident_id, command_id)
    if row is None:
        return None
    event = json.loads(row["event"])
    return outcome_of(event["type"], event.get("error"))


async def claim_link(
    *, conn: asyncpg.Connection, notification_id: str, task_id: str, person: str, now: datetime
) -> datetime | None:
    """Take an acknowledge link for its one use: None if it was free (the row is now this
    transaction's), else when it was first used. A concurrent claim waits for this one."""
    taken = await conn.fetchval(
        """
        INSERT INTO ack_links (notification_id, task_id, person, used_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (notification_id) DO NOTHING RETURNING used_at
        """,
        notification_id,
        task_id,
        person,
        now,
    )
    return (
        None
        if taken is not None
        else await link_used_at(conn=conn, notification_id=notification_id)
    )


async def link_used_at(*, conn: asyncpg.Connection, notification_id: str) -> datetime | None:
    """When the acknowledge link of this notification was used; None if it never was."""
    used: datetime | None = await conn.fetchval(
        "SELECT used_at FROM ack_links WHERE notification_id = $1", notification_id
    )
    return used


async def _insert(conn: asyncpg.Connection, rows: Sequence[Admitted]) -> set[Ref]:
    columns = (
        [a.report.reported_by for a in rows],
        [a.report.report_id for a in rows],
        [a.report.kind for a in rows],
        [a.digest for a in rows],
        [a.incident_key for a in rows],
    )
    return {(r["reported_by"], r["report_id"]) for r in await conn.fetch(INSERT_REPORTS, *columns)}


async def _digests(conn: asyncpg.Connection, rows: Sequence[Admitted]) -> dict[Ref, bytes]:
    wanted = ([a.report.reported_by for a in rows], [a.report.report_id for a in rows])
    found = await conn.fetch(ACCEPTED_DIGESTS, *wanted)
    return {(r["reported_by"], r["report_id"]): r["body_sha256"] for r in found}


def _ref(item: Admitted) -> Ref:
    return item.report.reported_by, item.report.report_id


def _sent(item: Admitted, failure: ApiError | None) -> ItemResult:
    if failure is None:
        return ItemResult(Outcome.ACCEPTED, admitted=item)
    return refused(failure)


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
