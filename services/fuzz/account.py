"""Which fuzz inputs have an outcome: routed or linked, dead-lettered, or answered. Pure."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.auditor import identity
from services.fuzz.hostile import FuzzInput
from services.runtime.topics import INCIDENT_COMMANDS

Position = tuple[str, int, int]


@dataclass(frozen=True)
class Sent:
    """An input as the broker took it (catalog topic, prefixed topic, partition, offset)."""

    input: FuzzInput
    position: Position

    @property
    def is_command(self) -> bool:
        return self.input.target == INCIDENT_COMMANDS


@dataclass(frozen=True)
class Outcomes:
    """What the recorded history says happened to messages: read from PostgreSQL."""

    dead_letters: set[Position]
    reports: set[tuple[str, str]]  # (reported_by, report_id) some incident event names
    commands: set[str]  # command ids some incident event names


@dataclass
class Tally:
    """The figures of one fuzz run."""

    kafka: int = 0
    http: Counter[int] = field(default_factory=Counter)  # answers by status
    labels: Counter[str] = field(default_factory=Counter)
    unaccounted: list[Sent] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # HTTP inputs answered 5xx


def command_id(value: bytes | None) -> str | None:
    """The command id a command message names, as far as it can be read."""
    try:
        body = json.loads(value or b"")
    except (ValueError, RecursionError):
        return None
    found = body.get("command_id") if isinstance(body, dict) else None
    return found if isinstance(found, str) else None


def has_outcome(sent: Sent, outcomes: Outcomes) -> bool:
    """True when the history shows what became of `sent`."""
    if sent.position in outcomes.dead_letters:
        return True
    if sent.is_command:
        return command_id(sent.input.value) in outcomes.commands
    return identity(sent.input.value) in outcomes.reports


def unaccounted(sent: Iterable[Sent], outcomes: Outcomes) -> list[Sent]:
    """The inputs with no outcome in the history (yet)."""
    return [s for s in sent if not has_outcome(s, outcomes)]
