"""How the incident manager treats hand-backs, clears and closing: deployment choices, as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from schemas.registry import EnterpriseKind, Registry, RosterHistory, Rosters, rosters_at

__all__ = ["ClearAction", "Policy", "RejectAction"]


class RejectAction(StrEnum):
    """Where an incident goes when its assignee hands it back."""

    # The decision's supporters not yet tried, in order, then the Department.
    HAND_ON = "hand_on"
    # Straight up to the Department, which reassigns it.
    TO_DEPARTMENT = "to_department"


class ClearAction(StrEnum):
    """What a clearing alarm (severity `cleared`) does to an open incident."""

    RESOLVE = "resolve"
    CONFIRM = "confirm"
    # A transient alarm nobody took on is over when its source says so; once a dispatcher has
    # acknowledged, only they know whether the repair is done, so they confirm.
    RESOLVE_IF_UNACKNOWLEDGED = "resolve_if_unacknowledged"


@dataclass(frozen=True)
class Policy:
    """The incident manager's deployment choices; the Department is whoever supervises."""

    department: str
    on_reject: RejectAction = RejectAction.HAND_ON
    on_clear: ClearAction = ClearAction.RESOLVE_IF_UNACKNOWLEDGED
    close_after: timedelta = timedelta(hours=24)
    # How long a key whose incident is over stays in the hot state after its last event.
    retention: timedelta = timedelta(days=7)
    service: str = "incident-manager"
    # Known enterprise ids, to refuse reassigning to a feed nobody reads; empty: not checked.
    enterprises: frozenset[str] = field(default_factory=frozenset)
    # The duty rosters in force over time; empty: tasks name no one.
    rosters: RosterHistory = ()
    # How long before a deadline the person on duty is warned: this, or a fifth of the time
    # the deadline allows when that is shorter; None: no warnings.
    warn_before: timedelta | None = None

    def rosters_at(self, at: datetime) -> Rosters | None:
        """The rosters in force at `at`."""
        return rosters_at(self.rosters, at)

    @classmethod
    def from_registry(cls, registry: Registry, **choices: Any) -> Policy:
        """The policy for a registry: its one supervisor is the Department."""
        supervisors = registry.of_kind(EnterpriseKind.SUPERVISOR)
        if len(supervisors) != 1:
            raise ValueError(f"the registry must have one supervisor, not {len(supervisors)}")
        return cls(
            department=supervisors[0].id,
            enterprises=frozenset(e.id for e in registry.enterprises),
            **choices,
        )
