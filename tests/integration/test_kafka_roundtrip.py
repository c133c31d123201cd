"""aiokafka against the real local broker: what the services' client factory produces arrives."""

from __future__ import annotations

import pytest

from services.runtime.kafka import make_consumer, make_producer
from services.runtime.topics import INCIDENT_EVENTS, topic_name

pytestmark = pytest.mark.integration


async def test_produced_messages_are_consumed_in_order_per_key(topics, test_id):
    topic = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    producer = make_producer(topics)
    await producer.start()
    try:
        sent = [(f"key-{n % 3}".encode(), f"payload-{n}".encode()) for n in range(30)]
        for key, value in sent:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = make_consumer(topics, topic, group_id=f"{test_id}-reader")
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"no message within 10 s after {len(received)} of {len(sent)}"
            for records in batch.values():
                received.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()

    assert sorted(received) == sorted(sent)
    for key in {k for k, _ in sent}:
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]
