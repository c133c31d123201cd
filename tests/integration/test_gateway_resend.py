"""A resent command id is answered with its first outcome, from the recorded timeline or memory.

The incident manager stays silent on a command id it has already seen, so the gateway must
not wait for an answer that never comes. The log is seeded as the incident manager writes
it: an acknowledgement caused by one command, a rejection of another.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import REJECTION, answered_story, encoded
from tests.support.polling import eventually
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration
VNPT = "vnpt-quang-nam"
OPENED = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
WAIT_S = 30  # the command wait: an answer well within it was not waited for


async def resend(http, incident: str, action: str, command_id: str):
    started = time.monotonic()
    response = await http.post(
        f"/v1/incidents/{incident}/{action}", json={"command_id": command_id}
    )
    return response, time.monotonic() - started


async def test_a_resent_command_id_gets_its_first_outcome(topics, database, test_id, tmp_path):
    events = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    recorder = await start_service(
        "recorder", topics, tmp_path / "recorder.log", SIGNALPOST_RECORDER_GROUP_ID=f"{test_id}-r"
    )
    try:
        # Recorded before the gateway starts: only the timeline in PostgreSQL knows them.
        await publish(
            topics, events, [encoded(e) for e in answered_story(1, OPENED, "cmd-ack-1", "cmd-no-1")]
        )

        async def five_recorded() -> bool:
            return await database.fetchval("SELECT count(*) FROM incident_events") == 5

        await eventually(five_recorded, deadline_s=60, interval_s=0.2)
        gateway = await start_gateway(
            topics,
            tmp_path / "gateway.log",
            SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS=str(WAIT_S),
        )
        try:
            # Heard by the gateway's listener as well.
            await publish(
                topics,
                events,
                [encoded(e) for e in answered_story(2, OPENED, "cmd-ack-2", "cmd-no-2")],
            )
            secret = await gateway.token(VNPT, "dispatcher")
            async with gateway.client(secret) as http:
                answers = {
                    "recorded accepted": await resend(http, "inc-1", "acknowledge", "cmd-ack-1"),
                    "recorded rejected": await resend(http, "inc-1", "start", "cmd-no-1"),
                    "heard accepted": await resend(http, "inc-2", "acknowledge", "cmd-ack-2"),
                    "heard rejected": await resend(http, "inc-2", "start", "cmd-no-2"),
                }
        finally:
            await stop_gateway(gateway)
    finally:
        recorder.terminate()
        await recorder.wait()
    for name, (response, seconds) in answers.items():
        body = response.json()
        if name.endswith("accepted"):
            assert (response.status_code, body["outcome"]) == (200, "accepted"), (name, body)
            assert body["events"] == ["incident_acknowledged"], name
        else:
            assert (response.status_code, body["outcome"]) == (409, "rejected"), (name, body)
            assert body["error"] == REJECTION, name
        assert seconds < WAIT_S / 3, (name, seconds)
