"""GET /v1/report against the real gateway over a recorded history: the auditor's figures.

Nine incidents routed by the reference rules and handled to resolution, and three cancelled
before routing, are recorded; the gateway, as its own database role, answers what the
auditor's `load_figures` reads, narrowed to a dispatcher's own enterprise.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.registry import load_registry
from services.auditor import AuditorSettings, figures_json, load_figures
from services.gateway.audit import SlaReport
from services.router import REFERENCE_RULES, load_rule_set
from tests.support.audit_history import recorded_scenario
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
VNPT, DEPARTMENT = "vnpt-quang-nam", "so-bcvt-quang-nam"
# After the whole history (it is stamped 2007): deadlines judged there, whatever the day.
UNTIL = datetime(2007, 5, 21, tzinfo=UTC)


@pytest.fixture
async def gateway(topics, database, tmp_path):
    await recorded_scenario(
        topics, 9, rules=RULES, registry=REGISTRY, source=str(REFERENCE_RULES), cleared=3
    )
    running = await start_gateway(topics, tmp_path / "gateway.log")
    try:
        yield running
    finally:
        await stop_gateway(running)


async def report_as(gateway, enterprise: str, role: str, **params: str):
    async with gateway.client(await gateway.token(enterprise, role)) as http:
        return await http.get("/v1/report", params=params)


async def test_an_auditor_and_the_department_get_the_auditors_own_figures(gateway, topics):
    auditor = AuditorSettings.model_validate(topics.model_dump())
    figures = await load_figures(auditor, since=None, until=UNTIL, now=UNTIL)
    # Through the answer's model, as the gateway sends it (times in its spelling).
    expected = SlaReport.model_validate(figures_json(figures, REGISTRY)).model_dump(mode="json")

    for role in ("auditor", "supervisor"):
        answer = await report_as(gateway, DEPARTMENT, role, to="2007-05-21")
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
    totals = expected["totals"]
    assert (totals["incidents"], totals["cancelled"], totals["resolved"]) == (12, 3, 9)
    assert expected["charts"]["timelines"].count('class="life cancelled"') == 3


async def test_a_dispatcher_sees_its_own_enterprises_incidents_alone(gateway):
    everyone = (await report_as(gateway, DEPARTMENT, "auditor", to="2007-05-21")).json()
    mine = await report_as(gateway, VNPT, "dispatcher", to="2007-05-21")

    assert mine.status_code == 200, mine.text
    body = mine.json()
    by_enterprise = {r["value"]: r for r in everyone["rows"] if r["dimension"] == "enterprise"}
    assert len(by_enterprise) > 1  # others' incidents exist, to be left out
    assert [r["value"] for r in body["rows"] if r["dimension"] == "enterprise"] == [VNPT]
    (own,) = [r for r in body["rows"] if r["dimension"] == "enterprise"]
    assert own == by_enterprise[VNPT]
    assert body["totals"]["incidents"] == own["incidents"] < everyone["totals"]["incidents"]
    assert body["dead_letters"] == []


async def test_a_publisher_is_refused(gateway):
    answer = await report_as(gateway, VNPT, "publisher")

    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2007-05-21", "to": "2007-05-20"}, "query.to"),
    ],
)
async def test_a_bad_period_is_a_422_naming_the_field(gateway, params, field):
    async with gateway.client(await gateway.token(DEPARTMENT, "auditor")) as http:
        answer = await http.get("/v1/report", params=params)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert [p["field"] for p in answer.json()["problems"]] == [field]
