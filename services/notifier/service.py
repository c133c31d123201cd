"""The notifier service: lifecycle events in, in batches; the people on duty told, every try logged.

A batch's notifications are delivered concurrently, each retried on its own, so a dead
endpoint holds up no other delivery. Offsets are committed only once every notification of
the batch is final (delivered, dead-lettered or suppressed) and the brokers acknowledged its
attempt records and dead letters; a crash or a broker outage before that means the batch is
read again (at least once), and the notification ids make the second delivery one receivers
drop.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.codec import decode, encode
from schemas.contracts import INCIDENT_EVENT
from schemas.errors import ContractError
from schemas.lifecycle import IncidentEventBase
from schemas.notifications import DeliveryOutcome, NotificationAttempted
from schemas.registry import load_registry
from schemas.registry.roster_loader import load_rosters
from schemas.registry.rosters import ChannelKind, Rosters
from services.notifier.attempts import RetryPolicy, attempt_record, deliver_with_retries
from services.notifier.channel import ChannelAdapter, Delivery, Outgoing
from services.notifier.deadletter import AttemptError, NotificationDeadLettered
from services.notifier.decide import Notification, decide
from services.notifier.mail import MailChannel
from services.notifier.message import ack_claim, message_body
from services.notifier.outbox import Outbox
from services.notifier.settings import NotifierSettings
from services.notifier.sms import SmsChannel
from services.notifier.webhook import WebhookChannel
from services.runtime.acklinks import sign_ack_token
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock, system_clock
from services.runtime.errors import SignalPostError
from services.runtime.kafka import make_producer, service_consumer
from services.runtime.rosterlog import read_roster_activations
from services.runtime.topics import (
    INCIDENT_EVENTS,
    NOTIFICATION_ATTEMPTS,
    NOTIFICATION_DEAD_LETTERS,
    topic_name,
)

settings_class = NotifierSettings
log = structlog.get_logger(component="notifier")
BROKER_RETRY_BASE_SECONDS = 0.25


class Stopped(SignalPostError):
    """The notifier was asked to stop with a batch unfinished: its offsets stay uncommitted."""


def build(
    settings: NotifierSettings,
    *,
    clock: Clock = system_clock,
    consumer: AIOKafkaConsumer | None = None,
    producer: AIOKafkaProducer | None = None,
    http: httpx.AsyncClient | None = None,
    draw: Callable[[], float] = random.random,
) -> Notifier:
    """A notifier on `settings`: its rosters, its channels and (unless given) its clients.

    The secrets are the settings' or the local ones (made on first use); a channel's own
    webhook secret is read from the environment variable its `secret_env` names.
    """
    directory = settings.notifier_registry_dir
    rosters = load_rosters(directory, load_registry(directory))
    http = http or httpx.AsyncClient(timeout=settings.notifier_timeout_seconds)
    sms_token = settings.notifier_sms_token
    channels: dict[ChannelKind, ChannelAdapter] = {
        ChannelKind.WEBHOOK: WebhookChannel(
            http,
            clock=clock,
            default_secret=settings.webhook_secret(),
            secrets=channel_secrets(rosters, os.environ),
        ),
        ChannelKind.EMAIL: MailChannel(settings),
        ChannelKind.SMS: SmsChannel(
            http,
            url=settings.notifier_sms_url,
            token=sms_token.get_secret_value() if sms_token else None,
        ),
    }
    events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    return Notifier(
        settings,
        clock=clock,
        draw=draw,
        rosters=rosters,
        channels=channels,
        ack_secret=settings.ack_link_secret(),
        consumer=consumer
        or service_consumer(
            settings, events, group_id=settings.group_id, batch_max=settings.notifier_batch_max
        ),
        producer=producer or make_producer(settings),
        http=http,
    )


def channel_secrets(rosters: Rosters, environ: Mapping[str, str]) -> dict[str, str]:
    """The webhook secrets the rosters' channels name (secret_env) that are set."""
    wanted = {
        c.secret_env
        for roster in rosters.rosters
        for person in roster.people
        for c in person.channels
        if c.secret_env is not None
    }
    return {name: environ[name] for name in wanted if name in environ}


class _Limited:
    """An adapter allowed only so many tries at once across the whole notifier."""

    def __init__(self, adapter: ChannelAdapter, slots: asyncio.Semaphore) -> None:
        self.adapter = adapter
        self.slots = slots

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        async with self.slots:
            return await self.adapter.deliver(outgoing)


