"""The catalog of public contracts: each with a name, its error code and a pydantic adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from schemas.commands import Command
from schemas.deadletter import DeadLetter
from schemas.duty import RosterActivated
from schemas.errors import ContractError, ErrorBody, Problem, problems_from
from schemas.kinds import REPORT_KINDS
from schemas.lifecycle import IncidentEvent
from schemas.notifications import NotificationAttempted
from schemas.reports import Report
from schemas.routing import RoutedReport, RoutingDecision
from schemas.rulesets import RuleSetActivated
from schemas.tasks import Task

__all__ = [
    "CATALOG",
    "COMMAND",
    "CONTRACT_OF_KIND",
    "DEAD_LETTER",
    "ERROR_BODY",
    "INCIDENT_EVENT",
    "KIND_CONTRACTS",
    "NOTIFICATION_ATTEMPTED",
    "REPORT",
    "ROSTER_ACTIVATED",
    "ROUTED_REPORT",
    "ROUTING_DECISION",
    "RULESET_ACTIVATED",
    "TASK",
    "Contract",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Contract(Generic[T]):
    """A message type on the wire: a name (file name, upcaster key), error code and validator."""

    name: str
    type_: Any
    error_code: str
    # Set for a union discriminated on this field: upcasters are then keyed by the tag's value,
    # and problem paths start inside the chosen member.
    union_tag: str | None = None
    adapter: TypeAdapter[T] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.type_))

    def upcaster_key(self, raw: dict[str, Any]) -> Any:
        """The key old versions of this message are upcast under: its tag value, or its name."""
        return raw.get(self.union_tag) if self.union_tag else self.name

    def error(self, problems: tuple[Problem, ...]) -> ContractError:
        """A contract error with this contract's code."""
        return ContractError(self.error_code, problems)

    def invalid(self, error: ValidationError) -> ContractError:
        """A pydantic failure as this contract's error, paths as the publisher wrote them."""
        return self.error(problems_from(error, union_tag=self.union_tag))


REPORT: Contract[Any] = Contract("report", Report, "invalid_report", union_tag="kind")
# One contract per kind of the table (schemas/kinds.py), named by its tag.
KIND_CONTRACTS: tuple[Contract[Any], ...] = tuple(
    Contract[Any](spec.kind.value, spec.model, "invalid_report") for spec in REPORT_KINDS
)
CONTRACT_OF_KIND: Mapping[str, Contract[Any]] = {c.name: c for c in KIND_CONTRACTS}
COMMAND: Contract[Any] = Contract("command", Command, "invalid_command", union_tag="type")
INCIDENT_EVENT: Contract[Any] = Contract(
    "incident_event", IncidentEvent, "invalid_event", union_tag="type"
)
ROUTED_REPORT = Contract[RoutedReport]("routed_report", RoutedReport, "invalid_routed_report")
ROUTING_DECISION = Contract[RoutingDecision](
    "routing_decision", RoutingDecision, "invalid_routing_decision"
)
TASK = Contract[Task]("task", Task, "invalid_task")
DEAD_LETTER = Contract[DeadLetter]("dead_letter", DeadLetter, "invalid_dead_letter")
RULESET_ACTIVATED = Contract[RuleSetActivated](
    "ruleset_activated", RuleSetActivated, "invalid_ruleset_activated"
)
ROSTER_ACTIVATED = Contract[RosterActivated](
    "roster_activated", RosterActivated, "invalid_roster_activated"
)
NOTIFICATION_ATTEMPTED = Contract[NotificationAttempted](
    "notification_attempted", NotificationAttempted, "invalid_notification_attempted"
)
ERROR_BODY = Contract[ErrorBody]("error", ErrorBody, "invalid_error")

CATALOG: tuple[Contract[Any], ...] = (
    REPORT,
    *KIND_CONTRACTS,
    COMMAND,
    INCIDENT_EVENT,
    ROUTED_REPORT,
    ROUTING_DECISION,
    TASK,
    DEAD_LETTER,
    RULESET_ACTIVATED,
    ROSTER_ACTIVATED,
    NOTIFICATION_ATTEMPTED,
    ERROR_BODY,
)
