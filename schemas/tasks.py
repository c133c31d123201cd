"""The task an enterprise's dispatchers receive for an incident."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.envelope import (
    ContentHash,
    Identifier,
    IncidentKey,
    Instant,
    LogModel,
    ShortText,
    Slug,
)
from schemas.reports import ReportKind
from schemas.routing import Priority

__all__ = ["OnDuty", "PersonRef", "Task", "TaskRole", "TaskStatus"]


class TaskRole(StrEnum):
    """Why the enterprise has the task: it must handle it, is told of it, or is asked to help."""

    PRIMARY = "primary"
    NOTIFY = "notify"
    SUPPORT = "support"


class TaskStatus(StrEnum):
    """Where the task stands (after TMF621 trouble-ticket states)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    HELD = "held"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class PersonRef(LogModel):
    """A person of an enterprise's duty roster, by id and name."""

    enterprise: Slug
    id: Slug
    name: ShortText


class OnDuty(LogModel):
    """Who of the enterprise was on duty for the task when it was issued, by which roster."""

    team: Slug
    team_name: ShortText
    person: PersonRef
    lead: PersonRef = Field(description="The shift lead: the first step of an escalation.")
    roster_version: ContentHash


class Task(LogModel):
    """One enterprise's share of one incident, as its dispatchers see it."""

    schema_version: Literal[1] = 1
    task_id: Identifier
    incident_id: Identifier
    incident_key: IncidentKey
    enterprise: Slug = Field(description="Enterprise whose dispatchers see the task.")
    role: TaskRole
    kind: ReportKind
    district: Slug
    summary: ShortText
    priority: Priority
    ack_due_at: Instant | None = Field(default=None, description="None for notify tasks.")
    resolve_due_at: Instant | None = None
    status: TaskStatus = TaskStatus.OPEN
    version: int = Field(default=1, ge=1, description="Grows by one with every change.")
    updated_at: Instant
    on_duty: OnDuty | None = Field(
        default=None,
        description="The team and person on duty when the task was issued; none when the "
        "enterprise keeps no roster (and in tasks of older incident managers).",
    )
