"""Explanations for rule authors: text and JSON of how a report was routed, and a file dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.kinds import incident_key
from schemas.registry import Registry, load_registry
from schemas.reports import AnyReport
from services.router.engine import Explanation, RuleOutcome, explain
from services.router.loading import REFERENCE_RULES, load_rule_set
from services.router.ruleset import RuleSet

__all__ = ["explain_file", "explain_report", "explanation_to_dict", "render_explanation"]

_MARK = {
    RuleOutcome.DECIDED: "=>",
    RuleOutcome.ADDED: "+ ",
    RuleOutcome.NOT_MATCHED: "- ",
    RuleOutcome.NOT_TRIED: "  ",
}


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    """The explanation as a JSON-serialisable dict (what `route --explain --json` prints)."""
    report = explanation.report
    return {
        "report": {
            "kind": report.kind,
            "reported_by": report.reported_by,
            "report_id": report.report_id,
            "occurred_at": report.occurred_at.isoformat(),
            "incident_key": incident_key(report),
        },
        "ruleset_version": explanation.ruleset_version,
        "active_periods": sorted(explanation.active_periods),
        "matched": [rule.id for rule in explanation.matched],
        "rules": [
            {
                "id": trial.rule.id,
                "line": trial.rule.line,
                "description": trial.rule.description,
                "continue": trial.rule.continues,
                "outcome": trial.outcome.value,
                "why_not": list(trial.why_not(report)),
            }
            for trial in explanation.trials
        ],
        "decision": explanation.decision.model_dump(mode="json"),
    }


def explain_report(report: AnyReport, rules: RuleSet, registry: Registry) -> dict[str, Any]:
    """How `rules` route `report`, as `route --explain --json` prints it; NoRuleMatched if none."""
    return explanation_to_dict(explain(report, rules, registry, rules.calendar))


def render_explanation(explanation: Explanation) -> str:
    """The explanation as text: matched rules, every rule tried and why not, the decision."""
    data = explanation_to_dict(explanation)
    report, decision = data["report"], data["decision"]
    lines = [
        f"report {report['reported_by']}/{report['report_id']} ({report['kind']}),"
        f" occurred {report['occurred_at']}, incident key {report['incident_key']}",
        f"rule set {data['ruleset_version']}",
        f"periods active at occurred_at: {', '.join(data['active_periods']) or 'none'}",
        f"matched: {', '.join(data['matched'])}",
        "",
        "rules tried, in order (=> decided, + added, - not matched):",
    ]
    for trial, rule in zip(explanation.trials, data["rules"], strict=True):
        suffix = " (continue)" if rule["continue"] else ""
        lines.append(f"  {_MARK[trial.outcome]} {rule['id']}{suffix}, line {rule['line']}")
        if trial.outcome is not RuleOutcome.NOT_TRIED:
            lines.extend(f"       {why}" for why in rule["why_not"])
    lines += ["", "decision:"]
    lines += [f"  {name}: {_text(value)}" for name, value in decision.items() if name != "reasons"]
    lines += ["  reasons:", *(f"    - {reason}" for reason in decision["reasons"])]
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "; ".join(
            f"level {v['level']} after {v['after']}: {', '.join(v['notify'])}" for v in value
        )
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return str(value)


def explain_file(report_path: Path, rules_path: Path | None = None, as_json: bool = False) -> str:
    """Dry run of one report file against a rule file (default: the reference rules).

    Reads the report and the reference registry; ContractError and RuleSetError propagate.
    """
    report = decode(REPORT, Path(report_path).read_bytes())
    registry = load_registry()
    rules = load_rule_set(rules_path or REFERENCE_RULES, registry)
    if as_json:
        return json.dumps(explain_report(report, rules, registry), ensure_ascii=False, indent=2)
    return render_explanation(explain(report, rules, registry, rules.calendar))
