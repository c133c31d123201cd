"""Throw hostile input at a running system, then prove every input was accounted for.

Kafka inputs go straight to their topics; HTTP inputs (with `gateway_url`) go to the
gateway as enterprises of the reference registry, a report as the publisher of the one it is
about (so a valid report is accepted). Afterwards: a sentinel report must still become a
task (every stage is alive and consuming), every Kafka input must have an outcome in
PostgreSQL, and no HTTP input may get a 5xx.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
import httpx
import structlog

from schemas.example_reports import TOPIC_OF_KIND, encoded, report
from services.auditor import OUTCOMES
from services.auditor import connect as audit_connect
from services.fuzz.account import Outcomes, Sent, Tally, unaccounted
from services.fuzz.hostile import LARGEST, FuzzInput, fuzz_publishers, hostile_inputs
from services.gateway import Role, create_token, revoke_token
from services.runtime import db
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import Settings
from services.runtime.topic_admin import ensure_topics
from services.runtime.topics import enterprise_report_topics, task_feed, topic_name

log = structlog.get_logger(component="fuzz")
SENTINEL_OWNER = "vnpt-quang-nam"  # owner of the reference example's line
# Below the gateway's publish slots, so that no fuzz request waits long enough for a 503.
HTTP_CLIENTS = 4
COMMAND_OUTCOMES = """
    SELECT event->>'command_id' AS id FROM incident_events WHERE type = 'command_rejected'
    UNION SELECT event->'caused_by'->>'command_id' FROM incident_events
"""
DEAD_LETTERS = "SELECT source_topic, source_partition, source_offset FROM dead_letters"


@dataclass
class FuzzResult:
    """A run's figures and what it found."""

    tally: Tally
    seconds_sending: float
    seconds_draining: float
    sentinel_ms: float | None

    @property
    def ok(self) -> bool:
        t = self.tally
        return not t.unaccounted and not t.server_errors and self.sentinel_ms is not None


async def run_fuzz(
    settings: Settings,
    *,
    count: int,
    seed: int,
    gateway_url: str | None = None,
    drain_seconds: float = 120.0,
) -> FuzzResult:
    """Send `count` hostile inputs, then wait (at most `drain_seconds`) for every outcome."""
    tally = Tally()
    inputs = list(hostile_inputs(seed, count, http=gateway_url is not None))
    own_topics = [t for e in fuzz_publishers() for t in enterprise_report_topics(e)]
    await ensure_topics(settings, tuple(own_topics), prefix=settings.topic_prefix)
    started = time.perf_counter()
    sent = await _send_kafka(settings, [i for i in inputs if i.channel == "kafka"], tally)
    http = [i for i in inputs if i.channel == "http"]
    if http and gateway_url:
        await _send_http(settings, gateway_url, http, tally)
    sending = time.perf_counter() - started
    sentinel_ms = await _sentinel(settings, deadline_s=drain_seconds)
    started = time.perf_counter()
    tally.unaccounted = await wait_for_outcomes(settings, sent, deadline_s=drain_seconds)
    return FuzzResult(tally, sending, time.perf_counter() - started, sentinel_ms)


async def _send_kafka(settings: Settings, inputs: list[FuzzInput], tally: Tally) -> list[Sent]:
    producer = make_producer(settings, max_request_size=LARGEST + 64 * 1024)
    await producer.start()
    try:
        futures = []
        for item in inputs:
            topic = topic_name(item.target, settings.topic_prefix)
            futures.append(await producer.send(topic, item.value, key=item.key))
            tally.labels[item.label] += 1
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    tally.kafka = len(inputs)
    return [
        Sent(item, (m.topic, m.partition, m.offset))
        for item, m in zip(inputs, metadata, strict=True)
    ]


