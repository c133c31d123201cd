"""The dispatcher's day over HTTP: publish, see the task arrive live, acknowledge, resolve.

Router, incident manager, recorder and gateway run as an operator runs them, on this test's
topics and schema. The dispatcher's stream drops once on the way and resumes from its last
event id; nothing published meanwhile is missed and nothing already seen comes again.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from schemas.example_reports import report
from services.gateway.sse import EventDecoder
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e
VNPT = "vnpt-quang-nam"


@pytest.fixture
async def system(running_system, tmp_path):
    """The e2e test's router, incident manager and recorder, and a gateway in front."""
    settings, _, _ = running_system
    gateway = await start_gateway(settings, tmp_path / "gateway.log")
    yield gateway
    await stop_gateway(gateway)


class Stream:
    """A dispatcher's task stream read in the background, remembering the last event id."""

    def __init__(self, gateway, secret: str, last_id: str | None = None) -> None:
        self.tasks: list[dict] = []
        self.last_id = last_id
        self.arrived = asyncio.Event()
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self._client = gateway.client(secret, headers=headers)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self._client.stream("GET", "/v1/tasks/stream") as response:
            assert response.status_code == 200, await response.aread()
            decoder = EventDecoder(last_id=self.last_id)
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None and event.event == "task":
                    self.tasks.append(json.loads(event.data))
                    self.last_id = event.id
                    self.arrived.set()

    async def until(self, wanted, deadline_s: float = 120) -> dict:
        """The first task received that `wanted` accepts, waiting for it if need be."""
        async with asyncio.timeout(deadline_s):
            while True:
                found = next((t for t in self.tasks if wanted(t)), None)
                if found is not None:
                    return found
                if self._reader.done():
                    self._reader.result()
                self.arrived.clear()
                await self.arrived.wait()

    async def drop(self) -> None:
        """Cut the connection, as a dispatcher's flaky link would."""
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._client.aclose()


async def timeline_with(http, incident_id: str, last_type: str, deadline_s: float = 90) -> dict:
    """The recorded timeline once it holds `last_type`."""

    async def timeline():
        response = await http.get(f"/v1/incidents/{incident_id}")
        if response.status_code == 200:
            found = response.json()
            if last_type in {e["type"] for e in found["events"]}:
                return found
        return None

    what = f"{incident_id}'s timeline holding {last_type}"
    return await eventually(timeline, deadline_s=deadline_s, interval_s=0.3, what=what)


async def test_publish_stream_acknowledge_resolve_and_the_recorded_timeline(system, test_id):
    gateway = system
    publisher = gateway.client(await gateway.token(VNPT, "publisher"))
    dispatcher_secret = await gateway.token(VNPT, "dispatcher")
    dispatcher = gateway.client(dispatcher_secret)
    stream = Stream(gateway, dispatcher_secret)

    first = await publisher.post(
        "/v1/reports/line_fault", json=report("line_fault", f"{test_id}-a")
    )
    assert first.status_code == 202, first.text
    key = first.json()["incident_key"]
    task = await stream.until(lambda t: t["incident_key"] == key)
    assert (task["enterprise"], task["role"], task["status"]) == (VNPT, "primary", "open")
    incident = task["incident_id"]

    # The link drops; meanwhile the dispatcher acts and another report comes in.
    await stream.drop()
    resumed_from = stream.last_id
    seen_before = {(t["task_id"], t["version"]) for t in stream.tasks}
    ack = await dispatcher.post(f"/v1/incidents/{incident}/acknowledge",
                                json={"dispatcher": "Trực ban Tiên Phước"})  # fmt: skip
    assert ack.status_code == 200, ack.text
    assert ack.json()["outcome"] == "accepted"
    assert ack.json()["events"] == ["incident_acknowledged"]
    again = await dispatcher.post(f"/v1/incidents/{incident}/acknowledge", json={})
    assert again.status_code == 409
    assert again.json()["error"]["error"] == "invalid_transition"
    other = report("line_fault", f"{test_id}-b", **{"alarmed_object.id": "VNPT-TPH-0042",
                                                    "alarmed_object.service_class": "subscriber",
                                                    "election_critical": False})  # fmt: skip
    second = await publisher.post("/v1/reports/line_fault", json=other)
    assert second.status_code == 202, second.text

    resumed = Stream(gateway, dispatcher_secret, last_id=resumed_from)
    await resumed.until(lambda t: t["incident_key"] == second.json()["incident_key"])
    await resumed.until(lambda t: t["incident_id"] == incident and t["status"] == "acknowledged")
    assert not seen_before & {(t["task_id"], t["version"]) for t in resumed.tasks}

    resolve = await dispatcher.post(f"/v1/incidents/{incident}/resolve",
                                    json={"resolution": "Đã nối lại cáp"})  # fmt: skip
    assert resolve.status_code == 200, resolve.text
    await resumed.until(lambda t: t["incident_id"] == incident and t["status"] == "resolved")
    await resumed.drop()

    timeline = await timeline_with(dispatcher, incident, "incident_resolved")
    events = timeline["events"]
    types = [e["type"] for e in events]
    steps = ["incident_opened", "incident_routed", "incident_acknowledged", "incident_resolved"]
    positions = [types.index(step) for step in steps]
    assert positions == sorted(positions), types
    times = [datetime.fromisoformat(events[p]["occurred_at"]) for p in positions]
    assert times == sorted(times)
    assert timeline["chain"] == "intact"
    assert events[0]["event"]["report"]["reported_by"] == VNPT
    for client in (publisher, dispatcher):
        await client.aclose()
