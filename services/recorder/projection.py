"""Pure: the incidents projection, advanced by one lifecycle event at a time.

An incident's `status` here is its primary task's, in the task's words (`TaskStatus`: `open`,
`acknowledged`, ...), not the incident manager's `IncidentStatus` (`opened`, ...): both are
stored (this in the incidents table, that in the incident manager's changelog), so neither
word is changed to match the other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from schemas import lifecycle as ev
from schemas.tasks import TaskRole, TaskStatus


class IncidentRow(NamedTuple):
    """One row of the incidents table: where an incident stands after its latest event."""

    incident_id: str
    incident_key: str
    kind: str | None
    district: str | None
    summary: str | None
    priority: str | None
    status: str
    primary_enterprise: str | None
    escalation_level: int
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    source_occurred_at: datetime | None
    reported_at: datetime | None
    opened_at: datetime | None
    routed_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    source_cleared_at: datetime | None
    report_count: int
    event_count: int
    last_event_type: str
    last_event_at: datetime
    last_sequence: int
    last_hash: str


COLUMNS: tuple[str, ...] = IncidentRow._fields


def _opened(state: IncidentRow, e: ev.IncidentOpened) -> dict[str, Any]:
    return {
        "kind": e.report.kind,
        "district": e.report.district,
        "summary": e.summary,
        "source_occurred_at": e.report.occurred_at,
        "reported_at": e.report.reported_at,
        "opened_at": e.occurred_at,
        "status": TaskStatus.OPEN.value,
        "report_count": state.report_count + _reports_linked(e),
    }


def _routed(state: IncidentRow, e: ev.IncidentRouted) -> dict[str, Any]:
    primary = next((t for t in e.tasks if t.role is TaskRole.PRIMARY), None)
    changes: dict[str, Any] = {
        "primary_enterprise": e.decision.primary,
        "priority": e.decision.priority.value,
        "routed_at": state.routed_at or e.occurred_at,
    }
    if primary is not None:
        changes |= {"ack_due_at": primary.ack_due_at, "resolve_due_at": primary.resolve_due_at}
    return changes


def _for_primary(state: IncidentRow, e: ev.TaskEventBase) -> bool:
    # Notified and supporting enterprises work on their own tasks; the incident's state
    # follows the enterprise that must handle it (any, before routing has named one).
    return state.primary_enterprise in (None, e.enterprise)


def _deadline(state: IncidentRow, e: ev.DeadlineSet) -> dict[str, Any]:
    if not _for_primary(state, e):
        return {}
    field = "ack_due_at" if e.deadline is ev.DeadlineKind.ACKNOWLEDGE else "resolve_due_at"
    return {field: e.due_at}


def _status(status: TaskStatus, first_time: str | None = None) -> Callable[..., dict[str, Any]]:
    """A primary task's move to `status`, stamping `first_time` the first time it happens."""

    def change(state: IncidentRow, e: ev.TaskEventBase) -> dict[str, Any]:
        if not _for_primary(state, e):
            return {}
        changes: dict[str, Any] = {"status": status.value}
        if first_time and getattr(state, first_time) is None:
            changes[first_time] = e.occurred_at
        return changes

    return change


def _escalated(state: IncidentRow, e: ev.IncidentEscalated) -> dict[str, Any]:
    return {"escalation_level": max(state.escalation_level, e.level)}


def _reassigned(state: IncidentRow, e: ev.IncidentReassigned) -> dict[str, Any]:
    if not _for_primary(state, e):
        return {}
    return {"primary_enterprise": e.to_enterprise, "status": TaskStatus.OPEN.value}


def _duplicate(state: IncidentRow, e: ev.DuplicateLinked) -> dict[str, Any]:
    return {"report_count": state.report_count + _reports_linked(e)}


def _reports_linked(e: ev.IncidentOpened | ev.DuplicateLinked) -> int:
    """The distinct reports an event links (a storm's many, collapsed), as the incident
    manager counts them; at least the one the event carries."""
    return max(1, len(set(e.caused_by.reports)))


def _cleared(state: IncidentRow, e: ev.SourceCleared) -> dict[str, Any]:
    return {"source_cleared_at": state.source_cleared_at or e.occurred_at}


def _ended(status: TaskStatus) -> Callable[..., dict[str, Any]]:
    def change(state: IncidentRow, e: ev.IncidentEventBase) -> dict[str, Any]:
        return {"status": status.value, "closed_at": state.closed_at or e.occurred_at}

    return change


def _unchanged(state: IncidentRow, e: ev.IncidentEventBase) -> dict[str, Any]:
    return {}


CHANGES: dict[str, Callable[..., dict[str, Any]]] = {
    "incident_opened": _opened,
    "duplicate_linked": _duplicate,
    "incident_routed": _routed,
    "deadline_set": _deadline,
    "deadline_warned": _unchanged,
    "incident_acknowledged": _status(TaskStatus.ACKNOWLEDGED, "acknowledged_at"),
    "work_started": _status(TaskStatus.IN_PROGRESS),
    "incident_held": _status(TaskStatus.HELD),
    "incident_escalated": _escalated,
    "incident_reassigned": _reassigned,
    "incident_rejected": _status(TaskStatus.REJECTED),
    "note_added": _unchanged,
    "source_cleared": _cleared,
    "incident_resolved": _status(TaskStatus.RESOLVED, "resolved_at"),
    "incident_closed": _ended(TaskStatus.CLOSED),
    "incident_cancelled": _ended(TaskStatus.CANCELLED),
    "command_rejected": _unchanged,
}


def _new(event: ev.IncidentEventBase) -> IncidentRow:
    return IncidentRow(
        incident_id=event.incident_id,
        incident_key=event.incident_key,
        kind=None,
        district=None,
        summary=None,
        priority=None,
        status=TaskStatus.OPEN.value,
        primary_enterprise=None,
        escalation_level=0,
        ack_due_at=None,
        resolve_due_at=None,
        source_occurred_at=None,
        reported_at=None,
        opened_at=None,
        routed_at=None,
        acknowledged_at=None,
        resolved_at=None,
        closed_at=None,
        source_cleared_at=None,
        report_count=0,
        event_count=0,
        last_event_type="",
        last_event_at=event.occurred_at,
        last_sequence=0,
        last_hash="",
    )


# Where each column sits in a row: a projection step is a list of the row's values, changed
# in place and made a row again once, rather than a namedtuple _replace (twice the cost).
_SLOT = {name: n for n, name in enumerate(COLUMNS)}
_EVENT_COUNT, _LAST_TYPE, _LAST_AT, _LAST_SEQUENCE, _LAST_HASH = (
    _SLOT[c]
    for c in ("event_count", "last_event_type", "last_event_at", "last_sequence", "last_hash")
)


def project_event(state: IncidentRow | None, event: Any, event_hash: str) -> IncidentRow:
    """The incident after `event` (whose chained hash is `event_hash`); None: not seen before."""
    current = state or _new(event)
    values = list(current)
    for name, value in CHANGES[event.type](current, event).items():
        values[_SLOT[name]] = value
    values[_EVENT_COUNT] = current.event_count + 1
    values[_LAST_TYPE] = event.type
    values[_LAST_AT] = event.occurred_at
    values[_LAST_SEQUENCE] = event.sequence
    values[_LAST_HASH] = event_hash
    return IncidentRow._make(values)
