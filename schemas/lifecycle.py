"""Incident lifecycle events: the append-only log on `incidents.events`, one union on `type`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.envelope import (
    Actor,
    Identifier,
    IncidentKey,
    Instant,
    LogModel,
    LongText,
    Reason,
    ReportRef,
    ShortText,
    Slug,
)
from schemas.errors import ErrorBody
from schemas.reports import Report
from schemas.routing import Priority, RoutingDecision
from schemas.tasks import PersonRef, Task

__all__ = [
    "Cause",
    "CommandRejected",
    "DeadlineKind",
    "DeadlineSet",
    "DeadlineWarned",
    "DuplicateLinked",
    "IncidentAcknowledged",
    "IncidentCancelled",
    "IncidentClosed",
    "IncidentEscalated",
    "IncidentEvent",
    "IncidentEventBase",
    "IncidentHeld",
    "IncidentOpened",
    "IncidentReassigned",
    "IncidentRejected",
    "IncidentResolved",
    "IncidentRouted",
    "NoteAdded",
    "SourceCleared",
    "TaskEventBase",
    "WorkStarted",
]


class Cause(LogModel):
    """What made an event happen: reports, a dispatcher command, or an earlier event (a timer)."""

    reports: tuple[ReportRef, ...] = ()
    command_id: Identifier | None = None
    event_id: Identifier | None = None

    @model_validator(mode="after")
    def _names_something(self) -> Cause:
        # An auditor must be able to follow every event back to what caused it.
        if not self.reports and self.command_id is None and self.event_id is None:
            raise ValueError("names no report, command or event")
        return self


class DeadlineKind(StrEnum):
    """Which promise a deadline stands for."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class IncidentEventBase(LogModel):
    """Fields every lifecycle event carries."""

    schema_version: Literal[1] = 1
    event_id: Identifier = Field(description="Unique; recording the same id twice is a no-op.")
    incident_key: IncidentKey
    incident_id: Identifier
    sequence: int = Field(ge=1, description="Position in the incident's timeline, from 1.")
    occurred_at: Instant
    actor: Actor
    caused_by: Cause


class TaskEventBase(IncidentEventBase):
    """A lifecycle event about one enterprise's task."""

    task_id: Identifier
    enterprise: Slug


class IncidentOpened(IncidentEventBase):
    """A report started a new incident."""

    type: Literal["incident_opened"] = "incident_opened"
    report: Report
    summary: ShortText


class DuplicateLinked(IncidentEventBase):
    """A report about an already open incident was linked to it instead of opening another."""

    type: Literal["duplicate_linked"] = "duplicate_linked"
    report: Report


class IncidentRouted(IncidentEventBase):
    """The incident was given to enterprises as tasks."""

    type: Literal["incident_routed"] = "incident_routed"
    decision: RoutingDecision
    tasks: tuple[Task, ...] = Field(min_length=1)


class DeadlineSet(TaskEventBase):
    """A deadline was set; timers are rebuilt from these after a restart."""

    type: Literal["deadline_set"] = "deadline_set"
    deadline: DeadlineKind
    due_at: Instant
    warn_at: Instant | None = Field(
        default=None,
        description="When the person on duty is warned that the deadline is near; none: no "
        "warning (a later level, or an older incident manager).",
    )


class DeadlineWarned(TaskEventBase):
    """A deadline is about to be missed: the person on duty is warned before the breach."""

    type: Literal["deadline_warned"] = "deadline_warned"
    deadline: DeadlineKind
    due_at: Instant
    told: tuple[PersonRef, ...] = ()
    priority: Priority | None = None
    summary: ShortText | None = None


class IncidentAcknowledged(TaskEventBase):
    """The enterprise took the task on."""

    type: Literal["incident_acknowledged"] = "incident_acknowledged"
    note: LongText = ""


class WorkStarted(TaskEventBase):
    """Work on the task is in progress."""

    type: Literal["work_started"] = "work_started"
    note: LongText = ""


class IncidentHeld(TaskEventBase):
    """Work waits on something outside the enterprise's control."""

    type: Literal["incident_held"] = "incident_held"
    reason: Reason
    until: Instant | None = None


class IncidentEscalated(IncidentEventBase):
    """A deadline passed and the next level of the escalation chain was told."""

    type: Literal["incident_escalated"] = "incident_escalated"
    level: int = Field(ge=1)
    deadline: DeadlineKind
    notified: tuple[Slug, ...] = Field(min_length=1)
    reason: Reason
    told: tuple[PersonRef, ...] = Field(
        default=(),
        description="The people told, from the rosters in force: the assignee's shift lead "
        "first, then whoever is on duty at each enterprise the chain names.",
    )
    priority: Priority | None = Field(default=None, description="The incident's priority.")
    summary: ShortText | None = Field(default=None, description="The incident's one line.")


class IncidentReassigned(TaskEventBase):
    """The task moved from `enterprise` to `to_enterprise`."""

    type: Literal["incident_reassigned"] = "incident_reassigned"
    to_enterprise: Slug
    reason: Reason


class IncidentRejected(TaskEventBase):
    """The enterprise says the incident is not its to handle."""

    type: Literal["incident_rejected"] = "incident_rejected"
    reason: Reason


class NoteAdded(TaskEventBase):
    """A dispatcher added a note to the timeline."""

    type: Literal["note_added"] = "note_added"
    text: Reason


class SourceCleared(IncidentEventBase):
    """The source sent a clearing alarm (severity `cleared`): the fault is gone at the source."""

    type: Literal["source_cleared"] = "source_cleared"
    report: Report


class IncidentResolved(TaskEventBase):
    """The enterprise repaired the fault or dealt with the item."""

    type: Literal["incident_resolved"] = "incident_resolved"
    resolution: Reason


class IncidentClosed(IncidentEventBase):
    """The incident is over; nothing more will happen to it."""

    type: Literal["incident_closed"] = "incident_closed"
    reason: Reason


class IncidentCancelled(IncidentEventBase):
    """The incident should not have existed (a false alarm, a report sent in error)."""

    type: Literal["incident_cancelled"] = "incident_cancelled"
    reason: Reason


class CommandRejected(IncidentEventBase):
    """A dispatcher command could not be applied; the error says why, in the shared shape."""

    type: Literal["command_rejected"] = "command_rejected"
    command_id: Identifier
    command_type: ShortText
    error: ErrorBody


IncidentEvent = Annotated[
    IncidentOpened
    | DuplicateLinked
    | IncidentRouted
    | DeadlineSet
    | DeadlineWarned
    | IncidentAcknowledged
    | WorkStarted
    | IncidentHeld
    | IncidentEscalated
    | IncidentReassigned
    | IncidentRejected
    | NoteAdded
    | SourceCleared
    | IncidentResolved
    | IncidentClosed
    | IncidentCancelled
    | CommandRejected,
    Field(discriminator="type"),
]
