"""The faust-streaming app: one agent owns each incident's state; a timer finds due deadlines.

Reports, commands and timer ticks arrive on three topics co-partitioned by incident key,
so one agent (concurrency 1: faust-streaming #606) sees every input of an incident in
order. For each input it sends the lifecycle events and task updates, waits until the
brokers acknowledge them, and only then writes the new state to the table, with where its
key's last event is in the log.

The log wins. A crash between the acks and the writes leaves events in the log that the
table does not hold, and the inputs that caused them come again, but the order of inputs
from three topics is fixed by nothing: decided again from the old state they could make
another history at the same sequences. So before the agent decides the inputs of a
partition for the first time after an assignment, it reads that partition of the log from
the partition's mark (the end of the log as of the last batch whose states are all
written) to its end and folds into each stored state the events it does not hold. The
inputs that come again are then known as seen (their report and command ids, their
deadlines' levels) in whatever order they come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.exceptions import ConsumerNotStarted

from services.incidents.handler import (
    LogPosition,
    Step,
    catch_up,
    due_index,
    encode_row,
    handle,
)
from services.incidents.log import (
    LogReader,
    kafka_log_reader,
    kafka_partitions_reader,
    mark_key,
    partition_of,
)
from services.incidents.policy import Policy
from services.incidents.recovery import IncidentTableManager, SnapshotConsumer
from services.incidents.settings import IncidentSettings
from services.incidents.table import BulkLoadedTable
from services.runtime.backoff import backoff_delay
from services.runtime.kafka import make_producer
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    KEYED_PARTITIONS,
    ROUTED_REPORTS,
    TopicSpec,
    task_feed,
    topic_name,
)

log = structlog.get_logger(component="incidents")
Clock = Callable[[], datetime]
RAW = {"key_serializer": "raw", "value_serializer": "raw"}
Outgoing = tuple[str, bytes | None, bytes]  # topic, key, value
Decision = tuple[bytes, Sequence[bytes]]  # one input's key and its encoded events
RETRY_MAX_SECONDS = 30.0
# A due incident's tick that was handled and changed nothing (its deadline is still the
# same) is sent again this long after it was handled; otherwise each deadline is ticked once.
TICK_RESEND_AFTER = timedelta(seconds=30)
# The broker appends a record batch whole; the events of one decision go in one (the codec
# bounds a message to 256 KiB, the broker a batch to 1 MiB).
BATCH_BYTES = 512 * 1024
RECORD_OVERHEAD = 64  # a record's length, attributes, deltas and header count, at most


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def build_app(
    settings: IncidentSettings,
    *,
    policy: Policy,
    clock: Clock = system_clock,
    output_producer: Callable[[], AIOKafkaProducer] | None = None,
    log_reader: LogReader | None = None,
) -> faust.App:
    """The faust app with its table, agent and timer, wired to `settings`' topics.

    `output_producer` makes the producer of the agent's outputs (by default an aiokafka
    producer on `settings`), and `log_reader` reads a partition of the log back (by default
    from the broker); agent tests in faust's test context pass ones that record and replay.
    """
    prefix = settings.topic_prefix
    app = faust.App(
        settings.app_name,
        broker=";".join(f"kafka://{s}" for s in settings.kafka_bootstrap.split(",")),
        store="memory://",
        web_enabled=False,
        topic_partitions=KEYED_PARTITIONS,
        topic_replication_factor=settings.topic_replication_factor,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A kill -9'd worker's partitions move (or go back to its restart) after this long;
        # faust's own default is a minute of inputs waiting.
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_session_timeout_ms / 3000,
        # A restart with the same id takes its partitions back without waiting for the
        # session of the process it replaces to time out.
        consumer_group_instance_id=settings.kafka_group_instance_id,
        # The table holds the state as our own JSON bytes; faust must not re-encode them.
        table_key_serializer="raw",
        table_value_serializer="raw",
        # faust 0.15.3 resumes the inputs before seeking them after recovery and can drop
        # what it fetched in between (see recovery.py); this manager seeks first.
        TableManager=IncidentTableManager,
    )
    # Set before anything makes the consumer (see recovery.py: faust's own can drop inputs).
    app.transport.Consumer = SnapshotConsumer
    names = {
        name: topic_name(name, prefix)
        for name in (ROUTED_REPORTS, INCIDENT_COMMANDS, INCIDENT_TICKS)
    }
    inputs = app.topic(*names.values(), **RAW)
    ticks = app.topic(names[INCIDENT_TICKS], **RAW)
    # Outputs go through a plain aiokafka producer: faust's send costs several times more
    # per message, and an input makes eight or so messages. Safe because the agent waits
    # for these acks itself before it writes any state (faust's flush-before-commit only
    # covers its own producer).
    state = app.tables.add(
        BulkLoadedTable(
            app,
            name="incident-state",
            beacon=app.tables.beacon,
            reader_for=partial(kafka_partitions_reader, settings),
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=KEYED_PARTITIONS,
            # Changelog partition from the key itself (as every producer partitions the inputs),
            # not from whichever event of a batch happens to be current.
            use_partitioner=True,
        )
    )
    source_of = {real: name for name, real in names.items()}
    index = DeadlineIndex()

    events, dead = topic_name(INCIDENT_EVENTS, prefix), topic_name(DEAD_LETTERS, prefix)
    read_log = log_reader or kafka_log_reader(settings, events)
    marks = {p: mark_key(p) for p in range(KEYED_PARTITIONS)}
    caught_up: dict[int, int] = {}  # partition: the consumer generation it was brought up in

    def outgoing(key: bytes | None, step: Step) -> list[Outgoing]:
        """The messages one input's step sends besides its events: task updates, dead letters."""
        out = [(topic_name(task_feed(e), prefix), key, v) for e, v in step.tasks]
        # A dead letter's key is the input's, or its digest when that is too long to send.
        out += [(dead, k, v) for k, v in step.dead_letters]
        return out

    @app.agent(inputs, concurrency=1)
    async def manage(stream: faust.StreamT) -> None:
        """Inputs in order, a batch at a time: decide, publish, wait for acks, keep the states.

        Waiting for the brokers once per batch rather than once per input is what lets one
        agent keep up; the states of a batch are written only after all its sends are acked.
        """
        # Made here: aiokafka wants the running loop.
        producer = (
            output_producer()
            if output_producer
            else make_producer(settings, max_batch_size=BATCH_BYTES)
        )
        await producer.start()
        try:
            await _handle_batches(stream, producer)
        finally:
            await producer.stop()

    def _stored(key: bytes | None) -> bytes | None:
        return None if key is None else state.get(key)

    def _rows():
        """The table's incidents: every row but the partitions' log marks."""
        reserved = set(marks.values())
        return ((key, raw) for key, raw in state.items() if key not in reserved)

    def _assigned() -> set[int]:
        """The input partitions the worker holds now, as faust's consumer has them."""
        try:
            held = app.consumer.assignment()
        except ConsumerNotStarted:  # faust's test context: no consumer, the batch's only
            return set()
        return {tp.partition for tp in held if tp.topic in source_of}

    async def _bring_up(batch: list) -> None:
        """The stored states of the partitions new to this assignment, brought up to the log.

        At the first input of a new assignment every partition it holds is read at once, in
        one consumer, rather than each at the first input it happens to see.
        """
        new = {
            event.message.partition: event.message.generation_id
            for event in batch
            if caught_up.get(event.message.partition) != event.message.generation_id
        }
        if not new:
            return
        generation = max(new.values())
        new |= {p: generation for p in _assigned() - new.keys() if caught_up.get(p) != generation}
        starts = {p: None if (mark := state.get(marks[p])) is None else int(mark) for p in new}
        for partition, records in (await read_log(starts)).items():
            result = catch_up(_stored, records, policy=policy)
            for key, raw in result.rows.items():
                state[key] = raw
            if records:
                state[marks[partition]] = b"%d" % (records[-1].offset + 1)
            for key, deadline in result.due.items():
                index.set(key, deadline)
            caught_up[partition] = new[partition]
            log.info(
                "log_caught_up",
                partition=partition,
                from_offset=starts[partition],
                records=len(records),
                folded=result.folded,
                held=result.held,
                unusable=result.unusable,
                keys=len(result.rows),
            )

    def _written(changed: dict, last: dict[bytes, int], at: list[LogPosition]) -> None:
        """The batch's states, each with its key's last event, then the marks after them."""
        for key, raw in changed.items():
            if raw is not None:
                state[key] = encode_row(raw, at[last[key]])
            elif key in state:
                del state[key]  # a tombstone on the changelog; the log keeps its events
        ends: dict[int, int] = {}
        for partition, offset in at:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        for partition, end in ends.items():
            state[marks[partition]] = b"%d" % end

    async def _handle_batches(stream: faust.StreamT, producer: AIOKafkaProducer) -> None:
        async for batch in stream.take_events(settings.incidents_batch_max, within=0.01):
            await _bring_up(batch)
            changed: dict[bytes, bytes | None] = {}  # None: the key's state leaves the table
            deadlines: dict[bytes, datetime | None] = {}
            decisions: list[Decision] = []
            last: dict[bytes, int] = {}  # each key's last decision in `decisions`
            messages: list[Outgoing] = []
            for event in batch:
                message = event.message
                key = event.key
                stored = changed[key] if key in changed else _stored(key)
                step = handle(
                    stored,
                    key=key,
                    source=source_of.get(message.topic, message.topic),
                    value=event.value,
                    position=(
                        message.topic,
                        message.partition,
                        message.offset,
                        int(message.timestamp * 1000),
                    ),
                    policy=policy,
                )
                if step.events and key is not None:
                    last[key] = len(decisions)
                    decisions.append((key, step.events))
                messages += outgoing(key, step)
                if (step.state is not None or step.evict) and key is not None:
                    changed[key] = step.state
                    deadlines[key] = step.due
            at = await send_until_acked(producer, messages, log_topic=events, decisions=decisions)
            _written(changed, last, at)
            for key, deadline in deadlines.items():
                index.set(key, deadline)
            handled_at = clock()
            for event in batch:
                if event.message.topic == names[INCIDENT_TICKS] and event.key is not None:
                    index.handled(event.key, handled_at)
            log.debug("batch_handled", inputs=len(batch), decisions=len(decisions))

    @app.timer(interval=settings.incidents_tick_seconds)
    async def find_due() -> None:
        """Ask the agent to look at incidents with a deadline due; it decides, in order."""
        if app.rebalancing or app.in_recovery:
            # The table is incomplete until recovery ends: rebuild from it at the next tick.
            index.forget()
            return
        now = clock()
        for key in index.due(now, lambda: due_index(_rows(), policy)):
            await ticks.send(key=key, value=now.isoformat().encode(), force=True)

    return app


