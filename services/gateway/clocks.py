"""An incident's clocks, escalations and who was told, read off its recorded events. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from schemas.lifecycle import DeadlineKind
from schemas.tasks import TaskRole

Event = Mapping[str, Any]
ClockState = Literal["met", "missed", "running", "stopped"]
# The steps that keep each promise for the task they name (work started implies taken on).
KEEPS = {
    DeadlineKind.ACKNOWLEDGE: {"incident_acknowledged", "work_started", "incident_resolved"},
    DeadlineKind.RESOLVE: {"incident_resolved"},
}
# After these no promise of the incident, or of the task named, can be kept any more.
ENDS_INCIDENT = {"incident_closed", "incident_cancelled"}
ENDS_TASK = {"incident_reassigned", "incident_rejected"}


class DeadlineClock(BaseModel):
    """One task's deadline and whether it was kept."""

    task_id: str
    enterprise: str
    deadline: DeadlineKind
    due_at: datetime
    met_at: datetime | None
    state: ClockState


class OverallClocks(BaseModel):
    """Seconds from opening to the first acknowledgement and to resolution (None: not yet)."""

    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None


class Escalation(BaseModel):
    """A missed deadline passed up one level of the escalation chain."""

    level: int
    deadline: DeadlineKind
    at: datetime
    notified: list[str]
    reason: str


class Told(BaseModel):
    """An enterprise given a task on the incident, and when."""

    enterprise: str
    role: TaskRole
    at: datetime
    task_id: str


def deadline_state(
    due_at: datetime,
    *,
    kept_at: datetime | None,
    ended_at: datetime | None,
    escalated: bool,
    now: datetime,
) -> ClockState:
    """Where a promise stands: kept in time, broken, still running, or ended before it fell due."""
    if kept_at is not None:
        return "met" if kept_at <= due_at else "missed"
    if escalated:
        return "missed"
    if ended_at is not None:
        return "stopped" if ended_at <= due_at else "missed"
    return "missed" if now > due_at else "running"


def deadline_met(state: ClockState) -> bool | None:
    """True when kept, False when broken, None while it runs or when it stopped unjudged."""
    return {"met": True, "missed": False}.get(state)


def met_in_time(
    due_at: datetime | None, kept_at: datetime | None, ended_at: datetime | None, now: datetime
) -> bool | None:
    """Whether a deadline of the incidents table was kept: None without one or while it runs."""
    if due_at is None:
        return None
    state = deadline_state(due_at, kept_at=kept_at, ended_at=ended_at, escalated=False, now=now)
    return deadline_met(state)


def deadline_clocks(events: Sequence[Event], now: datetime) -> list[DeadlineClock]:
    """Each task's deadline at its latest due time, in the order they were first set."""
    latest: dict[tuple[str, DeadlineKind], tuple[int, Event]] = {}
    for position, event in enumerate(events):
        if event["type"] == "deadline_set":
            key = (event["task_id"], DeadlineKind(event["deadline"]))
            first = latest.get(key, (position, event))[0]
            latest[key] = (first, event)
    ordered = sorted(latest.values(), key=lambda found: found[0])
    return [_clock(setting, events[first + 1 :], now) for first, setting in ordered]


def _clock(setting: Event, later: Sequence[Event], now: datetime) -> DeadlineClock:
    """The deadline `setting` set (at its latest due time), judged by the events after it."""
    task_id, kind = setting["task_id"], DeadlineKind(setting["deadline"])
    kept = _first(later, lambda e: e["type"] in KEEPS[kind] and e.get("task_id") == task_id)
    ended = _first(
        later,
        lambda e: (
            e["type"] in ENDS_INCIDENT or (e["type"] in ENDS_TASK and e.get("task_id") == task_id)
        ),
    )
    # An escalation names no task: it is this task's while its promise was still open.
    until = min((e["sequence"] for e in (kept, ended) if e is not None), default=None)
    escalated = any(
        e["type"] == "incident_escalated"
        and e["deadline"] == kind
        and (until is None or e["sequence"] < until)
        for e in later
    )
    kept_at = None if kept is None or _before(ended, kept) else _at(kept["occurred_at"])
    due_at = _at(setting["due_at"])
    state = deadline_state(
        due_at,
        kept_at=kept_at,
        ended_at=None if ended is None else _at(ended["occurred_at"]),
        escalated=escalated,
        now=now,
    )
    return DeadlineClock(
        task_id=task_id,
        enterprise=setting["enterprise"],
        deadline=kind,
        due_at=due_at,
        met_at=kept_at,
        state=state,
    )


def overall_clocks(events: Sequence[Event]) -> OverallClocks:
    """Time to acknowledge and to resolve, by the lifecycle events' own clock."""
    opened = _first(events, lambda e: e["type"] == "incident_opened")
    if opened is None:
        return OverallClocks(time_to_acknowledge_s=None, time_to_resolve_s=None)
    start = _at(opened["occurred_at"])

    def seconds_to(types: set[str]) -> float | None:
        step = _first(events, lambda e: e["type"] in types)
        return None if step is None else (_at(step["occurred_at"]) - start).total_seconds()

    return OverallClocks(
        time_to_acknowledge_s=seconds_to(KEEPS[DeadlineKind.ACKNOWLEDGE]),
        time_to_resolve_s=seconds_to(KEEPS[DeadlineKind.RESOLVE]),
    )


def escalations(events: Iterable[Event]) -> list[Escalation]:
    """Every escalation, in the order it happened."""
    return [
        Escalation(
            level=e["level"],
            deadline=e["deadline"],
            at=_at(e["occurred_at"]),
            notified=list(e["notified"]),
            reason=e["reason"],
        )
        for e in events
        if e["type"] == "incident_escalated"
    ]


def told(events: Iterable[Event]) -> list[Told]:
    """Every task the routing (first, after reassignments, on escalation) gave out."""
    return [
        Told(
            enterprise=task["enterprise"],
            role=task["role"],
            at=_at(e["occurred_at"]),
            task_id=task["task_id"],
        )
        for e in events
        if e["type"] == "incident_routed"
        for task in e["tasks"]
    ]


def first_routing(events: Iterable[Event]) -> Mapping[str, Any] | None:
    """The decision of the incident's first routing, as recorded; None when never routed."""
    routed = _first(events, lambda e: e["type"] == "incident_routed")
    return None if routed is None else routed["decision"]


def _first(events: Iterable[Event], wanted: Any) -> Event | None:
    return next((e for e in events if wanted(e)), None)


def _before(a: Event | None, b: Event) -> bool:
    return a is not None and a["sequence"] < b["sequence"]


def _at(text: str | datetime) -> datetime:
    return text if isinstance(text, datetime) else datetime.fromisoformat(text)
