"""The events listener (no record, no failed fetch ends it; outcomes kept), stream slots, bounds."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, NotLeaderForPartitionError
from structlog.testing import capture_logs

from services.gateway.errors import ApiError
from services.gateway.outcomes import EventListener
from services.gateway.settings import GatewaySettings
from services.gateway.streams import StreamSlots
from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings, load_settings
from tests.support.lifecycle_samples import incident_story

pytestmark = pytest.mark.unit
OPENED = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
TOPIC = "incidents.events"


def record(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), [])


def acknowledged(command_id: str) -> bytes:
    """inc-1's acknowledgement, as the incident manager writes it for `command_id`."""
    event = incident_story(1, OPENED, steps=4)[3] | {"caused_by": {"command_id": command_id}}
    return json.dumps(event).encode()


class FakeConsumer:
    """A consumer whose fetches are scripted: each step returns records or raises."""

    def __init__(self, steps: list[list[ConsumerRecord] | Exception]) -> None:
        self.steps = steps
        self.drained = asyncio.Event()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    async def seek_to_end(self, *partitions: TopicPartition) -> None: ...

    async def position(self, tp: TopicPartition) -> int:
        return 0

    async def getmany(self, **_: object) -> dict[TopicPartition, list[ConsumerRecord]]:
        if not self.steps:
            self.drained.set()
            await asyncio.Event().wait()  # as a quiet log does: nothing more comes
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return {TopicPartition(TOPIC, 0): step}


async def run(steps, *, slept=None, expect=()):
    """A listener over these fetches, until all are done; its futures for `expect`."""
    consumer = FakeConsumer(steps)
    waits = slept if slept is not None else []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    listener = EventListener(Settings(), consumer=consumer, sleep=sleep, draw=lambda: 0.5)
    futures = {command_id: listener.expect(("inc-1", command_id)) for command_id in expect}
    await listener.start()
    async with asyncio.timeout(5):
        await consumer.drained.wait()
    return listener, futures


async def test_a_record_that_raises_anything_is_logged_and_skipped(monkeypatch):
    original = EventListener._remember

    def explode_on_inc_1(self, event):
        if event.incident_id == "inc-1" and event.sequence == 1:
            raise KeyError("a bug in the listener, not in the record")
        original(self, event)

    monkeypatch.setattr(EventListener, "_remember", explode_on_inc_1)
    story = [json.dumps(e).encode() for e in incident_story(1, OPENED, steps=2)]
    with capture_logs() as logs:
        listener, futures = await run(
            [[record(0, story[0]), record(1, b"\xff not json"), record(2, story[1])],
             [record(3, acknowledged("cmd-1"))]],
            expect=["cmd-1"],
        )  # fmt: skip
    assert listener.healthy
    assert futures["cmd-1"].result().event_types == ("incident_acknowledged",)
    skipped = [e for e in logs if e["event"] == "event_skipped"]
    assert [(e["offset"], "KeyError" in e["error"]) for e in skipped] == [(0, True)]
    assert [e["offset"] for e in logs if e["event"] == "unreadable_event"] == [1]
    await listener.stop()


async def test_failed_fetches_are_retried_with_growing_jittered_waits():
    slept: list[float] = []
    broken = [KafkaConnectionError("broker gone"), NotLeaderForPartitionError(), RuntimeError()]
    with capture_logs() as logs:
        listener, futures = await run(
            [*broken, [record(0, acknowledged("cmd-2"))]], slept=slept, expect=["cmd-2"]
        )
    assert futures["cmd-2"].result().accepted
    assert listener.healthy and listener.fetch_failures == 0
    # draw 0.5: three quarters of 0.2, 0.4, 0.8 s
    assert slept == pytest.approx([0.15, 0.3, 0.6])
    retries = [e for e in logs if e["event"] == "events_fetch_failed_will_retry"]
    assert [e["failures"] for e in retries] == [1, 2, 3]
    await listener.stop()


async def test_the_first_outcome_of_a_command_is_kept_for_a_resend():
    rejected = incident_story(1, OPENED, steps=4)[3] | {
        "type": "command_rejected",
        "command_id": "cmd-3",
        "command_type": "acknowledge_incident",
        "error": {"error": "invalid_transition", "problems": [{"field": "type", "reason": "no"}]},
        "caused_by": {"command_id": "cmd-3"},
    }
    for name in ("task_id", "enterprise", "note"):
        rejected.pop(name)
    later = {**json.loads(acknowledged("cmd-3")), "sequence": 5}
    listener, _ = await run(
        [[record(0, json.dumps(rejected).encode()), record(1, json.dumps(later).encode())]]
    )
    outcome = listener.outcomes["inc-1", "cmd-3"]
    assert not outcome.accepted and outcome.error.error == "invalid_transition"
    await listener.stop()


async def test_two_requests_waiting_for_one_command_id_both_get_its_outcome():
    consumer = FakeConsumer([[record(0, acknowledged("cmd-4"))]])
    listener = EventListener(Settings(), consumer=consumer)
    key = ("inc-1", "cmd-4")
    first, second = listener.expect(key), listener.expect(key)
    listener.forget(key, second)
    third = listener.expect(key)
    elsewhere = listener.expect(("inc-2", "cmd-4"))  # the same id on another incident
    await listener.start()
    async with asyncio.timeout(5):
        await consumer.drained.wait()
    assert first.result().accepted and third.result().accepted
    assert not second.done() and not elsewhere.done()
    await listener.stop()


# --- stream slots and the bounds' settings -------------------------------------------------


def test_stream_slots_hold_per_token_and_in_total_and_come_back():
    slots = StreamSlots(per_token=2, total=3)
    slots.take("a")
    slots.take("a")
    with pytest.raises(ApiError) as per_token:
        slots.take("a")
    slots.take("b")
    with pytest.raises(ApiError) as total:
        slots.take("c")
    assert (per_token.value.status, per_token.value.problems[0].field) == (429, "authorization")
    assert (total.value.status, total.value.problems[0].field) == (429, "")
    slots.give("a")
    slots.take("c")
    assert slots.open == 3


def test_publish_slots_must_leave_connections_for_lookups():
    with pytest.raises(ConfigurationError, match="SIGNALPOST_GATEWAY_PUBLISH_SLOTS"):
        load_settings(GatewaySettings, gateway_db_pool_size=4, gateway_publish_slots=4)
    assert load_settings(GatewaySettings, gateway_db_pool_size=4, gateway_publish_slots=3)
