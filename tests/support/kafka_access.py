"""Probes of what a Kafka client may do, answered by the broker itself: a write, a read."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import ConsumerRecord


async def can_write(producer: AIOKafkaProducer, topic: str) -> bool:
    """Whether the broker takes a record on `topic`'s partition 0 from this producer."""
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"probe", partition=0), 15)
    except TopicAuthorizationFailedError:
        return False
    return True


async def try_read(
    consumer: AIOKafkaConsumer, topic: str, *, timeout_ms: int = 10_000
) -> list[ConsumerRecord] | None:
    """`topic`'s partition 0 from the start as this consumer (what one poll returns), or
    None if the broker refuses."""
    # Without DESCRIBE a consumer would wait silently for a topic it cannot see: ask the
    # metadata first, where a refusal is error 29 (topic authorization failed).
    client = consumer._client
    response = await client.send(client.get_random_node(), MetadataRequest([topic]))
    (described,) = response.to_object()["topics"]
    if described["error_code"] == TopicAuthorizationFailedError.errno:
        return None
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    try:
        await consumer.seek_to_beginning(tp)
        records = await consumer.getmany(tp, timeout_ms=timeout_ms)
    except TopicAuthorizationFailedError:
        return None
    return records.get(tp, [])
