"""Paths into SignalPost for the simulator: one publisher per path, behind one small interface."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from schemas.codec import encode
from schemas.commands import CommandBase
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from services.runtime.topics import INCIDENT_COMMANDS, enterprise_report_topic, topic_name
from services.simulator.paths import Path, Via, command_path, report_path
from services.simulator.scenario import ScenarioMessage

__all__ = ["KafkaPublisher", "Publisher", "RoutingPublisher"]

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
        """Messages the path could not deliver (broker or gateway errors)."""

    @property
    def refused(self) -> int:
        """Messages the path turned away with a reason (the gateway's 4xx)."""


class KafkaPublisher:
    """Reports onto their report topics, commands onto incidents.commands, as real publishers do.

    An enterprise given in `own_users` (its Kafka user and password) publishes as itself, on
    its own report topics; any other report goes on the shared topic of its kind as the
    settings' user.
    """

    def __init__(
        self, settings: Settings, own_users: Mapping[str, tuple[str, str]] | None = None
    ) -> None:
        self._settings = settings
        self._prefix = settings.topic_prefix
        self._own_users = dict(own_users or {})
        self._producer: AIOKafkaProducer | None = None
        self._own: dict[str, AIOKafkaProducer] = {}
        self._pending: set[asyncio.Future[Any]] = set()
        self.failures = 0
        self.refused = 0  # Kafka takes any bytes: the router dead-letters what it cannot read

    async def start(self) -> None:
        # aiokafka binds a producer to the running loop, so it is made here, not in __init__.
        self._producer = make_producer(self._settings)
        for enterprise, (user, password) in self._own_users.items():
            self._own[enterprise] = make_producer(
                self._settings.model_copy(
                    update={"kafka_username": user, "kafka_password": SecretStr(password)}
                )
            )
        await asyncio.gather(self._producer.start(), *(p.start() for p in self._own.values()))

    async def publish_report(self, message: ScenarioMessage) -> None:
        # Reports are keyed by report id, as the README's publisher does; the router does not
        # depend on the key. Acks are awaited at the end, so a storm goes out at full speed.
        own = self._own.get(message.reported_by)
        if own is not None and message.kind:
            topic = topic_name(
                enterprise_report_topic(message.reported_by, message.kind), self._prefix
            )
            await self._track(own.send(topic, message.value, key=message.key))
            return
        topic = topic_name(message.topic, self._prefix)
        await self._track(self._started().send(topic, message.value, key=message.key))

    async def send_command(self, command: CommandBase) -> None:
        # Keyed by incident key: the command meets the incident's state on its partition.
        topic = topic_name(INCIDENT_COMMANDS, self._prefix)
        await self._track(
            self._started().send(topic, encode(command), key=command.incident_key.encode())
        )

    async def stop(self) -> None:
        if self._producer is None:
            return
        if self._pending:
            await asyncio.wait(self._pending)
        await asyncio.gather(self._producer.stop(), *(p.stop() for p in self._own.values()))

    def _started(self) -> AIOKafkaProducer:
        assert self._producer is not None, "publish only after start()"
        return self._producer

    async def _track(self, sending: Awaitable[asyncio.Future[Any]]) -> None:
        try:
            future = await sending
        except KafkaError as exc:
            self._failed(exc)
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        log.error("simulator_send_failed", error=repr(exc))


class RoutingPublisher:
    """Each message by the path `paths` chooses for it: Kafka or the gateway, from the seed."""

    def __init__(
        self, *, seed: int, via: Via, kafka: Publisher | None, gateway: Publisher | None
    ) -> None:
        self.seed = seed
        self.via = via
        # The gateway first: when it is not there, the run stops before anything is sent.
        self._paths: dict[Path, Publisher | None] = {Path.GATEWAY: gateway, Path.KAFKA: kafka}
        self.reports: Counter[Path] = Counter()
        self.commands: Counter[Path] = Counter()

    async def start(self) -> None:
        for path in self._open_paths():
            await path.start()

    async def publish_report(self, message: ScenarioMessage) -> None:
        path = report_path(message, seed=self.seed, via=self.via)
        self.reports[path] += 1
        await self._open(path).publish_report(message)

    async def send_command(self, command: CommandBase) -> None:
        path = command_path(self.via)
        self.commands[path] += 1
        await self._open(path).send_command(command)

    async def stop(self) -> None:
        # Each path is flushed and closed even when another one fails to.
        results = await asyncio.gather(
            *(path.stop() for path in self._open_paths()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    @property
    def failures(self) -> int:
        return sum(path.failures for path in self._open_paths())

    @property
    def refused(self) -> int:
        return sum(path.refused for path in self._open_paths())

    def _open(self, path: Path) -> Publisher:
        publisher = self._paths[path]
        assert publisher is not None, f"no {path} publisher, yet --via {self.via} chose it"
        return publisher

    def _open_paths(self) -> list[Publisher]:
        return [path for path in self._paths.values() if path is not None]
