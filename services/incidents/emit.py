"""Building blocks of decisions: an emitter that numbers, names and folds events, and tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from schemas.envelope import Actor, ActorKind
from schemas.lifecycle import Cause, IncidentEvent, IncidentOpened
from schemas.routing import RoutingDecision
from schemas.tasks import OnDuty, Task, TaskRole, TaskStatus
from services.incidents.ids import event_id, task_id
from services.incidents.state import LIVE_TASK, IncidentState
from services.incidents.transitions import apply

__all__ = ["Decided", "Emitter", "issue_task", "service_actor"]


@dataclass
class Decided:
    """What a decision did: its events, the state after them, the tasks they created or changed.

    Folding each event once, as it is made, gives all three; the agent sends the tasks and
    keeps the state without folding the events again.
    """

    state: IncidentState
    events: list[IncidentEvent] = field(default_factory=list)
    # By task id, each at its latest version, in the order of their first change.
    tasks: dict[str, Task] = field(default_factory=dict)

    def then(self, later: Decided) -> Decided:
        """This decision followed by `later`, which was decided from this one's state."""
        return Decided(later.state, [*self.events, *later.events], {**self.tasks, **later.tasks})


@cache  # the event classes: reading a pydantic field default is not free
def _type_name(event_type: type[IncidentEvent]) -> str:
    return str(event_type.model_fields["type"].default)


def service_actor(service: str) -> Actor:
    """The incident manager itself, as the actor of what it decides on its own."""
    return Actor(kind=ActorKind.SERVICE, id=service)


class Emitter:
    """Events of one decision: each numbered after the last, named by its cause, folded in."""

    def __init__(
        self,
        state: IncidentState,
        *,
        incident_key: str,
        cause: Cause,
        cause_key: str,
        actor: Actor,
        now: datetime,
    ) -> None:
        self.decided = Decided(state)
        self._incident_key = incident_key
        self._cause = cause
        self._cause_key = cause_key
        self._actor = actor
        self.now = now

    def emit(
        self, event_type: type[IncidentEvent], *, incident_id: str | None = None, **fields: Any
    ) -> None:
        """Add an event of the current incident (or of `incident_id`, for a new or stray one)."""
        incident_id = incident_id or self.state.incident_id
        assert incident_id is not None, "an event of no incident"
        sequence = 1 if event_type is IncidentOpened else self.state.sequence + 1
        type_name = _type_name(event_type)
        event = event_type(
            event_id=event_id(incident_id, sequence, type_name, self._cause_key),
            incident_key=self._incident_key,
            incident_id=incident_id,
            sequence=sequence,
            occurred_at=self.now,
            actor=self._actor,
            caused_by=self._cause,
            **fields,
        )
        before = self.decided.state
        # Later events of the same decision see this one: a new incident's id, a task's version.
        after = apply(before, event)
        self.decided.events.append(event)
        self.decided.state = after
        for enterprise, task in after.tasks.items():
            known = before.tasks.get(enterprise)
            if known is not task and known != task:
                self.decided.tasks[task.task_id] = task

    @property
    def state(self) -> IncidentState:
        """The state after the events emitted so far."""
        return self.decided.state

    @property
    def events(self) -> list[IncidentEvent]:
        """The events emitted so far, in order."""
        return self.decided.events


def issue_task(
    state: IncidentState,
    enterprise: str,
    role: TaskRole,
    now: datetime,
    *,
    decision: RoutingDecision,
    ack_due_at: datetime | None = None,
    resolve_due_at: datetime | None = None,
    on_duty: OnDuty | None = None,
) -> Task:
    """The task that gives `enterprise` a part in the incident: new, or its task at a new version.

    Telling an enterprise whose task is still live (an escalation reaching the assignee's own
    duty lead) re-issues that task unchanged but for its version, so its feed shows it again.
    """
    current = state.tasks.get(enterprise)
    if current is not None and role is TaskRole.NOTIFY and current.status in LIVE_TASK:
        return current.model_copy(update={"version": current.version + 1, "updated_at": now})
    fields: dict[str, Any] = {
        "role": role,
        "status": TaskStatus.OPEN,
        "ack_due_at": ack_due_at,
        "resolve_due_at": resolve_due_at,
        "updated_at": now,
        "on_duty": on_duty,
    }
    if current is not None:
        return current.model_copy(update={**fields, "version": current.version + 1})
    # Tasks are issued for an opened incident, which has all of these.
    assert state.incident_id is not None and state.incident_key is not None
    assert state.kind is not None and state.district is not None and state.summary is not None
    return Task(
        task_id=task_id(state.incident_id, enterprise),
        incident_id=state.incident_id,
        incident_key=state.incident_key,
        enterprise=enterprise,
        kind=state.kind,
        district=state.district,
        summary=state.summary,
        priority=decision.priority,
        **fields,
    )
