"""The router service: report topics in, in batches; routed reports and dead letters out.

Offsets are committed only after everything a batch produced is acknowledged by the
brokers, so a crash anywhere means redelivery (at least once), never a lost report.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
import uuid

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.codec import encode
from schemas.envelope import Actor, ActorKind
from schemas.registry import Registry, load_registry
from schemas.rulesets import RuleSetActivated
from services.router.decisions import DecisionCache
from services.router.intake import BatchOutcome, process_batch
from services.router.reload import RuleFile
from services.router.settings import RouterSettings
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock, system_clock
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
        """Poll one batch and see it through; what it became (empty if nothing was done)."""
        if self.follow_report_topics and time.monotonic() >= self.next_topics_check:
            self.next_topics_check = time.monotonic() + TOPICS_CHECK_SECONDS
            await self.subscribe_to_report_topics()
        try:
            batch = await self.consumer.getmany(
                timeout_ms=self.settings.router_poll_ms, max_records=self.settings.router_batch_max
            )
        except KafkaError as exc:  # a fetch error is the broker's, never the reports'
            self.failures += 1
            await asyncio.sleep(self.backoff("poll_failed_will_retry", exc))
            return BatchOutcome()
        if not batch:
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
            now=self.clock(),
            topic_prefix=self.settings.topic_prefix,
            decisions=self.decisions,
        )
        try:
            await self.publish(outcome)
            await self.consumer.commit(
                {tp: records[-1].offset + 1 for tp, records in batch.items()}
            )
            self.failures = 0
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced mid-batch: the partition's new owner reads the batch again.
            log.warning("commit_failed_after_rebalance", error=str(exc))
        except KafkaError as exc:
            await self.retry_later(batch, exc)
            return BatchOutcome()
        log.info(
            "batch_routed",
            messages=len(messages),
            routed_messages=len(outcome.routed),
            reports_routed=outcome.reports_routed,
            dead_letters=len(outcome.dead_letters),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return outcome

    async def publish(self, outcome: BatchOutcome) -> None:
        """Send everything the batch produced and wait until the brokers acknowledge it all."""
        routed, dead = self.topic(ROUTED_REPORTS), self.topic(DEAD_LETTERS)
        sends = [
            await self.producer.send(routed, value, key=r.incident_key.encode())
            for r, value in zip(outcome.routed, outcome.routed_values, strict=True)
        ]
        sends += [
            await self.producer.send(dead, encode_dead_letter(d), key=dead_letter_key(d))
            for d in outcome.dead_letters
        ]
        await asyncio.gather(*sends)

    async def retry_later(
        self, batch: dict[TopicPartition, list[ConsumerRecord]], exc: Exception
    ) -> None:
        """Rewind to the batch's first offsets and back off; the batch is read again.

        A partition revoked meanwhile is not rewound (seeking it would raise): its new owner
        reads from the last committed offset, which is before this batch.
        """
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:
                self.consumer.seek(tp, records[0].offset)
        self.failures += 1
        await asyncio.sleep(self.backoff("batch_not_published_will_retry", exc))

    def backoff(self, event: str, exc: Exception) -> float:
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


async def run(settings: RouterSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the router until SIGINT/SIGTERM (or `stop`); SIGHUP reloads the rule file now."""
    stop = stop or asyncio.Event()
    router = build(settings)
    # Each batch makes thousands of short-lived objects; collecting every 700 allocations
    # cost a fifth of the router's time. Start-up objects are frozen out of collection.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, router.reload_requested.set)
    log.info("router_starting", rules=str(settings.router_rules_file))
    await router.run(stop)
