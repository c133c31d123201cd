"""Verify the live history: hash chains, gaps, every event anchored to the log, every report
accounted for, decisions reproduced, the lifecycle derived again from its inputs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT, REPORT
from schemas.errors import ContractError
from schemas.registry import Registry, load_registry, load_rosters
from schemas.routing import RoutingDecision
from services.auditor.access import open_audit
from services.auditor.checks import (
    Finding,
    RoutingCase,
    anchor_findings,
    chain_findings,
    recorder_findings,
    report_findings,
    routing_findings,
)
from services.auditor.lifecycle import Recorded, rederive
from services.auditor.reportlog import (
    LogView,
    read_inputs,
    read_positions,
    read_reports,
    read_rule_texts,
)
from services.auditor.rulebook import RuleBook, rule_files
from services.auditor.settings import AuditorSettings
from services.runtime.rosterlog import history, read_roster_activations

TIMELINE = """
    SELECT event_id, incident_id, sequence, type, event::text AS event, prev_hash, hash,
           source_topic, source_partition, source_offset
    FROM incident_events ORDER BY incident_id, sequence
"""
ROUTINGS = """
    SELECT e.incident_id, e.event_id, e.occurred_at, (e.event->'decision')::text AS decision,
           (o.event->'report')::text AS report
    FROM incident_events e
    LEFT JOIN incident_events o ON o.incident_id = e.incident_id AND o.type = 'incident_opened'
    WHERE e.type = 'incident_routed'
    ORDER BY e.incident_id, e.sequence
"""
# Every report an incident event names: the report it carries, and the reports that caused it.
OUTCOMES = """
    SELECT event->'report'->>'reported_by' AS by, event->'report'->>'report_id' AS id
    FROM incident_events WHERE event ? 'report'
    UNION
    SELECT r->>'reported_by', r->>'report_id'
    FROM incident_events, jsonb_array_elements(event->'caused_by'->'reports') AS r
