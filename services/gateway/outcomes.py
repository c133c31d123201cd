"""The gateway's one reader of `incidents.events`: command outcomes, and incidents it has seen.

It starts at the end of the log when the gateway starts: it only has to hear the answers to
commands sent from then on, and the incidents opened since (the recorder has the older ones).
It keeps the first outcome of each command it hears, so that a resent command id is answered
the same again (the incident manager stays silent on a command it has already seen). A
command id is the client's choice: outcomes are kept by incident and command id, so that
another enterprise's command of the same id on another incident tells a caller nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT
from schemas.errors import ContractError, ErrorBody
from schemas.lifecycle import CommandRejected, IncidentRouted, TaskEventBase
from services.runtime.backoff import backoff_delay
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import CATALOG, INCIDENT_EVENTS, topic_name

log = structlog.get_logger(component="gateway")
EVENT_PARTITIONS = next(s.partitions for s in CATALOG if s.name == INCIDENT_EVENTS)
MAX_REMEMBERED = 100_000  # incidents and command outcomes, each
K = TypeVar("K")
V = TypeVar("V")
CommandKey = tuple[str, str]
"""(incident id, command id): which command of which incident an outcome answers."""


@dataclass(frozen=True)
class CommandOutcome:
    """What the incident manager made of a command: the events, or the rejection."""

    accepted: bool
    event_types: tuple[str, ...] = ()
    error: ErrorBody | None = None


def outcome_of(event_type: str, error: ErrorBody | dict | None = None) -> CommandOutcome:
    """The outcome a command's first event tells: a rejection with its error, or accepted."""
    if event_type == "command_rejected":
        return CommandOutcome(accepted=False, error=ErrorBody.model_validate(error))
    return CommandOutcome(accepted=True, event_types=(event_type,))


@dataclass
class SeenIncident:
    """An incident heard on the log: its key, and every enterprise given a task on it."""

    incident_key: str
    enterprises: set[str] = field(default_factory=set)


class EventListener:
    """Follows the log from the end; resolves waiting commands; remembers recent incidents.

    Nothing ends it but `stop`: a record it cannot use is logged and skipped, and a failed
    fetch is retried with back-off and jitter.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        consumer: AIOKafkaConsumer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
        self._consumer = consumer or make_consumer(settings, group_id=None)
        self._sleep = sleep
        self._draw = draw
        self._waiting: dict[CommandKey, list[asyncio.Future[CommandOutcome]]] = {}
        self.incidents: OrderedDict[str, SeenIncident] = OrderedDict()
        self.outcomes: OrderedDict[CommandKey, CommandOutcome] = OrderedDict()
        self.fetch_failures = 0  # consecutive; 0 once a fetch works again
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
        """Still following the log, and its last fetch worked."""
        return self._task is not None and not self._task.done() and self.fetch_failures == 0

    def expect(self, key: CommandKey) -> asyncio.Future[CommandOutcome]:
        """A future for the outcome of a command about to be sent (one per waiting request).

        Already done when the command's outcome has been heard: a resent id, not to send again.
        """
        future = asyncio.get_running_loop().create_future()
        if key in self.outcomes:
            future.set_result(self.outcomes[key])
        else:
            self._waiting.setdefault(key, []).append(future)
        return future

    def forget(self, key: CommandKey, future: asyncio.Future[CommandOutcome]) -> None:
        """Stop waiting for a command (answered, or given up on)."""
        waiting = self._waiting.get(key, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._waiting.pop(key, None)

    async def _follow(self) -> None:
        while True:
            try:
                polled = await self._consumer.getmany(timeout_ms=1000, max_records=1000)
            except Exception as error:  # a broker error is not the records' fault: try again
                self.fetch_failures += 1
                delay = backoff_delay(self.fetch_failures, base=0.1, cap=5.0, draw=self._draw)
                log.warning(
                    "events_fetch_failed_will_retry",
                    topic=self._topic,
                    failures=self.fetch_failures,
                    retry_in_s=round(delay, 3),
                    error=repr(error)[:300],
                )
                await self._sleep(delay)
                continue
            self.fetch_failures = 0
            for records in polled.values():
                for record in records:
                    self._hear_safely(record)

    def _hear_safely(self, record: ConsumerRecord) -> None:
        try:
            self._hear(record)
        except Exception as error:  # one record never ends the listener: log it, move on
            log.error(
                "event_skipped",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=repr(error)[:300],
            )

    def _hear(self, record: ConsumerRecord) -> None:
        try:
            event = decode(INCIDENT_EVENT, record.value or b"")
        except ContractError as error:
            log.error(
                "unreadable_event",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(error)[:300],
            )
            return
        self._remember(event)
        command_id = event.command_id if isinstance(event, CommandRejected) else None
        command_id = command_id or event.caused_by.command_id
        if command_id is None:
            return
        key = (event.incident_id, command_id)
        if key in self.outcomes:
            return  # a command can cause several events in one decision; the first tells
        error = event.error if isinstance(event, CommandRejected) else None
        outcome = outcome_of(event.type, error)
        _bounded_put(self.outcomes, key, outcome)
        for future in self._waiting.get(key, ()):
            if not future.done():
                future.set_result(outcome)

    def _remember(self, event: object) -> None:
        if isinstance(event, CommandRejected):
            return
        seen = self.incidents.get(event.incident_id)
        if seen is None:
            seen = _bounded_put(self.incidents, event.incident_id, SeenIncident(event.incident_key))
        if isinstance(event, IncidentRouted):
            seen.enterprises.update(t.enterprise for t in event.tasks)
        elif isinstance(event, TaskEventBase):
            seen.enterprises.add(event.enterprise)


def _bounded_put(memory: OrderedDict[K, V], key: K, value: V) -> V:
    """Remember `value`, forgetting the oldest entry beyond MAX_REMEMBERED."""
    memory[key] = value
    if len(memory) > MAX_REMEMBERED:
        memory.popitem(last=False)
    return value
