"""The task an enterprise's dispatchers receive for an incident."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.envelope import Identifier, IncidentKey, Instant, LogModel, ShortText, Slug
from schemas.reports import ReportKind
from schemas.routing import Priority

__all__ = ["Task", "TaskRole", "TaskStatus"]


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
