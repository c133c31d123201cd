"""The replay schema: the recorder's tables built by the same migrations, plus the replay's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.auditor.access import AuditSetupError
from services.runtime.logrange import Span
from services.runtime.migrate import migrate

# Group name under which a replay keeps its position in the replay schema's consumer_offsets
# (the recorder's own offsets table and code); never a Kafka consumer group.
REPLAY_GROUP = "auditor-replay"

REPLAY_TABLES = """
CREATE TABLE IF NOT EXISTS replay_run (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    live_schema text NOT NULL,
    since timestamptz,
    until timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS replay_spans (
    topic text NOT NULL,
    partition integer NOT NULL,
    first_offset bigint NOT NULL,
    end_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
-- Incidents opened before the range: their state before it, projected from the live rows.
CREATE TABLE IF NOT EXISTS replay_seeded (
    incident_id text PRIMARY KEY,
    up_to_sequence integer NOT NULL
);
"""


@dataclass(frozen=True)
class ReplayRun:
    """What a replay schema holds a replay of."""

    live_schema: str
    since: datetime | None
    until: datetime | None
    finished_at: datetime | None


async def prepare(conn: asyncpg.Connection, *, schema: str) -> None:
    """Create the replay schema's tables (idempotent); `conn` writes only there."""
    try:
        await migrate(conn=conn, schema=schema)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise AuditSetupError(
            f"the auditor role may not build replay schema {schema}: {exc}; grant it with "
            "`signalpost postgres start` (local server) or `signalpost init`"
        ) from None
    async with conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {await _quoted(conn, schema)}")
        await conn.execute(REPLAY_TABLES)


async def drop(conn: asyncpg.Connection, *, schema: str) -> None:
    """Remove a replay schema and everything in it."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {await _quoted(conn, schema)} CASCADE")


async def _quoted(conn: asyncpg.Connection, name: str) -> str:
    return await conn.fetchval("SELECT quote_ident($1)", name)


async def load_run(conn: asyncpg.Connection) -> tuple[ReplayRun | None, list[Span]]:
    """The run this schema holds, and its spans (None and [] for a fresh schema)."""
    row = await conn.fetchrow("SELECT live_schema, since, until, finished_at FROM replay_run")
    if row is None:
        return None, []
    spans = await conn.fetch(
        "SELECT topic, partition, first_offset, end_offset FROM replay_spans ORDER BY 1, 2"
    )
    return ReplayRun(*row), [Span(*s) for s in spans]


async def save_run(conn: asyncpg.Connection, *, run: ReplayRun, spans: list[Span]) -> None:
    """Record what this replay covers, fixed at its start: a resumed run ends in the same place."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO replay_run (live_schema, since, until) VALUES ($1, $2, $3)",
            run.live_schema,
            run.since,
            run.until,
        )
        await conn.executemany(
            "INSERT INTO replay_spans VALUES ($1, $2, $3, $4)",
            [(s.topic, s.partition, s.first, s.end) for s in spans],
        )


async def mark_finished(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE replay_run SET finished_at = now() WHERE finished_at IS NULL")
