"""Order per incident: an alarm and its clear in the order they happened, and the same events
after a crash whatever order the inputs come again in.

The crash test runs the agent in faust's test context (so that the test chooses the order in
which the inputs are redelivered), with its outputs and its reads of the log on the real
broker; the alarm and clear test runs the real router and incident manager.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2
from faust.types import TP, Message

from schemas.codec import decode, encode
from schemas.commands import AcknowledgeIncident
from schemas.contracts import INCIDENT_EVENT
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.incidents.handler import load_state
from services.incidents.policy import Policy
from services.incidents.service import build
from services.incidents.settings import IncidentSettings
from services.incidents.transitions import fold
from services.router import REFERENCE_RULES, load_rule_set
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage
from services.runtime.kafka import make_consumer
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    KEYED_PARTITIONS,
    LINE_FAULT_REPORTS,
    ROUTED_REPORTS,
    topic_name,
)
from tests.support.kafka_io import publish, read_until
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
POLICY = Policy.from_registry(REGISTRY)
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)


def partition_of(key: bytes) -> int:
    """The partition every producer (aiokafka's default partitioner) puts `key` on."""
    return (murmur2(key) & 0x7FFFFFFF) % KEYED_PARTITIONS


class Changelog:
    """Stands in for faust's producer of the table's changelog: what reached it, in order.

    After `crash()` the writes no longer reach it: the worker died between the brokers' acks
    of a batch's events and the write of its states.
    """

    def __init__(self) -> None:
        self.durable: list[tuple[bytes, bytes | None]] = []
        self.attempted: list[bytes] = []  # keys, durable or not
        self._crashed = False
        self._wrote = asyncio.Event()

    def crash(self) -> None:
        self._crashed = True

    def key_partition(self, topic: str, key: bytes | None) -> TP:
        return TP(topic, partition_of(key))

    def send_soon(self, fut) -> None:
        self.attempted.append(fut.message.key)
        if not self._crashed:
            self.durable.append((fut.message.key, fut.message.value))
        self._wrote.set()

    async def until(self, condition, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._wrote.clear()
                await self._wrote.wait()


@asynccontextmanager
async def worker(
    settings: IncidentSettings, recovered: list[tuple[bytes, bytes | None]]
) -> AsyncIterator[tuple]:
    """A fresh incident manager whose table holds what a restart recovers from `recovered`."""
    changelog = Changelog()
    app = build(settings, policy=POLICY)  # its outputs go to the real broker
    app.producer = changelog
    table = app.tables["incident-state"]
    for key, value in recovered:
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
    [manage] = app.agents.values()
    async with manage.test_context() as agent:
        yield agent, table, changelog


async def deliver(agent, topic: str, key: bytes, value: bytes, offset: int, at: float) -> None:
    """Put one input on the agent's stream as if fetched from `topic` (the key's partition)."""
    message = Message(
        topic=topic,
        partition=partition_of(key),
        offset=offset,
        timestamp=at,
        timestamp_type=0,
        headers=None,
        key=key,
        value=value,
        checksum=b"",
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        generation_id=agent.app.consumer_generation_id,
    )
    channel = agent.stream().channel
    await channel.put(await channel.decode(message))


def routed(report_id: str, line: str, severity: str):
    """A routed line fault on `line` as the router makes it."""
    fields = {"alarmed_object.id": line, "perceived_severity": severity}
    raw = RawMessage(
        "reports.line-fault", 0, 0, 0, None, encoded(report("line_fault", report_id, **fields))
    )
    [result] = process_batch([raw], rules=RULES, registry=REGISTRY, now=datetime.now(UTC)).routed
    return result


async def handled(agent, changelog: Changelog, topic: str, alarm, offset: int, at: float) -> None:
    """Deliver a report for another key and wait until the agent tried to write its state."""
    key = alarm.incident_key.encode()
    await deliver(agent, topic, key, encode(alarm), offset=offset, at=at)
    await changelog.until(lambda: key in changelog.attempted)


async def the_log(settings: IncidentSettings) -> list:
    """Every event on the test's incidents.events, read to its end."""
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(KEYED_PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records = []
        async with asyncio.timeout(30):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records += batch
    finally:
        await consumer.stop()
    return [decode(INCIDENT_EVENT, r.value) for r in records]


@pytest.fixture
def incident_settings(topics, test_id) -> IncidentSettings:
    return IncidentSettings.model_validate(
        {**topics.model_dump(), "incidents_app_id": f"{test_id}-incidents"}
    )


async def test_a_crash_then_a_clear_and_an_ack_again_in_the_other_order_change_no_event(
    incident_settings,
):
    settings = incident_settings
    prefix = settings.topic_prefix
    reports, commands = topic_name(ROUTED_REPORTS, prefix), topic_name(INCIDENT_COMMANDS, prefix)
    alarm = routed("r-order-alarm", "L-ORDER", "major")
    clear = routed("r-order-clear", "L-ORDER", "cleared")
    # Inputs after those: once their states are written, everything before them is handled.
    later = [routed(f"r-order-later-{n}", f"L-ORDER-{n}", "major") for n in (1, 2)]
    key = alarm.incident_key.encode()
    t0 = time.time()

    async with worker(settings, []) as (agent, table, changelog):
        await deliver(agent, reports, key, encode(alarm), offset=0, at=t0)
        await changelog.until(lambda: key in {k for k, _ in changelog.durable})
        opened = load_state(table[key])
        ack = AcknowledgeIncident(
            command_id="c-order-ack",
            incident_id=opened.incident_id,
            incident_key=alarm.incident_key,
            issued_by=opened.primary,
            issued_at=datetime.now(UTC),
        )
        # The clear, then the ack: their events are sent and acked, their states never written.
        changelog.crash()
        await deliver(agent, reports, key, encode(clear), offset=1, at=t0 + 1)
        await deliver(agent, commands, key, encode(ack), offset=0, at=t0 + 2)
        await handled(agent, changelog, reports, later[0], offset=2, at=t0 + 3)
    recovered = changelog.durable
    crashed = [e for e in await the_log(settings) if e.incident_key == alarm.incident_key]
    assert [e.type for e in crashed][-3:] == [
        "source_cleared",
        "incident_resolved",
        "command_rejected",
    ]

    # The restart: the same inputs come again, the ack first this time.
    async with worker(settings, recovered) as (agent, table, changelog):
        await deliver(agent, commands, key, encode(ack), offset=0, at=t0 + 2)
        await deliver(agent, reports, key, encode(clear), offset=1, at=t0 + 1)
        await handled(agent, changelog, reports, later[1], offset=3, at=t0 + 4)
        after = load_state(table[key])

    log = [e for e in await the_log(settings) if e.incident_key == alarm.incident_key]
    ids_at: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in log:
        ids_at[event.incident_id, event.sequence].add(event.event_id)
    taken_twice = {at: ids for at, ids in ids_at.items() if len(ids) > 1}
    assert not taken_twice, f"two histories at the same sequences: {taken_twice}"
    # The key's state is the fold of its log, and the log is what the first worker decided.
    assert {e.event_id for e in log} == {e.event_id for e in crashed}
    assert after == fold({e.event_id: e for e in log}.values())


# --- an alarm and its clear, keyed by report id, through the router and incident manager ---


@pytest.fixture
async def pipeline(topics, test_id, tmp_path):
    """`signalpost run router` and `signalpost run incidents` on this test's topics."""
    variables = {
        "router": {"SIGNALPOST_ROUTER_GROUP_ID": f"{test_id}-router"},
        "incidents": {"SIGNALPOST_INCIDENTS_APP_ID": f"{test_id}-incidents"},
    }
    processes = {
        name: await start_service(name, topics, tmp_path / f"{name}.log", **env)
        for name, env in variables.items()
    }
    yield topics
    for name, process in processes.items():
        assert process.returncode is None, (tmp_path / f"{name}.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)


def line_report(report_id: str, line: str, severity: str, occurred_at: str) -> tuple[bytes, bytes]:
    """A line fault as a publisher following the README sends it: keyed by its report id."""
    fields = {
        "alarmed_object.id": line,
        "perceived_severity": severity,
        "occurred_at": occurred_at,
        "reported_at": occurred_at,
    }
    return report_id.encode(), encoded(report("line_fault", report_id, **fields))


def apart(prefix: str) -> tuple[str, str]:
    """Report ids for an alarm and its clear that land on different report partitions."""
    alarm = f"{prefix}-alarm"
    clear = next(
        f"{prefix}-clear-{n}"
        for n in range(100)
        if partition_of(f"{prefix}-clear-{n}".encode()) != partition_of(alarm.encode())
    )
    return alarm, clear


async def test_an_alarm_and_its_clear_end_the_same_in_either_arrival_order(pipeline, test_id):
    settings = pipeline
    reports = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    lines = {"alarm first": "L-ORDER-AC", "clear first": "L-ORDER-CA"}
    sent: dict[str, dict[str, tuple[bytes, bytes]]] = {}
    for order, line in lines.items():
        alarm_id, clear_id = apart(f"{test_id}-{line}")
        sent[order] = {
            "alarm": line_report(alarm_id, line, "critical", "2007-05-20T06:42:10+07:00"),
            "clear": line_report(clear_id, line, "cleared", "2007-05-20T06:45:00+07:00"),
        }

    def timelines(records) -> dict[str, list]:
        found = defaultdict(list)
        for event in (decode(INCIDENT_EVENT, r.value) for r in records):
            found[event.incident_key.rsplit(":", 1)[-1]].append(event)
        return found

    # Each key's first report is decided before its second is published: they arrive apart.
    await publish(settings, reports, [sent["alarm first"]["alarm"], sent["clear first"]["clear"]])
    await read_until(
        settings, events, lambda rs: set(lines.values()) <= timelines(rs).keys(),
        group=f"{test_id}-first", deadline_s=120,
    )  # fmt: skip
    await publish(settings, reports, [sent["alarm first"]["clear"], sent["clear first"]["alarm"]])

    def ended(records) -> bool:
        found = timelines(records)
        return all(
            found[line] and found[line][-1].type == "incident_resolved" for line in lines.values()
        )

    records = await read_until(settings, events, ended, group=f"{test_id}-ended", deadline_s=120)
    found = timelines(records)
    alarm_first, clear_first = found[lines["alarm first"]], found[lines["clear first"]]
    assert [e.type for e in alarm_first][-2:] == ["source_cleared", "incident_resolved"]
    # The clear that came first left its trace, and the alarm after it is over at once.
    assert [e.type for e in clear_first][:2] == ["incident_opened", "incident_cancelled"]
    last = [e for e in clear_first if e.incident_id == clear_first[-1].incident_id]
    assert [e.type for e in last] == [
        "incident_opened",
        "incident_routed",
        "deadline_set",
        "deadline_set",
        "source_cleared",
        "incident_resolved",
    ]
    assert "before the alarm arrived" in last[-1].resolution
    # Both end the same: the alarm's incident resolved by its source, its tasks resolved.
    for timeline in (alarm_first, last):
        state = fold(timeline)
        assert (state.status, state.source_cleared) == ("resolved", True)
        assert {t.status for t in state.tasks.values()} == {"resolved"}


# --- kill -9 amid clears and acks on two topics -------------------------------------------

KEYS = 60


async def test_kill_9_amid_clears_and_acks_on_two_topics_leaves_one_history(
    topics, test_id, tmp_path
):
    prefix, log = topics.topic_prefix, tmp_path / "incidents.log"
    reports, commands = topic_name(ROUTED_REPORTS, prefix), topic_name(INCIDENT_COMMANDS, prefix)
    events = topic_name(INCIDENT_EVENTS, prefix)
    env = {"SIGNALPOST_INCIDENTS_APP_ID": f"{test_id}-incidents"}
    alarms = [routed(f"{test_id}-{n}-alarm", f"L-KILL-{n}", "major") for n in range(KEYS)]
    await publish(topics, reports, [(a.incident_key.encode(), encode(a)) for a in alarms])
    first = await start_service("incidents", topics, log, **env)

    def of_type(records, *types: str) -> list:
        return [e for e in (decode(INCIDENT_EVENT, r.value) for r in records) if e.type in types]

    opened = await read_until(
        topics, events, lambda rs: len(of_type(rs, "incident_opened")) >= KEYS,
        group=f"{test_id}-opened", deadline_s=120,
    )  # fmt: skip
    incident_of = {e.incident_key: e.incident_id for e in of_type(opened, "incident_opened")}
    clears, acks = [], []
    for n, alarm in enumerate(alarms):
        key = alarm.incident_key
        clear = routed(f"{test_id}-{n}-clear", f"L-KILL-{n}", "cleared")
        clears.append((key.encode(), encode(clear)))
        ack = AcknowledgeIncident(
            command_id=f"{test_id}-{n}-ack",
            incident_id=incident_of[key],
            incident_key=key,
            issued_by=alarm.decision.primary,
            issued_at=datetime.now(UTC),
        )
        acks.append((key.encode(), encode(ack)))
    # The clears and the acks on their two topics at once; the kill comes in the middle.
    await asyncio.gather(publish(topics, reports, clears), publish(topics, commands, acks))
    await read_until(
        topics, events, lambda rs: len(of_type(rs, "source_cleared")) >= KEYS // 4,
        group=f"{test_id}-peek", deadline_s=120,
    )  # fmt: skip
    first.send_signal(signal.SIGKILL)
    await first.wait()

    def resolved(records) -> set[str]:
        return {e.incident_key for e in of_type(records, "incident_resolved")}

    second = await start_service("incidents", topics, log, **env)
    try:
        records = await read_until(
            topics, events, lambda rs: resolved(rs) >= incident_of.keys(),
            group=f"{test_id}-ended", deadline_s=150,
        )  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=60)

    timeline = [decode(INCIDENT_EVENT, r.value) for r in records]
    ids_at: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in timeline:
        ids_at[event.incident_id, event.sequence].add(event.event_id)
    taken_twice = {at: ids for at, ids in ids_at.items() if len(ids) > 1}
    assert not taken_twice, f"two histories at the same sequences: {list(taken_twice)[:5]}"
    unique = list({e.event_id: e for e in timeline}.values())
    for key in incident_of:
        types = [e.type for e in unique if e.incident_key == key]
        # The clear happened before the ack was issued: resolved by it in either order, and
        # the ack is applied before it or rejected after it, once.
        assert (types.count("source_cleared"), types.count("incident_resolved")) == (1, 1), types
        assert types.count("incident_acknowledged") + types.count("command_rejected") == 1, types
