"""The SLA report of a recorded history with incidents cancelled before routing (issue 17, 8).

A clear with no alarm open on its line opens an incident that is cancelled at once: it has
no primary enterprise and no deadline. The report counts it as cancelled, under the
enterprise its report was about, and draws it as cancelled, not as a line still open.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.registry import load_registry
from services.auditor import html as html_report
from services.auditor import load_figures, render
from services.auditor.settings import AuditorSettings
from services.router import REFERENCE_RULES, load_rule_set
from tests.support.audit_history import recorded_scenario

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def figures(topics, database):
    """Six incidents handled to resolution and three cleared before any alarm, recorded."""
    await recorded_scenario(
        topics, 6, rules=RULES, registry=REGISTRY, source=str(REFERENCE_RULES), cleared=3
    )
    settings = AuditorSettings.model_validate(topics.model_dump())
    return await load_figures(settings, since=None, until=None, now=NOW)


async def test_cancelled_incidents_are_counted_as_cancelled_under_their_owner(figures):
    enterprises = {r.value: r for r in figures.rows if r.dimension == "enterprise"}
    overall = next(r for r in figures.rows if r.dimension == "all")

    assert "(none)" not in enterprises
    assert (overall.incidents, overall.cancelled, overall.open, overall.resolved) == (9, 3, 0, 6)
    assert enterprises["vnpt-quang-nam"].cancelled == 3
    table, csv = render.table(figures), render.csv_text(figures)
    assert "(none)" not in table and "(none)" not in csv
    assert csv.splitlines()[0].endswith(",open,cancelled")


async def test_the_timelines_draw_them_cancelled_and_say_what_they_were(figures):
    page = html_report.html(figures)

    assert page.count('class="life cancelled"') == 3
    assert 'class="life open"' not in page and " ? " not in page and "line ?" not in page
    for n in range(3):
        assert f"line Lc-{n} vnpt-quang-nam" in page
    assert "cancelled (grey)" in page  # the legend's entry
