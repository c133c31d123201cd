"""Reading the log back: a partition of incidents.events from an offset to its end (aiokafka).

The agent reads it once per partition after an assignment, to bring the stored states up to
the log before it decides any input (see `handler.catch_up`). A plain consumer without a
group: it commits nothing and takes no part in the agent's rebalances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from services.incidents.handler import LogRecord
from services.runtime.backoff import backoff_delay
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import KEYED_PARTITIONS

__all__ = ["LogReader", "kafka_log_reader", "mark_key", "partition_of"]

log = structlog.get_logger(component="incidents")
LogReader = Callable[[int, int | None], Awaitable[list[LogRecord]]]
RETRY_MAX_SECONDS = 30.0


def partition_of(key: bytes, partitions: int = KEYED_PARTITIONS) -> int:
    """The partition a keyed record goes to: aiokafka's (and Java's) default partitioner."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def mark_key(partition: int) -> bytes:
    """The table key of `partition`'s log mark: a key no incident has, on that partition.

    The mark is written to the same changelog partition as the rows it vouches for, after
    them, so a mark that survives a crash means those rows did too.
    """
    n = 0
    while partition_of(key := b"signalpost/log-mark/%d/%d" % (partition, n)) != partition:
        n += 1
    return key


def kafka_log_reader(settings: Settings, topic: str) -> LogReader:
    """Reads `topic`'s partition from an offset (None: its beginning) to its end at the call."""

    async def read(partition: int, start: int | None) -> list[LogRecord]:
        failures = 0
        while True:
            try:
                return await _read(settings, TopicPartition(topic, partition), start)
            except KafkaError as exc:  # the broker, not the records: wait and read again
                failures += 1
                delay = backoff_delay(failures, base=0.25, cap=RETRY_MAX_SECONDS)
                log.error("log_not_read_will_retry", error=repr(exc), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)

    return read


async def _read(settings: Settings, tp: TopicPartition, start: int | None) -> list[LogRecord]:
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        consumer.assign([tp])
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        end = (await consumer.end_offsets([tp]))[tp]
        records: list[LogRecord] = []
        while await consumer.position(tp) < end:
            for batch in (await consumer.getmany(tp, timeout_ms=500)).values():
                records += [
                    LogRecord(r.key, r.partition, r.offset, r.value)
                    for r in batch
                    if r.offset < end
                ]
        return records
    finally:
        await consumer.stop()
