"""Routing ignores ids, exact times and free text, which is what lets decisions be remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.example_reports import TOPIC_OF_KIND, encoded, report
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set
from services.router.decisions import DecisionCache
from services.router.engine import route

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
DISTRICTS = [d.id for d in REGISTRY.districts]
MAY_2007 = datetime(2007, 5, 1, tzinfo=UTC)


def make(kind: str, district: str, occurred: datetime, report_id: str, text: str):
    payload = report(
        kind,
        report_id,
        district=district,
        occurred_at=occurred.isoformat(),
        reported_at=(occurred + timedelta(minutes=3)).isoformat(),
        description=text,
    )
    if kind == "suspicious_parcel":
        payload["post_office"] = REGISTRY.post_office_for(district).id
        payload["reported_by"] = payload["post_office"]
    return decode(REPORT, encoded(payload))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(TOPIC_OF_KIND)),
    district=st.sampled_from(DISTRICTS),
    minutes=st.integers(0, 31 * 24 * 60),
    shift=st.integers(0, 59),
    text=st.text(alphabet="abc đường dây", min_size=1, max_size=30).filter(str.strip),
)
def test_reports_equal_but_for_ignored_fields_get_equal_decisions(
    kind, district, minutes, shift, text
):
    first = make(kind, district, MAY_2007 + timedelta(minutes=minutes), "one", "first text")
    moved = MAY_2007 + timedelta(minutes=minutes + shift)
    if RULES.calendar.active_at(moved) != RULES.calendar.active_at(first.occurred_at):
        return  # a different period may rightly decide differently
    second = make(kind, district, moved, "two", text)
    assert route(first, RULES, REGISTRY, RULES.calendar) == route(
        second, RULES, REGISTRY, RULES.calendar
    )


def test_the_cache_answers_as_route_does_and_counts():
    cache = DecisionCache(size=2)
    reports = [
        make("line_fault", district, MAY_2007 + timedelta(days=19), f"r{n}", "")
        for n, district in enumerate(["tam-ky", "hoi-an", "tam-ky", "dien-ban", "hoi-an"])
    ]
    for r in reports:
        assert cache.decide(r, RULES, REGISTRY) == route(r, RULES, REGISTRY, RULES.calendar)
    # tam-ky hit once; hoi-an was evicted by dien-ban (size 2) before it came back.
    assert (cache.hits, cache.misses) == (1, 4)
