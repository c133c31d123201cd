"""The gateway's one reader of `incidents.events`: command outcomes, and incidents it has seen.

It starts at the end of the log when the gateway starts: it only has to hear the answers to
commands sent from then on, and the incidents opened since (the recorder has the older ones).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT
from schemas.errors import ContractError, ErrorBody
from schemas.lifecycle import CommandRejected, IncidentRouted, TaskEventBase
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import CATALOG, INCIDENT_EVENTS, topic_name

log = structlog.get_logger(component="gateway")
EVENT_PARTITIONS = next(s.partitions for s in CATALOG if s.name == INCIDENT_EVENTS)
MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class Outcome:
    """What the incident manager made of a command: the events, or the rejection."""

    accepted: bool
    event_types: tuple[str, ...] = ()
    error: ErrorBody | None = None


@dataclass
class SeenIncident:
    """An incident heard on the log: its key, and every enterprise given a task on it."""

    incident_key: str
    enterprises: set[str] = field(default_factory=set)


class EventListener:
    """Follows the log from the end; resolves waiting commands; remembers recent incidents."""

    def __init__(self, settings: Settings) -> None:
        self._topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
        self._consumer: AIOKafkaConsumer = make_consumer(settings, group_id=None)
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self.incidents: OrderedDict[str, SeenIncident] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Position at the end of every partition, then follow in the background."""
        partitions = [TopicPartition(self._topic, p) for p in range(EVENT_PARTITIONS)]
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)  # fixed now, so nothing after start is missed
        self._task = asyncio.create_task(self._follow(), name="gateway-events")

    async def stop(self) -> None:
        """Stop following and leave the broker."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    @property
    def healthy(self) -> bool:
        """Still following the log."""
        return self._task is not None and not self._task.done()

    def expect(self, command_id: str) -> asyncio.Future[Outcome]:
        """A future for the outcome of a command about to be sent."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        return future

    def forget(self, command_id: str) -> None:
        """Stop waiting for a command (answered, or given up on)."""
        self._waiting.pop(command_id, None)

    async def _follow(self) -> None:
        while True:
            polled = await self._consumer.getmany(timeout_ms=1000, max_records=1000)
            for records in polled.values():
                for record in records:
                    self._hear(record.value or b"", record.offset)

    def _hear(self, value: bytes, offset: int) -> None:
        try:
            event = decode(INCIDENT_EVENT, value)
        except ContractError as error:
            log.error("unreadable_event", offset=offset, error=str(error)[:300])
            return
        self._remember(event)
        command_id = event.command_id if isinstance(event, CommandRejected) else None
        command_id = command_id or event.caused_by.command_id
        future = self._waiting.get(command_id) if command_id else None
        if future is None or future.done():
            return
        if isinstance(event, CommandRejected):
            future.set_result(Outcome(accepted=False, error=event.error))
        else:
            # A command can cause several events in one decision; the first tells the answer.
            future.set_result(Outcome(accepted=True, event_types=(event.type,)))

    def _remember(self, event: object) -> None:
        if isinstance(event, CommandRejected):
            return
        seen = self.incidents.get(event.incident_id)
        if seen is None:
            seen = self.incidents[event.incident_id] = SeenIncident(event.incident_key)
            if len(self.incidents) > MAX_REMEMBERED:
                self.incidents.popitem(last=False)
        if isinstance(event, IncidentRouted):
            seen.enterprises.update(t.enterprise for t in event.tasks)
        elif isinstance(event, TaskEventBase):
            seen.enterprises.add(event.enterprise)
