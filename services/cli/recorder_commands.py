"""Timelines and incidents from the command line, read with the auditor's read-only role."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from heapq import merge
from operator import itemgetter
from typing import Any

from schemas.chain import verify_chain
from services.recorder import find_incidents, notification_attempts, timeline
from services.runtime import db
from services.runtime.settings import Settings

# Fields worth a glance in a timeline's detail column, in this order, when an event has them.
DETAIL_FIELDS = (
    "summary",
    "enterprise",
    "to_enterprise",
    "deadline",
    "due_at",
    "level",
    "notified",
    "reason",
    "resolution",
    "note",
    "text",
    "command_type",
)
DETAIL_WIDTH = 70
# An attempt's gist says more (who was reached where, how, after how long): a wider cut.
ATTEMPT_WIDTH = 110


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `timeline` and `incidents` on the top-level parser."""
    timeline = commands.add_parser("timeline", help="an incident's recorded history, in order")
    timeline.add_argument("incident", help="incident id or incident key")
    timeline.add_argument("--json", action="store_true", help="machine-readable output")
    incidents = commands.add_parser("incidents", help="recorded incidents, filtered")
    incidents.add_argument("--open", action="store_true", help="only incidents still open")
    incidents.add_argument("--enterprise", metavar="E", help="primary enterprise (registry id)")
    incidents.add_argument("--district", metavar="D", help="district (registry id)")
    incidents.add_argument(
        "--overdue", action="store_true", help="only open incidents past a deadline now"
    )
    incidents.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `timeline` or `incidents`; the exit code (1: no such incident, or a broken chain)."""
    if args.command == "timeline":
        text, code = asyncio.run(show_timeline(args, settings))
    else:
        text, code = asyncio.run(show_incidents(args, settings, now=datetime.now(UTC)))
    print(text)
    return code


async def show_timeline(args: argparse.Namespace, settings: Settings) -> tuple[str, int]:
    """The timeline as text or JSON, with the state of its hash chain and who was told."""
    conn = await db.connect(settings, url=settings.auditor_database_url)
    try:
        rows = [dict(r) for r in await timeline(conn=conn, incident=args.incident)]
        told = [dict(r) for r in await notification_attempts(conn=conn, incident=args.incident)]
    finally:
        await conn.close()
    if not rows and not told:
        return f"signalpost: no recorded incident has id or key {args.incident!r}", 1
    broken = verify_chain(rows) if rows else None
    chain = "intact" if broken is None else f"BROKEN at {broken.event_id}: {broken.reason}"
    for row in rows:
        row["event"] = json.loads(row["event"])
    if args.json:
        body = {"incident": args.incident, "chain": chain, "events": rows, "notifications": told}
        return json.dumps(body, default=_plain, ensure_ascii=False, indent=2), int(bool(broken))
    return format_timeline(rows, told) + f"\nhash chain: {chain}", int(bool(broken))


async def show_incidents(
    args: argparse.Namespace, settings: Settings, *, now: datetime
) -> tuple[str, int]:
    """The matching incidents as a table or JSON."""
    conn = await db.connect(settings, url=settings.auditor_database_url)
    try:
        rows = await find_incidents(
            conn=conn,
            open_only=args.open,
            enterprise=args.enterprise,
            district=args.district,
            overdue_at=now if args.overdue else None,
        )
    finally:
        await conn.close()
    found = [dict(r) for r in rows]
    if args.json:
        return json.dumps(found, default=_plain, ensure_ascii=False, indent=2), 0
    return format_incidents(found), 0


def describe(event: Mapping[str, Any]) -> str:
    """A one-line gist of an event's own fields, for the detail column."""
    parts = [f"primary={event['decision']['primary']}"] if "decision" in event else []
    for name in DETAIL_FIELDS:
        value = event.get(name)
        if value not in (None, "", []):
            shown = ",".join(value) if isinstance(value, list) else value
            parts.append(f"{name}={shown}")
    return _clip("; ".join(parts))


def describe_attempt(attempt: Mapping[str, Any], told_of: str) -> str:
    """A one-line gist of a notification attempt: channel and address, why, how it went, and
    how long after the event it tells of (`told_of`: that event as the table names it)."""
    parts = [
        f"{attempt['channel']} {attempt['address']}",
        f"{attempt['reason']} #{attempt['attempt']}",
        f"{attempt['outcome']} {attempt['delay_s']:.1f}s after {told_of}",
    ]
    if attempt["detail"]:
        parts.append(attempt["detail"])
    return _clip("; ".join(parts), ATTEMPT_WIDTH)


def _clip(text: str, width: int = DETAIL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _actor(event: Mapping[str, Any]) -> str:
    actor = event.get("actor") or {}
    who = actor.get("id", "?")
    return f"{who} ({actor['person']})" if actor.get("person") else who


def format_timeline(
    rows: Sequence[Mapping[str, Any]], attempts: Sequence[Mapping[str, Any]] = ()
) -> str:
    """Rows of incident_events (event parsed) as one table per incident, its notification
    attempts among them in time order (each list keeps its own order)."""
    header = ("seq", "type", "occurred_at", "recorded_at", "actor", "detail")
    keys: dict[str, str] = {}
    lines: dict[str, tuple[list[Line], list[Line]]] = {}
    for row in rows:
        _lines_of(lines, keys, row)[0].append((row["occurred_at"], _event_cells(row)))
    # An attempt names the event it tells of by id; the table names it by its sequence.
    sequences = {row["event_id"]: f"#{row['sequence']}" for row in rows}
    for attempt in attempts:
        told_of = sequences.get(attempt["caused_by"], attempt["caused_by"])
        cells = _attempt_cells(attempt, told_of)
        _lines_of(lines, keys, attempt)[1].append((attempt["attempted_at"], cells))
    return "\n\n".join(
        f"incident {incident} ({keys[incident]})\n"
        + _table([header, *(cells for _, cells in merge(*both, key=itemgetter(0)))])
        for incident, both in lines.items()
    )


Line = tuple[datetime, tuple[str, ...]]


def _lines_of(
    lines: dict[str, tuple[list[Line], list[Line]]], keys: dict[str, str], row: Mapping[str, Any]
) -> tuple[list[Line], list[Line]]:
    keys.setdefault(row["incident_id"], row["incident_key"])
    return lines.setdefault(row["incident_id"], ([], []))


def _event_cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(row["sequence"]),
        row["type"],
        _time(row["occurred_at"]),
        _time(row["recorded_at"]),
        _actor(row["event"]),
        describe(row["event"]),
    )


def _attempt_cells(attempt: Mapping[str, Any], told_of: str) -> tuple[str, ...]:
    return (
        "-",
        "notification_attempted",
        _time(attempt["attempted_at"]),
        _time(attempt["recorded_at"]),
        f"{attempt['person_name']} ({attempt['person_enterprise']})",
        describe_attempt(attempt, told_of),
    )


def format_incidents(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of the incidents projection as a table."""
    header = (
        "incident",
        "status",
        "kind",
        "district",
        "enterprise",
        "opened_at",
        "ack_due_at",
        "resolve_due_at",
        "esc",
    )
    body = [
        (
            r["incident_id"],
            r["status"],
            r["kind"] or "",
            r["district"] or "",
            r["primary_enterprise"] or "",
            _time(r["opened_at"]),
            _time(r["ack_due_at"]),
            _time(r["resolve_due_at"]),
            str(r["escalation_level"]),
        )
        for r in rows
    ]
    return _table([header, *body]) + f"\n{len(rows)} incident(s)"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
