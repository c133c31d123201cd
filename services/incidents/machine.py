"""The incident state machine's decisions: what a routed report or a dispatcher command does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from schemas.commands import (
    AcknowledgeIncident,
    AddNote,
    Command,
    HoldIncident,
    ReassignIncident,
    RejectIncident,
    ResolveIncident,
    StartWork,
)
from schemas.envelope import MAX_CLOCK_SKEW, Actor, ActorKind, ReportRef
from schemas.errors import ErrorBody, Problem
from schemas.kinds import is_clear
from schemas.lifecycle import (
    Cause,
    CommandRejected,
    DuplicateLinked,
    IncidentAcknowledged,
    IncidentCancelled,
    IncidentClosed,
    IncidentEvent,
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
from schemas.reports import AnyReport, CapacityAlarm, LineFault
from schemas.routing import RoutedReport, RoutingDecision
from schemas.tasks import Task, TaskRole, TaskStatus
from services.incidents.deadlines import promise, resumed
from services.incidents.duty import on_duty
from services.incidents.emit import Decided, Emitter, issue_task, service_actor
from services.incidents.ids import incident_id, stray_incident_id
from services.incidents.policy import ClearAction, Policy, RejectAction
from services.incidents.state import (
    OPEN,
    IncidentState,
    IncidentStatus,
    as_set,
    over_by,
    seen_command,
    seen_report,
)

__all__ = ["decide", "decision", "summary"]

_SUMMARY_CHARS = 200  # ShortText's bound


def decide(
    state: IncidentState, message: RoutedReport | Command, now: datetime, *, policy: Policy
) -> list[IncidentEvent]:
    """The events a routed report or a dispatcher command causes; [] for a repeat.

    Never raises for any valid input: a command that cannot be applied yields exactly one
    CommandRejected. `now` stamps the events; pass the input message's timestamp, not the
    wall clock, so that reprocessing an input from the same state repeats the same bytes.
    """
    return decision(state, message, now, policy=policy).events


def decision(
    state: IncidentState, message: RoutedReport | Command, now: datetime, *, policy: Policy
) -> Decided:
    """`decide`'s events with the state after them and the tasks they changed."""
    if isinstance(message, RoutedReport):
        return _on_report(state, message, now, policy)
    return _on_command(state, message, now, policy)


def summary(report: AnyReport) -> str:
    """One line for the task list: what, where and how bad."""
    if isinstance(report, LineFault):
        text = (
            f"{report.perceived_severity} {report.probable_cause} on "
            f"{report.alarmed_object.service_class} line {report.alarmed_object.id} "
            f"({report.operator}, {report.district})"
        )
    elif isinstance(report, CapacityAlarm):
        text = (
            f"{report.perceived_severity} {report.metric} {report.observed_value:g} over "
            f"{report.threshold:g} on {report.alarmed_object.type} {report.alarmed_object.id} "
            f"({report.operator}, {report.district})"
        )
    else:
        text = (
            f"suspicious {report.item.type} {report.item.id} at {report.post_office} "
            f"({report.district}): {', '.join(report.indicators)}"
        )
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


# --- routed reports ------------------------------------------------------------------------


def _on_report(
    state: IncidentState, routed: RoutedReport, now: datetime, policy: Policy
) -> Decided:
    report = routed.report
    refs = dict.fromkeys(
        (ReportRef(reported_by=report.reported_by, report_id=report.report_id), *routed.collapsed)
    )
    seen = as_set(state.seen_reports)
    new = tuple(r for r in refs if seen_report(r.reported_by, r.report_id) not in seen)
    if not new:
        return Decided(state)
    em = Emitter(
        state,
        incident_key=routed.incident_key,
        cause=Cause(reports=new),
        cause_key=f"report:{new[0].reported_by}:{new[0].report_id}",
        actor=service_actor(policy.service),
        now=now,
    )
    if state.status in OPEN:
        if is_clear(report):
            _clear(em, report, policy)
        else:
            em.emit(DuplicateLinked, report=report)
    elif state.status is IncidentStatus.RESOLVED and is_clear(report):
        em.emit(SourceCleared, report=report)
    elif _old_news(state, report):
        em.emit(DuplicateLinked, report=report)
    else:
        _open(em, routed, policy)
    return em.decided


