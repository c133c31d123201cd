"""How each lifecycle event changes an incident key's state: `apply`, `fold`, and what
the agent reads from a change (`holds`, `tasks_to_publish`). Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import reduce
from typing import Any

from schemas.kinds import is_clear
from schemas.lifecycle import (
    CommandRejected,
    DeadlineKind,
    DeadlineSet,
    DeadlineWarned,
    DuplicateLinked,
    IncidentAcknowledged,
    IncidentCancelled,
    IncidentClosed,
    IncidentEscalated,
    IncidentEvent,
    IncidentEventBase,
    IncidentHeld,
    IncidentOpened,
    IncidentReassigned,
    IncidentRejected,
    IncidentResolved,
    IncidentRouted,
    NoteAdded,
    SourceCleared,
    WorkStarted,
)
from schemas.reports import ReportKind
from schemas.tasks import Task, TaskRole, TaskStatus
from services.incidents.state import (
    LIVE_TASK,
    MAX_SEEN_COMMANDS,
    MAX_SEEN_REPORTS,
    IncidentState,
    IncidentStateError,
    IncidentStatus,
    PendingDeadline,
    as_set,
    over_by,
    seen_command,
    seen_report,
)

__all__ = ["apply", "fold", "holds", "tasks_to_publish"]

# How one event changes a state: the fields to update (the event is of the step's own type).
_Step = Callable[[IncidentState, Any], dict[str, Any]]


def _remember(seen: tuple[str, ...], entries: Iterable[str], limit: int) -> tuple[str, ...]:
    wanted = dict.fromkeys(entries)
    if not wanted:
        return seen
    known = as_set(seen)
    fresh = [e for e in wanted if e not in known]
    return (*seen, *fresh)[-limit:] if fresh else seen


def _changed(task: Task, at: datetime, **changes: Any) -> Task:
    return task.model_copy(update={**changes, "version": task.version + 1, "updated_at": at})


def _with_task(
    state: IncidentState, enterprise: str, at: datetime, **changes: Any
) -> dict[str, Task]:
    return {**state.tasks, enterprise: _changed(state.tasks[enterprise], at, **changes)}


def _tasks_to(
    state: IncidentState, status: TaskStatus, among: frozenset[TaskStatus], at: datetime
) -> dict[str, Task]:
    return {
        enterprise: _changed(task, at, status=status) if task.status in among else task
        for enterprise, task in state.tasks.items()
    }


def _without_deadlines(
    state: IncidentState, *, kind: DeadlineKind | None = None, task_id: str | None = None
) -> tuple[PendingDeadline, ...]:
    return tuple(
        d
        for d in state.deadlines
        if not ((kind is None or d.kind is kind) and (task_id is None or d.task_id == task_id))
    )


def _reports_seen(state: IncidentState, event: Any) -> dict[str, Any]:
    at = event.report.occurred_at
    changes = {
        "count": state.count + len(set(event.caused_by.reports)),
        "first_seen": min(state.first_seen, at) if state.first_seen else at,
        "last_seen": max(state.last_seen, at) if state.last_seen else at,
    }
    if is_clear(event.report):
        latest = state.last_clear
        changes["last_clear"] = (
            event.report if latest is None or latest.occurred_at <= at else latest
        )
    return changes


def _opened(state: IncidentState, event: IncidentOpened) -> dict[str, Any]:
    fresh = IncidentState(
        incident_key=event.incident_key,
        incidents=state.incidents + 1,
        incident_id=event.incident_id,
        previous_incident_id=state.incident_id,
        status=IncidentStatus.OPENED,
        kind=ReportKind(event.report.kind),
        district=event.report.district,
        summary=event.summary,
        opened_at=event.occurred_at,
        source_cleared=is_clear(event.report),
        last_clear=state.last_clear,
        seen_reports=state.seen_reports,
        seen_commands=state.seen_commands,
    )
    return {**dict(fresh), **_reports_seen(fresh, event)}


def _duplicate(state: IncidentState, event: DuplicateLinked) -> dict[str, Any]:
    # An alarm live after the last clear makes the fault live again; one from before it (or
    # a clear linked late) does not.
    report = event.report
    live = not is_clear(report) and not over_by(state, report.occurred_at)
    return {**_reports_seen(state, event), "source_cleared": state.source_cleared and not live}


def _cleared(state: IncidentState, event: SourceCleared) -> dict[str, Any]:
    if event.report == state.last_clear:
        # The key's remembered clear, ending an alarm that arrived after it: that alarm, its
        # cause, was counted when it opened the incident, and the clear when it arrived.
        return {"source_cleared": True}
    return {**_reports_seen(state, event), "source_cleared": True}


def _routed(state: IncidentState, event: IncidentRouted) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "decision": event.decision,
        "tasks": {**state.tasks, **{t.enterprise: t for t in event.tasks}},
    }
    for task in event.tasks:
        if task.role is TaskRole.PRIMARY and task.enterprise != state.primary:
            changes |= {
                "primary": task.enterprise,
                "status": IncidentStatus.OPENED,
                "taken_on_at": None,
            }
    return changes


def _deadline_set(state: IncidentState, event: DeadlineSet) -> dict[str, Any]:
    current = next(
        (d for d in state.deadlines if d.kind is event.deadline and d.task_id == event.task_id),
        None,
    )
    if current is None:
        current = PendingDeadline(
            kind=event.deadline,
            task_id=event.task_id,
            promised_at=event.due_at,
            due_at=event.due_at,
            set_by=event.event_id,
        )
    # The warning follows the DeadlineSet that names one (the promise, or its restart after a
    # hold); an escalation's next level names none and leaves it be.
    moved = {"warn_at": event.warn_at} if event.warn_at is not None else {}
    updated = current.model_copy(update={"due_at": event.due_at, "set_by": event.event_id, **moved})
    others = _without_deadlines(state, kind=event.deadline, task_id=event.task_id)
    return {"deadlines": (*others, updated)}


def _task_step(status: IncidentStatus, task_status: TaskStatus, stops_ack: bool) -> _Step:
    def step(state: IncidentState, event: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "status": status,
            "tasks": _with_task(state, event.enterprise, event.occurred_at, status=task_status),
            "taken_on_at": state.taken_on_at or event.occurred_at,
        }
        if stops_ack:
            changes["deadlines"] = _without_deadlines(state, kind=DeadlineKind.ACKNOWLEDGE)
        return changes

    return step


def _held(state: IncidentState, event: IncidentHeld) -> dict[str, Any]:
    changes = _task_step(IncidentStatus.HELD, TaskStatus.HELD, stops_ack=False)(state, event)
    return {
        **changes,
        "held_since": event.occurred_at,
        "held_until": event.until,
        "held_by": event.event_id,
    }


def _hold_ended(state: IncidentState, at: datetime) -> datetime:
    """When the current hold ended, for work restarted at `at`: at its until, if that came first."""
    assert state.held_since is not None, "only a held incident's hold ends"
    end = at if state.held_until is None else min(at, state.held_until)
    return max(end, state.held_since)  # a hold until a time already past paused nothing


def _started(state: IncidentState, event: WorkStarted) -> dict[str, Any]:
    changes = _task_step(IncidentStatus.IN_PROGRESS, TaskStatus.IN_PROGRESS, stops_ack=True)(
        state, event
    )
    if state.status is IncidentStatus.HELD and state.held_since is not None:
        # The deadlines waited while the incident was held: they move on by the hold's length.
        paused = _hold_ended(state, event.occurred_at) - state.held_since
        changes["deadlines"] = tuple(
            d.model_copy(
                update={
                    "promised_at": d.promised_at + paused,
                    "due_at": d.due_at + paused,
                    "warn_at": d.warn_at + paused if d.warn_at else None,
                }
            )
            for d in changes["deadlines"]
        )
    return {**changes, "held_since": None, "held_until": None, "held_by": None}


def _warned(state: IncidentState, event: DeadlineWarned) -> dict[str, Any]:
    deadlines = tuple(
        d.model_copy(update={"warned": True}) if d.kind is event.deadline else d
        for d in state.deadlines
    )
    return {"deadlines": deadlines}


def _escalated(state: IncidentState, event: IncidentEscalated) -> dict[str, Any]:
    deadlines = tuple(
        d.model_copy(update={"level": event.level}) if d.kind is event.deadline else d
        for d in state.deadlines
    )
    return {"deadlines": deadlines, "escalation_level": max(state.escalation_level, event.level)}


def _handed_away(task_status: TaskStatus, status: IncidentStatus | None) -> _Step:
    def step(state: IncidentState, event: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "primary": None,
            "tasks": _with_task(state, event.enterprise, event.occurred_at, status=task_status),
            "deadlines": _without_deadlines(state, task_id=event.task_id),
        }
        return changes | ({"status": status} if status else {})

    return step


def _resolved(state: IncidentState, event: IncidentResolved) -> dict[str, Any]:
    return {
        "status": IncidentStatus.RESOLVED,
        "tasks": _tasks_to(state, TaskStatus.RESOLVED, LIVE_TASK, event.occurred_at),
        "deadlines": (),
        "resolved_at": event.occurred_at,
        "resolved_by": event.event_id,
    }


def _ended(status: IncidentStatus, task_status: TaskStatus, among: frozenset[TaskStatus]) -> _Step:
    def step(state: IncidentState, event: Any) -> dict[str, Any]:
        tasks = _tasks_to(state, task_status, among, event.occurred_at)
        return {"status": status, "tasks": tasks, "deadlines": ()}

    return step


def _nothing(state: IncidentState, event: Any) -> dict[str, Any]:
    return {}


_STEPS: dict[type, _Step] = {
    IncidentOpened: _opened,
    DuplicateLinked: _duplicate,
    SourceCleared: _cleared,
    IncidentRouted: _routed,
    DeadlineSet: _deadline_set,
    DeadlineWarned: _warned,
    IncidentAcknowledged: _task_step(
        IncidentStatus.ACKNOWLEDGED, TaskStatus.ACKNOWLEDGED, stops_ack=True
    ),
    WorkStarted: _started,
    IncidentHeld: _held,
    IncidentEscalated: _escalated,
    IncidentReassigned: _handed_away(TaskStatus.REASSIGNED, None),
    IncidentRejected: _handed_away(TaskStatus.REJECTED, IncidentStatus.REJECTED),
    NoteAdded: _nothing,
    IncidentResolved: _resolved,
    IncidentClosed: _ended(
        IncidentStatus.CLOSED, TaskStatus.CLOSED, LIVE_TASK | {TaskStatus.RESOLVED}
    ),
    IncidentCancelled: _ended(IncidentStatus.CANCELLED, TaskStatus.CANCELLED, LIVE_TASK),
    CommandRejected: _nothing,
}


def _is_stray(state: IncidentState, event: IncidentEventBase) -> bool:
    # A command naming an incident the key never had is rejected outside any timeline.
    return state.incident_id is None and isinstance(event, CommandRejected)


def _check_follows(state: IncidentState, event: IncidentEventBase) -> None:
    if isinstance(event, IncidentOpened):
        follows = event.sequence == 1 and event.incident_id != state.incident_id
    else:
        follows = _is_stray(state, event) or (
            event.incident_id == state.incident_id and event.sequence == state.sequence + 1
        )
    if not follows:
        raise IncidentStateError(
            f"event {event.event_id} ({event.incident_id} #{event.sequence}) does not follow "
            f"{state.incident_id} #{state.sequence}"
        )


def apply(state: IncidentState, event: IncidentEvent) -> IncidentState:
    """The state after one event; raises IncidentStateError if the event does not follow it."""
    _check_follows(state, event)
    changes = _STEPS[type(event)](state, event)
    command_id = event.caused_by.command_id
    changes["seen_reports"] = _remember(
        changes.get("seen_reports", state.seen_reports),
        (seen_report(r.reported_by, r.report_id) for r in event.caused_by.reports),
        MAX_SEEN_REPORTS,
    )
    changes["seen_commands"] = _remember(
        state.seen_commands, [seen_command(command_id)] if command_id else [], MAX_SEEN_COMMANDS
    )
    if not _is_stray(state, event):
        changes["sequence"] = event.sequence
    changes["updated_at"] = event.occurred_at
    return state.model_copy(update=changes)


def fold(events: Iterable[IncidentEvent], state: IncidentState | None = None) -> IncidentState:
    """The state after a run of events, from `state` or from nothing (a rebuild from the log)."""
    return reduce(apply, events, state if state is not None else IncidentState())


def holds(state: IncidentState, event: IncidentEvent) -> bool:
    """Whether `state` already holds `event`, an event of its key read back from the log after
    the state's own last event: a repeat (a batch sent again after a broker error, a decision
    repeated after a crash) or an event of an incident before the current one.

    An event it does not hold is the next of the key's history, to `apply`: the log is the
    source of truth, and a state is brought up to it before any input is decided from it.
    """
    if isinstance(event, IncidentOpened):
        return event.incident_id == state.incident_id
    if isinstance(event, CommandRejected) and _is_stray(state, event):  # narrows the type
        return seen_command(event.command_id) in state.seen_commands
    return event.incident_id != state.incident_id or event.sequence <= state.sequence


def tasks_to_publish(before: IncidentState, events: Sequence[IncidentEvent]) -> list[Task]:
    """Tasks the events created or changed, each at its latest version, in first-change order.

    It takes the events rather than the state after them: when a report recurs, the old
    incident's tasks are closed and then replaced by the new incident's in the same decision,
    and their closing must still reach the enterprises' feeds.
    """
    latest: dict[str, Task] = {}
    state = before
    for event in events:
        after = apply(state, event)
        for enterprise, task in after.tasks.items():
            if state.tasks.get(enterprise) != task:
                latest[task.task_id] = task
        state = after
    return list(latest.values())
