"""Every endpoint against every role: the wrong enterprise gets 403 or 404, never data.

The gateway runs over two recorded incidents (tests/support/seeded_gateway.py): inc-1 is
VNPT's, inc-2 Viettel's; allowed commands are answered 202 (pending).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from schemas.example_reports import report
from services.gateway.sse import EventDecoder
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_EVENTS, topic_name
from tests.support.kafka_io import publish, read_until
from tests.support.lifecycle_samples import answered_story, encoded
from tests.support.polling import eventually
from tests.support.seeded_gateway import (
    ACTION_BODIES,
    DEPARTMENT,
    OPENED,
    VIETTEL,
    VNPT,
    as_enterprise,
    seeded_gateway,
)

pytestmark = pytest.mark.integration
# Who calls: (enterprise, role); None is a call without a token.
CALLERS = {
    "publisher": (VNPT, "publisher"),
    "owner": (VNPT, "dispatcher"),
    "outsider": (VIETTEL, "dispatcher"),
    "department": (DEPARTMENT, "supervisor"),
    "auditor": (DEPARTMENT, "auditor"),
    "anonymous": None,
}


@pytest.fixture
async def seeded(topics, database, tmp_path):
    """The seeded gateway, and a token of each caller."""
    async with seeded_gateway(
        topics,
        database,
        tmp_path,
        SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0.5",
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.3",
    ) as gateway:
        tokens = {n: (await gateway.token(*who) if who else None) for n, who in CALLERS.items()}
        yield gateway, tokens


async def call(gateway, secret, method, path, **options):
    async with gateway.client(secret) as http:
        return await http.request(method, path, **options)


async def first_task_event(gateway, secret, params=None):
    """The stream's status, and the first task it sends (None when refused)."""
    async with (
        gateway.client(secret) as http,
        http.stream("GET", "/v1/tasks/stream", params=params) as response,
    ):
        if response.status_code != 200:
            return response.status_code, None
        decoder = EventDecoder()
        async with asyncio.timeout(20):
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None and event.event == "task":
                    return 200, json.loads(event.data)
    raise AssertionError("stream ended")


async def test_publish_is_for_publishers_in_their_own_name(seeded, test_id):
    gateway, tokens = seeded
    expected = {"publisher": 202, "owner": 403, "outsider": 403, "department": 403,
                "auditor": 403, "anonymous": 401}  # fmt: skip
    for name, status in expected.items():
        body = report("line_fault", f"{test_id}-{name}")
        response = await call(gateway, tokens[name], "POST", "/v1/reports/line_fault", json=body)
        assert response.status_code == status, (name, response.text)
        if status != 202:
            assert set(response.json()) == {"error", "problems"}


async def test_task_lists_show_only_what_the_caller_may_see(seeded):
    gateway, tokens = seeded
    everyone = {VNPT, VIETTEL}
    expected = {"publisher": None, "owner": {VNPT}, "outsider": {VIETTEL},
                "department": everyone, "auditor": everyone, "anonymous": None}  # fmt: skip
    for name, enterprises in expected.items():
        response = await call(gateway, tokens[name], "GET", "/v1/tasks")
        if enterprises is None:
            assert response.status_code in (401, 403), name
            assert "tasks" not in response.json()
            continue
        assert response.status_code == 200, (name, response.text)
        assert {t["enterprise"] for t in response.json()["tasks"]} == enterprises, name
    nosy = await call(gateway, tokens["outsider"], "GET", "/v1/tasks", params={"enterprise": VNPT})
    assert nosy.status_code == 403
    narrowed = await call(
        gateway, tokens["department"], "GET", "/v1/tasks", params={"enterprise": VNPT}
    )
    assert {t["enterprise"] for t in narrowed.json()["tasks"]} == {VNPT}


async def test_task_streams_carry_only_the_callers_feed(seeded):
    gateway, tokens = seeded
    cases = [("owner", 200, VNPT), ("outsider", 200, VIETTEL),
             ("publisher", 403, None), ("anonymous", 401, None)]  # fmt: skip
    for name, status, enterprise in cases:
        got, task = await first_task_event(gateway, tokens[name])
        assert got == status, name
        assert (task["enterprise"] if task else None) == enterprise, name
    got, task = await first_task_event(gateway, tokens["department"], {"enterprise": VIETTEL})
    assert (got, task["enterprise"]) == (200, VIETTEL)
    got, _ = await first_task_event(gateway, tokens["outsider"], {"enterprise": VNPT})
    assert got == 403
    forged = await call(gateway, tokens["outsider"], "GET", "/v1/tasks/stream",
                        headers={"Last-Event-ID": f"{VNPT}/0:0"})  # fmt: skip
    assert forged.status_code == 400