def _old_news(state: IncidentState, report: AnyReport) -> bool:
    """Whether a report happened before the incident was resolved, beyond any clock skew, or
    before a clear the resolved incident has had.

    Such a report is late news of the resolved incident (or a resend of one of its storm's
    reports that the bounded memory has forgotten), not a recurrence: it is linked to that
    incident, resolved or since closed, rather than opening a new one. A report from within
    the skew of the resolution opens one, so that a recurrence is never hidden, unless the
    source had already said the alarm was over (the clear and the alarm share its clock).
    """
    if state.resolved_at is None or state.status not in (
        IncidentStatus.RESOLVED,
        IncidentStatus.CLOSED,
    ):
        return False
    return report.occurred_at < state.resolved_at - MAX_CLOCK_SKEW or (
        state.source_cleared and over_by(state, report.occurred_at)
    )


def _open(em: Emitter, routed: RoutedReport, policy: Policy) -> None:
    report, decision = routed.report, routed.decision
    new_id = incident_id(routed.incident_key, em.state.incidents + 1, em.now)
    if em.state.status is IncidentStatus.RESOLVED:
        em.emit(IncidentClosed, reason=f"The fault recurred after resolution, as {new_id}.")
    em.emit(IncidentOpened, incident_id=new_id, report=report, summary=summary(report))
    if is_clear(report):
        # A clear must still leave a trace (nothing accepted is lost), but there is no alarm
        # open on this key for it to end, so the incident it opens has nothing to handle. The
        # key remembers it: an alarm that happened before it and arrives later is over.
        em.emit(
            IncidentCancelled,
            reason="A clear arrived with no alarm open on this key; an alarm that happened "
            "before it and arrives later is cleared by it.",
        )
        return
    others = {e: TaskRole.NOTIFY for e in decision.notified}
    others |= {e: TaskRole.SUPPORT for e in decision.support if e not in others}
    others.pop(decision.primary, None)
    state, now = em.state, em.now
    tasks = (
        _assignment(state, decision.primary, decision, now, policy),
        *(
            issue_task(
                state,
                e,
                role,
                now,
                decision=decision,
                on_duty=on_duty(policy, e, state.district, now),
            )
            for e, role in others.items()
        ),
    )
    em.emit(IncidentRouted, decision=decision, tasks=tasks)
    promise(em, tasks[0], policy)
    clear = em.state.last_clear
    if clear is not None and over_by(em.state, report.occurred_at):
        # It arrived after its clear (another partition, a slower path): decided as if it
        # had come first, the clear ends it at once. Its tasks show it, resolved or not.
        _clear(em, clear, policy, late=True)


def _assignment(
    state: IncidentState, enterprise: str, decision: RoutingDecision, now: datetime, policy: Policy
) -> Task:
    """The primary task for `enterprise`, with the decision's deadlines counted from now,
    addressed to whoever of it is on duty now."""
    return issue_task(
        state,
        enterprise,
        TaskRole.PRIMARY,
        now,
        decision=decision,
        ack_due_at=now + decision.ack_within,
        resolve_due_at=now + decision.resolve_within,
        on_duty=on_duty(policy, enterprise, state.district, now),
    )


