"""SLA figures, their text, CSV and HTML forms, and the charts' SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.auditor import charts, html, render
from services.auditor.figures import ALL, IncidentFigures, about_report, figures, percentile

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
    enterprises = {r.value for r in f.rows if r.dimension == "enterprise"}
    assert enterprises == {"(not routed)", "vnpt-quang-nam"}
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


def cancelled(n: int, **more) -> IncidentFigures:
    """A clear's incident as the recorder leaves it: cancelled at once, never routed."""
    fields = {"enterprise": None, "status": "cancelled", "ack_due_at": None}
    fields |= {"resolve_due_at": None, "closed_at": T0, "owner": "vnpt-quang-nam"}
    return incident(n, None, None, subject=f"L-{n}", **(fields | more))


def test_a_cancelled_incident_counts_as_cancelled_under_its_reports_owner():
    f = figures([incident(1, 5, 60), cancelled(2)], [], since=None, until=None, at=T0)
    overall = next(r for r in f.rows if r.dimension == ALL)
    (vnpt,) = [r for r in f.rows if r.dimension == "enterprise"]

    assert (overall.cancelled, overall.open, overall.resolved, overall.deadlines) == (1, 0, 1, 2)
    assert (vnpt.value, vnpt.incidents, vnpt.cancelled) == ("vnpt-quang-nam", 2, 1)
    assert render.table(f).splitlines()[2].split()[-2:] == ["open", "cancelled"]


def test_a_cancelled_incident_is_drawn_cancelled_and_named():
    svg = charts.timelines([cancelled(2), cancelled(3, owner=None)], at=T0 + timedelta(hours=1))
    root = ET.fromstring(svg)
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text]

    assert svg.count('class="life cancelled"') == 2 and "life open" not in svg
    assert "inc-2 line L-2 vnpt-quang-nam" in labels
    assert "inc-3 line L-3 cancelled before routing" in labels


def test_what_a_recorded_report_is_about_comes_from_its_kinds_row():
    line = {"kind": "line_fault", "operator": "vnpt-quang-nam", "alarmed_object": {"id": "L-1"}}
    parcel = {"kind": "suspicious_parcel", "post_office": "buu-dien-hoi-an", "item": {}}

    assert about_report(line) == {"owner": "vnpt-quang-nam", "subject": "L-1"}
    assert about_report(parcel) == {"owner": "buu-dien-hoi-an", "subject": None}
    assert about_report({"kind": "no-such-kind"}) == {}


def test_ack_and_resolve_deadlines_are_judged_apart():
    late = incident(1, 40, 60, breaches=frozenset({"acknowledge"}))
    (overall, *_) = figures([late, incident(2, 5, 60)], [], since=None, until=None, at=T0).rows

    assert (overall.ack_compliance, overall.resolve_compliance) == (0.5, 1.0)
    assert overall.compliance == 0.75


HOSTILE = '<script>alert("x")</script>&'


def test_every_label_in_the_charts_is_escaped():
    hostile = incident(
        1,
        40,
        90,
        incident_id=HOSTILE,
        enterprise=HOSTILE,
        subject=HOSTILE,
        escalations=((T0 + timedelta(minutes=15), 1, HOSTILE),),
    )
    f = figures([hostile], [], since=None, until=None, at=T0 + timedelta(days=1))
    svgs = charts.report_charts(f)

    assert set(svgs) == {"timelines", "mtta", "mttr"}
    for svg in svgs.values():
        assert svg is not None and "<script" not in svg
        texts = "".join(ET.fromstring(svg).itertext())  # raises if an unescaped label broke it
        assert "<script>" in texts  # shown as text, not markup
