"""SLA deadlines and escalation, pure: promises are set as events, and a due one escalates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.lifecycle import (
    Cause,
    DeadlineKind,
    DeadlineSet,
    DeadlineWarned,
    IncidentClosed,
    IncidentEscalated,
    IncidentEvent,
    IncidentRouted,
    WorkStarted,
)
from schemas.routing import EscalationLevel
from schemas.tasks import PersonRef, Task, TaskRole
from services.incidents.duty import on_duty
from services.incidents.emit import Decided, Emitter, issue_task, service_actor
from services.incidents.policy import Policy
from services.incidents.state import IncidentState, IncidentStatus, PendingDeadline

__all__ = [
    "Timer",
    "TimerAction",
    "decide_due",
    "due_decision",
    "escalation_chain",
    "evictable",
    "next_due",
    "promise",
    "resumed",
    "retained_until",
    "timers",
]


class TimerAction(StrEnum):
    """What the clock does to an incident when a timer falls due."""

    ESCALATE = "escalate"  # a deadline passed: tell its next level
    WARN = "warn"  # a deadline is near: warn the person on duty
    CLOSE = "close"  # resolved and quiet long enough
    END_HOLD = "end_hold"  # the hold's until came: work resumes, the deadlines run again


@dataclass(frozen=True)
class Timer:
    """Something the clock will do to an incident, and when; `deadline` is the one escalated."""

    at: datetime
    deadline: PendingDeadline | None
    action: TimerAction = TimerAction.ESCALATE


def escalation_chain(state: IncidentState, policy: Policy) -> tuple[EscalationLevel, ...]:
    """Whom each level tells; a decision without a chain tells the Department at once."""
    # The Department must be told when something is not handled (DESIGN §1), chain or not.
    fallback = EscalationLevel(level=1, after=timedelta(0), notify=(policy.department,))
    chain = state.decision.escalation if state.decision else ()
    return chain or (fallback,)


def promise(em: Emitter, task: Task, policy: Policy) -> None:
    """Write the primary task's acknowledgement and resolution deadlines into the log, each
    with when its warning goes."""
    for kind, due_at in (
        (DeadlineKind.ACKNOWLEDGE, task.ack_due_at),
        (DeadlineKind.RESOLVE, task.resolve_due_at),
    ):
        assert due_at is not None, "a primary task has both deadlines"
        em.emit(
            DeadlineSet,
            task_id=task.task_id,
            enterprise=task.enterprise,
            deadline=kind,
            due_at=due_at,
            warn_at=warn_at(due_at, em.now, policy),
        )


def resumed(em: Emitter, held: IncidentState) -> None:
    """Write into the log where the deadlines of an incident that was `held` now stand."""
    if held.status is not IncidentStatus.HELD:
        return
    for deadline in em.state.deadlines:
        em.emit(
            DeadlineSet,
            task_id=deadline.task_id,
            enterprise=em.state.primary,
            deadline=deadline.kind,
            due_at=deadline.due_at,
            warn_at=None if deadline.warned else deadline.warn_at,
        )


def timers(state: IncidentState, policy: Policy) -> list[Timer]:
    """Every timer of the incident, earliest first."""
    chain = escalation_chain(state, policy)
    # A held incident's deadlines wait; restarting work (or the hold's until) moves them on
    # by the hold's length.
    waiting = state.status is IncidentStatus.HELD
    found = [
        Timer(at=d.promised_at + chain[d.level].after, deadline=d)
        for d in state.deadlines
        if d.level < len(chain) and not waiting
    ]
    found += [
        Timer(at=d.warn_at, deadline=d, action=TimerAction.WARN)
        for d in state.deadlines
        if d.warn_at is not None and not d.warned and d.level == 0 and not waiting
    ]
    if waiting and state.held_until is not None:
        found.append(Timer(at=state.held_until, deadline=None, action=TimerAction.END_HOLD))
    if state.status is IncidentStatus.RESOLVED and state.resolved_at is not None:
        at = state.resolved_at + policy.close_after
        found.append(Timer(at=at, deadline=None, action=TimerAction.CLOSE))
    return sorted(found, key=lambda timer: timer.at)


def warn_at(due_at: datetime, now: datetime, policy: Policy) -> datetime | None:
    """When a deadline promised `now` for `due_at` is warned of: the policy's lead before it,
    or a fifth of the time it allows when that is shorter; None: no warning."""
    if policy.warn_before is None or due_at <= now:
        return None
    return due_at - min(policy.warn_before, (due_at - now) / 5)


def retained_until(state: IncidentState, policy: Policy) -> datetime | None:
    """When the key's state leaves the hot state: a retention after its last event, once its
    incident is over (closed or cancelled, or it never had one); None while it is not over.

    The log keeps every event. What leaves with the state is the link to the incident before,
    the memory of seen reports and commands, and the numbering of the key's incidents.
    """
    over = state.status in (None, IncidentStatus.CLOSED, IncidentStatus.CANCELLED)
    return state.updated_at + policy.retention if over and state.updated_at else None


def evictable(state: IncidentState, now: datetime, *, policy: Policy) -> bool:
    """Whether the key's state is to leave the hot state at `now`."""
    until = retained_until(state, policy)
    return until is not None and until <= now


def next_due(state: IncidentState, policy: Policy) -> datetime | None:
    """When the clock next has something to do for this key (a timer, or leaving), or None."""
    pending = [timer.at for timer in timers(state, policy)]
    leaves = retained_until(state, policy)
    return min([*pending, leaves] if leaves else pending, default=None)


