"""Routed reports as the router makes them, and lifecycle events read back from a topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage

REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)


def routed(
    report_id: str, line: str, *, ack_within: timedelta | None = None, severity: str = "major"
):
    """A routed report as the router makes it, optionally with a short ack deadline."""
    fields = {"alarmed_object.id": line, "perceived_severity": severity}
    raw = encoded(report("line_fault", report_id, **fields))
    message = RawMessage("reports.line-fault", 0, 0, 1179640000000, None, raw)
    (result,) = process_batch(
        [message], rules=RULES, registry=REGISTRY, now=datetime.now(UTC)
    ).routed
    if ack_within is not None:
        decision = result.decision.model_copy(update={"ack_within": ack_within})
        result = result.model_copy(update={"decision": decision})
    return result


def events_of(records) -> list:
    """The lifecycle events in Kafka records, decoded."""
    return [decode(INCIDENT_EVENT, r.value) for r in records]
