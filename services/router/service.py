"""The router service: report topics in, in batches; routed reports and dead letters out.

Pipelined: the router polls and decides the next batch while the brokers acknowledge the
previous ones (at most `router_in_flight_max` batches unacknowledged). Offsets are still
committed only in order, per partition, and only up to the first input whose output is not
acknowledged yet (offsets.py): a report held in a grouping window (grouping.py) is not
committed until the update that carries it is acknowledged. So a crash anywhere means
redelivery (at least once), never a lost report.

A publish that fails rewinds: the acknowledgements still due are awaited, what they complete
is committed, and every partition is read again from its first input not acknowledged, the
failed batch and everything after it; the grouping windows are dropped, their reports being
among those read again. A rebalance is met the same way, once the loop sees that a
partition it read was revoked or was reset to an earlier offset: windows of revoked
partitions are dropped, not flushed, and their reports are read again by the partitions' new
owners (all windows are dropped: a rebalance revokes every partition anyway). Commits for
partitions no longer assigned are not sent, or fail and are ignored, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from schemas.codec import encode
from schemas.envelope import Actor, ActorKind
from schemas.registry import Registry, load_registry
from schemas.rulesets import RuleSetActivated
from services.router.decisions import DecisionCache
from services.router.grouping import Grouping
from services.router.intake import BatchOutcome, process_batch
from services.router.offsets import Offsets, Ticket
from services.router.reload import RuleFile
from services.router.settings import RouterSettings
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock, system_clock
from services.runtime.collector import tune_for_batches
from services.runtime.deadletters import RawMessage, dead_letter_key, encode_dead_letter
from services.runtime.kafka import make_producer, service_consumer
from services.runtime.topics import (
    DEAD_LETTERS,
    ROUTED_REPORTS,
    RULESET_ACTIVATIONS,
    report_topic_pattern,
    topic_name,
)

settings_class = RouterSettings
# How often the router looks for report topics made since (an enterprise onboarded).
TOPICS_CHECK_SECONDS = 10.0
log = structlog.get_logger(component="router")


def build(
    settings: RouterSettings,
    *,
    clock: Clock = system_clock,
    consumer: AIOKafkaConsumer | None = None,
    producer: AIOKafkaProducer | None = None,
) -> Router:
    """A router on `settings`: its registry and rule file, and (unless given) its clients.

    By default the consumer joins the router group on every report topic, the gateway's and
    each enterprise's (followed: an enterprise onboarded later is read within
    TOPICS_CHECK_SECONDS), and the producer waits for every in-sync replica; tests pass their
    own clients or a clock.
    """
    registry = load_registry(settings.router_registry_dir)
    return Router(
        settings,
        clock=clock,
        registry=registry,
        rule_file=RuleFile(settings.router_rules_file, registry),
        consumer=consumer
        or service_consumer(
            settings, group_id=settings.router_group_id, batch_max=settings.router_batch_max
        ),
        producer=producer or make_producer(settings),
        follow_report_topics=consumer is None,
    )


@dataclass(frozen=True)
class Flight:
    """What one step sent, not acknowledged yet, and the inputs it accounts for."""

    acks: asyncio.Future[Any]
    ticket: Ticket


class Router:
    """One router instance: a consumer in the router group, a producer, the active rules."""

    def __init__(
        self,
        settings: RouterSettings,
        *,
        clock: Clock,
        registry: Registry,
        rule_file: RuleFile,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        follow_report_topics: bool = False,
    ) -> None:
        self.settings = settings
        self.follow_report_topics = follow_report_topics
        self.next_topics_check = 0.0  # at the first step
        self.clock = clock
        self.registry = registry
        self.rule_file = rule_file
        self.consumer = consumer
        self.producer = producer
        self.reload_requested = asyncio.Event()
        self.instance = uuid.uuid4().hex[:12]
        self.failures = 0  # consecutive publish failures, for the back-off
        self.decisions = DecisionCache()
        self.grouping = Grouping(
            timedelta(milliseconds=settings.router_group_interval_ms),
            max_windows=settings.router_group_windows_max,
            max_held=settings.router_group_held_max,
        )
        self.offsets = Offsets()
        self.flights: deque[Flight] = deque()

    def topic(self, name: str) -> str:
        return topic_name(name, self.settings.topic_prefix)

    async def run(self, stop: asyncio.Event) -> None:
        """Route until `stop` is set; broker failures are retried, never fatal."""
        await self.producer.start()
        await self.consumer.start()
        try:
            await self.announce_rules(stop)
            next_reload_check = time.monotonic() + self.settings.router_reload_seconds
            while not stop.is_set():
                if self.reload_requested.is_set() or time.monotonic() >= next_reload_check:
                    self.reload_requested.clear()
                    next_reload_check = time.monotonic() + self.settings.router_reload_seconds
                    if self.rule_file.reload_if_changed():
                        await self.announce_rules(stop)
                await self.step()
        finally:
            with contextlib.suppress(KafkaError):
                await self.settle_all()
                await self.commit()
            await self.consumer.stop()
            await self.producer.stop()

    async def subscribe_to_report_topics(self) -> None:
        """Subscribe to every report topic there is, when that set has grown.

        An explicit list, not aiokafka's pattern subscription: with a pattern, routers
        sharing a group were seen to route a batch twice with no failed commit or retry.
        """
        try:
            present = await self.consumer.topics()
        except KafkaError as exc:
            log.warning("report_topics_not_listed_will_retry", error=repr(exc))
            return
        pattern = report_topic_pattern(self.settings.topic_prefix)
        wanted = {t for t in present if pattern.match(t)}
        if wanted and not wanted <= self.consumer.subscription():
            self.consumer.subscribe(sorted(wanted | self.consumer.subscription()))
            log.info("report_topics_subscribed", topics=len(wanted))

    async def step(self) -> BatchOutcome:
        """Poll one batch, decide it and send what it and the windows that ended became; commit
        what the acknowledgements so far complete. What was sent (empty if nothing was)."""
        if self.follow_report_topics and time.monotonic() >= self.next_topics_check:
            self.next_topics_check = time.monotonic() + TOPICS_CHECK_SECONDS
            await self.subscribe_to_report_topics()
        if self.revoked():
            await self.rewind("rewound_after_rebalance")
        if len(self.flights) >= self.settings.router_in_flight_max:
            await asyncio.wait({self.flights[0].acks})
        if not await self.complete():
            return BatchOutcome()
        try:
            batch = await self.consumer.getmany(
                timeout_ms=self.poll_timeout_ms(), max_records=self.settings.router_batch_max
            )
        except KafkaError as exc:  # a fetch error is the broker's, never the reports'
            self.failures += 1
            await asyncio.sleep(self.backoff("poll_failed_will_retry", exc))
            return BatchOutcome()
        firsts = {tp: records[0].offset for tp, records in batch.items()}
        if any(self.offsets.goes_back((tp.topic, tp.partition), at) for tp, at in firsts.items()):
            # Reset underneath by a rebalance: read everything again, this batch included.
            await self.rewind("rewound_after_rebalance", unread=firsts)
            return BatchOutcome()
        for tp, records in batch.items():
            self.offsets.read((tp.topic, tp.partition), [r.offset for r in records])
        now = self.clock()
        ends = self.grouping.next_flush()
        if not batch and (ends is None or ends > now):
            return BatchOutcome()
        started = time.perf_counter()
        messages = [
            RawMessage(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)
            for records in batch.values()
            for r in records
        ]
        outcome = process_batch(
            messages,
            rules=self.rule_file.current,
            registry=self.registry,
            now=now,
            topic_prefix=self.settings.topic_prefix,
            decisions=self.decisions,
            grouping=self.grouping,
        )
        if outcome.routed or outcome.dead_letters:
            self.flights.append(
                Flight(await self.publish(outcome), self.offsets.ticket(outcome.settled))
            )
        log.info(
            "batch_routed",
            messages=len(messages),
            routed_messages=len(outcome.routed),
            reports_routed=outcome.reports_routed,
            dead_letters=len(outcome.dead_letters),
            held=self.grouping.held,
            in_flight=len(self.flights),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return outcome

    def poll_timeout_ms(self) -> int:
        """The poll's wait: no later than the end of the earliest window holding reports."""
        wait = self.settings.router_poll_ms
        ends = self.grouping.next_flush()
        if ends is not None:
            left = math.ceil((ends - self.clock()).total_seconds() * 1000)
            wait = max(0, min(wait, left))
        return wait

    async def publish(self, outcome: BatchOutcome) -> asyncio.Future[Any]:
        """Send everything the outcome holds; the future of all the brokers' acknowledgements
        (failed at once when a send could not even be queued)."""
        routed, dead = self.topic(ROUTED_REPORTS), self.topic(DEAD_LETTERS)
        sends: list[asyncio.Future[Any]] = []
        try:
            for r, value in zip(outcome.routed, outcome.routed_values, strict=True):
                sends.append(await self.producer.send(routed, value, key=r.incident_key.encode()))
            for d in outcome.dead_letters:
                sends.append(
                    await self.producer.send(dead, encode_dead_letter(d), key=dead_letter_key(d))
                )
        except KafkaError as exc:
            sends.append(_failed(exc))
        return asyncio.gather(*sends)

    async def complete(self) -> bool:
        """Settle the acknowledged flights and commit what they complete; after a failed one,
        rewind and back off (False)."""
        failed = None
        for flight in [f for f in self.flights if f.acks.done()]:
            self.flights.remove(flight)
            exc = flight.acks.exception()
            if exc is None:
                self.offsets.settle(flight.ticket)
            else:
                failed = failed or exc
        if failed is not None:
            await self.rewind("batch_not_published_will_retry", failed)
            return False
        await self.commit()
        return True

    async def settle_all(self) -> BaseException | None:
        """Wait for every flight; settle those acknowledged; the first failure, if any."""
        flights, self.flights = list(self.flights), deque()
        results = await asyncio.gather(*(f.acks for f in flights), return_exceptions=True)
        failed = None
        for flight, result in zip(flights, results, strict=True):
            if isinstance(result, BaseException):
                failed = failed or result
            else:
                self.offsets.settle(flight.ticket)
        return failed

    async def drain(self) -> None:
        """Wait until everything sent is acknowledged and committed (windows stay open)."""
        if self.flights:
            await asyncio.wait({f.acks for f in self.flights})
        await self.complete()

    async def commit(self) -> None:
        """Commit each assigned partition up to its first input not acknowledged."""
        assigned = self.consumer.assignment()
        positions = {
            p: at for p, at in self.offsets.to_commit().items() if TopicPartition(*p) in assigned
        }
        if not positions:
            return
        try:
            await self.consumer.commit({TopicPartition(*p): at for p, at in positions.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced: the partition's new owner reads from the last commit.
            log.warning("commit_failed_after_rebalance", error=str(exc))
        except KafkaError as exc:  # the outputs are acknowledged: commit again next step
            log.warning("commit_failed_will_retry", error=repr(exc))
        else:
            self.offsets.mark_committed(positions)
            self.failures = 0

    def revoked(self) -> bool:
        """Whether a partition read from is no longer assigned (the group rebalanced)."""
        assigned = self.consumer.assignment()
        return any(TopicPartition(*p) not in assigned for p in self.offsets.partitions)

    async def rewind(
        self,
        event: str,
        exc: BaseException | None = None,
        *,
        unread: dict[TopicPartition, int] | None = None,
    ) -> None:
        """Read every partition again from its first input not acknowledged, the grouping
        windows dropped (their reports are among those read again); back off after `exc`.
        `unread`: where a batch polled but not noted began, for partitions not read before.

        A partition revoked meanwhile is not rewound (seeking it would raise): its new owner
        reads from the last committed offset, which is before anything not acknowledged.
        """
        failed = await self.settle_all()
        await self.commit()
        assigned = self.consumer.assignment()
        positions = dict(unread or {})
        positions |= {TopicPartition(*p): at for p, at in self.offsets.positions().items()}
        for tp, at in positions.items():
            if tp in assigned:
                self.consumer.seek(tp, at)
        dropped = self.grouping.held
        self.offsets.reset()
        self.grouping.reset()
        exc = exc or failed
        if exc is None:
            log.warning(event, held_dropped=dropped)
            return
        self.failures += 1
        await asyncio.sleep(self.backoff(event, exc))

    def backoff(self, event: str, exc: BaseException) -> float:
        """The wait before the next try after `self.failures` failures, logged with the error."""
        delay = backoff_delay(self.failures, base=0.25, cap=self.settings.router_retry_max_seconds)
        log.error(event, error=repr(exc), failures=self.failures, retry_in_s=round(delay, 2))
        return delay

    async def announce_rules(self, stop: asyncio.Event) -> None:
        """Announce the rule set in force, retrying until the brokers take it (or `stop`).

        No report is routed meanwhile: a decision under rules never announced could not be
        reproduced by the auditor.
        """
        while not stop.is_set():
            try:
                await self.send_activation()
            except KafkaError as exc:
                self.failures += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stop.wait(), self.backoff("ruleset_announcement_failed_will_retry", exc)
                    )
            else:
                self.failures = 0
                return

    async def send_activation(self) -> None:
        """Write a rule-set activation event so that replays know which rules were in force."""
        rules = self.rule_file.current
        event = RuleSetActivated(
            event_id=f"ruleset-activated:{uuid.uuid4().hex}",
            ruleset_version=rules.version,
            registry_version=self.registry.version,
            activated_at=self.clock(),
            source_file=str(rules.source)[-200:],
            actor=Actor(kind=ActorKind.SERVICE, id=f"router-{self.instance}"),
            rules_text=self.rule_file.current_text,
        )
        await self.producer.send_and_wait(
            self.topic(RULESET_ACTIVATIONS), encode(event), key=b"router"
        )
        log.info("ruleset_activated", version=rules.version, source=str(rules.source))


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


async def run(settings: RouterSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the router until SIGINT/SIGTERM (or `stop`); SIGHUP reloads the rule file now."""
    stop = stop or asyncio.Event()
    router = build(settings)
    tune_for_batches()  # start-up objects are frozen out of collection
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, router.reload_requested.set)
    log.info("router_starting", rules=str(settings.router_rules_file))
    await router.run(stop)
