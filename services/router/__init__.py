"""The router's public surface: rule sets, routing, decision cache, incident keys, storms."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from schemas.kinds import incident_key
from services.router.decisions import DecisionCache
from services.router.engine import NoRuleMatched, route
from services.router.explain import explain_file, explain_report
from services.router.loading import REFERENCE_RULES, load_rule_set
from services.router.problems import RuleSetError
from services.router.ruleset import RuleSet
from services.router.storm import collapse

if TYPE_CHECKING:
    from services.router.intake import process_batch, routed_report
    from services.router.service import Router
    from services.router.settings import RouterSettings

__all__ = [
    "REFERENCE_RULES",
    "DecisionCache",
    "NoRuleMatched",
    "Router",
    "RouterSettings",
    "RuleSet",
    "RuleSetError",
    "collapse",
    "explain_file",
    "explain_report",
    "incident_key",
    "load_rule_set",
    "process_batch",
    "route",
    "routed_report",
]

# Their modules import the Kafka client (through the topic catalog) or pydantic-settings; a
# caller of the pure core alone (rule sets, routing, storms) loads neither.
_ON_FIRST_USE = {
    "services.router.intake": ("process_batch", "routed_report"),
    "services.router.service": ("Router",),
    "services.router.settings": ("RouterSettings",),
}


def __getattr__(name: str) -> Any:
    """A name of `_ON_FIRST_USE`, imported from its module the first time it is asked for."""
    module = next((m for m, names in _ON_FIRST_USE.items() if name in names), None)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
