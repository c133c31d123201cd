"""The console's incident data over recorded incidents: the list with its chains, and one
incident's clocks, escalations, who was told and the routing explanation.

Seeded (tests/support/seeded_gateway.py): inc-1 VNPT's and inc-2 Viettel's, opened, routed,
their acknowledge deadline set and long missed; here inc-3, VNPT's whole life an hour later,
routed with the reference rule set (so the gateway can explain it).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime import db
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import HASH, encoded, incident_story
from tests.support.polling import eventually
from tests.support.seeded_gateway import DEPARTMENT, OPENED, VIETTEL, VNPT, seeded_gateway

pytestmark = pytest.mark.integration
REFERENCE_VERSION = load_rule_set(REFERENCE_RULES, load_registry()).version


@pytest.fixture
async def seeded(topics, database, tmp_path):
    """The seeded gateway with inc-3 recorded too, and a token of each caller."""
    async with seeded_gateway(topics, database, tmp_path) as gateway:
        story = incident_story(3, OPENED + timedelta(hours=1))
        story[1]["decision"]["ruleset_version"] = REFERENCE_VERSION
        events = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
        await publish(topics, events, [encoded(e) for e in story])

        async def recorded() -> bool:
            return await database.fetchval("SELECT count(*) FROM incidents") == 3

        await eventually(recorded, deadline_s=60, interval_s=0.2)
        callers = {
            "department": (DEPARTMENT, "supervisor"),
            "auditor": (DEPARTMENT, "auditor"),
            "vnpt": (VNPT, "dispatcher"),
            "publisher": (VNPT, "publisher"),
        }
        tokens = {name: await gateway.token(*who) for name, who in callers.items()}
        yield gateway, tokens


async def get(gateway, secret, path, **params):
    async with gateway.client(secret) as http:
        return await http.get(path, params=params)


async def test_the_department_lists_every_incident_newest_first(seeded):
    gateway, tokens = seeded
    for caller in ("department", "auditor"):
        response = await get(gateway, tokens[caller], "/v1/incidents")
        assert response.status_code == 200, response.text
        body = response.json()
        assert [i["incident_id"] for i in body["incidents"]] == ["inc-3", "inc-2", "inc-1"]
        assert body["next_before"] is None
    newest, viettels = body["incidents"][0], body["incidents"][1]
    assert newest["chain"] == "intact" and newest["events"] == 7
    assert (newest["status"], newest["primary"], newest["kind"]) == ("closed", VNPT, "line_fault")
    assert (newest["ack_met"], newest["resolve_met"]) == (True, True)
    assert (viettels["primary"], viettels["ack_met"], viettels["resolve_met"]) == (
        VIETTEL,
        False,  # due in 2007, never acknowledged
        False,
    )


async def test_a_dispatcher_lists_only_its_enterprises_incidents(seeded):
    gateway, tokens = seeded
    response = await get(gateway, tokens["vnpt"], "/v1/incidents")
    assert [i["incident_id"] for i in response.json()["incidents"]] == ["inc-3", "inc-1"]
    narrowed = await get(gateway, tokens["department"], "/v1/incidents", enterprise=VIETTEL)
    assert [i["incident_id"] for i in narrowed.json()["incidents"]] == ["inc-2"]
    assert (
        await get(gateway, tokens["vnpt"], "/v1/incidents", enterprise=VIETTEL)
    ).status_code == 403
    assert (await get(gateway, tokens["publisher"], "/v1/incidents")).status_code == 403


async def test_filters_and_pages(seeded):
    gateway, tokens = seeded
    ids = {}
    for name, params in {
        "closed": {"status": "closed"},
        "open": {"status": "open"},
        "here": {"district": "tien-phuoc"},
        "elsewhere": {"district": "hoi-an"},
        "page1": {"limit": 2},
        "page2": {"limit": 2, "before": "inc-2"},
    }.items():
        response = await get(gateway, tokens["department"], "/v1/incidents", **params)
        assert response.status_code == 200, response.text
        ids[name] = [i["incident_id"] for i in response.json()["incidents"]]
        if name == "page1":
            assert response.json()["next_before"] == "inc-2"
    assert ids["closed"] == ["inc-3"] and ids["open"] == ["inc-2", "inc-1"]
    assert ids["here"] == ["inc-3", "inc-2", "inc-1"] and ids["elsewhere"] == []
    assert ids["page1"] == ["inc-3", "inc-2"] and ids["page2"] == ["inc-1"]
    too_many = await get(gateway, tokens["department"], "/v1/incidents", limit=1001)
    assert too_many.status_code == 422


async def test_an_edited_event_shows_as_a_broken_chain_in_the_list(seeded):
    gateway, tokens = seeded
    owner = await db.connect(gateway.settings, url=gateway.settings.owner_database_url)
    try:
        await owner.execute(
            "UPDATE incident_events SET event = jsonb_set(event, '{summary}', '\"edited\"') "
            "WHERE event_id = 'inc-1:1'"
        )
    finally:
        await owner.close()
    response = await get(gateway, tokens["department"], "/v1/incidents")
    chains = {i["incident_id"]: i["chain"] for i in response.json()["incidents"]}
    assert chains["inc-3"] == chains["inc-2"] == "intact"
    assert chains["inc-1"].startswith("broken at inc-1:1: ")


async def test_an_incident_page_has_its_clocks_routing_and_explanation(seeded):
    gateway, tokens = seeded
    response = await get(gateway, tokens["vnpt"], "/v1/incidents/inc-3")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["chain"] == "intact" and len(page["events"]) == 7
    [clock] = page["clocks"]["deadlines"]
    assert (clock["enterprise"], clock["deadline"], clock["state"]) == (VNPT, "acknowledge", "met")
    assert page["clocks"]["overall"] == {
        "time_to_acknowledge_s": 4 * 60,
        "time_to_resolve_s": 95 * 60,
    }
    assert page["escalations"] == []
    assert [(t["enterprise"], t["role"]) for t in page["told"]] == [(VNPT, "primary")]
    assert page["routing"]["rule_id"] == "hotline-critical"
    assert page["explanation"]["ruleset_version"] == REFERENCE_VERSION
    assert page["explanation"]["report"]["report_id"] == "inc-3-report"
    assert page["explanation_unavailable"] is None


async def test_an_incident_routed_by_another_rule_set_says_why_it_has_no_explanation(seeded):
    gateway, tokens = seeded
    page = (await get(gateway, tokens["department"], "/v1/incidents/inc-1")).json()
    assert page["explanation"] is None
    assert HASH in page["explanation_unavailable"]
    assert [c["state"] for c in page["clocks"]["deadlines"]] == ["missed"]
    assert page["clocks"]["overall"]["time_to_acknowledge_s"] is None
