"""The gateway's shared state: settings, registry, pool, producer, listener; every wait bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.registry import Registry
from services.gateway.errors import ApiError, unavailable
from services.gateway.metrics import Metrics
from services.gateway.outcomes import EventListener
from services.gateway.settings import GatewaySettings
from services.gateway.streams import StreamSlots
from services.runtime import db
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock, system_clock
from services.runtime.kafka import make_producer

log = structlog.get_logger(component="gateway")
KafkaClients = Callable[[GatewaySettings], tuple[AIOKafkaProducer, EventListener]]
OpenPool = Callable[[GatewaySettings], Awaitable[asyncpg.Pool]]


def kafka_clients(settings: GatewaySettings) -> tuple[AIOKafkaProducer, EventListener]:
    """The producer of reports and commands, and the listener for their outcomes."""
    return make_producer(settings), EventListener(settings)


async def open_pool(settings: GatewaySettings) -> asyncpg.Pool:
    """A pool of the gateway role's connections, opened on first use."""
    return await db.create_pool(
        settings,
        url=settings.gateway_database_url,
        min_size=0,
        max_size=settings.gateway_db_pool_size,
    )


# What the gateway's PostgreSQL calls raise when the server is gone, refusing or shutting down.
DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


@dataclass
class Gateway:
    """What the routes share: settings, registry, pool, producer, the events listener, metrics.

    It starts whether or not Kafka and PostgreSQL answer: until they do, what needs them is
    answered 503 naming the part, and every wait on either is bounded by a setting. The
    clients come from `kafka_clients` and `open_pool`, which tests may replace.
    """

    settings: GatewaySettings
    registry: Registry
    metrics: Metrics
    clock: Clock = system_clock
    kafka_clients: KafkaClients = kafka_clients
    open_pool: OpenPool = open_pool
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    listener: EventListener | None = None
    streams: StreamSlots = field(init=False)
    _publishing: asyncio.Semaphore = field(init=False)
    _connecting: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.streams = StreamSlots(
            per_token=self.settings.gateway_streams_per_token,
            total=self.settings.gateway_streams_total,
        )
        self._publishing = asyncio.Semaphore(self.settings.gateway_publish_slots)

    async def start(self) -> None:
        """Make the pool (it connects on first use) and connect to Kafka in the background."""
        self.pool = await self.open_pool(self.settings)
        self._connecting = asyncio.create_task(self._connect_kafka(), name="gateway-kafka")
        # A healthy broker is ready before the first request; a dead one does not hold start.
        await asyncio.wait({self._connecting}, timeout=self.settings.gateway_kafka_timeout_seconds)
        log.info("gateway_started", port=self.settings.gateway_port)

    async def _connect_kafka(self) -> None:
        failures = 0
        while True:
            producer, listener = self.kafka_clients(self.settings)
            try:
                await producer.start()
                await listener.start()
            except (KafkaError, OSError) as error:
                await asyncio.gather(listener.stop(), producer.stop(), return_exceptions=True)
                failures += 1
                delay = backoff_delay(failures, base=0.5, cap=10.0)
                log.warning(
                    "kafka_unavailable_will_retry",
                    bootstrap=self.settings.kafka_bootstrap,
                    failures=failures,
                    retry_in_s=round(delay, 3),
                    error=repr(error)[:300],
                )
                await asyncio.sleep(delay)
                continue
            self.producer, self.listener = producer, listener
            log.info("kafka_connected", bootstrap=self.settings.kafka_bootstrap)
            return

    async def stop(self) -> None:
        """Close what start opened."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.listener is not None:
            await self.listener.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()

    @property
    def enterprises(self) -> list[str]:
        """Every enterprise of the registry: each has a task feed."""
        return [e.id for e in self.registry.enterprises]

    @asynccontextmanager
    async def database(self, *, extra_s: float = 0) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; the wait for it and the work on it bounded, else 503.

        `extra_s` is time the work may spend on something with a bound of its own (a send).
        """
        limit = self.settings.gateway_db_timeout_seconds
        with _database_down(limit):
            async with asyncio.timeout(limit):
                conn = await self.pool.acquire()
        reusable = False
        try:
            with _database_down(limit):
                async with asyncio.timeout(limit + extra_s):
                    yield conn
                reusable = True
        except ApiError as error:
            reusable = error.problems[0].field != "postgres"  # a 409 or a Kafka 503 leave it fine
            raise
        finally:
            if not reusable:
                # Cut, not reset: a reset or a query's cancel would wait on a hung server.
                conn.terminate()
            await self.pool.release(conn, timeout=limit)

    def kafka(self) -> tuple[AIOKafkaProducer, EventListener]:
        """The producer and the events listener, or 503 while Kafka has not been reached."""
        if self.producer is None or self.listener is None:
            reason = f"Kafka at {self.settings.kafka_bootstrap} has not been reached since start"
            raise unavailable("kafka", reason)
        return self.producer, self.listener

    def deadline(self) -> float:
        """The loop time by which Kafka must have taken a message sent from now."""
        return asyncio.get_running_loop().time() + self.settings.gateway_kafka_timeout_seconds

    @asynccontextmanager
    async def publish_slot(self, deadline: float) -> AsyncIterator[None]:
        """One of the few publishes that may hold a connection while Kafka takes the report."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._publishing.acquire()
        except TimeoutError:
            slots = self.settings.gateway_publish_slots
            reason = f"all {slots} publish slots are waiting for Kafka"
            raise unavailable("kafka", reason) from None
        self.metrics.publishing.inc()
        try:
            yield
        finally:
            self.metrics.publishing.dec()
            self._publishing.release()

    async def send(self, topic: str, value: bytes, *, key: bytes, deadline: float) -> None:
        """Send one message and wait until Kafka has it, by `deadline`, else 503."""
        producer, _ = self.kafka()
        try:
            async with asyncio.timeout_at(deadline):
                await (await producer.send(topic, value, key=key))
        except TimeoutError:
            limit = self.settings.gateway_kafka_timeout_seconds
            raise unavailable(
                "kafka", f"Kafka did not take the message within {limit:g} s"
            ) from None
        except KafkaError as error:
            log.error("kafka_send_failed", topic=topic, error=repr(error)[:300])
            raise unavailable(
                "kafka", f"Kafka refused the message ({type(error).__name__})"
            ) from None


@contextmanager
def _database_down(limit: float) -> Iterator[None]:
    """PostgreSQL's silence or absence as a 503 naming it."""
    try:
        yield
    except TimeoutError:
        raise unavailable("postgres", f"PostgreSQL did not answer within {limit:g} s") from None
    except DATABASE_DOWN as error:
        log.error("database_unavailable", error=repr(error)[:300])
        reason = f"PostgreSQL cannot be reached ({type(error).__name__})"
        raise unavailable("postgres", reason) from None
