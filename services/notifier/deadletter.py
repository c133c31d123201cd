"""A notification that failed at every try: what it said, where it went, and every error."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.envelope import Identifier, IncidentKey, Instant, LogModel, ShortText
from schemas.registry.rosters import ChannelKind

__all__ = ["AttemptError", "NotificationDeadLettered"]


class AttemptError(LogModel):
    """One failed try."""

    attempt: int = Field(ge=1)
    at: Instant
    detail: ShortText


class NotificationDeadLettered(LogModel):
    """The body of a record on notifications.dead-letter."""

    schema_version: Literal[1] = 1
    notification_id: Identifier
    incident_key: IncidentKey
    notification: dict[str, Any] = Field(description="The message, as the webhook's JSON body.")
    channel: ChannelKind | None = Field(description="None: the person is not in the rosters.")
    endpoint: str | None = Field(description="The URL, e-mail address or phone number tried.")
    reason: ShortText = Field(description="Why it ended here: the last error, or no person.")
    errors: tuple[AttemptError, ...] = ()
    dead_lettered_at: Instant
