"""Verify's check of the router's grouping windows, as recorded in each routed report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import encode
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.auditor.checks import window_findings
from services.router import REFERENCE_RULES, load_rule_set
from services.router.grouping import Grouping
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
T0 = datetime(2007, 5, 20, 8, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=2)


def windowed():
    """An opening and an update of one storming line, as the router routes them."""
    grouping = Grouping(INTERVAL)
    sent = []
    for n, at in enumerate((T0, T0 + INTERVAL / 2, T0 + INTERVAL)):
        body = report("line_fault", f"r{n}", **{"alarmed_object.id": "L-1"})
        message = RawMessage("reports.line-fault", 0, n, 0, None, encoded(body))
        outcome = process_batch(
            [message], rules=RULES, registry=REGISTRY, now=at, grouping=grouping
        )
        sent += outcome.routed
    return sent


def test_windows_as_the_router_made_them_hold():
    opening, update = windowed()
    assert update.window.started_at == opening.window.started_at
    values = [("routed:0:0", encode(opening)), ("routed:0:1", encode(update))]
    assert list(window_findings(values)) == []


def test_a_window_stretched_past_its_interval_or_a_miscount_is_found():
    _, update = windowed()
    long = update.window.model_copy(update={"ended_at": T0 + 3 * INTERVAL})
    stretched = update.model_copy(update={"window": long, "routed_at": T0 + 3 * INTERVAL})
    miscounted = update.model_copy(update={"count": 5})
    found = list(
        window_findings([("routed:0:1", encode(stretched)), ("routed:0:2", encode(miscounted))])
    )
    assert [(f.event, f.check) for f in found] == [
        ("routed:0:1", "window"),
        ("routed:0:2", "window"),
    ]
    assert "longer than its interval" in found[0].reason
    assert "counts 5 reports and names 1" in found[1].reason


def test_messages_with_no_window_or_no_valid_contract_are_left_to_other_checks():
    opening, _ = windowed()
    plain = opening.model_copy(update={"window": None})
    assert list(window_findings([("a", encode(plain)), ("b", b'{"window":{'), ("c", None)])) == []
