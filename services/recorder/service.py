"""The recorder service: the event log, dead letters and rule sets into PostgreSQL, in batches.

Offsets live in PostgreSQL, written in the same transaction as the rows they produced, and
the consumer seeks to them whenever it is given partitions; the broker's committed offsets
are never used. A crash anywhere means the batch is read again and found already recorded.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.registry import load_registry
from services.recorder import store
from services.recorder.collection import BatchCollection
from services.recorder.rows import CONTRACT_OF_TOPIC, Batch, sort_out
from services.recorder.settings import RecorderSettings
from services.recorder.store import RecordCounts
from services.runtime import db
from services.runtime.backoff import backoff_delay
from services.runtime.errors import SignalPostError
from services.runtime.kafka import service_consumer
from services.runtime.topics import topic_name

settings_class = RecorderSettings
log = structlog.get_logger(component="recorder")
T = TypeVar("T")
# Records decoded between two turns of the event loop, so the previous batch's database
# round trips are not held up for a whole batch's worth of decoding.
DECODE_SLICE = 250

# The database is away (stopped, restarting, unreachable, out of connections) or refuses the
# work for a reason of its own (failed over to a read-only replica, a missing migration, a
# revoked grant): wait and try the same work again, never skip it. What the database refuses
# about one row never gets here: store.record sets that row aside (store.ROW_ERRORS).
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# A connection cut off mid-operation by an outage can come back from the pool with its
# protocol state broken ("another operation is in progress"): it is closed, never reused.
BROKEN_CONNECTION = (asyncpg.InterfaceError, asyncpg.InternalClientError)
# First back-off step, in seconds; it doubles up to recorder_retry_max_seconds.
RETRY_BASE_SECONDS = 0.2


class Stopped(SignalPostError):
    """The recorder was asked to stop while it waited for the database."""


OpenPool = Callable[[RecorderSettings], Awaitable[asyncpg.Pool]]


async def open_pool(settings: RecorderSettings) -> asyncpg.Pool:
    """A pool of service-role connections to the settings' database."""
    return await db.create_pool(settings)


def build(
    settings: RecorderSettings,
    *,
    draw: Callable[[], float] = random.random,
    consumer: AIOKafkaConsumer | None = None,
    database: OpenPool = open_pool,
) -> Recorder:
    """A recorder on `settings`: (unless given) a consumer in the recorder group, a pool opener.

    `draw` is where the back-off's jitter comes from (a number in [0, 1)); tests pass
    their own, and their own clients.
    """
    return Recorder(
        settings,
        draw=draw,
        consumer=consumer
        or service_consumer(
            settings, group_id=settings.recorder_group_id, batch_max=settings.recorder_batch_max
        ),
        open_pool=database,
    )


