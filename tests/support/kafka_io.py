"""Small helpers for integration tests: publish raw bytes, read a topic until a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiokafka.structs import ConsumerRecord

from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import Settings


async def publish(
    settings: Settings, topic: str, values: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs and wait for the brokers to acknowledge all of them."""
    producer = make_producer(settings)
    await producer.start()
    try:
        sends = [await producer.send(topic, value=v, key=k) for k, v in values]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return len(sends)


async def read_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[ConsumerRecord]], bool],
    *,
    group: str,
    deadline_s: float = 60,
) -> list[ConsumerRecord]:
    """Every record of `topic` from the start until `done(records)`; fails at the deadline."""
    consumer = make_consumer(settings, topic, group_id=group)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(deadline_s):
            while not done(records):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    except TimeoutError:
        raise AssertionError(
            f"{topic}: condition not met in {deadline_s}s, {len(records)} records"
        ) from None
    finally:
        await consumer.stop()
    return records
