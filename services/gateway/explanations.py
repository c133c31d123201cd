"""Why an incident went where it did: the router's explanation of its opening report."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.registry import Registry
from services.router import (
    NoRuleMatched,
    RouterSettings,
    RuleSet,
    RuleSetError,
    explain_report,
    load_rule_set,
)

# The router's rule file as last loaded, by path and modification time: the router reloads
# a changed file, so a changed file is read again here too.
_loaded: dict[tuple[Path, int], RuleSet | str] = {}


def router_rules(registry: Registry) -> RuleSet | str:
    """The rule set the router uses (its SIGNALPOST_ROUTER_RULES_FILE), or why it cannot be read."""
    path = RouterSettings().router_rules_file
    try:
        key = (path, path.stat().st_mtime_ns)
    except OSError as error:
        return f"the router's rule file {path} cannot be read: {error}"
    if key not in _loaded:
        try:
            _loaded[key] = load_rule_set(path, registry)
        except (RuleSetError, OSError) as error:
            _loaded[key] = f"the router's rule file {path} does not load: {error}"
    return _loaded[key]


def explanation_for(
    events: Sequence[Mapping[str, Any]], registry: Registry
) -> tuple[dict[str, Any] | None, str | None]:
    """(`route --explain --json` of the opening report, None) or (None, why there is none)."""
    opened = next((e for e in events if e["type"] == "incident_opened"), None)
    routed = next((e for e in events if e["type"] == "incident_routed"), None)
    if opened is None or routed is None:
        return None, "the incident's opening and routing are not both recorded"
    rules = router_rules(registry)
    if isinstance(rules, str):
        return None, rules
    wanted = routed["decision"]["ruleset_version"]
    if rules.version != wanted:
        return None, f"routed with rule set {wanted}; the router's rules are now {rules.version}"
    report = decode(REPORT, json.dumps(opened["report"]).encode())
    try:
        return explain_report(report, rules, registry), None
    except NoRuleMatched as error:
        return None, str(error)