def _clear(em: Emitter, report: AnyReport, policy: Policy, *, late: bool = False) -> None:
    """The source says the alarm is over: mark it, and resolve it if the policy says so.

    Under RESOLVE_IF_UNACKNOWLEDGED the clear resolves an incident nobody had taken on when
    the clear happened, so an acknowledgement that arrives before a clear that happened
    earlier does not keep it open.
    """
    state = em.state
    at = report.occurred_at
    untouched = state.status is IncidentStatus.OPENED or (
        state.taken_on_at is not None and at < state.taken_on_at
    )
    em.emit(SourceCleared, report=report)
    if policy.on_clear is ClearAction.RESOLVE or (
        policy.on_clear is ClearAction.RESOLVE_IF_UNACKNOWLEDGED and untouched
    ):
        if late:
            resolution = (
                f"The source cleared the alarm at {at.isoformat()} (report {report.report_id}), "
                "before the alarm arrived."
            )
        elif state.status is not IncidentStatus.OPENED:
            assert state.taken_on_at is not None, "an open incident past OPENED was taken on"
            resolution = (
                f"The source cleared the alarm at {at.isoformat()}, before it was taken on at "
                f"{state.taken_on_at.isoformat()}."
            )
        else:
            resolution = "The source cleared the alarm."
        em.emit(IncidentResolved, **_on_primary(em.state), resolution=resolution)


# --- dispatcher commands -------------------------------------------------------------------


class _Who(Enum):
    ASSIGNEE = "the assigned enterprise or the Department"
    PRIMARY = "the assigned enterprise"
    DEPARTMENT = "the Department"
    PARTICIPANT = "an enterprise with a task on the incident, or the Department"


@dataclass(frozen=True)
class _Rule:
    who: _Who
    statuses: frozenset[IncidentStatus]
    verb: str
    handle: Callable[[Emitter, Any, Policy], None]  # takes the rule's own command type


def _on_command(state: IncidentState, command: Command, now: datetime, policy: Policy) -> Decided:
    if seen_command(command.command_id) in state.seen_commands:
        return Decided(state)
    em = Emitter(
        state,
        incident_key=command.incident_key,
        cause=Cause(command_id=command.command_id),
        cause_key=f"command:{command.command_id}",
        actor=Actor(kind=ActorKind.ENTERPRISE, id=command.issued_by, person=command.dispatcher),
        now=now,
    )
    rule = _RULES[type(command)]
    refusal = _refusal(state, command, rule, policy)
    if refusal is None:
        rule.handle(em, command, policy)
    else:
        code, problem = refusal
        em.emit(
            CommandRejected,
            incident_id=state.incident_id
            or stray_incident_id(command.incident_key, command.command_id),
            command_id=command.command_id,
            command_type=command.type,
            error=ErrorBody(error=code, problems=(problem,)),
        )
    return em.decided


def _refusal(
    state: IncidentState, command: Command, rule: _Rule, policy: Policy
) -> tuple[str, Problem] | None:
    if state.incident_id is None:
        reason = f"no such incident: {command.incident_id} (this key has none)"
        return "unknown_incident", Problem(field="incident_id", reason=reason)
    if command.incident_id != state.incident_id:
        reason = f"not the current incident of this key, which is {state.incident_id}"
        return "unknown_incident", Problem(field="incident_id", reason=reason)
    if state.status not in rule.statuses:
        reason = f"cannot {rule.verb} an incident that is {state.status}"
        return "invalid_transition", Problem(field="type", reason=reason)
    if not _may_act(state, command.issued_by, rule.who, policy):
        reason = f"only {rule.who.value} may {rule.verb} this incident"
        return "forbidden", Problem(field="issued_by", reason=reason)
    if isinstance(command, ReassignIncident):
        return _bad_target(state, command.to_enterprise, policy)
    return None


def _may_act(state: IncidentState, enterprise: str, who: _Who, policy: Policy) -> bool:
    if who is _Who.PRIMARY:
        return enterprise == state.primary
    if who is _Who.DEPARTMENT:
        return enterprise == policy.department
    allowed = {policy.department, state.primary}
    return enterprise in (allowed | state.tasks.keys() if who is _Who.PARTICIPANT else allowed)


def _bad_target(state: IncidentState, target: str, policy: Policy) -> tuple[str, Problem] | None:
    if target == state.primary:
        reason = f"the incident is already assigned to {target}"
    elif policy.enterprises and target not in policy.enterprises:
        reason = f"{target} is not an enterprise of the registry"
    else:
        return None
    return "invalid_target", Problem(field="to_enterprise", reason=reason)