async def send_until_acked(
    producer: AIOKafkaProducer,
    messages: list[Outgoing],
    *,
    log_topic: str = "",
    decisions: Sequence[Decision] = (),
) -> list[LogPosition]:
    """Send a batch's decisions to the log and its other messages, and wait for every ack,
    sending all again after a broker error. Returns where each decision's last event is.

    No state is written before this returns, so a broker outage holds the agent back and
    loses nothing; a message sent twice carries the same event id, which the recorder keeps
    once (and the catch-up after a crash knows as a repeat), and a task update sent twice
    says the same thing twice.
    """
    failures = 0
    while True:
        try:
            batches = _record_batches(producer, decisions)
            sends = [
                await producer.send_batch(b.builder, log_topic, partition=b.partition)
                for b in batches
            ]
            sends += [await producer.send(topic, value, key=key) for topic, key, value in messages]
            acks = await asyncio.gather(*sends)
            return _positions(batches, acks, len(decisions))
        except KafkaError as exc:
            failures += 1
            delay = backoff_delay(failures, base=0.25, cap=RETRY_MAX_SECONDS)
            log.error(
                "batch_not_published_will_retry",
                error=repr(exc),
                failures=failures,
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)


@dataclass
class _RecordBatch:
    partition: int
    builder: Any
    ends: list[tuple[int, int]] = field(default_factory=list)  # decision, its last record


