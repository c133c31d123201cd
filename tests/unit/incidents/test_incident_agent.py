"""The faust agent in faust's test context: inputs in, events and tasks out, then the state."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from aiokafka.structs import RecordMetadata, TopicPartition
from faust.types import TP, Message

from schemas.codec import decode, encode
from schemas.commands import AcknowledgeIncident
from schemas.contracts import DEAD_LETTER, INCIDENT_EVENT, TASK
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.incidents.handler import LogRecord, load_row, load_state
from services.incidents.log import mark_key, partition_of
from services.incidents.policy import Policy
from services.incidents.service import build
from services.incidents.settings import IncidentSettings
from services.router import REFERENCE_RULES, load_rule_set
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    KEYED_PARTITIONS,
    ROUTED_REPORTS,
    task_feed,
    topic_name,
)

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
POLICY = Policy.from_registry(REGISTRY)
PREFIX = "agent."
MARKS = {mark_key(p) for p in range(KEYED_PARTITIONS)}


class Journal(list):
    """What both producers were asked to send, in order; waits for what a test expects."""

    def __init__(self) -> None:
        super().__init__()
        self._grew = asyncio.Event()

    def append(self, entry: tuple) -> None:
        super().append(entry)
        self._grew.set()

    async def until(self, condition, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._grew.clear()
                await self._grew.wait()


class RecordedBatch:
    """A record batch as aiokafka's BatchBuilder fills it: appended whole, or not at all."""

    def __init__(self, limit: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self._limit = limit

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object | None:
        if self.records and self.size() + len(value) > self._limit:
            return None
        self.records.append((key, value))
        return object()

    def size(self) -> int:
        return sum(len(k or b"") + len(v) for k, v in self.records)

    def record_count(self) -> int:
        return len(self.records)


class OutputRecorder:
    """Stands in for the agent's aiokafka producer: journals each send, acknowledged at once.

    It keeps what was sent to each partition as the broker would, so that the agent can read
    the log back through `read`.
    """

    def __init__(self, journal: list, batch_limit: int = 1 << 20) -> None:
        self.journal = journal
        self.partitions: dict[tuple[str, int], list[LogRecord]] = defaultdict(list)
        self.batches: list[tuple[str, int, int]] = []  # topic, partition, records
        self._batch_limit = batch_limit

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _append(self, topic: str, partition: int, records) -> asyncio.Future:
        written = self.partitions[topic, partition]
        base = len(written)
        for key, value in records:
            self.journal.append(("output", topic, key, value))
            written.append(LogRecord(key, partition, len(written), value))
        acked = asyncio.get_running_loop().create_future()
        tp = TopicPartition(topic, partition)
        acked.set_result(RecordMetadata(topic, partition, tp, base, -1, 0, 0))
        return acked

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future:
        return self._append(topic, 0 if key is None else partition_of(key), [(key, value)])

    def create_batch(self) -> RecordedBatch:
        return RecordedBatch(self._batch_limit)

    async def send_batch(self, batch: RecordedBatch, topic: str, *, partition: int):
        self.batches.append((topic, partition, batch.record_count()))
        return self._append(topic, partition, batch.records)

    async def read(self, starts: dict[int, int | None]) -> dict[int, list[LogRecord]]:
        log = _topic(INCIDENT_EVENTS)
        return {p: self.partitions[log, p][start or 0 :] for p, start in starts.items()}


class HeldAcks(OutputRecorder):
    """An output recorder whose brokers acknowledge nothing until `release` is called."""

    def __init__(self, journal: list) -> None:
        super().__init__(journal)
        self.held: list[tuple[asyncio.Future, RecordMetadata]] = []

    def _append(self, topic: str, partition: int, records) -> asyncio.Future:
        acked = super()._append(topic, partition, records)
        waiting = asyncio.get_running_loop().create_future()
        self.held.append((waiting, acked.result()))
        return waiting

    def release(self) -> None:
        for waiting, metadata in self.held:
            waiting.set_result(metadata)
        self.held.clear()


class ChangelogRecorder:
    """Stands in for faust's own producer, which writes the table's changelog."""

    def __init__(self, journal: list) -> None:
        self.journal = journal

    def key_partition(self, topic: str, key: bytes | None) -> TP:
        return TP(topic, 0)

    def send_soon(self, fut) -> None:
        self.journal.append(("changelog", fut.message.channel, fut.message.key, fut.message.value))


def outputs(journal: list, name: str) -> list[bytes]:
    return [v for kind, topic, _, v in journal if kind == "output" and topic == _topic(name)]


def states_written(journal: list) -> int:
    """Rows of incidents written to the changelog, not counting the partitions' log marks."""
    return sum(1 for kind, _, key, _ in journal if kind == "changelog" and key not in MARKS)


def _topic(name: str) -> str:
    return topic_name(name, PREFIX)


def routed_report(line: str = "HOTLINE-BAUCU-01", severity: str = "major", n: int = 0):
    fields = {"alarmed_object.id": line, "perceived_severity": severity}
    payload = report("line_fault", f"a-{line}-{n}", **fields)
    raw = RawMessage("reports.line-fault", 0, 0, 0, None, encoded(payload))
    rules = load_rule_set(REFERENCE_RULES, REGISTRY)
    now = datetime.now(UTC)
    return process_batch([raw], rules=rules, registry=REGISTRY, now=now).routed[0]


@pytest.fixture
async def running():
    """The app's agent in faust's test context, with both producers journalling."""
    journal = Journal()
    settings = IncidentSettings(topic_prefix=PREFIX)
    outputs = OutputRecorder(journal)
    app = build(settings, policy=POLICY, output_producer=lambda: outputs, log_reader=outputs.read)
    app.producer = ChangelogRecorder(journal)
    [manage] = app.agents.values()
    async with manage.test_context() as agent:
        yield agent, app.tables["incident-state"], journal


async def deliver(
    agent, name: str, key: bytes, value: bytes, offset: int, at: float | None = None
) -> Message:
    """Put one input on the agent's stream as if read from topic `name` at `offset` (and `at`)."""
    # agent.put would name the agent's three-topic channel "<internal>"; the agent needs the
    # real topic to know a report from a command.
    message = Message(
        topic=_topic(name),
        partition=partition_of(key),  # as every producer partitions by incident key
        offset=offset,
        timestamp=time.time() if at is None else at,
        timestamp_type=0,
        headers=None,
        key=key,
        value=value,
        checksum=b"",
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        generation_id=agent.app.consumer_generation_id,  # else the stream skips it as stale
    )
    channel = agent.stream().channel
    message.incref()  # as faust's conductor does, once per channel it hands the message to
    await channel.put(await channel.decode(message))
    return message


async def open_incident(agent, journal: Journal):
    """A routed report delivered at offset 0, once its state is written: (report, key)."""
    routed = routed_report()
    key = routed.incident_key.encode()
    await deliver(agent, ROUTED_REPORTS, key, encode(routed), offset=0)
    await journal.until(lambda: states_written(journal) == 1)
    return routed, key


async def test_a_routed_report_gives_events_and_tasks_and_only_then_the_state(running):
    agent, table, journal = running
    routed, key = await open_incident(agent, journal)

    events = [decode(INCIDENT_EVENT, v) for v in outputs(journal, INCIDENT_EVENTS)]
    assert events[0].type == "incident_opened"
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    primary = routed.decision.primary
    [task] = [decode(TASK, v) for v in outputs(journal, task_feed(primary))]
    assert (task.enterprise, task.incident_id) == (primary, events[0].incident_id)
    assert load_state(table[key]).sequence == events[-1].sequence
    # Every output is keyed by the incident, and the state is written after all of them, with
    # where its last event is in the log; then the partition's mark: the log's end after them.
    assert {k for _, _, k, _ in journal if k not in MARKS} == {key}
    partition = partition_of(key)
    assert load_row(table[key])[1] == (partition, len(events) - 1)
    assert [(kind, k, v) for kind, _, k, v in journal[-2:]] == [
        ("changelog", key, table[key]),
        ("changelog", mark_key(partition), b"%d" % len(events)),
    ]


async def test_a_command_acts_on_the_stored_state_and_bad_input_is_a_dead_letter(running):
    agent, table, journal = running
    routed, key = await open_incident(agent, journal)
    ack = AcknowledgeIncident(
        command_id="c-agent-1",
        incident_id=load_state(table[key]).incident_id,
        incident_key=routed.incident_key,
        issued_by=routed.decision.primary,
        issued_at=datetime.now(UTC),
    )
    await deliver(agent, INCIDENT_COMMANDS, key, encode(ack), offset=1)
    await deliver(agent, INCIDENT_COMMANDS, key, b"{not json", offset=2)
    await journal.until(lambda: states_written(journal) == 2)

    assert load_state(table[key]).status == "acknowledged"
    events = [decode(INCIDENT_EVENT, v) for v in outputs(journal, INCIDENT_EVENTS)]
    [acknowledged] = [e for e in events if e.type == "incident_acknowledged"]
    assert acknowledged.caused_by.command_id == "c-agent-1"
    [dead] = [decode(DEAD_LETTER, v) for v in outputs(journal, DEAD_LETTERS)]
    assert (dead.source.topic, dead.source.offset) == (_topic(INCIDENT_COMMANDS), 2)


async def test_an_input_that_fails_costs_only_itself_and_its_batch_keeps_its_states(running):
    agent, table, journal = running
    first, broken, last = (routed_report(f"HOTLINE-BAUCU-0{n}") for n in (1, 2, 3))
    keys = [r.incident_key.encode() for r in (first, broken, last)]
    table[keys[1]] = b"{a state some broken version wrote"  # the one input that must fail
    for offset, (routed, key) in enumerate(zip((first, broken, last), keys, strict=True)):
        await deliver(agent, ROUTED_REPORTS, key, encode(routed), offset=offset)
    # The staged row, then the states of the two inputs around the broken one.
    await journal.until(lambda: states_written(journal) == 3)

    assert load_state(table[keys[0]]).incident_key == first.incident_key
    assert load_state(table[keys[2]]).incident_key == last.incident_key
    assert table[keys[1]] == b"{a state some broken version wrote"
    [dead] = [decode(DEAD_LETTER, v) for v in outputs(journal, DEAD_LETTERS)]
    assert (dead.error.error, dead.source.offset) == ("invalid_state", 1)
    opened = [decode(INCIDENT_EVENT, v) for v in outputs(journal, INCIDENT_EVENTS)]
    assert {e.incident_key for e in opened} == {first.incident_key, last.incident_key}


async def test_a_key_whose_incident_ended_leaves_the_table_when_its_retention_is_over(running):
    agent, table, journal = running
    clear = routed_report("HOTLINE-BAUCU-09", severity="cleared")
    key = clear.incident_key.encode()
    await deliver(agent, ROUTED_REPORTS, key, encode(clear), offset=0)
    await journal.until(lambda: states_written(journal) == 1)
    first = load_state(table[key])
    assert first.status == "cancelled"

    later = time.time() + POLICY.retention.total_seconds() + 60
    await deliver(agent, INCIDENT_TICKS, key, b"tick", offset=0, at=later)
    await journal.until(lambda: states_written(journal) == 2)
    assert key not in table
    assert journal[-1] == ("changelog", journal[-1][1], key, None)  # a tombstone
    # The log keeps the old incident; the key starts again, under a new incident id.
    alarm = routed_report("HOTLINE-BAUCU-09", n=1)
    await deliver(agent, ROUTED_REPORTS, key, encode(alarm), offset=1, at=later + 1)
    await journal.until(lambda: states_written(journal) == 3)
    again = load_state(table[key])
    assert (again.incidents, again.previous_incident_id) == (1, None)
    assert again.incident_id != first.incident_id


async def test_an_input_is_let_go_for_commit_only_once_its_outputs_are_acked_and_state_written():
    journal = Journal()
    outputs = HeldAcks(journal)
    app = build(
        IncidentSettings(topic_prefix=PREFIX),
        policy=POLICY,
        output_producer=lambda: outputs,
        log_reader=outputs.read,
    )
    app.producer = ChangelogRecorder(journal)
    [manage] = app.agents.values()
    async with manage.test_context() as agent:
        first, second = routed_report("HOTLINE-BAUCU-01"), routed_report("HOTLINE-BAUCU-02")
        held = await deliver(
            agent, ROUTED_REPORTS, first.incident_key.encode(), encode(first), offset=0
        )
        await journal.until(lambda: outputs.held)
        # The next batch is decided and sent while the first waits for its acks...
        later = await deliver(
            agent, ROUTED_REPORTS, second.incident_key.encode(), encode(second), offset=1
        )
        await asyncio.sleep(0.2)
        # ...but neither is let go, nor is any state written, before the brokers ack.
        assert not held.acked and not later.acked
        assert states_written(journal) == 0
        outputs.release()
        await journal.until(lambda: states_written(journal) >= 1)
        await journal.until(lambda: outputs.held or states_written(journal) == 2)
        outputs.release()
        await journal.until(lambda: states_written(journal) == 2)
        await asyncio.sleep(0.05)
        assert held.acked and later.acked