class Recorder:
    """One recorder instance: a consumer in the recorder group and a pool of service-role links."""

    def __init__(
        self,
        settings: RecorderSettings,
        *,
        draw: Callable[[], float],
        consumer: AIOKafkaConsumer,
        open_pool: OpenPool,
    ) -> None:
        self.settings = settings
        self.draw = draw
        self.poll_failures = 0  # consecutive, for the back-off
        self.catalog_names = {topic_name(n, settings.topic_prefix): n for n in CONTRACT_OF_TOPIC}
        self.consumer = consumer
        self.open_pool = open_pool
        self.pool: asyncpg.Pool | None = None
        self.stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set; a database outage is waited out, never fatal."""
        self.stop = stop
        try:
            await self.start()
            with BatchCollection() as collection:
                writing: asyncio.Task[RecordCounts] | None = None
                while not stop.is_set():
                    polled = await self.poll()
                    if not polled:
                        collection.tick()  # an idle recorder collects its garbage too
                        continue
                    # Decoding the next batch overlaps the database's work on the previous
                    # one; batches still commit one after another, in order.
                    batch = await self.decode(polled)
                    if writing is not None:
                        await writing
                        collection.tick()
                    writing = asyncio.create_task(self.write(batch, polled))
                if writing is not None:
                    await writing
        except Stopped:
            log.info("recorder_stopped_while_waiting_for_database")
        finally:
            await self.close()

    async def poll(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The next records; a fetch error is the broker's, so back off and poll again."""
        try:
            polled = await self.consumer.getmany(
                timeout_ms=self.settings.recorder_poll_ms,
                max_records=self.settings.recorder_batch_max,
            )
        except KafkaError as exc:
            self.poll_failures += 1
            delay = backoff_delay(
                self.poll_failures,
                base=0.25,
                cap=self.settings.recorder_retry_max_seconds,
                draw=self.draw,
            )
            log.error("poll_failed_will_retry", error=repr(exc), retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
            return {}
        self.poll_failures = 0
        return polled

    async def start(self) -> None:
        """Connect, load the reference tables, join the group (seeking to stored offsets)."""
        self.pool = await self.retrying("connect", lambda: self.open_pool(self.settings))
        registry = load_registry(self.settings.recorder_registry_dir)
        await self.with_conn(
            "load_reference", lambda c: store.load_reference(conn=c, registry=registry)
        )
        self.consumer.subscribe(list(self.catalog_names), listener=SeekToStoredOffsets(self))
        await self.consumer.start()

    async def close(self) -> None:
        """Leave the group and close the pool."""
        await self.consumer.stop()
        if self.pool is not None:
            await self.pool.close()

    async def decode(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> Batch:
        """The polled records sorted out, yielding to the event loop between slices."""
        return await decode_polled(polled, self.catalog_names)

    async def write(
        self, batch: Batch, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> RecordCounts:
        """Record one batch and its offsets, retrying while the database is away."""
        started = time.perf_counter()
        next_offsets = {(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in polled.items()}
        group = self.settings.recorder_group_id
        outcome = await self.with_conn(
            "record",
            lambda c: store.record(conn=c, group=group, batch=batch, next_offsets=next_offsets),
        )
        log.info(
            "batch_recorded",
            messages=len(batch),
            ms=round((time.perf_counter() - started) * 1000, 1),
            **vars(outcome),
        )
        return outcome

    async def seek_to_stored(self, assigned: set[TopicPartition]) -> None:
        """Position each assigned partition at its offset in PostgreSQL (or its beginning)."""
        group = self.settings.recorder_group_id
        partitions = [(tp.topic, tp.partition) for tp in assigned]
        stored = await self.with_conn(
            "read_offsets",
            lambda c: store.read_offsets(conn=c, group=group, partitions=partitions),
        )
        fresh, revoked = 0, []
        for tp in sorted(assigned):
            try:
                if (tp.topic, tp.partition) in stored:
                    self.consumer.seek(tp, stored[tp.topic, tp.partition])
                else:
                    # Not the broker's committed offsets (there are none we trust): the start.
                    await self.consumer.seek_to_beginning(tp)
                    fresh += 1
            except IllegalStateError:
                # Taken away again while the offsets were read (another rebalance): its new
                # owner seeks it; this instance has nothing to do for it.
                revoked.append(f"{tp.topic}:{tp.partition}")
        if revoked:
            log.warning("partitions_revoked_before_seek", partitions=revoked)
        log.info("partitions_assigned", stored=len(stored), from_beginning=fresh)

    async def with_conn(
        self, what: str, operation: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> T:
        """Run `operation` on a pooled connection, retrying while the database is away."""
        assert self.pool is not None

        async def attempt() -> T:
            async with self.pool.acquire() as conn:
                try:
                    return await operation(conn)
                except BROKEN_CONNECTION:
                    conn.terminate()  # the pool opens a fresh one in its place
                    raise

        return await self.retrying(what, attempt)

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` until it succeeds, backing off while the database is away."""
        failures = 0
        while True:
            try:
                return await attempt()
            except UNAVAILABLE as exc:
                failures += 1
                delay = backoff_delay(
                    failures,
                    base=RETRY_BASE_SECONDS,
                    cap=self.settings.recorder_retry_max_seconds,
                    draw=self.draw,
                )
                log.error(
                    "database_unavailable_will_retry",
                    during=what,
                    error=repr(exc),
                    retry_in_s=delay,
                )
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                continue
            # Nothing of the batch was committed, so the next start reads it again.
            raise Stopped


async def decode_polled(
    polled: dict[TopicPartition, list[ConsumerRecord]], catalog_names: dict[str, str]
) -> Batch:
    """Polled records sorted out, yielding to the event loop between slices (so that the
    previous batch's database work goes on meanwhile); the auditor's replay uses it too."""
    records = [r for rs in polled.values() for r in rs]
    batch = Batch()
    for at in range(0, len(records), DECODE_SLICE):
        batch.extend(sort_out(records[at : at + DECODE_SLICE], catalog_names))
        await asyncio.sleep(0)
    return batch


class SeekToStoredOffsets(ConsumerRebalanceListener):
    """On every assignment, resume where PostgreSQL says, not where the broker says."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to hand over: every recorded batch has already committed its offsets."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek the new partitions to their stored offsets."""
        await self.recorder.seek_to_stored(assigned)


async def run(settings: RecorderSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the recorder until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("recorder_starting", group=settings.recorder_group_id)
    await build(settings).run(stop)