class Notifier:
    """One notifier instance: a consumer in the notifier group, a producer, the channels."""

    def __init__(
        self,
        settings: NotifierSettings,
        *,
        clock: Clock,
        draw: Callable[[], float],
        rosters: Rosters,
        channels: Mapping[ChannelKind, ChannelAdapter],
        ack_secret: str,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        http: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.draw = draw
        self.rosters = rosters
        slots = asyncio.Semaphore(settings.notifier_concurrency)
        self.channels = {kind: _Limited(adapter, slots) for kind, adapter in channels.items()}
        self.ack_secret = ack_secret
        self.consumer = consumer
        self.producer = producer
        self.http = http
        self.policy = RetryPolicy(
            max_attempts=settings.notifier_max_attempts,
            base_s=settings.notifier_retry_base_seconds,
            cap_s=settings.notifier_retry_max_seconds,
            timeout_s=settings.notifier_timeout_seconds,
        )
        self.poll_failures = 0  # consecutive, for the back-off
        self.rosters_read_at = -math.inf
        self.stop = asyncio.Event()

    def topic(self, name: str) -> str:
        return topic_name(name, self.settings.topic_prefix)

    async def follow_rosters(self) -> bool:
        """Take the latest rosters the incident manager put in force, if they are not ours;
        whether they changed. Read at most once a refresh interval; a failure keeps ours."""
        now = time.monotonic()
        if now - self.rosters_read_at < self.settings.notifier_roster_refresh_seconds:
            return False
        self.rosters_read_at = now
        try:
            activations = await read_roster_activations(self.settings)
        except (KafkaError, SignalPostError) as exc:
            log.warning("rosters_not_read_keeping_ours", error=repr(exc))
            return False
        latest = max(activations, key=lambda a: a.activated_at, default=None)
        if latest is None or latest.roster_version == self.rosters.version:
            return False
        self.rosters = Rosters.model_validate(latest.rosters)
        log.info("rosters_followed", version=latest.roster_version)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Notify until `stop` is set; broker failures are waited out, never fatal."""
        self.stop = stop
        await self.producer.start()
        await self.consumer.start()
        try:
            while not stop.is_set():
                await self.step()
        except* Stopped:
            log.info("notifier_stopped_with_batch_unfinished")
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            await self.http.aclose()

    async def step(self) -> Counter[str]:
        """Poll one batch, tell everyone it asks for, commit it; what became of its notices."""
        polled = await self.poll()
        if not polled:
            return Counter()
        started = time.perf_counter()
        events = [e for rs in polled.values() for r in rs if (e := _decoded(r)) is not None]
        notifications = [n for e in events for n in decide(e, self.rosters)]
        if any(n.channel is None for n in notifications) and await self.follow_rosters():
            # Someone the rosters we hold do not know: newer ones may (a roster change).
            notifications = [n for e in events for n in decide(e, self.rosters)]
        outbox, outcomes = Outbox(self.producer), Counter[str]()
        async with asyncio.TaskGroup() as group:
            for n in notifications:
                group.create_task(self.notify(n, outbox, outcomes))
        records = await outbox.flush(self.broker_back_off)
        await self.commit(polled)
        log.info(
            "batch_notified",
            events=sum(len(rs) for rs in polled.values()),
            notifications=len(notifications),
            records=records,
            ms=round((time.perf_counter() - started) * 1000, 1),
            **outcomes,
        )
        return outcomes

    async def poll(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The next records; a fetch error is the broker's, so back off and poll again."""
        try:
            polled: dict[TopicPartition, list[ConsumerRecord]] = await self.consumer.getmany(
                timeout_ms=self.settings.notifier_poll_ms,
                max_records=self.settings.notifier_batch_max,
            )
        except KafkaError as exc:
            self.poll_failures += 1
            await self.broker_back_off(self.poll_failures, exc, during="poll")
            return {}
        self.poll_failures = 0
        return polled

    async def notify(self, n: Notification, outbox: Outbox, outcomes: Counter[str]) -> None:
        """Bring one notification to its final outcome, every try on the attempts topic."""

        async def record(attempt: NotificationAttempted) -> None:
            key = attempt.incident_key.encode()
            await outbox.put(self.topic(NOTIFICATION_ATTEMPTS), encode(attempt), key)

        link = self.ack_link(n)
        body = message_body(n, link)
        if n.channel is None:
            reason = f"{n.person.id} of {n.enterprise} is not in the rosters loaded"
            await self.dead_letter(n, body, reason, [], outbox)
            outcomes["unknown_person"] += 1
            return
        if n.suppressed is not None:
            await record(self.final(n, 1, DeliveryOutcome.SUPPRESSED, n.suppressed))
            outcomes["suppressed"] += 1
            return
        errors = await deliver_with_retries(
            Outgoing(n, body, link),
            self.channels[n.channel.kind],
            policy=self.policy,
            clock=self.clock,
            draw=self.draw,
            wait=self.wait,
            record=record,
        )
        if not errors:
            outcomes["delivered"] += 1
            return
        last = errors[-1]
        await self.dead_letter(n, body, last.detail, errors, outbox)
        await record(self.final(n, last.attempt, DeliveryOutcome.DEAD_LETTERED, last.detail))
        outcomes["dead_lettered"] += 1

    def final(
        self, n: Notification, attempt: int, outcome: DeliveryOutcome, detail: str
    ) -> NotificationAttempted:
        """The record of a notification's last try (or of its suppression)."""
        return attempt_record(n, attempt=attempt, at=self.clock(), outcome=outcome, detail=detail)

    def ack_link(self, n: Notification) -> str | None:
        """The one-click acknowledge link for the person told, or None with no task."""
        ttl = timedelta(seconds=self.settings.notifier_ack_link_ttl_seconds)
        claim = ack_claim(n, expires_at=self.clock() + ttl)
        if claim is None:
            return None
        token = sign_ack_token(claim, secret=self.ack_secret)
        return f"{self.settings.ack_base_url}/v1/ack/{token}"

    async def dead_letter(
        self,
        n: Notification,
        body: dict[str, object],
        reason: str,
        errors: list[AttemptError],
        outbox: Outbox,
    ) -> None:
        """Put the notification on the dead letters, with the endpoint and every error."""
        letter = NotificationDeadLettered(
            notification_id=n.notification_id,
            incident_key=n.incident_key,
            # Without its acknowledge link: a live credential must not sit on a topic for 90 days.
            notification={k: v for k, v in body.items() if k != "ack_link"},
            channel=n.channel.kind if n.channel else None,
            endpoint=n.channel.address if n.channel else None,
            reason=reason[:200],
            errors=tuple(errors),
            dead_lettered_at=self.clock(),
        )
        log.warning(
            "notification_dead_lettered",
            notification_id=n.notification_id,
            incident_key=n.incident_key,
            person=n.person.id,
            endpoint=letter.endpoint,
            attempts=len(errors),
            reason=reason,
        )
        await outbox.put(
            self.topic(NOTIFICATION_DEAD_LETTERS), encode(letter), n.incident_key.encode()
        )

    async def commit(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Commit past the batch; a failure means it is read again (harmless, by the ids)."""
        offsets = {tp: records[-1].offset + 1 for tp, records in polled.items()}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit_failed_after_rebalance", error=str(exc))
        except KafkaError as exc:
            log.warning("commit_failed_will_be_read_again", error=repr(exc))

    async def broker_back_off(
        self, failures: int, exc: BaseException, *, during: str = "publish"
    ) -> None:
        """Wait after the brokers failed `failures` times in a row (Stopped if asked to stop)."""
        delay = backoff_delay(
            failures,
            base=BROKER_RETRY_BASE_SECONDS,
            cap=self.settings.notifier_retry_max_seconds,
            draw=self.draw,
        )
        log.error(
            "brokers_unavailable_will_retry",
            during=during,
            error=repr(exc),
            failures=failures,
            retry_in_s=round(delay, 2),
        )
        await self.wait(delay)

    async def wait(self, seconds: float) -> None:
        """Sleep `seconds`, or raise Stopped as soon as the notifier is asked to stop."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Stopped


def _decoded(record: ConsumerRecord) -> IncidentEventBase | None:
    """The lifecycle event in `record`; None (logged) for one that does not decode, which the
    recorder has already set aside: it names no one the notifier could tell."""
    try:
        event: IncidentEventBase = decode(INCIDENT_EVENT, record.value or b"")
    except ContractError as exc:
        log.warning(
            "event_undecodable_skipped",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=str(exc)[:300],
        )
        return None
    return event


async def run(settings: NotifierSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the notifier until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    notifier = build(settings)
    log.info("notifier_starting", group=settings.group_id, rosters=len(notifier.rosters.rosters))
    await notifier.run(stop)
