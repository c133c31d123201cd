"""Paths into SignalPost for the simulator: one publisher per path, behind one small interface."""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.codec import encode
from schemas.commands import CommandBase
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from services.runtime.topics import INCIDENT_COMMANDS, topic_name
from services.simulator.scenario import ScenarioMessage

__all__ = ["KafkaPublisher", "Publisher"]

log = structlog.get_logger(component="simulator")


class Publisher(Protocol):
    """Where the simulator's reports and dispatcher commands go in."""

    async def start(self) -> None:
        """Open the path."""

    async def publish_report(self, message: ScenarioMessage) -> None:
        """Send one report message (valid or not) as its publisher would."""

    async def send_command(self, command: CommandBase) -> None:
        """Send one dispatcher command."""

    async def stop(self) -> None:
        """Wait for what was sent to be accepted, then close; failures are logged."""

    @property
    def failures(self) -> int:
        """Messages the path did not accept."""


class KafkaPublisher:
    """Reports onto their report topics, commands onto incidents.commands, as real publishers do."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._prefix = settings.topic_prefix
        self._producer: AIOKafkaProducer | None = None
        self._pending: set[asyncio.Future] = set()
        self.failures = 0

    async def start(self) -> None:
        # aiokafka binds a producer to the running loop, so it is made here, not in __init__.
        self._producer = make_producer(self._settings)
        await self._producer.start()

    async def publish_report(self, message: ScenarioMessage) -> None:
        # Reports are keyed by report id, as the README's publisher does; the router does not
        # depend on the key. Acks are awaited at the end, so a storm goes out at full speed.
        topic = topic_name(message.topic, self._prefix)
        await self._track(self._producer.send(topic, message.value, key=message.key))

    async def send_command(self, command: CommandBase) -> None:
        # Keyed by incident key: the command meets the incident's state on its partition.
        topic = topic_name(INCIDENT_COMMANDS, self._prefix)
        await self._track(
            self._producer.send(topic, encode(command), key=command.incident_key.encode())
        )

    async def stop(self) -> None:
        if self._producer is None:
            return
        if self._pending:
            await asyncio.wait(self._pending)
        await self._producer.stop()

    async def _track(self, sending) -> None:
        try:
            future = await sending
        except KafkaError as exc:
            self._failed(exc)
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            self._failed(future.exception())

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        log.error("simulator_send_failed", error=repr(exc))
