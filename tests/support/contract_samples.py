"""Samples of valid contracts for the schema tests: the example files and hypothesis strategies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from schemas.commands import AcknowledgeIncident, AddNote, HoldIncident, ReassignIncident
from schemas.deadletter import DeadLetter, OriginalBytes, SourcePosition
from schemas.envelope import Actor, ActorKind, ReportRef
from schemas.errors import ErrorBody, Problem
from schemas.example_reports import EXAMPLES
from schemas.lifecycle import Cause, CommandRejected, IncidentOpened, IncidentRouted
from schemas.reports import (
    PERCENT_METRICS,
    CapacityAlarm,
    CapacityMetric,
    CapacityResource,
    CustodyStatus,
    Indicator,
    ItemType,
    LineFault,
    LineObject,
    PerceivedSeverity,
    PostalItem,
    ProbableCause,
    ReportKind,
    ResourceType,
    ServiceClass,
    SuspiciousParcel,
)
from schemas.routing import EscalationLevel, Priority, RoutingDecision
from schemas.tasks import Task, TaskRole


def example(name: str) -> dict[str, Any]:
    """A valid example payload, by file stem, as a dict."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


# Short ids keep the suite fast; the 128-character bound has its own table-driven test.
ids = st.from_regex(r"[A-Za-z0-9._:-]{1,16}", fullmatch=True)
slugs = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
# Letters, marks (Vietnamese diacritics, composed or not), digits, punctuation, spaces.
_alphabet = st.characters(categories=("L", "M", "N", "P", "Zs"))
short_text = st.text(_alphabet, min_size=1, max_size=40).map(str.strip).filter(bool)
long_text = st.text(_alphabet, max_size=120).map(str.strip)
zones = st.sampled_from([UTC, timezone(timedelta(hours=7)), ZoneInfo("Asia/Ho_Chi_Minh")])
times = st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1), timezones=zones)
durations = st.timedeltas(timedelta(seconds=1), timedelta(days=30))


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """The envelope fields of a valid report, occurred_at within the skew allowance."""
    reported_at = draw(times)
    occurred_at = reported_at - draw(st.timedeltas(timedelta(minutes=-5), timedelta(days=2)))
    return {
        "report_id": draw(ids),
        "schema_version": 1,
        "reported_by": draw(slugs),
        "occurred_at": occurred_at,
        "reported_at": reported_at,
        "received_at": draw(st.none() | times),
    }


@st.composite
def line_faults(draw: st.DrawFn) -> LineFault:
    """A valid line fault."""
    return LineFault(
        **draw(envelopes()),
        kind="line_fault",
        operator=draw(slugs),
        district=draw(slugs),
        alarmed_object=LineObject(id=draw(ids), service_class=draw(st.sampled_from(ServiceClass))),
        election_critical=draw(st.booleans()),
        perceived_severity=draw(st.sampled_from(PerceivedSeverity)),
        probable_cause=draw(st.sampled_from(ProbableCause)),
        description=draw(long_text),
    )


@st.composite
def capacity_alarms(draw: st.DrawFn) -> CapacityAlarm:
    """A valid capacity alarm; percentages stay within 100."""
    metric = draw(st.sampled_from(CapacityMetric))
    top = 100.0 if metric in PERCENT_METRICS else 1e9
    values = st.floats(0, top, allow_nan=False, allow_infinity=False)
    return CapacityAlarm(
        **draw(envelopes()),
        kind="capacity_alarm",
        operator=draw(slugs),
        district=draw(slugs),
        alarmed_object=CapacityResource(id=draw(ids), type=draw(st.sampled_from(ResourceType))),
        metric=metric,
        threshold=draw(values),
        observed_value=draw(values),
        perceived_severity=draw(st.sampled_from(PerceivedSeverity)),
        description=draw(long_text),
    )


@st.composite
def suspicious_parcels(draw: st.DrawFn) -> SuspiciousParcel:
    """A valid suspicious-parcel report."""
    return SuspiciousParcel(
        **draw(envelopes()),
        kind="suspicious_parcel",
        post_office=draw(slugs),
        district=draw(slugs),
        item=PostalItem(id=draw(ids), type=draw(st.sampled_from(ItemType))),
        description=draw(short_text),
        indicators=tuple(draw(st.lists(st.sampled_from(Indicator), min_size=1, unique=True))),
        custody_status=draw(st.sampled_from(CustodyStatus)),
        election_related=draw(st.booleans()),
    )


