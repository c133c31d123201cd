"""Replay against live: every row that is missing on one side or differs, table by table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.auditor.rebuild import project
from services.recorder import COLUMNS, IncidentRow

# Rows of a live table that a replay should have rebuilt: those whose log position falls in
# the replay's spans (replay_spans), or for rule sets the activations of its time range.
IN_SPANS = (
    "EXISTS (SELECT 1 FROM {replay}.replay_spans s WHERE s.topic = t.{topic}"
    " AND s.partition = t.{partition} AND t.{offset} >= s.first_offset"
    " AND t.{offset} < s.end_offset)"
)
IN_RUN_RANGE = (
    "(SELECT (since IS NULL OR t.activated_at >= since) AND (until IS NULL OR t.activated_at"
    " < until) FROM {replay}.replay_run)"
)


@dataclass(frozen=True)
class TableCheck:
    """How one table is compared: its key, the columns that must agree, which live rows count."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    live_rows: str
    replay_rows: str = "true"


CHECKS = (
    TableCheck(
        "incident_events",
        ("event_id",),
        (
            "incident_key", "incident_id", "sequence", "type", "occurred_at", "event",
            "source_topic", "source_partition", "source_offset", "prev_hash", "hash",
        ),
        IN_SPANS.format(
            replay="{replay}", topic="source_topic", partition="source_partition",
            offset="source_offset",
        ),
    ),
    TableCheck(
        "dead_letters",
        ("topic", "partition", '"offset"'),
        (
            "source_topic", "source_partition", "source_offset", "rejected_by",
            "dead_lettered_at", "error", "record",
        ),
        IN_SPANS.format(replay="{replay}", topic="topic", partition="partition", offset='"offset"'),
    ),
    TableCheck(
        "recorder_dead_letters",
        ("topic", "partition", '"offset"'),
        ("key", "value", "reason"),
        IN_SPANS.format(replay="{replay}", topic="topic", partition="partition", offset='"offset"'),
    ),
    TableCheck(
        "notification_attempts",
        ("attempt_id",),
        (
            "notification_id", "attempt", "reason", "incident_key", "incident_id", "task_id",
            "enterprise", "person_enterprise", "person_id", "person_name", "channel", "address",
            "priority", "caused_by", "caused_at", "attempted_at", "outcome", "detail",
            "source_topic", "source_partition", "source_offset",
        ),
        IN_SPANS.format(
            replay="{replay}", topic="source_topic", partition="source_partition",
            offset="source_offset",
        ),
    ),
    TableCheck(
        "rule_sets",
        ("event_id",),
        ("ruleset_version", "registry_version", "activated_at", "source_file", "actor"),
        IN_RUN_RANGE,
    ),
    # Incidents whose timeline the replay brought to the same point as live's.
    TableCheck(
        "incidents",
        ("incident_id",),
        tuple(c for c in COLUMNS if c != "incident_id"),
        "t.last_sequence = (SELECT r.last_sequence FROM {replay}.incidents r"
        " WHERE r.incident_id = t.incident_id)",
        "NOT EXISTS (SELECT 1 FROM {live}.incidents l WHERE l.incident_id = t.incident_id"
        " AND l.last_sequence <> t.last_sequence)",
    ),
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Difference:
    """One row that is not the same in the replay and in the live table."""

    table: str
    key: str
    problem: str
    columns: tuple[str, ...] = ()

    def __str__(self) -> str:
        detail = f" ({', '.join(self.columns)})" if self.columns else ""
        return f"{self.table} {self.key}: {self.problem}{detail}"


def check_sql(check: TableCheck, *, live: str, replay: str) -> str:
    """A full join of the replay's rows and the live rows that should match them."""
    on = " AND ".join(f"r.{k} = l.{k}" for k in check.key)
    key = " || '/' || ".join(f"coalesce(r.{k}, l.{k})::text" for k in check.key)
    differing = ", ".join(
        f"CASE WHEN r.{c} IS DISTINCT FROM l.{c} THEN '{c.strip(chr(34))}' END"
        for c in check.columns
    )
    live_rows = check.live_rows.format(replay=replay)
    replay_rows = check.replay_rows.format(live=live)
    first = check.key[0]
    return f"""
        SELECT {key} AS key, r.{first} IS NULL AS not_in_replay, l.{first} IS NULL AS not_in_live,
               array_remove(ARRAY[{differing}]::text[], NULL) AS columns
        FROM (SELECT * FROM {replay}.{check.table} t WHERE {replay_rows}) r
        FULL JOIN (SELECT * FROM {live}.{check.table} t WHERE {live_rows}) l ON {on}
    """


def differences(table: str, rows: list[Any]) -> list[Difference]:
    """The joined rows that show a difference, in words."""
    found = []
    for row in rows:
        if row["not_in_replay"]:
            found.append(Difference(table, row["key"], "in live, not rebuilt by the replay"))
        elif row["not_in_live"]:
            found.append(Difference(table, row["key"], "rebuilt by the replay, missing from live"))
        elif row["columns"]:
            found.append(Difference(table, row["key"], "differs", tuple(row["columns"])))
    return found


def state_differences(replayed: IncidentRow, expected: IncidentRow) -> list[Difference]:
    """An incident the replay left behind live's timeline, against live's rows up to that point."""
    changed = tuple(c for c in COLUMNS if getattr(replayed, c) != getattr(expected, c))
    if not changed:
        return []
    return [Difference("incidents", replayed.incident_id, "differs from live's rows", changed)]


async def compare(
    conn: asyncpg.Connection, *, live_schema: str, replay_schema: str
) -> list[Difference]:
    """Every difference between the replay schema and the live one."""
    live = await conn.fetchval("SELECT quote_ident($1)", live_schema)
    replay = await conn.fetchval("SELECT quote_ident($1)", replay_schema)
    found: list[Difference] = []
    for check in CHECKS:
        rows = await conn.fetch(check_sql(check, live=live, replay=replay))
        found += differences(check.table, rows)
    found += await _incidents_behind_live(conn, live=live, replay=replay)
    return sorted(found)


async def _incidents_behind_live(
    conn: asyncpg.Connection, *, live: str, replay: str
) -> list[Difference]:
    """Incidents where live has more events than the replay's range: project live's up to it.

    Where live has fewer, the missing events are listed from incident_events already.
    """
    behind = await conn.fetch(
        f"""
        SELECT r.* FROM {replay}.incidents r JOIN {live}.incidents l USING (incident_id)
        WHERE l.last_sequence > r.last_sequence
        """
    )
    ahead = await conn.fetch(
        f"""
        SELECT r.incident_id, r.last_sequence AS replayed, l.last_sequence AS live
        FROM {replay}.incidents r JOIN {live}.incidents l USING (incident_id)
        WHERE l.last_sequence < r.last_sequence
        """
    )
    found = [
        Difference(
            "incidents",
            row["incident_id"],
            f"live ends at sequence {row['live']}, the replay at {row['replayed']}",
        )
        for row in ahead
    ]
    if not behind:
        return found
    rows = await conn.fetch(
        f"""
        SELECT e.incident_id, e.event, e.hash FROM {live}.incident_events e
        JOIN unnest($1::text[], $2::integer[]) AS b(incident_id, sequence)
          ON e.incident_id = b.incident_id AND e.sequence <= b.sequence
        ORDER BY e.incident_id, e.sequence
        """,
        [r["incident_id"] for r in behind],
        [r["last_sequence"] for r in behind],
    )
    expected = project(rows)
    for row in behind:
        replayed = IncidentRow(*(row[c] for c in COLUMNS))
        if row["incident_id"] not in expected:
            found.append(Difference("incidents", row["incident_id"], "no live rows"))
            continue
        found += state_differences(replayed, expected[row["incident_id"]])
    return found
