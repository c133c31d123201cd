"""Notifications: every attempt to tell a person of a task, by which channel, and how it went."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.envelope import Identifier, IncidentKey, Instant, LogModel, ShortText, Slug
from schemas.registry.rosters import ChannelKind
from schemas.routing import Priority
from schemas.tasks import PersonRef

__all__ = ["DeliveryOutcome", "NotificationAttempted", "NotificationReason"]


class NotificationReason(StrEnum):
    """What the person is told of."""

    NEW_TASK = "new_task"
    DEADLINE_WARNING = "deadline_warning"
    ESCALATION = "escalation"
    REASSIGNMENT = "reassignment"


class DeliveryOutcome(StrEnum):
    """How one attempt ended."""

    DELIVERED = "delivered"
    FAILED = "failed"  # it will be tried again
    DEAD_LETTERED = "dead_lettered"  # the last try failed: the message is on the dead letters
    SUPPRESSED = "suppressed"  # not sent, by the person's preferences or quiet hours (never P1)


class NotificationAttempted(LogModel):
    """One attempt to deliver one notification; the notification id is its idempotency key."""

    schema_version: Literal[1] = 1
    attempt_id: Identifier = Field(description="Unique: the notification id and the attempt.")
    notification_id: Identifier = Field(
        description="The same on every retry; receivers drop a second delivery of one id."
    )
    attempt: int = Field(ge=1)
    reason: NotificationReason
    incident_key: IncidentKey
    incident_id: Identifier
    task_id: Identifier | None = None
    enterprise: Slug
    person: PersonRef
    channel: ChannelKind
    address: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    priority: Priority
    caused_by: Identifier = Field(description="The lifecycle event the notification tells of.")
    caused_at: Instant = Field(description="When that event happened: latency counts from it.")
    attempted_at: Instant = Field(description="When the try ended: latency counts to it.")
    outcome: DeliveryOutcome
    detail: ShortText | None = Field(
        default=None, description="The receiver's answer, the error, or why it was suppressed."
    )
