"""Commands dispatchers send about an incident; the incident manager accepts or rejects each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.envelope import (
    Identifier,
    InboundModel,
    IncidentKey,
    Instant,
    LongText,
    Reason,
    ShortText,
    Slug,
)

__all__ = [
    "AcknowledgeIncident",
    "AddNote",
    "Command",
    "CommandBase",
    "HoldIncident",
    "ReassignIncident",
    "RejectIncident",
    "ResolveIncident",
    "StartWork",
]


class CommandBase(InboundModel):
    """Fields every dispatcher command carries."""

    # Unlike reports, commands are built by SignalPost's own dispatch API and CLI, which
    # always speak the current version, so the version may be left out.
    schema_version: Literal[1] = 1
    command_id: Identifier = Field(description="Chosen by the sender; a resend is a retry.")
    incident_id: Identifier
    incident_key: IncidentKey = Field(
        description="The incident's key, as on the task; incidents.commands is keyed by it so "
        "that a command meets the incident's state on the same partition."
    )
    issued_by: Slug = Field(description="Registry id of the dispatcher's enterprise.")
    issued_at: Instant
    dispatcher: ShortText | None = Field(default=None, description="Name of the person.")


class AcknowledgeIncident(CommandBase):
    """The enterprise has seen the task and takes it on."""

    type: Literal["acknowledge_incident"] = "acknowledge_incident"
    note: LongText = ""


class StartWork(CommandBase):
    """Work on the incident has started."""

    type: Literal["start_work"] = "start_work"
    note: LongText = ""


class HoldIncident(CommandBase):
    """Work waits on something outside the enterprise's control."""

    type: Literal["hold_incident"] = "hold_incident"
    reason: Reason
    until: Instant | None = Field(default=None, description="When work should resume.")

    @model_validator(mode="after")
    def _until_after_issue(self) -> HoldIncident:
        if self.until is not None and self.until <= self.issued_at:
            raise PydanticCustomError(
                "hold_in_past", "until must be after issued_at", {"field": "until"}
            )
        return self


class ResolveIncident(CommandBase):
    """The fault is repaired or the item dealt with."""

    type: Literal["resolve_incident"] = "resolve_incident"
    resolution: Reason


class RejectIncident(CommandBase):
    """The incident is not this enterprise's to handle."""

    type: Literal["reject_incident"] = "reject_incident"
    reason: Reason


class AddNote(CommandBase):
    """A note for the incident's timeline."""

    type: Literal["add_note"] = "add_note"
    text: Reason


class ReassignIncident(CommandBase):
    """Hand the incident to another enterprise."""

    type: Literal["reassign_incident"] = "reassign_incident"
    to_enterprise: Slug
    reason: Reason


Command = Annotated[
    AcknowledgeIncident
    | StartWork
    | HoldIncident
    | ResolveIncident
    | RejectIncident
    | AddNote
    | ReassignIncident,
    Field(discriminator="type"),
]
