"""SLA figures, their text, CSV and HTML forms, and the charts' SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.auditor import charts, html, render
from services.auditor.figures import ALL, IncidentFigures, figures, percentile

pytestmark = pytest.mark.unit
T0 = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)


def incident(n: int, ack_min: float | None, fix_min: float | None, **more) -> IncidentFigures:
    fields = {
        "incident_id": f"inc-{n}",
        "incident_key": f"line_fault:vnpt-quang-nam:L-{n}",
        "kind": "line_fault",
        "district": "tien-phuoc",
        "enterprise": "vnpt-quang-nam",
        "status": "resolved" if fix_min is not None else "acknowledged",
        "opened_at": T0,
        "acknowledged_at": None if ack_min is None else T0 + timedelta(minutes=ack_min),
        "resolved_at": None if fix_min is None else T0 + timedelta(minutes=fix_min),
        "ack_due_at": T0 + timedelta(minutes=15),
        "resolve_due_at": T0 + timedelta(hours=2),
    }
    return IncidentFigures(**(fields | more))


def test_percentiles_interpolate_like_percentile_cont():
    assert percentile([], 0.5) is None
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.9) == pytest.approx(9.0)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 1))
def test_a_percentile_lies_between_the_smallest_and_largest(values, share):
    assert min(values) <= percentile(values, share) <= max(values)


def test_rows_by_enterprise_district_and_kind_count_breaches_and_escalations():
    late = incident(
        2,
        40,
        200,
        district="tam-ky",
        breaches=frozenset({"acknowledge", "resolve"}),
        escalations=((T0 + timedelta(minutes=15), 1, "acknowledge"),),
    )
    f = figures(
        [incident(1, 5, 60), late, incident(3, None, None, enterprise=None)],
        [("router", "reports.line-fault", "invalid_report")] * 2,
        since=None,
        until=None,
        at=T0 + timedelta(days=1),
    )

    overall = next(r for r in f.rows if r.dimension == ALL)
    assert (overall.incidents, overall.acknowledged, overall.resolved) == (3, 2, 2)
    assert overall.mtta_p50_s == pytest.approx(22.5 * 60)
    assert overall.deadlines == 6 and overall.breached == 2
    assert overall.compliance == pytest.approx(4 / 6) and overall.escalations == 1
    districts = {r.value: r for r in f.rows if r.dimension == "district"}
    assert districts["tam-ky"].compliance == 0.0 and districts["tien-phuoc"].breached == 0
    assert {r.value for r in f.rows if r.dimension == "enterprise"} == {"(none)", "vnpt-quang-nam"}
    assert f.dead_letters == [("router", "reports.line-fault", "invalid_report", 2)]
    assert f.escalations == [(1, "acknowledge", 1)]


@pytest.mark.parametrize(
    ("seconds", "shown"), [(None, "-"), (7, "7s"), (270, "4m30s"), (3900, "1h05m")]
)
def test_durations_read_as_hours_minutes_seconds(seconds, shown):
    assert render.duration(seconds) == shown


def sample_figures():
    escalated = ((T0 + timedelta(minutes=15), 1, "acknowledge"),)
    return figures(
        [incident(1, 5, 60), incident(2, 40, None, escalations=escalated)],
        [],
        since=T0,
        until=T0 + timedelta(days=1),
        at=T0 + timedelta(days=1),
    )


def test_the_table_and_csv_carry_every_row():
    f = sample_figures()
    text = render.table(f)
    csv_text = render.csv_text(f)
    assert "vnpt-quang-nam" in text and "dead letters\n  none" in text
    lines = csv_text.splitlines()
    assert lines[0].startswith("section,dimension,value,incidents")
    assert len([line for line in lines if line.startswith("sla,")]) == len(f.rows)
    assert "escalations,level 1,acknowledge,1" in lines


def test_the_html_report_is_one_well_formed_self_contained_page():
    page = html.html(sample_figures())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert "src=" not in page and "href=" not in page and "<script" not in page
    for svg in page.split("<svg")[1:]:
        ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")  # raises if malformed


def test_a_timeline_shows_ack_resolution_deadlines_and_escalations():
    escalated = ((T0 + timedelta(minutes=15), 1, "acknowledge"),)
    svg = charts.timelines([incident(1, 40, 90, escalations=escalated)], at=T0)
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("acknowledged") for t in titles)
    assert any(t.startswith("resolved") for t in titles)
    assert any(t.startswith("escalated to level 1") for t in titles)
    assert sum(t.endswith("deadline " + (T0 + timedelta(minutes=15)).isoformat()) for t in titles)
