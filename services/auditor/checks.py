"""Pure: what verify finds wrong in a recorded history: incident, event and reason each."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from pydantic_core import from_json

from schemas.chain import canonical_json, verify_chain
from schemas.codec import decode
from schemas.contracts import ROUTED_REPORT
from schemas.errors import ContractError
from schemas.kinds import incident_key
from schemas.registry import Registry
from schemas.reports import AnyReport
from schemas.routing import RoutingDecision
from services.auditor.reportlog import LogView, ReportSeen
from services.auditor.rulebook import RuleBook
from services.router import DecisionCache, NoRuleMatched

NONE = "-"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing wrong: which check found it, the incident, the event (or log position), why."""

    check: str
    incident: str
    event: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.check}] incident {self.incident} event {self.event}: {self.reason}"


def chain_findings(
    rows: Iterable[Mapping[str, Any]], heads: Mapping[str, tuple[int, str]]
) -> Iterator[Finding]:
    """The first broken link of each incident's chain (rows by incident, then sequence)."""
    seen = set()
    for incident, group in groupby(rows, key=itemgetter("incident_id")):
        timeline = list(group)
        seen.add(incident)
        head = heads.get(incident)
        if head is None:
            last = timeline[-1]["event_id"]
            yield Finding("chain", incident, last, "the incidents projection has no row for it")
        broken = verify_chain(timeline, {incident: head} if head else None)
        if broken is not None:
            yield Finding("chain", incident, broken.event_id or NONE, broken.reason)
    for incident, (sequence, _) in heads.items():
        if incident not in seen:
            reason = f"its head is at sequence {sequence} but no event of it is recorded"
            yield Finding("chain", incident, NONE, reason)


def recorder_findings(rows: Iterable[Mapping[str, Any]]) -> Iterator[Finding]:
    """Messages the recorder set aside: each is an event (or letter) missing from the history."""
    for row in rows:
        where = f"{row['topic']}:{row['partition']}:{row['offset']}"
        key = row["key"].decode("utf-8", "replace") if row["key"] else NONE
        yield Finding("recorder", key, where, f"not recorded: {row['reason']}")


def anchor_findings(rows: Iterable[Mapping[str, Any]], log: LogView) -> tuple[list[Finding], int]:
    """Each recorded event checked against the record at its source position; how many hold.

    Rows need event_id, incident_id, event (jsonb text or parsed), source_topic,
    source_partition and source_offset. A record that the log no longer holds (an offset
    before the partition's first) is a finding too, worded apart: incidents.events is kept
    forever, so its loss is itself wrong, and a mere warning would let a forged row hide
    behind an offset the log has dropped.
    """
    found, anchored = [], 0
    for row in rows:
        problem = _anchor_problem(row, log)
        if problem is None:
            anchored += 1
        else:
            found.append(Finding("anchor", row["incident_id"], row["event_id"], problem))
    return found, anchored


def _anchor_problem(row: Mapping[str, Any], log: LogView) -> str | None:
    topic, partition, offset = row["source_topic"], row["source_partition"], row["source_offset"]
    where = f"{topic}:{partition}:{offset}"
    if topic != log.topic:
        return f"not in the log at {where}: events are recorded only from {log.topic}"
    if partition not in log.bounds:
        return f"not in the log at {where}: the topic has no partition {partition}"
    first, end = log.bounds[partition]
    if offset >= end:
        return f"not in the log at {where}: the partition ends before it (next offset {end})"
    if offset < first:
        return f"log no longer holds offset {where} (it starts at {first}); cannot anchor"
    if (partition, offset) not in log.values:
        return f"not in the log at {where}: no record at that offset"
    difference = event_difference(row["event"], log.values[(partition, offset)])
    return None if difference is None else f"differs from the log at {where}: {difference}"


def event_difference(recorded: str | Mapping[str, Any], value: bytes | None) -> str | None:
    """How a recorded event differs from the log's record of it, or None when it does not.

    Compared in the canonical form of schemas/chain.py, not byte for byte: the recorder
    keeps the log's JSON as jsonb, which keeps its content (every field, unknown ones too)
    but not its spacing, key order or number spelling. The log side is parsed as the
    recorder parses it and the recorded side as the chain check does, so an untouched event
    compares equal exactly when its hash holds, and any change of content shows.
    """
    if value is None:
        return "the record there has no value (a tombstone)"
    try:
        logged = from_json(value)
    except (ValueError, RecursionError):
        return "the record there is not JSON"
    event = json.loads(recorded) if isinstance(recorded, str) else recorded
    if canonical_json(logged) == canonical_json(event):
        return None
    if not isinstance(logged, dict) or not isinstance(event, dict):
        return "the record there is not a JSON object"
    changed = sorted(
        name
        for name in logged.keys() | event.keys()
        if name not in logged
        or name not in event
        or canonical_json(logged[name]) != canonical_json(event[name])
    )
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"field(s) {shown}"


