"""Dispatcher actions over HTTP as `schemas.commands` commands, and what their answers mean."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.codec import decode
from schemas.commands import (
    AcknowledgeIncident,
    AddNote,
    CommandBase,
    HoldIncident,
    ReassignIncident,
    RejectIncident,
    ResolveIncident,
    StartWork,
)
from schemas.contracts import COMMAND
from schemas.errors import ContractError, ErrorBody
from services.gateway.errors import ApiError
from services.gateway.intake import parse_object

# URL verb -> the command it sends.
ACTIONS: dict[str, type[CommandBase]] = {
    "acknowledge": AcknowledgeIncident,
    "start": StartWork,
    "hold": HoldIncident,
    "resolve": ResolveIncident,
    "reject": RejectIncident,
    "notes": AddNote,
    "reassign": ReassignIncident,
}
# Filled in by the gateway from the URL, the token and its clock; never taken from the body.
SERVER_FIELDS = ("schema_version", "type", "incident_id", "incident_key", "issued_by", "issued_at")


class CommandAnswer(BaseModel):
    """What became of a command: accepted (with the events), rejected (with why) or pending."""

    command_id: str
    incident_id: str
    outcome: str
    events: list[str] = []
    error: ErrorBody | None = None


def request_schema(command: type[CommandBase]) -> dict[str, Any]:
    """The JSON Schema of an action's body: the command's own fields, command_id optional."""
    schema = command.model_json_schema()
    for name in SERVER_FIELDS:
        schema["properties"].pop(name, None)
    schema["required"] = [
        r for r in schema.get("required", ()) if r not in (*SERVER_FIELDS, "command_id")
    ]
    return schema


def build_command(
    action: str,
    body: bytes,
    *,
    incident_id: str,
    incident_key: str,
    issued_by: str,
    now: datetime,
    new_id: str,
) -> CommandBase:
    """The command an action's body asks for, validated by the shared contract (422 if not)."""
    raw = parse_object(body) if body.strip() else {}
    for name in SERVER_FIELDS:
        if name in raw:
            raise ApiError(422, "invalid_command", name, "set by the gateway; leave it out")
    raw.setdefault("command_id", new_id)
    raw |= {
        "type": ACTIONS[action].model_fields["type"].default,
        "incident_id": incident_id,
        "incident_key": incident_key,
        "issued_by": issued_by,
        "issued_at": now.isoformat(),
    }
    try:
        # COMMAND is a Contract[Any] (an annotated union); each of its members is a CommandBase.
        command: CommandBase = decode(COMMAND, json.dumps(raw, ensure_ascii=False).encode("utf-8"))
    except ContractError as error:
        raise ApiError.from_problems(422, error.code, error.problems) from None
    return command