"""


@dataclass
class VerifyResult:
    """What was checked and what was found."""

    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    # Events found at their source position in the log with the same content.
    anchored: int = 0
    incidents: int = 0
    reports: int = 0
    in_flight: int = 0
    decisions: int = 0
    rule_sets: int = 0
    # Anchored events that the incident manager's core produces again from their inputs.
    rederived: int = 0
    inputs_decided: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


async def verify(
    settings: AuditorSettings, *, now: datetime, extra_rules: Iterable[Path] = ()
) -> VerifyResult:
    """Every check over the live schema, the report topics and incidents.events."""
    conn = await open_audit(settings)
    try:
        result = VerifyResult()
        texts = await read_rule_texts(settings)
        registry = load_registry(settings.auditor_registry_dir)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await _chains(conn, result)
            result.findings += recorder_findings(
                await conn.fetch(
                    'SELECT * FROM recorder_dead_letters ORDER BY topic, partition, "offset"'
                )
            )
            await _routing(conn, settings, registry, extra_rules, texts, result)
        # Read after the snapshot: the recorder writes an event only once the log holds it,
        # so the log's end now lies past every event the snapshot holds (and every input
        # that caused one lies on its topic).
        recorded = await _anchors(settings, rows, result)
        await _lifecycle(settings, registry, recorded, result, now=now)
        found, result.in_flight, result.reports = await unaccounted_reports(conn, settings, now=now)
        result.findings += found
        result.findings.sort()
        return result
    finally:
        await conn.close()


async def unaccounted_reports(
    conn: asyncpg.Connection,
    settings: AuditorSettings,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Finding], int, int]:
    """Reports of [since, until) with no incident event and no dead letter in the live tables;
    how many are still in flight; how many were read."""
    outcomes = {(r["by"], r["id"]) for r in await conn.fetch(OUTCOMES)}
    dead = {
        tuple(r)
        for r in await conn.fetch(
            "SELECT source_topic, source_partition, source_offset FROM dead_letters"
        )
    }
    reports = await read_reports(
        settings, batch_max=settings.auditor_batch_max, since=since, until=until
    )
    grace = timedelta(seconds=settings.auditor_grace_seconds)
    found, in_flight = report_findings(reports, outcomes, dead, now=now, grace=grace)
    return found, in_flight, len(reports)


async def _chains(conn: asyncpg.Connection, result: VerifyResult) -> list[asyncpg.Record]:
    heads = {
        r["incident_id"]: (r["last_sequence"], r["last_hash"])
        for r in await conn.fetch("SELECT incident_id, last_sequence, last_hash FROM incidents")
    }
    rows = []
    async for row in conn.cursor(TIMELINE, prefetch=5000):
        rows.append(row)
    result.events, result.incidents = len(rows), len(heads)
    result.findings += chain_findings(rows, heads)
    return rows


async def _anchors(
    settings: AuditorSettings, rows: list[asyncpg.Record], result: VerifyResult
) -> list[Recorded]:
    """Every recorded event against the record at its source position in incidents.events;
    each with its key in the log (an unanchored one has none: its own incident key)."""
    log = await read_positions(
        settings,
        [(r["source_topic"], r["source_partition"], r["source_offset"]) for r in rows],
        batch_max=settings.auditor_batch_max,
    )
    found, result.anchored = anchor_findings(rows, log)
    result.findings += found
    unanchored = {f.event for f in found}
    recorded = (_recorded(r, log, r["event_id"] not in unanchored) for r in rows)
    return [r for r in recorded if r is not None]


def _recorded(row: asyncpg.Record, log: LogView, anchored: bool) -> Recorded | None:
    try:
        event = decode(INCIDENT_EVENT, row["event"].encode("utf-8"))
    except ContractError:  # changed in place into no event: the anchor check says so
        return None
    if not anchored:
        return Recorded(event, row, event.incident_key.encode(), anchored=False)
    at = (row["source_partition"], row["source_offset"])
    return Recorded(event, row, log.keys.get(at), logged=log.values.get(at))


async def _lifecycle(
    settings: AuditorSettings,
    registry: Registry,
    recorded: list[Recorded],
    result: VerifyResult,
    *,
    now: datetime,
) -> None:
    """The recorded history derived again from the incident manager's inputs (lifecycle.py)."""
    inputs = await read_inputs(settings, batch_max=settings.auditor_batch_max)
    # Who was on duty comes from the rosters the log says were in force, as the incident
    # manager read them; the log holds every version it ever put in force.
    activations = await read_roster_activations(settings)
    # The files on disk only stand in when the log holds no activation at all.
    on_disk = None if activations else load_rosters(settings.auditor_registry_dir, registry)
    policy = settings.policy(registry, history(activations, otherwise=on_disk))
    in_log_order = sorted(
        recorded, key=lambda r: (r.row["source_partition"], r.row["source_offset"])
    )
    derived = rederive(
        in_log_order,
        inputs,
        policy=policy,
        now=now,
        grace=timedelta(seconds=settings.auditor_grace_seconds),
    )
    result.findings += derived.findings
    result.rederived, result.inputs_decided = derived.reproduced, derived.decided
    result.in_flight += derived.in_flight


async def _routing(
    conn: asyncpg.Connection,
    settings: AuditorSettings,
    registry: Registry,
    extra_rules: Iterable[Path],
    texts: list[str],
    result: VerifyResult,
) -> None:
    activations = await conn.fetch(
        "SELECT activated_at, ruleset_version, source_file FROM rule_sets"
    )
    files = rule_files(
        settings.auditor_rules_archive, [a["source_file"] for a in activations], extra_rules
    )
    book = RuleBook(registry, files, texts)
    result.rule_sets = len(book.by_version)
    cases = [_case(r) for r in await conn.fetch(ROUTINGS)]
    # Every routed event of an incident repeats its decision: reproduce each distinct one once.
    distinct = list({(c.incident_id, c.decision): c for c in reversed(cases)}.values())[::-1]
    result.decisions = len(distinct)
    result.findings += routing_findings(
        distinct,
        book=book,
        registry=registry,
        activations=[(a["activated_at"], a["ruleset_version"]) for a in activations],
    )


def _case(row: asyncpg.Record) -> RoutingCase:
    report = decode(REPORT, row["report"].encode("utf-8")) if row["report"] else None
    return RoutingCase(
        row["incident_id"],
        row["event_id"],
        row["occurred_at"],
        RoutingDecision.model_validate_json(row["decision"]),
        report,
    )
