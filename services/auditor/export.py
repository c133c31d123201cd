"""Pure: the report's figures and charts as JSON-able values (the gateway's `GET /v1/report`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from schemas.kinds import KIND
from schemas.registry import Registry
from services.auditor.charts import report_charts
from services.auditor.figures import ALL, Figures, Row


def figures_json(f: Figures, registry: Registry) -> dict[str, Any]:
    """The figures, their rows labelled from the registry, and the charts' SVG text."""
    overall = next(r for r in f.rows if r.dimension == ALL)
    return {
        "since": _iso(f.since),
        "until": _iso(f.until),
        "at": f.at.isoformat(),
        "totals": {
            "incidents": overall.incidents,
            "open": overall.open,
            "resolved": overall.resolved,
            "cancelled": overall.cancelled,
            "acknowledged": overall.acknowledged,
            "deadlines": overall.deadlines,
            "breaches": overall.breached,
            "escalations": overall.escalations,
        },
        "rows": [row_json(r, registry) for r in f.rows],
        "dead_letters": [
            {"stage": stage, "topic": topic, "error": error, "count": n}
            for stage, topic, error, n in f.dead_letters
        ],
        "escalations": [
            {"level": level, "deadline": deadline, "count": n}
            for level, deadline, n in f.escalations
        ],
        "delivery": [asdict(d) for d in f.delivery],
        "charts": report_charts(f),
    }


def row_json(r: Row, registry: Registry) -> dict[str, Any]:
    """One row, durations in seconds, shares of deadlines met from 0 to 1 (None: no deadline)."""
    return {
        "dimension": r.dimension,
        "value": r.value,
        "label": label(r.dimension, r.value, registry),
        "incidents": r.incidents,
        "open": r.open,
        "cancelled": r.cancelled,
        "acknowledged": r.acknowledged,
        "resolved": r.resolved,
        "mtta_p50_s": r.mtta_p50_s,
        "mtta_p90_s": r.mtta_p90_s,
        "mttr_p50_s": r.mttr_p50_s,
        "mttr_p90_s": r.mttr_p90_s,
        "ack_deadlines": r.ack_deadlines,
        "ack_breaches": r.ack_breached,
        "ack_met_share": r.ack_compliance,
        "resolve_deadlines": r.resolve_deadlines,
        "resolve_breaches": r.resolve_breached,
        "resolve_met_share": r.resolve_compliance,
        "deadlines": r.deadlines,
        "breaches": r.breached,
        "met_share": r.compliance,
        "escalations": r.escalations,
    }


def label(dimension: str, value: str, registry: Registry) -> str:
    """A row's value as people say it: the registry's name, the kind's label; else the value."""
    if dimension == ALL:
        return "all incidents"
    if dimension == "kind":
        spec = KIND.get(value)
        return spec.label if spec else value
    named = registry.enterprise(value) if dimension == "enterprise" else registry.district(value)
    return named.name if named else value


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
