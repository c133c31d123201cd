"""Routed reports, commands and a policy for the incident manager's unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from schemas.commands import Command
from schemas.envelope import ReportRef
from schemas.lifecycle import IncidentEvent
from schemas.registry import load_registry
from schemas.reports import Report
from schemas.routing import EscalationLevel, Priority, RoutedReport, RoutingDecision
from services.incidents import IncidentState, Policy, decide, fold

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2007, 5, 20, 6, 0, tzinfo=ZONE)
KEY = "line_fault:vnpt-quang-nam:HOTLINE-BAUCU-03"
POLICY = Policy.from_registry(load_registry())
DEPARTMENT = POLICY.department
PRIMARY = "vnpt-quang-nam"
COMMITTEE = "uy-ban-bau-cu-quang-nam"
SUPPORT = ("viettel-quang-nam", "evn-telecom-quang-nam")
OUTSIDER = "sfone-quang-nam"
ACK_WITHIN = timedelta(minutes=15)
RESOLVE_WITHIN = timedelta(hours=2)
DECISION = RoutingDecision(
    rule_id="election-line-election-days",
    ruleset_version="sha256:" + "a" * 64,
    registry_version="sha256:" + "b" * 64,
    primary=PRIMARY,
    notified=(COMMITTEE,),
    support=SUPPORT,
    priority=Priority.P1,
    ack_within=ACK_WITHIN,
    resolve_within=RESOLVE_WITHIN,
    escalation=(
        EscalationLevel(level=1, after=timedelta(0), notify=(PRIMARY,)),
        EscalationLevel(level=2, after=timedelta(minutes=10), notify=(DEPARTMENT,)),
    ),
    reasons=("Election-critical line fault during the election days.",),
)
_REPORT = TypeAdapter(Report)
_COMMAND = TypeAdapter(Command)


def routed(
    n: int,
    *,
    minutes: int = 0,
    severity: str = "major",
    collapsed: Sequence[int] = (),
    decision: RoutingDecision = DECISION,
) -> RoutedReport:
    """A routed line fault on KEY, report id `r{n}`, occurring `minutes` after T0."""
    at = T0 + timedelta(minutes=minutes)
    report = _REPORT.validate_python(
        {
            "kind": "line_fault",
            "schema_version": 1,
            "report_id": f"r{n}",
            "reported_by": PRIMARY,
            "occurred_at": at,
            "reported_at": at,
            "operator": PRIMARY,
            "district": "tien-phuoc",
            "alarmed_object": {"id": "HOTLINE-BAUCU-03", "service_class": "election_hotline"},
            "election_critical": True,
            "perceived_severity": severity,
            "probable_cause": "cable_cut",
        }
    )
    refs = tuple(ReportRef(reported_by=PRIMARY, report_id=f"r{c}") for c in collapsed)
    return RoutedReport(
        incident_key=KEY,
        report=report,
        decision=decision,
        routed_at=at,
        collapsed=refs,
        count=1 + len(refs),
        first_seen=at,
        last_seen=at,
    )


def command(kind: str, n: int, by: str, incident_id: str, **fields: Any) -> Command:
    """A dispatcher command `c{n}` of type `kind` about KEY's incident, issued at T0."""
    return _COMMAND.validate_python(
        {
            "type": kind,
            "command_id": f"c{n}",
            "incident_id": incident_id,
            "incident_key": KEY,
            "issued_by": by,
            "issued_at": T0,
            **fields,
        }
    )


# Fields each command type needs beyond the common ones.
COMMAND_FIELDS: dict[str, dict[str, Any]] = {
    "acknowledge_incident": {},
    "start_work": {},
    "hold_incident": {"reason": "Waiting for the bridge to reopen."},
    "resolve_incident": {"resolution": "Cable spliced."},
    "reject_incident": {"reason": "Not our line."},
    "add_note": {"text": "Crew on the way."},
    "reassign_incident": {"to_enterprise": "viettel-quang-nam", "reason": "Viettel's link."},
}


def run(
    state: IncidentState, message: Any, now: datetime = T0
) -> tuple[IncidentState, list[IncidentEvent]]:
    """Decide on one message and fold the events in: the adapter's step."""
    events = decide(state, message, now, policy=POLICY)
    return fold(events, state), events


def opened(now: datetime = T0) -> IncidentState:
    """KEY with one incident just opened from report r1."""
    return run(IncidentState(), routed(1), now)[0]
