"""Plays a scenario against a running SignalPost: publishes on time, dispatches, keeps score."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT, TASK
from schemas.errors import ContractError
from schemas.registry import EnterpriseKind, Registry
from schemas.tasks import Task
from services.runtime.errors import StackError
from services.runtime.kafka import admin_client, make_consumer
from services.runtime.settings import Settings
from services.runtime.topic_admin import partitions_of
from services.runtime.topics import DEAD_LETTERS, INCIDENT_EVENTS, task_feed, topic_name
from services.simulator.dispatch import Plan, acknowledge, plan, resolve
from services.simulator.publishers import Publisher
from services.simulator.scenario import Scenario
from services.simulator.tally import Tally, format_summary

__all__ = ["Dispatchers", "run_scenario"]

log = structlog.get_logger(component="simulator")
# Without a duration, the run goes on this long after its last report for dispatchers to finish.
DRAIN_SECONDS = 60.0
POLL_MS = 100


async def run_scenario(
    settings: Settings,
    scenario: Scenario,
    *,
    registry: Registry,
    publisher: Publisher,
    stop: asyncio.Event,
    show: Callable[[str], None] = print,
    every: float = 1.0,
) -> Tally:
    """Play `scenario` until its duration ends (or `stop` is set); the final tally."""
    department = registry.of_kind(EnterpriseKind.SUPERVISOR)[0].id
    tally = Tally(department=department)
    run = _Run(settings, scenario, registry, publisher, tally)
    try:
        await run.open()
    except BaseException:
        await run.close()  # whatever did open, so no consumer is left behind
        raise
    started = time.monotonic()
    loops = [
        asyncio.create_task(run.publish(started)),
        asyncio.create_task(run.watch()),
        asyncio.create_task(run.dispatch()),
        asyncio.create_task(_every(every, lambda: show(run.line(started)))),
    ]
    failure = await _until_done(stop, loops, deadline=started + run.length())
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    await run.close()
    show(run.line(started))
    if failure is not None:
        raise failure
    return tally


async def _until_done(
    stop: asyncio.Event, loops: list[asyncio.Task], *, deadline: float
) -> BaseException | None:
    """Wait for the deadline or `stop`; a loop that fails ends the run early with its error."""
    stopped = asyncio.create_task(stop.wait())
    waiting = {stopped, *loops}
    try:
        while (left := deadline - time.monotonic()) > 0 and not stop.is_set():
            done, waiting = await asyncio.wait(
                waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {stopped}:
                if not task.cancelled() and task.exception() is not None:
                    return task.exception()
    finally:
        stopped.cancel()
    return None


@dataclass
class _Pending:
    task: Task
    plan: Plan
    dispatcher: str
    acknowledged: bool = False


class Dispatchers:
    """The duty desks of every enterprise: plan each new primary task, then act on time."""

    def __init__(
        self, registry: Registry, *, seed: int, publisher: Publisher, tally: Tally
    ) -> None:
        self.seed = seed
        self.publisher = publisher
        self.tally = tally
        self.names = {
            e.id: e.duty_teams[0].contacts[0].name if e.duty_teams else e.name
            for e in registry.enterprises
        }
        self.pending: dict[str, _Pending] = {}
        self.seen_tasks: set[str] = set()

    def take(self, value: bytes | None) -> None:
        """Plan a new primary task; others, repeats and unreadable ones are left alone."""
        try:
            task = decode(TASK, value or b"")
        except ContractError as exc:
            log.warning("simulator_unreadable_task", error=str(exc))
            return
        if task.task_id in self.seen_tasks:
            return
        planned = plan(task, self.seed)
        if planned is not None:
            self.seen_tasks.add(task.task_id)
            name = self.names.get(task.enterprise, task.enterprise)
            self.pending[task.task_id] = _Pending(task, planned, name)

    async def act(self, now: datetime) -> None:
        """Send the commands that are due; forget tasks whose incident has ended."""
        for task_id, pending in list(self.pending.items()):
            incident = pending.task.incident_id
            if not self.tally.is_open(incident):
                del self.pending[task_id]
                continue
            command = None
            if not pending.acknowledged:
                told = pending.plan.late and incident in self.tally.to_department
                if now >= pending.plan.acknowledge_at or told:
                    pending.acknowledged = True
                    command = acknowledge
            elif now >= pending.plan.resolve_at:
                del self.pending[task_id]
                command = resolve
            if command is not None:
                await self.publisher.send_command(
                    command(pending.task, seed=self.seed, now=now,
                            dispatcher=pending.dispatcher)
                )  # fmt: skip
                self.tally.commands += 1


class _Run:
    """The consumers, the publisher and the dispatchers' plans of one run."""

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        registry: Registry,
        publisher: Publisher,
        tally: Tally,
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.publisher = publisher
        self.tally = tally
        self.dispatchers = Dispatchers(
            registry, seed=scenario.seed, publisher=publisher, tally=tally
        )
        self.log_reader: AIOKafkaConsumer | None = None
        self.task_reader: AIOKafkaConsumer | None = None

    def length(self) -> float:
        """How long the run lasts, in real seconds."""
        if self.scenario.duration is not None:
            return self.scenario.duration
        last = self.scenario.schedule[-1].offset if self.scenario.schedule else 0.0
        return last + DRAIN_SECONDS

    async def open(self) -> None:
        """Readers at the end of the log, dead letters and task feeds; then the publisher."""
        name = lambda t: topic_name(t, self.settings.topic_prefix)  # noqa: E731
        self.log_reader = await _reader_at_end(
            self.settings, [name(INCIDENT_EVENTS), name(DEAD_LETTERS)]
        )
        self.task_reader = await _reader_at_end(
            self.settings, [name(task_feed(e)) for e in self.dispatchers.names]
        )
        await self.publisher.start()

    async def close(self) -> None:
        """Flush the publisher and close the readers."""
        await self.publisher.stop()
        for reader in (self.log_reader, self.task_reader):
            if reader is not None:
                await reader.stop()

    async def publish(self, started: float) -> None:
        """Send each message at its compressed time."""
        for item in self.scenario.schedule:
            delay = started + item.offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.publisher.publish_report(item.message)
            self.tally.sent += 1
            self.tally.sent_invalid += not item.message.valid

    async def watch(self) -> None:
        """Fold the log and count dead letters as they come."""
        dead_letters = topic_name(DEAD_LETTERS, self.settings.topic_prefix)
        while True:
            batches = await self.log_reader.getmany(timeout_ms=POLL_MS)
            for tp, records in batches.items():
                if tp.topic == dead_letters:
                    self.tally.dead_letters += len(records)
                    continue
                for record in records:
                    try:
                        self.tally.add(decode(INCIDENT_EVENT, record.value))
                    except ContractError as exc:
                        log.warning(
                            "simulator_unreadable_event", offset=record.offset, error=str(exc)
                        )

    async def dispatch(self) -> None:
        """Read the task feeds; acknowledge and resolve when each plan says."""
        while True:
            batches = await self.task_reader.getmany(timeout_ms=POLL_MS)
            for records in batches.values():
                for record in records:
                    self.dispatchers.take(record.value)
            await self.dispatchers.act(datetime.now(UTC))

    def line(self, started: float) -> str:
        """The live summary line."""
        elapsed = time.monotonic() - started
        return format_summary(
            self.tally,
            elapsed=elapsed,
            simulated=self.scenario.simulated_at(elapsed),
            speed=self.scenario.speed,
        )


async def _reader_at_end(settings: Settings, topics: list[str]) -> AIOKafkaConsumer:
    """A consumer of every partition of `topics`, positioned at their current ends."""
    async with admin_client(settings) as admin:
        found = await partitions_of(admin, topics)
    missing = [topic for topic in topics if not found.get(topic)]
    if missing:
        raise StackError(
            f"{len(missing)} topics missing, e.g. {missing[0]}: run `signalpost init` first"
        )
    partitions = [
        TopicPartition(topic, p["partition"]) for topic in topics for p in found.get(topic, [])
    ]
    # No group: this reader only watches, it owns nothing and commits nothing.
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    consumer.assign(partitions)
    if partitions:
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # pin the ends now, before anything is published
            await consumer.position(tp)
    return consumer


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        action()
