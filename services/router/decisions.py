"""Decisions remembered for reports that differ only in what routing never reads.

Alarms repeat: the same line flaps, a storm goes on for many batches. Routing reads a
report's kind, places, parties, classes and severities, and the calendar periods its
occurred_at falls in, never its ids, exact times or free text; so a report equal to an
earlier one in everything else gets the earlier decision without being routed again.
tests/unit/router/test_router_decisions.py holds the engine to that.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from schemas.registry import Registry
from schemas.reports import AnyReport
from schemas.routing import RoutingDecision
from services.router.engine import route
from services.router.ruleset import RuleSet

IGNORED_BY_ROUTING = frozenset(
    {"report_id", "schema_version", "occurred_at", "reported_at", "received_at", "description"}
)

# Rule set version, registry version, active periods, and the report's fields that route.
_Key = tuple[str, str, frozenset[str], tuple[tuple[str, Any], ...]]


class DecisionCache:
    """A bounded memo in front of route(); the same answers, fewer evaluations."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._decisions: OrderedDict[_Key, RoutingDecision] = OrderedDict()

    def decide(self, report: AnyReport, rules: RuleSet, registry: Registry) -> RoutingDecision:
        """route(report, ...) as it was, or would be, for an equal report."""
        key: _Key = (
            rules.version,
            registry.version,
            rules.calendar.active_at(report.occurred_at),
            # Frozen models hash by value: their fields stand for the report, cheaper than JSON.
            tuple(item for item in report.__dict__.items() if item[0] not in IGNORED_BY_ROUTING),
        )
        decision = self._decisions.get(key)
        if decision is not None:
            self.hits += 1
            self._decisions.move_to_end(key)
            return decision
        self.misses += 1
        decision = route(report, rules, registry, rules.calendar)
        self._decisions[key] = decision
        if len(self._decisions) > self.size:
            self._decisions.popitem(last=False)
        return decision
