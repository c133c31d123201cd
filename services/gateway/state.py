"""The gateway's shared state: settings, registry, pool, producer, listener; every wait bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.registry import Registry
from services.gateway import store
from services.gateway.alert_rules import AlertRules, load_alert_rules
from services.gateway.batch import ItemResult
from services.gateway.coalesce import Coalescer
from services.gateway.errors import ApiError, unavailable
from services.gateway.intake import Admitted
from services.gateway.metrics import Metrics
from services.gateway.outcomes import EventListener
from services.gateway.settings import GatewaySettings
from services.gateway.streams import StreamSlots
from services.gateway.tokens import Holder, holders_of
from services.runtime import db
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock, system_clock
from services.runtime.kafka import make_producer
from services.runtime.topics import topic_name

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
    # Concurrent single publishes share a flush (rows, sends, one wait for the acks), and
    # concurrent requests a token lookup: see coalesce.py.
    reports: Coalescer[tuple[Admitted, float], ItemResult] = field(init=False)
    tokens: Coalescer[tuple[str, float], Holder | None] = field(init=False)
    _publishing: asyncio.Semaphore = field(init=False)
    # Read at construction: a bad mapping file stops the gateway before it serves.
    alert_rules: AlertRules = field(init=False)
    _connecting: asyncio.Task[None] | None = None
    ack_link_secret: str = field(init=False, repr=False, default="")

    def __post_init__(self) -> None:
        self.alert_rules = load_alert_rules(self.settings.gateway_alertmanager_mapping)
        self.streams = StreamSlots(
            per_token=self.settings.gateway_streams_per_token,
            total=self.settings.gateway_streams_total,
        )
        self._publishing = asyncio.Semaphore(self.settings.gateway_publish_slots)
        self.reports = Coalescer(
            self._flush_publishes,
            concurrency=min(
                self.settings.gateway_publish_flushes, self.settings.gateway_publish_slots
            ),
            max_items=self.settings.gateway_batch_max_items,
        )
        self.tokens = Coalescer(
            self._lookup_tokens,
            concurrency=self.settings.gateway_lookup_flushes,
            max_items=self.settings.gateway_batch_max_items,
        )

    async def start(self) -> None:
        """Make the pool (it connects on first use) and connect to Kafka in the background."""
        # Made now if missing, so the notifier and the gateway agree from the first link on.
        self.ack_link_secret = self.settings.ack_link_secret()
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
        """Close what start opened, once the flushes that are out are done."""
        await asyncio.gather(self.reports.close(), self.tokens.close())
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
            raise _no_slot(self.settings) from None
        self.metrics.publishing.inc()
        try:
            yield
        finally:
            self.metrics.publishing.dec()
            self._publishing.release()

    async def send(self, topic: str, value: bytes, *, key: bytes, deadline: float) -> None:
        """Send one message and wait until Kafka has it, by `deadline`, else 503."""
        (failure,) = await self.send_many([(topic, value, key)], deadline=deadline)
        if failure is not None:
            raise failure

    async def send_many(
        self, messages: Sequence[tuple[str, bytes, bytes]], *, deadline: float
    ) -> list[ApiError | None]:
        """Send every (topic, value, key), then wait once for all their acks, by `deadline`:
        for each, None once Kafka has it, or the 503 saying why not."""
        producer, _ = self.kafka()
        acks: list[asyncio.Future[Any] | ApiError] = []
        try:
            async with asyncio.timeout_at(deadline):
                for topic, value, key in messages:
                    acks.append(await self._send_one(producer, topic, value, key))
                pending = [a for a in acks if isinstance(a, asyncio.Future)]
                if pending:
                    await asyncio.wait(pending)
        except TimeoutError:
            pass
        outcomes = [_ack_outcome(a, self.settings) for a in acks]
        outcomes += [_late(self.settings)] * (len(messages) - len(acks))
        failed = [o for o in outcomes if o is not None]
        if failed:
            reason = failed[0].problems[0].reason
            log.error("kafka_send_failed", failed=len(failed), of=len(messages), reason=reason)
        return outcomes

    @staticmethod
    async def _send_one(
        producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes
    ) -> asyncio.Future[Any] | ApiError:
        try:
            ack: asyncio.Future[Any] = await producer.send(topic, value, key=key)
        except KafkaError as error:
            return _refused_by_kafka(error)
        # Retrieved here, so a send given up at the deadline is not logged as unretrieved.
        ack.add_done_callback(lambda done: done.cancelled() or done.exception())
        return ack

    async def publish(self, admitted: Admitted) -> ItemResult:
        """One report flushed with the concurrent publishes (one round trip, one wait for the
        acks), within the Kafka deadline from now."""
        deadline = self.deadline()
        try:
            return await self.reports.submit((admitted, deadline), deadline=deadline)
        except TimeoutError:
            raise _no_slot(self.settings) from None

    async def _flush_publishes(self, items: list[tuple[Admitted, float]]) -> list[ItemResult]:
        return await self.accept_reports(
            [admitted for admitted, _ in items], deadline=min(d for _, d in items)
        )

    async def accept_reports(
        self, admitted: Sequence[Admitted], *, deadline: float | None = None
    ) -> list[ItemResult]:
        """Record and send the reports together (one flush), Kafka's part by `deadline` (by
        default the Kafka timeout from now); a slow Kafka holds few connections."""
        self.kafka()  # no connection is taken for a send that cannot happen
        self.metrics.flushed.observe(len(admitted))
        deadline = self.deadline() if deadline is None else deadline
        prefix = self.settings.topic_prefix

        async def send_all(items: Sequence[Admitted]) -> list[ApiError | None]:
            # Keyed by incident key, so an alarm and its clear stay in order on one partition.
            messages = [
                (topic_name(a.topic, prefix), a.value, a.incident_key.encode()) for a in items
            ]
            return await self.send_many(messages, deadline=deadline)

        async with (
            self.publish_slot(deadline),
            self.database(extra_s=self.settings.gateway_kafka_timeout_seconds) as conn,
        ):
            return await store.accept_reports(conn=conn, admitted=admitted, send_all=send_all)

    async def holder(self, secret: str) -> Holder | None:
        """The token's holder, looked up with the concurrent requests' tokens in one query,
        within the database timeout from now."""
        limit = self.settings.gateway_db_timeout_seconds
        deadline = asyncio.get_running_loop().time() + limit
        try:
            return await self.tokens.submit((secret, deadline), deadline=deadline)
        except TimeoutError:
            raise unavailable("postgres", f"PostgreSQL did not answer within {limit:g} s") from None

    async def _lookup_tokens(self, items: list[tuple[str, float]]) -> list[Holder | None]:
        limit = self.settings.gateway_db_timeout_seconds
        try:
            async with asyncio.timeout_at(min(d for _, d in items)):
                async with self.database() as conn:
                    return await holders_of(conn=conn, secrets=[s for s, _ in items])
        except TimeoutError:
            raise unavailable("postgres", f"PostgreSQL did not answer within {limit:g} s") from None


def _no_slot(settings: GatewaySettings) -> ApiError:
    slots = settings.gateway_publish_slots
    return unavailable("kafka", f"all {slots} publish slots are waiting for Kafka")


def _ack_outcome(ack: asyncio.Future[Any] | ApiError, settings: GatewaySettings) -> ApiError | None:
    if isinstance(ack, ApiError):
        return ack
    if not ack.done() or ack.cancelled():
        return _late(settings)
    error = ack.exception()
    if error is None:
        return None
    if isinstance(error, KafkaError):
        return _refused_by_kafka(error)
    raise error


def _late(settings: GatewaySettings) -> ApiError:
    limit = settings.gateway_kafka_timeout_seconds
    return unavailable("kafka", f"Kafka did not take the message within {limit:g} s")


def _refused_by_kafka(error: KafkaError) -> ApiError:
    return unavailable("kafka", f"Kafka refused the message ({type(error).__name__})")


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