def report_findings(
    reports: Iterable[ReportSeen],
    outcomes: set[tuple[str, str]],
    dead_letters: set[tuple[str, int, int]],
    *,
    now: datetime,
    grace: timedelta,
) -> tuple[list[Finding], int]:
    """Reports with neither an incident event nor a dead letter; and how many are in flight."""
    found, in_flight = [], 0
    for report in reports:
        if report.position in dead_letters or (report.reported_by, report.report_id) in outcomes:
            continue
        if now - report.appended_at < grace:
            in_flight += 1
            continue
        where = f"{report.topic}:{report.partition}:{report.offset}"
        name = f"report {report.report_id} by {report.reported_by}"
        if report.report_id is None:
            name = "an unreadable message"
        found.append(
            Finding("report", NONE, where, f"{name} has no incident event and no dead letter")
        )
    return found, in_flight


@dataclass(frozen=True)
class RoutingCase:
    """An incident's routing as recorded: the decision, when, and the report it was made for."""

    incident_id: str
    event_id: str
    occurred_at: datetime
    decision: RoutingDecision
    report: AnyReport | None


def routing_findings(
    cases: Iterable[RoutingCase],
    *,
    book: RuleBook,
    registry: Registry,
    activations: Iterable[tuple[datetime, str]],
) -> Iterator[Finding]:
    """Each decision routed again with the versions it recorded, and its rule set's activation."""
    activated = sorted(activations)
    cache = DecisionCache()
    for case in cases:
        yield from _activation_problems(case, activated)
        problem = _reproduce(case, book, registry, cache)
        if problem:
            yield Finding("routing", case.incident_id, case.event_id, problem)


def _activation_problems(
    case: RoutingCase, activated: list[tuple[datetime, str]]
) -> Iterator[Finding]:
    version = case.decision.ruleset_version
    if not any(v == version and at <= case.occurred_at for at, v in activated):
        reason = f"rule set {version} was never activated before this decision"
        yield Finding("ruleset", case.incident_id, case.event_id, reason)


def _reproduce(
    case: RoutingCase, book: RuleBook, registry: Registry, cache: DecisionCache
) -> str | None:
    """Why the decision cannot be reproduced, or None when routing again gives it exactly."""
    recorded = case.decision
    if case.report is None:
        return "the incident has no opening report to route again"
    if recorded.registry_version != registry.version:
        return (
            f"registry {recorded.registry_version} is not the auditor's ({registry.version});"
            " point SIGNALPOST_AUDITOR_REGISTRY_DIR at it"
        )
    rules = book.get(recorded.ruleset_version)
    if rules is None:
        return (
            f"rule set {recorded.ruleset_version} is not recorded in the log and no rule file"
            " found has it; add it to SIGNALPOST_AUDITOR_RULES_ARCHIVE"
        )
    try:
        again = cache.decide(case.report, rules, registry)
    except NoRuleMatched as exc:
        return f"routing again fails: {exc}"
    if again == recorded:
        return None
    changed = [
        name
        for name in RoutingDecision.model_fields
        if getattr(again, name) != getattr(recorded, name)
    ]
    shown = "; ".join(
        f"{name}: recorded {getattr(recorded, name)!r}, again {getattr(again, name)!r}"
        for name in changed[:3]
    )
    return f"routing again with the recorded versions differs: {shown}"[:1000]


def window_findings(routed: Iterable[tuple[str, bytes | None]]) -> Iterator[Finding]:
    """Routed reports (log position, value) whose grouping window cannot be what the router
    made: longer than its recorded interval, ending before it starts or after the message
    was routed, a count that is not its references, or a representative of another key.

    A message that is not a valid routed report is the incident manager's dead letter, and
    the lifecycle check's business; one with no window was not grouped.
    """
    for where, value in routed:
        if value is None or b'"window":{' not in value:
            continue
        try:
            message = decode(ROUTED_REPORT, value)
        except ContractError:
            continue
        window = message.window
        assert window is not None  # the value names one
        problems = []
        if not window.started_at <= window.ended_at <= message.routed_at:
            problems.append(
                f"its window runs from {window.started_at} to {window.ended_at} and it was "
                f"routed at {message.routed_at}"
            )
        if window.ended_at - window.started_at > window.interval:
            problems.append(f"its window is longer than its interval {window.interval}")
        if message.count != 1 + len(message.collapsed):
            problems.append(
                f"it counts {message.count} reports and names {1 + len(message.collapsed)}"
            )
        if incident_key(message.report) != message.incident_key:
            problems.append(f"its report is of key {incident_key(message.report)}")
        for problem in problems:
            yield Finding("window", message.incident_key, where, problem)
