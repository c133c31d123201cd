"""An incident key's state: its status, tasks, deadlines and memory of what it has seen.

How events change it is in transitions.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from pydantic import Field, field_validator

from schemas.envelope import Identifier, IncidentKey, Instant, LogModel, ShortText, Slug
from schemas.errors import SignalPostError
from schemas.lifecycle import (
    DeadlineKind,
)
from schemas.reports import Report, ReportKind
from schemas.routing import RoutingDecision
from schemas.tasks import Task, TaskStatus
from services.incidents.ids import digest

__all__ = [
    "LIVE_TASK",
    "MAX_SEEN_COMMANDS",
    "MAX_SEEN_REPORTS",
    "OPEN",
    "IncidentState",
    "IncidentStateError",
    "IncidentStatus",
    "PendingDeadline",
    "as_set",
    "over_by",
    "seen_command",
    "seen_report",
]

# The last reports of a key, newest last: two full router batches (2000 reports each, a
# storm collapsed) and more, so a router or incident-manager redelivery is always known.
# Entries are 48-bit digests (a new report is taken for a known one about once in 10^10);
# a storm key's row stays under 64 KB. Older reports are forgotten: see _on_report.
MAX_SEEN_REPORTS = 4096
SEEN_REPORT_CHARS = 12
MAX_SEEN_COMMANDS = 128


class IncidentStatus(StrEnum):
    """Where an incident stands (TMF621 trouble-ticket states).

    A fresh incident is `opened` here but `open` in its tasks and the recorder's incidents
    table (`TaskStatus`); each word is stored, this one in the incident manager's changelog.
    """

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    HELD = "held"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    # Handed back and not yet given to anyone: only ever between two events of one decision,
    # since a hand-back names the next assignee at once or ends the incident.
    REJECTED = "rejected"


OPEN = frozenset(
    {
        IncidentStatus.OPENED,
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.IN_PROGRESS,
        IncidentStatus.HELD,
    }
)
LIVE_TASK = frozenset(
    {TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.HELD}
)


class IncidentStateError(SignalPostError):
    """An event does not follow the state it is applied to (a gap or a foreign timeline)."""


class PendingDeadline(LogModel):
    """A promise on the primary task that has not been kept yet, and how far it has escalated."""

    kind: DeadlineKind
    task_id: Identifier
    promised_at: Instant = Field(description="When the promise fell due (the first DeadlineSet).")
    due_at: Instant = Field(description="The latest DeadlineSet: when the next level is told.")
    level: int = Field(default=0, ge=0, description="Escalation levels told so far.")
    set_by: Identifier = Field(description="Event id of the latest DeadlineSet; a firing's cause.")
    warn_at: Instant | None = Field(
        default=None, description="When its warning goes, as its DeadlineSet wrote it."
    )
    warned: bool = Field(default=False, description="Whether the person on duty was warned.")


class IncidentState(LogModel):
    """What the incident manager keeps per incident key; exactly the fold of its events."""

    incident_key: IncidentKey | None = None
    incidents: int = Field(default=0, ge=0, description="Incidents the key has had so far.")
    incident_id: Identifier | None = None
    previous_incident_id: Identifier | None = Field(
        default=None, description="The incident this one recurs after."
    )
    status: IncidentStatus | None = None
    sequence: int = Field(default=0, ge=0, description="Last sequence of the current incident.")
    kind: ReportKind | None = None
    district: Slug | None = None
    summary: ShortText | None = None
    opened_at: Instant | None = None
    decision: RoutingDecision | None = None
    primary: Slug | None = Field(default=None, description="The enterprise assigned now.")
    tasks: dict[Slug, Task] = Field(default_factory=dict, description="By enterprise.")
    count: int = Field(default=0, ge=0, description="Distinct reports linked to the incident.")
    first_seen: Instant | None = None
    last_seen: Instant | None = None
    deadlines: tuple[PendingDeadline, ...] = ()
    escalation_level: int = Field(default=0, ge=0, description="Highest level told so far.")
    source_cleared: bool = False
    last_clear: Report | None = Field(
        default=None,
        description="The key's latest clear by when it happened, across its incidents: an alarm "
        "that happened by then is over, whenever it arrives.",
    )
    taken_on_at: Instant | None = Field(
        default=None, description="When the assignee first acknowledged or started work."
    )
    held_since: Instant | None = Field(
        default=None, description="When the current hold began; its deadlines wait meanwhile."
    )
    held_until: Instant | None = Field(
        default=None, description="When the current hold ends by itself, if it was given one."
    )
    held_by: Identifier | None = Field(default=None, description="The current hold's event.")
    resolved_at: Instant | None = None
    resolved_by: Identifier | None = Field(default=None, description="The resolving event.")
    updated_at: Instant | None = Field(
        default=None, description="When the key's last event happened; retention counts from it."
    )
    seen_reports: tuple[str, ...] = Field(default=(), description="Digests of recent reports.")
    seen_commands: tuple[str, ...] = Field(default=(), description="Digests of recent commands.")

    @field_validator("seen_reports")
    @classmethod
    def _short_digests(cls, seen: tuple[str, ...]) -> tuple[str, ...]:
        # Rows written before the digests were cut to SEEN_REPORT_CHARS still match.
        return tuple(entry[:SEEN_REPORT_CHARS] for entry in seen)

    def primary_task(self) -> Task | None:
        """The task of the enterprise assigned now, if any."""
        return self.tasks.get(self.primary) if self.primary else None


# Memory tuples recently made sets, by identity: a storm key's 4,096 digests were made a set
# again at every input and every event. A tuple is immutable and kept here, so its id is
# not reused while its entry lasts.
_SETS: dict[int, tuple[tuple[str, ...], frozenset[str]]] = {}
_SETS_KEPT = 256
_SMALL = 32  # shorter tuples are made a set at once: cheaper than looking one up


def as_set(seen: tuple[str, ...]) -> frozenset[str]:
    """A memory's entries as a set, made once per tuple for long ones."""
    if len(seen) < _SMALL:
        return frozenset(seen)
    kept = _SETS.get(id(seen))
    if kept is not None and kept[0] is seen:
        return kept[1]
    made = frozenset(seen)
    if len(_SETS) >= _SETS_KEPT:
        _SETS.clear()
    _SETS[id(seen)] = (seen, made)
    return made


@lru_cache(maxsize=65_536)  # each report is looked up at every event of its decision
def seen_report(reported_by: str, report_id: str) -> str:
    """The memory entry of a report: reports are unique per publisher."""
    return digest("report", reported_by, report_id, length=SEEN_REPORT_CHARS)


@lru_cache(maxsize=4096)
def seen_command(command_id: str) -> str:
    """The memory entry of a dispatcher command."""
    return digest("command", command_id, length=16)


def over_by(state: IncidentState, at: datetime) -> bool:
    """Whether an alarm that happened at `at` was over by the key's latest clear."""
    return state.last_clear is not None and at <= state.last_clear.occurred_at
