"""PostgreSQL adapter of the recorder: one transaction per batch, and the read side for the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args, get_type_hints

import asyncpg

from schemas.registry import Registry
from services.recorder.projection import COLUMNS, IncidentRow
from services.recorder.rows import (
    EVENT_COLUMNS,
    Batch,
    Decoded,
    Poison,
    attempt_row,
    dead_letter_row,
    plan_events,
    poison_row,
    rows_of,
    rule_set_row,
)

Partition = tuple[str, int]
# A refusal that belongs to one row (a value jsonb cannot hold, a unique key taken by a
# different event); anything else is the database's trouble, not the message's.
ROW_ERRORS = (
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    asyncpg.ProgramLimitExceededError,  # in these fixed statements, only a value can be too big
)

_SQL_TYPE = {str: "text", int: "integer", datetime: "timestamptz"}


def _sql_type(hint: Any) -> str:
    """The array type a projection field travels in: `str | None` as text[], and so on."""
    return _SQL_TYPE[next(t for t in (*get_args(hint), hint) if t in _SQL_TYPE)] + "[]"


_INCIDENT_TYPES = [_sql_type(h) for h in get_type_hints(IncidentRow).values()]
UPSERT_INCIDENTS = f"""
    INSERT INTO incidents ({", ".join(COLUMNS)})
    SELECT * FROM unnest({", ".join(f"${n}::{t}" for n, t in enumerate(_INCIDENT_TYPES, 1))})
    ON CONFLICT (incident_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "incident_id")}
"""


@dataclass
class RecordCounts:
    """What one batch did, for the batch's log line and for tests."""

    recorded: int = 0
    duplicates: int = 0
    poison: int = 0
    dead_letters: int = 0
    rule_sets: int = 0
    attempts: int = 0
    already_recorded: int = 0

    def __iadd__(self, other: RecordCounts) -> RecordCounts:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