reports = st.one_of(line_faults(), capacity_alarms(), suspicious_parcels())


@st.composite
def commands(draw: st.DrawFn) -> Any:
    """A valid dispatcher command of a few types."""
    issued_at = draw(times)
    base = {
        "command_id": draw(ids),
        "incident_id": draw(ids),
        "incident_key": draw(ids),
        "issued_by": draw(slugs),
        "issued_at": issued_at,
        "dispatcher": draw(st.none() | short_text),
    }
    build = draw(
        st.sampled_from(
            [
                lambda: AcknowledgeIncident(**base, note=draw(long_text)),
                lambda: HoldIncident(
                    **base, reason=draw(short_text), until=issued_at + draw(durations)
                ),
                lambda: AddNote(**base, text=draw(short_text)),
                lambda: ReassignIncident(
                    **base, to_enterprise=draw(slugs), reason=draw(short_text)
                ),
            ]
        )
    )
    return build()


@st.composite
def decisions(draw: st.DrawFn) -> RoutingDecision:
    """A valid routing decision with an escalation chain."""
    levels = draw(st.integers(0, 3))
    return RoutingDecision(
        rule_id=draw(ids),
        ruleset_version=draw(hashes),
        registry_version=draw(hashes),
        primary=draw(slugs),
        notified=tuple(draw(st.lists(slugs, max_size=3))),
        priority=draw(st.sampled_from(Priority)),
        ack_within=draw(durations),
        resolve_within=draw(durations),
        escalation=tuple(
            EscalationLevel(level=n, after=draw(durations), notify=(draw(slugs),))
            for n in range(1, levels + 1)
        ),
        reasons=(draw(short_text),),
    )


@st.composite
def incident_events(draw: st.DrawFn) -> Any:
    """A valid lifecycle event: opened (with a report), routed (with tasks) or command rejected."""
    base = {
        "event_id": draw(ids),
        "incident_key": draw(ids),
        "incident_id": draw(ids),
        "sequence": draw(st.integers(1, 10**6)),
        "occurred_at": draw(times),
        "actor": Actor(kind=draw(st.sampled_from(ActorKind)), id=draw(ids)),
        "caused_by": Cause(reports=(ReportRef(reported_by=draw(slugs), report_id=draw(ids)),)),
    }
    build = draw(
        st.sampled_from(
            [
                lambda: IncidentOpened(**base, report=draw(reports), summary=draw(short_text)),
                lambda: IncidentRouted(
                    **base, decision=draw(decisions()), tasks=(draw(tasks(base)),)
                ),
                lambda: CommandRejected(
                    **base, command_id=draw(ids), command_type="x", error=_ERROR
                ),
            ]
        )
    )
    return build()


_ERROR = ErrorBody(error="invalid_command", problems=(Problem(field="x", reason="why"),))


def tasks(event: dict[str, Any]) -> st.SearchStrategy[Task]:
    """A valid task of the event's incident."""
    return st.builds(
        Task,
        task_id=ids,
        incident_id=st.just(event["incident_id"]),
        incident_key=st.just(event["incident_key"]),
        enterprise=slugs,
        role=st.sampled_from(TaskRole),
        kind=st.sampled_from(ReportKind),
        district=slugs,
        summary=short_text,
        priority=st.sampled_from(Priority),
        ack_due_at=st.none() | times,
        updated_at=times,
    )


@st.composite
def dead_letters(draw: st.DrawFn) -> DeadLetter:
    """A valid dead-letter record around arbitrary original bytes."""
    return DeadLetter(
        source=SourcePosition(
            topic="reports.line-fault",
            partition=draw(st.integers(0, 99)),
            offset=draw(st.integers(0, 2**62)),
            timestamp=draw(st.none() | times),
        ),
        key=draw(st.none() | st.binary(max_size=20).map(OriginalBytes.from_bytes)),
        value=OriginalBytes.from_bytes(draw(st.binary(max_size=200))),
        error=ErrorBody(error="invalid_report", problems=(Problem(field="", reason="bad"),)),
        rejected_by="router",
        dead_lettered_at=draw(times),
    )
