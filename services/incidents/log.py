"""Reading topics back: partitions from offsets to their ends, through a plain consumer.

The agent reads each partition of incidents.events once after an assignment, to bring the
stored states up to the log before it decides any input (see `handler.catch_up`), and the
state table reads its changelog partitions the same way (see `table.py`). The consumer has
no group: it commits nothing and takes no part in the agent's rebalances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from services.incidents.handler import LogRecord
from services.runtime.backoff import backoff_delay
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import KEYED_PARTITIONS

__all__ = [
    "LogReader",
    "PartitionsRead",
    "PartitionsReader",
    "kafka_log_reader",
    "kafka_partitions_reader",
    "mark_key",
    "partition_of",
]

log = structlog.get_logger(component="incidents")
# Partitions to read, each from an offset (None: its beginning), to their records in order.
LogReader = Callable[[dict[int, int | None]], Awaitable[dict[int, list[LogRecord]]]]
RETRY_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class PartitionsRead:
    """The records of each partition read, and the end offset each was read to."""

    records: dict[int, list[LogRecord]]
    ends: dict[int, int]


# The same, with each partition's end offset: `PartitionsRead`.
PartitionsReader = Callable[[dict[int, int | None]], Awaitable[PartitionsRead]]


def partition_of(key: bytes, partitions: int = KEYED_PARTITIONS) -> int:
    """The partition a keyed record goes to: aiokafka's (and Java's) default partitioner."""
    hashed: int = murmur2(key)  # aiokafka is untyped
    return (hashed & 0x7FFFFFFF) % partitions


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
    """Reads partitions of `topic`, each from an offset (None: its beginning) to its end at
    the call, through one consumer; retried after a broker error."""
    read_partitions = kafka_partitions_reader(settings, topic)

    async def read(starts: dict[int, int | None]) -> dict[int, list[LogRecord]]:
        return (await read_partitions(starts)).records

    return read


def kafka_partitions_reader(settings: Settings, topic: str) -> PartitionsReader:
    """`kafka_log_reader`, also saying the end offset each partition was read to."""

    async def read(starts: dict[int, int | None]) -> PartitionsRead:
        failures = 0
        while True:
            try:
                return await _read(settings, topic, starts)
            except KafkaError as exc:  # the broker, not the records: wait and read again
                failures += 1
                delay = backoff_delay(failures, base=0.25, cap=RETRY_MAX_SECONDS)
                log.error(
                    "log_not_read_will_retry",
                    topic=topic,
                    error=repr(exc),
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)

    return read


async def _read(settings: Settings, topic: str, starts: dict[int, int | None]) -> PartitionsRead:
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        tps = {p: TopicPartition(topic, p) for p in starts}
        consumer.assign(list(tps.values()))
        # Offsets asked for all at once and sought explicitly: a seek to the beginning would
        # cost a fetcher round (fetch_max_wait_ms) per partition before its position is known.
        firsts = await consumer.beginning_offsets(list(tps.values()))
        for partition, start in starts.items():
            tp = tps[partition]
            consumer.seek(tp, firsts[tp] if start is None else max(start, firsts[tp]))
        ends = await consumer.end_offsets(list(tps.values()))
        records: dict[int, list[LogRecord]] = {p: [] for p in starts}
        while behind := [tp for tp in tps.values() if await consumer.position(tp) < ends[tp]]:
            for tp, batch in (await consumer.getmany(*behind, timeout_ms=500)).items():
                records[tp.partition] += [
                    LogRecord(r.key, r.partition, r.offset, r.value)
                    for r in batch
                    if r.offset < ends[tp]
                ]
        return PartitionsRead(records, {tp.partition: end for tp, end in ends.items()})
    finally:
        await consumer.stop()