async def test_timelines_are_shown_to_participants_the_department_and_auditors(seeded):
    gateway, tokens = seeded
    expected = {"publisher": 403, "owner": 200, "outsider": 404, "department": 200,
                "auditor": 200, "anonymous": 401}  # fmt: skip
    for name, status in expected.items():
        response = await call(gateway, tokens[name], "GET", "/v1/incidents/inc-1")
        assert response.status_code == status, (name, response.text)
        if status == 200:
            types = [e["type"] for e in response.json()["events"]]
            assert types == ["incident_opened", "incident_routed", "deadline_set"]
            assert response.json()["chain"] == "intact"
        else:
            assert "events" not in response.json()


async def test_commands_are_for_the_incidents_dispatchers_and_the_department(seeded):
    gateway, tokens = seeded
    for action in ACTION_BODIES:
        await check_command_access(gateway, tokens, action)


async def check_command_access(gateway, tokens, action):
    """One action by every caller: sent (202, pending) only when the caller may act."""
    owner = 403 if action == "reassign" else 202
    expected = {"publisher": 403, "owner": owner, "outsider": 404 if owner == 202 else 403,
                "department": 202, "auditor": 403, "anonymous": 401}  # fmt: skip
    for name, status in expected.items():
        path = f"/v1/incidents/inc-1/{action}"
        response = await call(gateway, tokens[name], "POST", path, json=ACTION_BODIES[action])
        assert response.status_code == status, (name, response.text)
        if status == 202:
            assert response.json()["outcome"] == "pending"
    unknown = await call(gateway, tokens["department"], "POST", f"/v1/incidents/nope/{action}",
                         json=ACTION_BODIES[action])  # fmt: skip
    assert unknown.status_code == 404


async def test_another_enterprises_incident_answers_like_an_unknown_one(seeded):
    """No existence oracle: the same status, body and wait for both (lookup wait 0.5 s)."""
    gateway, tokens = seeded
    answers = {}
    for incident in ("inc-1", "inc-404"):  # VNPT's, and one that does not exist
        started = asyncio.get_running_loop().time()
        response = await call(
            gateway, tokens["outsider"], "POST", f"/v1/incidents/{incident}/acknowledge", json={}
        )
        waited = asyncio.get_running_loop().time() - started
        body = response.json()
        answers[incident] = (response.status_code, body["error"], body["problems"][0]["field"])
        # Each waits out the whole lookup wait: an incident the caller may not see is not
        # told apart by an early answer.
        assert waited >= 0.5, (incident, waited, response.status_code, body)
    assert answers["inc-1"] == answers["inc-404"] == (404, "not_found", "incident_id")


async def test_another_enterprises_command_id_tells_nothing_of_its_outcome(seeded, test_id):
    """Viettel's commands on inc-2 were answered, heard by the gateway; VNPT sending the same
    command ids on its own inc-1 gets its own commands sent, not Viettel's outcomes."""
    gateway, tokens = seeded
    events = topic_name(INCIDENT_EVENTS, gateway.settings.topic_prefix)
    answers = as_enterprise(answered_story(2, OPENED, "crew-ack-7", "crew-start-7"), VIETTEL)
    await publish(gateway.settings, events, [encoded(e) for e in answers[3:]])

    async def heard() -> bool:  # the Department's resend is answered from the listener
        path, body = "/v1/incidents/inc-2/acknowledge", {"command_id": "crew-ack-7"}
        response = await call(gateway, tokens["department"], "POST", path, json=body)
        return response.status_code == 200

    await eventually(heard, deadline_s=30, interval_s=0.2)
    for action, command_id in (("acknowledge", "crew-ack-7"), ("start", "crew-start-7")):
        response = await call(gateway, tokens["owner"], "POST", f"/v1/incidents/inc-1/{action}",
                              json={"command_id": command_id})  # fmt: skip
        body = response.json()
        assert (response.status_code, body["outcome"]) == (202, "pending"), body
        assert body["events"] == [] and body["error"] is None, body
    commands = topic_name(INCIDENT_COMMANDS, gateway.settings.topic_prefix)

    def sent(records) -> bool:
        mine = [json.loads(r.value) for r in records]
        ids = {c["command_id"] for c in mine if c["incident_id"] == "inc-1"}
        return ids >= {"crew-ack-7", "crew-start-7"}

    await read_until(gateway.settings, commands, sent, group=f"{test_id}-commands", deadline_s=30)