async def _send_http(settings: Settings, url: str, inputs: list[FuzzInput], tally: Tally) -> None:
    conn = await db.connect(settings, url=settings.owner_database_url)  # tokens: owner's work
    try:
        callers = sorted({_caller(item) for item in inputs})
        tokens = {
            (enterprise, role): await create_token(
                conn=conn, enterprise=enterprise, role=role, label="signalpost fuzz"
            )
            for enterprise, role in callers
        }
        limits = httpx.Limits(max_connections=HTTP_CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            queue = list(reversed(inputs))

            async def send_from_queue() -> None:
                while queue:
                    item = queue.pop()
                    await _request(client, item, tokens[_caller(item)].secret, tally)

            await asyncio.gather(*(send_from_queue() for _ in range(HTTP_CLIENTS)))
        for token in tokens.values():
            await revoke_token(conn=conn, token_id=token.token_id)
    finally:
        await conn.close()


def _caller(item: FuzzInput) -> tuple[str, Role]:
    """Reports as their publisher (default the sentinel's owner), the rest as its dispatcher."""
    if item.target.startswith("/v1/reports/"):
        return item.publisher or SENTINEL_OWNER, Role.PUBLISHER
    return SENTINEL_OWNER, Role.DISPATCHER


async def _request(client: httpx.AsyncClient, item: FuzzInput, secret: str, tally: Tally) -> None:
    tally.labels[item.label] += 1
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        answer = await client.request(item.method, item.target, content=item.value, headers=headers)
    except httpx.HTTPError as exc:
        tally.server_errors.append(f"{item.label}: no answer ({exc!r})"[:300])
        return
    tally.http[answer.status_code] += 1
    if answer.status_code >= 500:
        tally.server_errors.append(f"{item.label}: {answer.status_code}")


async def _sentinel(settings: Settings, *, deadline_s: float) -> float | None:
    """Milliseconds from a fresh valid report to its task on the owner's feed; None if never."""
    line = f"SENTINEL-{uuid.uuid4().hex[:10]}"
    payload = report("line_fault", f"sentinel-{line}", **{"alarmed_object.id": line})
    feed = topic_name(task_feed(SENTINEL_OWNER), settings.topic_prefix)
    consumer = make_consumer(settings, group_id=None, auto_offset_reset="latest")
    await consumer.start()
    try:
        consumer.subscribe([feed])
        await consumer.getmany(timeout_ms=500)  # take an assignment at the feed's end first
        producer = make_producer(settings)
        await producer.start()
        started = time.perf_counter()
        try:
            await producer.send_and_wait(
                topic_name(TOPIC_OF_KIND["line_fault"], settings.topic_prefix), encoded(payload)
            )
        finally:
            await producer.stop()
        async with asyncio.timeout(deadline_s):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    if any(line.encode() in (r.value or b"") for r in records):
                        return (time.perf_counter() - started) * 1000
    except TimeoutError:
        return None
    finally:
        await consumer.stop()


async def wait_for_outcomes(
    settings: Settings, sent: Iterable[Sent], *, deadline_s: float
) -> list[Sent]:
    """Wait until every input has an outcome; those still without one once `deadline_s` has
    passed with no new outcome (a backlog still draining is waited for, a stall is not)."""
    left = list(sent)
    deadline = time.monotonic() + deadline_s
    while left and time.monotonic() < deadline:
        conn = await audit_connect(settings)
        try:
            still = unaccounted(left, await read_outcomes(conn))
        finally:
            await conn.close()
        if len(still) < len(left):
            deadline = time.monotonic() + deadline_s
        left = still
        if left:
            await asyncio.sleep(1)
    return left


async def read_outcomes(conn: asyncpg.Connection) -> Outcomes:
    """Dead-letter positions, and the report and command ids recorded events name."""
    letters = await conn.fetch(DEAD_LETTERS)
    reports = await conn.fetch(OUTCOMES)
    commands = await conn.fetch(COMMAND_OUTCOMES)
    return Outcomes(
        dead_letters={(r[0], r[1], r[2]) for r in letters},
        reports={(r["by"], r["id"]) for r in reports},
        commands={r["id"] for r in commands if r["id"]},
    )