def _record_batches(producer: AIOKafkaProducer, decisions: Sequence[Decision]) -> list:
    """The decisions' events in record batches by partition, each decision whole in one.

    The broker appends a record batch whole, so a crash while a batch is sent leaves no half
    decision in the log for the catch-up to take for a whole one (its input would then be
    known as seen, and the rest of its events never sent). Only a decision larger than a
    batch on its own is split.
    """
    batches: list[_RecordBatch] = []
    current: dict[int, _RecordBatch] = {}
    for index, (key, values) in enumerate(decisions):
        partition = partition_of(key)
        size = sum(len(key) + len(value) + RECORD_OVERHEAD for value in values)
        batch = current.get(partition)
        if batch is None or batch.builder.size() + size > BATCH_BYTES:
            batch = current[partition] = _RecordBatch(partition, producer.create_batch())
            batches.append(batch)
        for value in values:
            while batch.builder.append(key=key, value=value, timestamp=None) is None:
                batch = current[partition] = _RecordBatch(partition, producer.create_batch())
                batches.append(batch)
        batch.ends.append((index, batch.builder.record_count() - 1))
    return batches


def _positions(batches: list[_RecordBatch], acks: Sequence, count: int) -> list[LogPosition]:
    at: list[LogPosition] = [(-1, -1)] * count
    for batch, ack in zip(batches, acks, strict=False):
        for index, relative in batch.ends:
            at[index] = (ack.partition, ack.offset + relative)
    return at


