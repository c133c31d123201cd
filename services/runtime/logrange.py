"""Reading topics by time range: offsets for times, assigned partitions, no consumer group.

The auditor never joins a production consumer group and never commits an offset: it assigns
partitions itself and keeps its position where it chooses (the replay schema).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.runtime.errors import SignalPostError
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings


class LogRangeError(SignalPostError):
    """A topic to read is missing from the broker."""


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets [first, end) of one partition: what a time range covers there."""

    topic: str
    partition: int
    first: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.first)


def reader(settings: Settings, *, batch_max: int = 5000) -> AIOKafkaConsumer:
    """A consumer outside any group (assign, never subscribe; nothing to commit)."""
    return make_consumer(settings, group_id=None, max_poll_records=batch_max)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def spans(
    consumer: AIOKafkaConsumer,
    topics: Iterable[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Span]:
    """Per partition of `topics`, the offsets of records timestamped in [since, until)."""
    # consumer.topics() fetches every topic's metadata but keeps it from
    # partitions_for_topic(); the cluster it fetched has the partitions.
    cluster = await consumer._client.fetch_all_metadata()
    partitions = []
    for topic in topics:
        found = cluster.partitions_for_topic(topic)
        if not found:
            raise LogRangeError(f"topic {topic} does not exist on the broker")
        partitions += [TopicPartition(topic, p) for p in sorted(found)]
    begin = await consumer.beginning_offsets(partitions)
    end = await consumer.end_offsets(partitions)
    first = await _offsets_at(consumer, partitions, since, begin, end)
    last = await _offsets_at(consumer, partitions, until, end, end)
    return sorted(
        (Span(tp.topic, tp.partition, first[tp], max(first[tp], last[tp])) for tp in partitions),
        key=lambda s: (s.topic, s.partition),
    )


async def _offsets_at(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    at: datetime | None,
    default: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """The first offset stamped at or after `at` (the end when none is); `default` if no `at`."""
    if at is None or not partitions:
        return dict(default)
    found = await consumer.offsets_for_times({tp: _ms(at) for tp in partitions})
    return {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in partitions}


async def read(
    consumer: AIOKafkaConsumer,
    ranges: Iterable[Span],
    *,
    timeout_ms: int = 500,
) -> AsyncIterator[dict[TopicPartition, list[ConsumerRecord]]]:
    """Batches of records inside `ranges` (from each span's first offset) until all are read."""
    todo = {TopicPartition(s.topic, s.partition): s for s in ranges if s.size > 0}
    consumer.assign(list(todo))
    for tp, span in todo.items():
        consumer.seek(tp, span.first)
    while todo:
        polled = await consumer.getmany(*todo, timeout_ms=timeout_ms)
        batch = {}
        for tp, records in polled.items():
            reading = todo.get(tp)
            if reading is None:
                continue
            inside = [r for r in records if r.offset < reading.end]
            if inside:
                batch[tp] = inside
            if len(inside) < len(records) or (records and records[-1].offset + 1 >= reading.end):
                del todo[tp]
        for tp in list(todo):
            # Transaction markers and compacted gaps leave no record at end-1.
            if await consumer.position(tp) >= todo[tp].end:
                del todo[tp]
        if batch:
            yield batch