def decide_due(state: IncidentState, now: datetime, *, policy: Policy) -> list[IncidentEvent]:
    """Events of every timer due by `now`, each exactly once, oldest first.

    A timer fires once because its events move it on: an escalation raises the deadline's
    level (and sets the next), a closing ends the incident, the end of a hold restarts work.
    After downtime, everything that fell due meanwhile fires in this one call, in order.
    """
    return due_decision(state, now, policy=policy).events


def due_decision(state: IncidentState, now: datetime, *, policy: Policy) -> Decided:
    """`decide_due`'s events with the state after them and the tasks they changed."""
    decided = Decided(state)
    while (due := timers(decided.state, policy)) and due[0].at <= now:
        decided = decided.then(_fire(decided.state, due[0], now, policy))
    return decided


def _fire(state: IncidentState, timer: Timer, now: datetime, policy: Policy) -> Decided:
    assert state.incident_key is not None, "only an incident has timers"
    deadline = timer.deadline
    cause_id = {
        TimerAction.ESCALATE: deadline.set_by if deadline else None,
        TimerAction.WARN: deadline.set_by if deadline else None,
        TimerAction.CLOSE: state.resolved_by,
        TimerAction.END_HOLD: state.held_by,
    }[timer.action]
    em = Emitter(
        state,
        incident_key=state.incident_key,
        cause=Cause(event_id=cause_id),
        cause_key=f"timer:{cause_id}",
        actor=service_actor(policy.service),
        now=now,
    )
    if timer.action is TimerAction.CLOSE:
        em.emit(IncidentClosed, reason=f"Resolved and quiet for {policy.close_after}.")
    elif timer.action is TimerAction.END_HOLD:
        _end_hold(em)
    elif timer.action is TimerAction.WARN:
        assert deadline is not None, "a warning's timer is a deadline's"
        _warn(em, deadline, policy)
    else:
        assert deadline is not None, "an escalation's timer is a deadline's"
        _escalate(em, deadline, escalation_chain(state, policy), policy)
    return em.decided


def _end_hold(em: Emitter) -> None:
    held = em.state
    task = held.primary_task()
    assert task is not None and held.held_until is not None, "a hold with an until ends"
    note = f"The hold ended at its until, {held.held_until.isoformat()}; work resumes."
    em.emit(WorkStarted, task_id=task.task_id, enterprise=task.enterprise, note=note)
    resumed(em, held)


def _warn(em: Emitter, deadline: PendingDeadline, policy: Policy) -> None:
    state = em.state
    assert state.primary is not None and state.decision is not None, "a deadline is a task's"
    em.emit(
        DeadlineWarned,
        task_id=deadline.task_id,
        enterprise=state.primary,
        deadline=deadline.kind,
        due_at=deadline.promised_at,
        told=_people(state, (state.primary,), policy, em.now, lead=False),
        priority=state.decision.priority,
        summary=state.summary,
    )


def _people(
    state: IncidentState, enterprises: tuple[str, ...], policy: Policy, now: datetime, *, lead: bool
) -> tuple[PersonRef, ...]:
    """Whom of each enterprise to tell now: the person on duty, or for the assignee the shift
    lead when `lead` (the first step up within the enterprise); the task's own names when the
    enterprise's rosters are gone."""
    told: list[PersonRef] = []
    for enterprise in enterprises:
        duty = on_duty(policy, enterprise, state.district, now)
        if duty is None:
            task = state.tasks.get(enterprise)
            duty = task.on_duty if task else None
        if duty is not None:
            told.append(duty.lead if lead and enterprise == state.primary else duty.person)
    return tuple(dict.fromkeys(told))


def _within_first(
    step: EscalationLevel, notified: tuple[str, ...], primary: str
) -> tuple[str, ...]:
    """Whose people a step tells: escalation goes up within the enterprise first, so the first
    step tells the assignee's shift lead even when the rule's chain starts higher up."""
    return notified if step.level > 1 or primary in notified else (primary, *notified)


def _escalate(
    em: Emitter, deadline: PendingDeadline, chain: tuple[EscalationLevel, ...], policy: Policy
) -> None:
    state = em.state
    # A pending deadline is the primary task's, of a routed incident.
    assert state.decision is not None and state.primary is not None
    step = chain[deadline.level]
    # The chain names the enterprise that was primary when the incident was routed; its duty
    # lead's level follows the incident to whoever holds it now.
    notified = tuple(
        dict.fromkeys(state.primary if e == state.decision.primary else e for e in step.notify)
    )
    em.emit(
        IncidentEscalated,
        level=step.level,
        deadline=deadline.kind,
        notified=notified,
        reason=f"The {deadline.kind} deadline of {deadline.promised_at.isoformat()} passed.",
        told=_people(
            state, _within_first(step, notified, state.primary), policy, em.now, lead=True
        ),
        priority=state.decision.priority,
        summary=state.summary,
    )
    tasks = tuple(
        issue_task(
            em.state,
            e,
            TaskRole.NOTIFY,
            em.now,
            decision=state.decision,
            on_duty=on_duty(policy, e, state.district, em.now),
        )
        for e in notified
    )
    em.emit(IncidentRouted, decision=state.decision, tasks=tasks)
    if step.level < len(chain):
        em.emit(
            DeadlineSet,
            task_id=deadline.task_id,
            enterprise=state.primary,
            deadline=deadline.kind,
            due_at=deadline.promised_at + chain[step.level].after,
        )
