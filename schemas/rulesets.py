"""The event recorded when a routing rule set becomes active, so decisions can be replayed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Actor, ContentHash, Identifier, Instant, LogModel, ShortText

__all__ = ["RuleSetActivated"]


class RuleSetActivated(LogModel):
    """A rule set (by content hash) became active, with the registry it was checked against."""

    schema_version: Literal[1] = 1
    event_id: Identifier
    ruleset_version: ContentHash
    registry_version: ContentHash
    activated_at: Instant
    source_file: ShortText
    actor: Actor
    rules_text: str | None = Field(
        default=None,
        max_length=131_072,
        description="The rule file's text as it was put in force, so that the log alone gives "
        "back the rules of any recorded decision (absent from events of older routers).",
    )
