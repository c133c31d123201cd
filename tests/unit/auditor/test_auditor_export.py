"""The report's figures as JSON (the gateway's GET /v1/report), and one enterprise's alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.registry import load_registry
from services.auditor import figures_json, for_enterprise
from services.auditor.figures import IncidentFigures, figures
from services.gateway.audit import SlaReport

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
T0 = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"


def incident(n: int, enterprise: str | None, **more) -> IncidentFigures:
    fields = {
        "incident_id": f"inc-{n}",
        "incident_key": f"line_fault:{enterprise}:L-{n}",
        "kind": "line_fault",
        "district": "tien-phuoc",
        "enterprise": enterprise,
        "status": "resolved",
        "opened_at": T0,
        "acknowledged_at": T0 + timedelta(minutes=4),
        "resolved_at": T0 + timedelta(minutes=50),
        "ack_due_at": T0 + timedelta(minutes=15),
        "resolve_due_at": T0 + timedelta(hours=2),
    }
    return IncidentFigures(**(fields | more))


def sample():
    late = incident(2, VIETTEL, breaches=frozenset({"acknowledge"}))
    clear = incident(
        3, None, status="cancelled", acknowledged_at=None, resolved_at=None, ack_due_at=None,
        resolve_due_at=None, closed_at=T0, owner=VNPT, subject="L-3",
    )  # fmt: skip
    letters = [("router", "reports.line-fault", "invalid_report")]
    return figures([incident(1, VNPT), late, clear], letters, since=T0, until=None, at=T0)


def test_the_json_carries_totals_rows_letters_and_charts_in_the_documented_shape():
    out = figures_json(sample(), REGISTRY)
    text = json.dumps(out)  # JSON-able as it is

    SlaReport.model_validate_json(text)  # the shape the README and OpenAPI document, exactly
    assert (out["since"], out["until"], out["at"]) == (T0.isoformat(), None, T0.isoformat())
    assert out["totals"] == {
        "incidents": 3, "open": 0, "resolved": 2, "cancelled": 1, "acknowledged": 2,
        "deadlines": 4, "breaches": 1, "escalations": 0,
    }  # fmt: skip
    assert out["dead_letters"] == [
        {"stage": "router", "topic": "reports.line-fault", "error": "invalid_report", "count": 1}
    ]
    assert set(out["charts"]) == {"timelines", "mtta", "mttr"}
    assert all(svg.startswith("<svg") for svg in out["charts"].values())


def test_rows_name_their_group_and_judge_each_deadline_apart():
    rows = {(r["dimension"], r["value"]): r for r in figures_json(sample(), REGISTRY)["rows"]}

    overall, vnpt, viettel = (
        rows["all", "all"],
        rows["enterprise", VNPT],
        rows["enterprise", VIETTEL],
    )
    assert overall["label"] == "all incidents" and vnpt["label"] == "VNPT Quảng Nam (viễn thông)"
    assert rows["district", "tien-phuoc"]["label"] == "Tiên Phước"
    assert rows["kind", "line_fault"]["label"] == "line"
    assert (overall["ack_met_share"], overall["resolve_met_share"]) == (0.5, 1.0)
    assert overall["met_share"] == 0.75 and overall["mtta_p50_s"] == 240.0
    assert (vnpt["incidents"], vnpt["cancelled"], vnpt["ack_deadlines"]) == (2, 1, 1)
    assert (viettel["ack_breaches"], viettel["ack_met_share"]) == (1, 0.0)


def test_one_enterprises_figures_hold_its_incidents_alone_and_no_dead_letters():
    mine = figures_json(for_enterprise(sample(), VNPT), REGISTRY)

    assert {r["value"] for r in mine["rows"] if r["dimension"] == "enterprise"} == {VNPT}
    assert mine["totals"]["incidents"] == 2 and mine["dead_letters"] == []
    assert VIETTEL not in json.dumps(mine)