class DeadlineIndex:
    """Each incident's next deadline in memory, so a timer tick parses no state.

    Built from the table at the first tick after a start or a rebalance once recovery is
    over, then kept by the agent as it writes states. A due key is ticked once for its
    deadline and not again while that tick is on its way: the timer runs every second, and
    re-sending every due key each time (or every half minute) flooded the agent with its own
    ticks once thousands were due behind a backlog (the crash loop: timer runs of 60-120 s,
    the inputs left waiting). A tick that was handled and changed nothing is sent again
    TICK_RESEND_AFTER after it was handled.
    """

    def __init__(self) -> None:
        self._due: dict[bytes, datetime] | None = None
        # key: the deadline its tick was sent for, and when that tick was handled (None: not yet)
        self._ticked: dict[bytes, tuple[datetime, datetime | None]] = {}

    def forget(self) -> None:
        """Drop the index; the next `due` rebuilds it from the table and ticks again."""
        self._due = None
        self._ticked.clear()

    def set(self, key: bytes, deadline: datetime | None) -> None:
        """Record a key's next deadline (None: nothing pending)."""
        if self._due is None:
            return  # built from the table, which already holds this state, at the next tick
        if deadline is None:
            self._due.pop(key, None)
            self._ticked.pop(key, None)
        else:
            self._due[key] = deadline

    def handled(self, key: bytes, at: datetime) -> None:
        """The agent has decided a tick of `key`'s."""
        ticked = self._ticked.get(key)
        if ticked is not None:
            self._ticked[key] = (ticked[0], at)

    def due(self, now: datetime, build: Callable[[], dict[bytes, datetime]]) -> list[bytes]:
        """The keys with a deadline due by `now` whose tick is not on its way already."""
        if self._due is None:
            self._due = build()
        keys = []
        for key, deadline in self._due.items():
            if deadline <= now and self._may_tick(key, deadline, now):
                self._ticked[key] = (deadline, None)
                keys.append(key)
        return keys

    def _may_tick(self, key: bytes, deadline: datetime, now: datetime) -> bool:
        ticked = self._ticked.get(key)
        if ticked is None or ticked[0] != deadline:
            return True
        handled_at = ticked[1]
        return handled_at is not None and now - handled_at >= TICK_RESEND_AFTER


def changelog_topics(app: faust.App) -> tuple[TopicSpec, ...]:
    """The tables' changelog topics, compacted, co-partitioned with the inputs.

    faust-streaming 0.15 against Kafka 4 did not create them itself (it logged "Ignoring
    missing topic" and its agent crashed on the first write), so the service creates them
    before the worker starts, through the same catalog code as every other topic.
    """
    return tuple(
        TopicSpec(
            table.changelog_topic.get_topic_name(),
            KEYED_PARTITIONS,
            {"cleanup.policy": "compact"},
            f"changelog of the {table.name} table",
        )
        for table in app.tables.values()
    )
