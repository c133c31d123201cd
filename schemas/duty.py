"""The event recorded when duty rosters come into force, so that replay knows who was on duty."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.envelope import Actor, ContentHash, Identifier, Instant, LogModel, ShortText

__all__ = ["RosterActivated"]


class RosterActivated(LogModel):
    """The rosters (by content hash) came into force; the content rides along for replay."""

    schema_version: Literal[1] = 1
    event_id: Identifier
    roster_version: ContentHash
    registry_version: ContentHash
    activated_at: Instant
    source: ShortText = Field(description="The folder the rosters were read from.")
    actor: Actor
    rosters: dict[str, Any] = Field(
        description="The validated rosters as JSON (`Rosters`), so that the log alone gives "
        "back who was on duty for any recorded task."
    )