def _on_primary(state: IncidentState) -> dict[str, str]:
    task = state.primary_task()
    assert task is not None, "an open or resolved incident has a primary task"
    return {"task_id": task.task_id, "enterprise": task.enterprise}


def _acknowledge(em: Emitter, command: AcknowledgeIncident, policy: Policy) -> None:
    em.emit(IncidentAcknowledged, **_on_primary(em.state), note=command.note)


def _start(em: Emitter, command: StartWork, policy: Policy) -> None:
    before = em.state
    em.emit(WorkStarted, **_on_primary(before), note=command.note)
    resumed(em, before)


def _hold(em: Emitter, command: HoldIncident, policy: Policy) -> None:
    em.emit(IncidentHeld, **_on_primary(em.state), reason=command.reason, until=command.until)


def _resolve(em: Emitter, command: ResolveIncident, policy: Policy) -> None:
    em.emit(IncidentResolved, **_on_primary(em.state), resolution=command.resolution)


def _note(em: Emitter, command: AddNote, policy: Policy) -> None:
    # A note sits on the writer's own task; the Department without one writes on the assignee's.
    task = em.state.tasks.get(command.issued_by) or em.state.primary_task()
    assert task is not None, "an open or resolved incident has a primary task"
    em.emit(NoteAdded, task_id=task.task_id, enterprise=task.enterprise, text=command.text)


def _reject(em: Emitter, command: RejectIncident, policy: Policy) -> None:
    before = em.state
    em.emit(IncidentRejected, **_on_primary(before), reason=command.reason)
    successor = _next_candidate(before, command.issued_by, policy)
    if successor is None:
        em.emit(IncidentClosed, reason=f"{command.issued_by} handed it back; nobody is left.")
    else:
        _assign(em, successor, policy)


def _reassign(em: Emitter, command: ReassignIncident, policy: Policy) -> None:
    em.emit(
        IncidentReassigned,
        **_on_primary(em.state),
        to_enterprise=command.to_enterprise,
        reason=command.reason,
    )
    _assign(em, command.to_enterprise, policy)


def _next_candidate(state: IncidentState, rejector: str, policy: Policy) -> str | None:
    if policy.on_reject is RejectAction.HAND_ON:
        assert state.decision is not None, "an open incident has been routed"
        tried = {
            e
            for e, task in state.tasks.items()
            if task.status in (TaskStatus.REJECTED, TaskStatus.REASSIGNED)
        }
        for enterprise in state.decision.support:
            if enterprise not in tried and enterprise != rejector:
                return enterprise
    # The Department is the last resort; when it hands an incident back, nobody is left.
    return None if rejector == policy.department else policy.department


def _assign(em: Emitter, enterprise: str, policy: Policy) -> None:
    decision = em.state.decision
    assert decision is not None, "an open incident has been routed"
    task = _assignment(em.state, enterprise, decision, em.now, policy)
    em.emit(IncidentRouted, decision=decision, tasks=(task,))
    promise(em, task, policy)


_RULES: dict[type, _Rule] = {
    AcknowledgeIncident: _Rule(
        _Who.ASSIGNEE, frozenset({IncidentStatus.OPENED}), "acknowledge", _acknowledge
    ),
    StartWork: _Rule(
        _Who.ASSIGNEE,
        frozenset({IncidentStatus.OPENED, IncidentStatus.ACKNOWLEDGED, IncidentStatus.HELD}),
        "start work on",
        _start,
    ),
    HoldIncident: _Rule(
        _Who.ASSIGNEE,
        frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.IN_PROGRESS}),
        "hold",
        _hold,
    ),
    ResolveIncident: _Rule(_Who.ASSIGNEE, OPEN, "resolve", _resolve),
    RejectIncident: _Rule(_Who.PRIMARY, OPEN, "hand back", _reject),
    AddNote: _Rule(_Who.PARTICIPANT, OPEN | {IncidentStatus.RESOLVED}, "add a note to", _note),
    ReassignIncident: _Rule(_Who.DEPARTMENT, OPEN, "reassign", _reassign),
}