async def read_offsets(
    *, conn: asyncpg.Connection, group: str, partitions: Iterable[Partition]
) -> dict[Partition, int]:
    """The stored next offset of each partition that has one."""
    topics, numbers = zip(*partitions, strict=True) if partitions else ((), ())
    rows = await conn.fetch(
        """
        SELECT topic, partition, next_offset FROM consumer_offsets
        WHERE consumer_group = $1
          AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::integer[]))
        """,
        group,
        list(topics),
        list(numbers),
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def save_offsets(
    *, conn: asyncpg.Connection, group: str, next_offsets: Mapping[Partition, int]
) -> None:
    """Store where each partition resumes; never moves one backwards."""
    await conn.execute(
        """
        INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
        SELECT $1, * FROM unnest($2::text[], $3::integer[], $4::bigint[])
        ON CONFLICT (consumer_group, topic, partition) DO UPDATE
        SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset),
            updated_at = now()
        """,
        group,
        [t for t, _ in next_offsets],
        [p for _, p in next_offsets],
        list(next_offsets.values()),
    )


async def record(
    *, conn: asyncpg.Connection, group: str, batch: Batch, next_offsets: Mapping[Partition, int]
) -> RecordCounts:
    """Record a batch and its offsets in one transaction; messages already recorded are skipped.

    The stored offsets are locked first, so two instances briefly sharing a partition during
    a rebalance take turns, and the second finds the first's work already recorded. A batch
    is one COPY of its events and one statement each for the incidents and the offsets; when
    the database refuses some row, the batch is recorded again one message at a time, in a
    transaction of its own, to set aside only that one.
    """
    try:
        return await _record(conn, group, batch, next_offsets, one_by_one=False)
    except ROW_ERRORS:
        return await _record(conn, group, batch, next_offsets, one_by_one=True)


async def _record(
    conn: asyncpg.Connection,
    group: str,
    batch: Batch,
    next_offsets: Mapping[Partition, int],
    *,
    one_by_one: bool,
) -> RecordCounts:
    async with conn.transaction():
        stored = await lock_offsets(conn=conn, group=group, partitions=list(next_offsets))
        fresh = batch.after(stored)
        if one_by_one:
            outcome = RecordCounts()
            for single in fresh.singles():
                outcome += await _write_or_set_aside(conn, single)
        else:
            outcome = await _write(conn, fresh)
        await save_offsets(conn=conn, group=group, next_offsets=next_offsets)
    outcome.already_recorded = len(batch) - len(fresh)
    return outcome


async def lock_offsets(
    *, conn: asyncpg.Connection, group: str, partitions: list[Partition]
) -> dict[Partition, int]:
    """The stored next offset of each partition (0 for one never stored), locked until commit.

    FOR UPDATE locks nothing where no row exists yet (a partition's first batch), so the rows
    are made if missing and locked by the same statement: a second instance waits on the
    first's insert, then sees its work. In order, so that two instances never deadlock.
    """
    rows = await conn.fetch(
        """
        INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
        SELECT $1, *, 0 FROM unnest($2::text[], $3::integer[]) ORDER BY 2, 3
        ON CONFLICT (consumer_group, topic, partition)
        DO UPDATE SET next_offset = consumer_offsets.next_offset
        RETURNING topic, partition, next_offset
        """,
        group,
        [t for t, _ in partitions],
        [p for _, p in partitions],
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def _write_or_set_aside(conn: asyncpg.Connection, single: Batch) -> RecordCounts:
    try:
        async with conn.transaction():
            return await _write(conn, single)
    except ROW_ERRORS as exc:
        reason = f"the database refused it: {type(exc).__name__}: {exc}"[:1000]
        await _insert(conn, "recorder_dead_letters", [poison_row(Poison(single.message, reason))])
        return RecordCounts(poison=1)


async def _write(conn: asyncpg.Connection, batch: Batch) -> RecordCounts:
    incidents: dict[str, IncidentRow] = {}
    recorded: set[str] = set()
    if batch.events:
        incidents = await load_incidents(conn=conn, ids={d.model.incident_id for d in batch.events})
        recorded = await _recorded_among(conn, batch.events, incidents)
    plan = plan_events(batch.events, incidents, recorded)
    if plan.rows:
        await conn.copy_records_to_table(
            "incident_events",
            records=plan.rows,
            columns=EVENT_COLUMNS,
        )
    if plan.incidents:
        states = list(plan.incidents.values())
        await conn.execute(UPSERT_INCIDENTS, *([getattr(s, c) for s in states] for c in COLUMNS))
    letters, bad_letters = rows_of(batch.dead_letters, dead_letter_row)
    rule_sets, bad_rule_sets = rows_of(batch.rule_sets, rule_set_row)
    attempts, bad_attempts = rows_of(batch.attempts, attempt_row)
    poison = [*batch.poison, *plan.poison, *bad_letters, *bad_rule_sets, *bad_attempts]
    await _insert(conn, "dead_letters", letters)
    await _insert(conn, "rule_sets", rule_sets)
    await _insert(conn, "notification_attempts", attempts)
    await _insert(conn, "recorder_dead_letters", [poison_row(p) for p in poison])
    return RecordCounts(
        recorded=len(plan.rows),
        duplicates=plan.duplicates,
        poison=len(poison),
        dead_letters=len(letters),
        rule_sets=len(rule_sets),
        attempts=len(attempts),
    )


async def _recorded_among(
    conn: asyncpg.Connection, events: list[Decoded], incidents: Mapping[str, IncidentRow]
) -> set[str]:
    """The ids of these events already in incident_events.

    Only an event at or below its incident's head can be: recording an event moves the head
    to it in the same transaction. So a batch of new events costs no lookup; an event that
    reuses another incident's id is refused by the table and set aside, not taken for it.
    """
    heads = {i: s.last_sequence for i, s in incidents.items()}
    maybe = [
        d.model.event_id for d in events if d.model.sequence <= heads.get(d.model.incident_id, 0)
    ]
    if not maybe:
        return set()
    found = await conn.fetch(
        "SELECT event_id FROM incident_events WHERE event_id = ANY($1::text[])", maybe
    )
    return {r["event_id"] for r in found}


_INSERT_COLUMNS = {
    "dead_letters": (
        'topic, partition, "offset", source_topic, source_partition, source_offset, '
        "rejected_by, dead_lettered_at, error, record"
    ),
    "rule_sets": "event_id, ruleset_version, registry_version, activated_at, source_file, actor",
    "recorder_dead_letters": 'topic, partition, "offset", key, value, reason, error',
    "notification_attempts": (
        "attempt_id, notification_id, attempt, reason, incident_key, incident_id, task_id, "
        "enterprise, person_enterprise, person_id, person_name, channel, address, priority, "
        "caused_by, caused_at, attempted_at, outcome, detail, source_topic, source_partition, "
        "source_offset"
    ),
}


async def _insert(conn: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Append rows; a row already there (same key) is left as it is."""
    if not rows:
        return
    columns = _INSERT_COLUMNS[table]
    values = ", ".join(f"${n}" for n in range(1, len(rows[0]) + 1))
    await conn.executemany(
        f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING", rows
    )


async def load_incidents(*, conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, IncidentRow]:
    """The projection rows of these incidents, as they stand."""
    rows = await conn.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM incidents WHERE incident_id = ANY($1::text[])",
        list(ids),
    )
    return {r["incident_id"]: IncidentRow(*r) for r in rows}


async def load_reference(*, conn: asyncpg.Connection, registry: Registry) -> None:
    """Put the registry's districts and enterprises in the reference tables (upserted)."""
    async with conn.transaction():
        await conn.execute(
            """
            INSERT INTO registry_info (name, province, timezone, version) VALUES ($1, $2, $3, $4)
            ON CONFLICT (singleton) DO UPDATE SET name = $1, province = $2, timezone = $3,
                version = $4, loaded_at = now()
            """,
            registry.name,
            registry.province,
            registry.timezone,
            registry.version,
        )
        await conn.executemany(
            """
            INSERT INTO districts (id, name, kind) VALUES ($1, $2, $3)
            ON CONFLICT (id) DO UPDATE SET name = $2, kind = $3
            """,
            [(d.id, d.name, d.kind.value) for d in registry.districts],
        )
        await conn.executemany(
            """
            INSERT INTO enterprises (id, name, kind, parent, districts) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET name = $2, kind = $3, parent = $4, districts = $5
            """,
            [
                (e.id, e.name, e.kind.value, e.parent, list(e.districts))
                for e in registry.enterprises
            ],
        )


async def timeline(*, conn: asyncpg.Connection, incident: str) -> list[asyncpg.Record]:
    """Every recorded event of the incident with this id or key, in timeline order."""
    return await conn.fetch(
        """
        SELECT * FROM incident_events
        WHERE incident_id = $1 OR incident_key = $1
        ORDER BY incident_id, sequence
        """,
        incident,
    )


async def notification_attempts(*, conn: asyncpg.Connection, incident: str) -> list[asyncpg.Record]:
    """Every recorded notification attempt of the incident with this id or key, in time order,
    with `delay_s`: how long after the event it tells of it was made."""
    return await conn.fetch(
        """
        SELECT *, extract(epoch FROM attempted_at - caused_at)::float8 AS delay_s
        FROM notification_attempts
        WHERE incident_id = $1 OR incident_key = $1
        ORDER BY attempted_at, attempt_id
        """,
        incident,
    )


async def find_incidents(
    *,
    conn: asyncpg.Connection,
    open_only: bool = False,
    enterprise: str | None = None,
    district: str | None = None,
    overdue_at: datetime | None = None,
    limit: int = 500,
) -> list[asyncpg.Record]:
    """Incidents matching every filter given, most recently opened first."""
    source = "overdue_incidents($5)" if overdue_at else "incidents"
    return await conn.fetch(
        f"""
        SELECT * FROM {source}
        WHERE (NOT $1 OR is_open)
          AND ($2::text IS NULL OR primary_enterprise = $2)
          AND ($3::text IS NULL OR district = $3)
        ORDER BY opened_at DESC NULLS LAST, incident_id
        LIMIT $4
        """,
        open_only,
        enterprise,
        district,
        limit,
        *([overdue_at] if overdue_at else []),
    )
