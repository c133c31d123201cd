"""What the agent sends for a batch, and the one wait for the brokers' acks of all of it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.incidents.handler import LogPosition
from services.incidents.log import partition_of
from services.runtime.backoff import backoff_delay

log = structlog.get_logger(component="incidents")
Outgoing = tuple[str, bytes | None, bytes]  # topic, key, value
Decision = tuple[bytes, Sequence[bytes]]  # one input's key and its encoded events
RETRY_MAX_SECONDS = 30.0
# The broker appends a record batch whole; the events of one decision go in one (the codec
# bounds a message to 256 KiB, the broker a batch to 1 MiB).
BATCH_BYTES = 512 * 1024
RECORD_OVERHEAD = 64  # a record's length, attributes, deltas and header count, at most


async def send_until_acked(
    producer: AIOKafkaProducer,
    messages: list[Outgoing],
    *,
    log_topic: str = "",
    decisions: Sequence[Decision] = (),
) -> list[LogPosition]:
    """Send a batch's decisions to the log and its other messages, and wait for every ack,
    sending all again after a broker error. Returns where each decision's last event is.

    No state is written before this returns, so a broker outage holds the agent back and
    loses nothing; a message sent twice carries the same event id, which the recorder keeps
    once (and the catch-up after a crash knows as a repeat), and a task update sent twice
    says the same thing twice.
    """
    failures = 0
    while True:
        try:
            batches = _record_batches(producer, decisions)
            sends = [
                await producer.send_batch(b.builder, log_topic, partition=b.partition)
                for b in batches
            ]
            sends += [await producer.send(topic, value, key=key) for topic, key, value in messages]
            acks = await asyncio.gather(*sends)
            return _positions(batches, acks, len(decisions))
        except KafkaError as exc:
            failures += 1
            delay = backoff_delay(failures, base=0.25, cap=RETRY_MAX_SECONDS)
            log.error(
                "batch_not_published_will_retry",
                error=repr(exc),
                failures=failures,
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)


@dataclass
class _RecordBatch:
    partition: int
    builder: Any
    ends: list[tuple[int, int]] = field(default_factory=list)  # decision, its last record


def _record_batches(
    producer: AIOKafkaProducer, decisions: Sequence[Decision]
) -> list[_RecordBatch]:
    """The decisions' events in record batches by partition, each decision whole in one.

    The broker appends a record batch whole, so a crash while a batch is sent leaves no half
    decision in the log for the catch-up to take for a whole one (its input would then be
    known as seen, and the rest of its events never sent). Only a decision larger than a
    batch on its own is split.
    """
    batches: list[_RecordBatch] = []
    current: dict[int, _RecordBatch] = {}
    for index, (key, values) in enumerate(decisions):
        partition = partition_of(key)
        size = sum(len(key) + len(value) + RECORD_OVERHEAD for value in values)
        batch = current.get(partition)
        if batch is None or batch.builder.size() + size > BATCH_BYTES:
            batch = current[partition] = _RecordBatch(partition, producer.create_batch())
            batches.append(batch)
        for value in values:
            while batch.builder.append(key=key, value=value, timestamp=None) is None:
                batch = current[partition] = _RecordBatch(partition, producer.create_batch())
                batches.append(batch)
        batch.ends.append((index, batch.builder.record_count() - 1))
    return batches


def _positions(batches: list[_RecordBatch], acks: Sequence[Any], count: int) -> list[LogPosition]:
    at: list[LogPosition] = [(-1, -1)] * count
    for batch, ack in zip(batches, acks, strict=False):
        for index, relative in batch.ends:
            at[index] = (ack.partition, ack.offset + relative)
    return at
