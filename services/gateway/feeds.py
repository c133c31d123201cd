"""Reading enterprises' task feeds without a consumer group: assign, seek, read, remember where."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import decode
from schemas.contracts import TASK
from schemas.errors import ContractError
from schemas.tasks import Task
from services.gateway.positions import Positions
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import task_feed, task_feeds, topic_name

log = structlog.get_logger(component="gateway")
# From the catalog: every enterprise's feed has the same number of partitions.
FEED_PARTITIONS = task_feeds(["any"])[0].partitions
SNAPSHOT_DEADLINE_S = 30
Delivery = tuple[tuple[str, int], int, Task]  # (enterprise, partition), offset, task


class FeedReader:
    """One reader of some enterprises' feeds; a caller each, no group, no committed offsets."""

    def __init__(self, settings: Settings, enterprises: Iterable[str]) -> None:
        self._enterprise_of = {
            topic_name(task_feed(e), settings.topic_prefix): e for e in enterprises
        }
        self._consumer: AIOKafkaConsumer = make_consumer(
            settings, group_id=None, auto_offset_reset="earliest"
        )
        self._partitions = [
            TopicPartition(topic, p)
            for topic in self._enterprise_of
            for p in range(FEED_PARTITIONS)
        ]
        self.positions: Positions = {}

    def _slot(self, tp: TopicPartition) -> tuple[str, int]:
        return self._enterprise_of[tp.topic], tp.partition

    async def open(self, start: Positions | None = None, *, at_end: bool = False) -> None:
        """Start at `start` where given, else at the beginning (or the end with `at_end`)."""
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        start = start or {}
        rest = []
        for tp in self._partitions:
            if self._slot(tp) in start:
                self._consumer.seek(tp, start[self._slot(tp)])
            else:
                rest.append(tp)
        if rest:
            await (self._consumer.seek_to_end if at_end else self._consumer.seek_to_beginning)(
                *rest
            )
        for tp in self._partitions:
            self.positions[self._slot(tp)] = await self._consumer.position(tp)

    async def close(self) -> None:
        """Leave the broker; nothing to commit."""
        await self._consumer.stop()

    async def read(self, timeout_ms: int) -> list[Delivery]:
        """The next tasks with the position after each; a record that is no task is logged."""
        polled = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=500)
        delivered: list[Delivery] = []
        for tp, records in polled.items():
            slot = self._slot(tp)
            for record in records:
                self.positions[slot] = record.offset + 1
                try:
                    delivered.append((slot, record.offset, decode(TASK, record.value or b"")))
                except ContractError as error:
                    # The incident manager only writes tasks here; say so loudly, move on.
                    log.error(
                        "not_a_task_on_feed",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                        error=str(error)[:300],
                    )
        return delivered

    async def snapshot(self, timeout_ms: int = 500) -> list[Task]:
        """Every task from the beginning up to the feeds' ends as of now."""
        await self.open()
        try:
            ends = await self._consumer.end_offsets(self._partitions)
            tasks: list[Task] = []
            async with asyncio.timeout(SNAPSHOT_DEADLINE_S):
                while any(self.positions[self._slot(tp)] < end for tp, end in ends.items()):
                    tasks.extend(task for _, _, task in await self.read(timeout_ms))
                    # The consumer's own position also steps over gaps in the offsets.
                    for tp in self._partitions:
                        self.positions[self._slot(tp)] = await self._consumer.position(tp)
            return tasks
        finally:
            await self.close()
