"""The agent's work on its batches: bring the table up to the log, decide, publish, keep.

`app.build_app` registers a faust agent and a timer that hand their stream and ticks to
one `IncidentAgent`; everything they share (the table, the deadline index, which
partitions are caught up) lives here, so each step is a method a reader can find.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaProducer
from faust.exceptions import ConsumerNotStarted

from services.incidents.decoded import DecodedRows
from services.incidents.due import DeadlineIndex
from services.incidents.handler import (
    LogPosition,
    catch_up,
    due_index,
    dumped,
    encode_row,
    handle,
    load_state,
)
from services.incidents.log import LogReader, mark_key
from services.incidents.outputs import Decision, Outgoing, send_until_acked
from services.incidents.policy import Policy
from services.incidents.state import IncidentState
from services.runtime.clock import Clock
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    KEYED_PARTITIONS,
    task_feed,
    topic_name,
)

log = structlog.get_logger(component="incidents")
# Batches taken from the stream and not yet decided; the stream waits when there are more.
QUEUED_BATCHES = 8
# Queued batches decided together, up to this many inputs: one wait for acks for all.
MERGED_INPUTS_MAX = 2000
# A key's state as a batch left it (None: it leaves the table), with a bound of its JSON.
Held = tuple[IncidentState | None, int]


@dataclass
class BatchOutcome:
    """What a batch decided, to send, then write: in input order, each task once."""

    changed: dict[bytes, Held] = field(default_factory=dict)
    deadlines: dict[bytes, datetime | None] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    last: dict[bytes, int] = field(default_factory=dict)  # each key's last decision
    tasks: dict[str, Outgoing] = field(default_factory=dict)  # by task id, first change first
    dead_letters: list[Outgoing] = field(default_factory=list)
    decide_ms: float = 0.0


class IncidentAgent:
    """One worker's incidents: the state table, its deadline index, its caught-up partitions.

    Inputs are decided in order, a batch at a time; each batch's sends are acked before
    any of its states is written (see app.py: the log wins).
    """

    def __init__(
        self,
        *,
        app: faust.App,
        table: Any,  # faust's Table: a MutableMapping of bytes, untyped in faust
        policy: Policy,
        clock: Clock,
        read_log: LogReader,
        inputs: Mapping[str, str],  # catalog name: real topic name
        prefix: str,
        batch_max: int,
    ) -> None:
        self.app = app
        self.table = table
        self.policy = policy
        self.clock = clock
        self.read_log = read_log
        self.source_of = {real: name for name, real in inputs.items()}
        self.ticks_topic = inputs[INCIDENT_TICKS]
        self.prefix = prefix
        self.events_topic = topic_name(INCIDENT_EVENTS, prefix)
        self.dead_letters_topic = topic_name(DEAD_LETTERS, prefix)
        self.batch_max = batch_max
        self.index = DeadlineIndex()
        self.decoded = DecodedRows()
        self.marks = {p: mark_key(p) for p in range(KEYED_PARTITIONS)}
        self.caught_up: dict[int, int] = {}  # partition: the generation it was brought up in
        self.unwritten: dict[bytes, Held] = {}  # states of the batch in flight, not written yet

    # `stream` is faust's StreamT, whose declared type lacks the take_events it has.
    async def handle_batches(self, stream: Any, producer: AIOKafkaProducer) -> None:
        """Inputs in order, a batch at a time: decide, publish, wait for acks, keep the states.

        Waiting for the brokers once per batch rather than once per input is what lets one
        agent keep up; the states of a batch are written only after all its sends are acked.
        faust hands over no input while its batch is being handled, so the stream only takes
        and queues batches here and a worker task (`work`) decides them: faust goes on
        reading during the worker's waits. faust would count a batch handled as soon as the
        next is asked for, so each input is held (`incref`) and let go only once its
        batch's outputs are acked and its states written: no offset is committed before its
        outputs are durable.
        """
        queue: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=QUEUED_BATCHES)
        worker = asyncio.create_task(self.work(queue, producer))
        try:
            async for batch in stream.take_events(self.batch_max, within=0.01):
                for event in batch:
                    event.message.incref()
                put = asyncio.ensure_future(queue.put(list(batch)))
                await asyncio.wait({put, worker}, return_when=asyncio.FIRST_COMPLETED)
                if worker.done():
                    put.cancel()
                    worker.result()  # the worker's failure is the agent's
                    raise RuntimeError("the incident agent's worker stopped")
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def work(self, queue: asyncio.Queue[list[Any]], producer: AIOKafkaProducer) -> None:
        """Queued batches in order, pipelined: the next is decided (from the states the one
        in flight left in memory) while the brokers acknowledge the one before; all batches
        queued meanwhile are decided together, so a backlog costs fewer waits for acks."""
        in_flight: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await queue.get()
                while not queue.empty() and len(batch) < MERGED_INPUTS_MAX:
                    batch += queue.get_nowait()
                if self.new_partitions(batch) and in_flight is not None:
                    await in_flight  # a new assignment is read from the table as written
                    in_flight = None
                await self.bring_up(batch)
                outcome = self.decide_batch(batch)
                if in_flight is not None:
                    await in_flight
                self.unwritten = outcome.changed
                in_flight = asyncio.create_task(self.complete(batch, outcome, producer))
        finally:
            if in_flight is not None:
                await in_flight

    async def handle_batch(self, batch: list[Any], producer: AIOKafkaProducer) -> None:
        """One batch of faust events decided, sent, acked, then written to the table."""
        await self.complete(batch, self.decide_batch(batch), producer, let_go=False)

    def decide_batch(self, batch: list[Any]) -> BatchOutcome:
        """Every input of a batch decided, in order; nothing is sent or written yet.

        Each key's state is decoded once and encoded once per batch, and each task is sent
        once per batch, at its latest version, however many inputs of its key the batch has.
        """
        out = BatchOutcome()
        started = time.perf_counter()
        for event in batch:
            message = event.message
            key = event.key
            stored, size = self.current(key, out)
            step = handle(
                stored,
                stored_size=size,
                key=key,
                source=self.source_of.get(message.topic, message.topic),
                value=event.value,
                position=(
                    message.topic,
                    message.partition,
                    message.offset,
                    int(message.timestamp * 1000),
                ),
                policy=self.policy,
            )
            if step.events and key is not None:
                out.last[key] = len(out.decisions)
                out.decisions.append((key, step.events))
            for task in step.tasks:
                out.tasks[task.task_id] = (self.feed(task.enterprise), key, task.value)
            # A dead letter's key is the input's, or its digest when that is too long to send.
            out.dead_letters += [(self.dead_letters_topic, k, v) for k, v in step.dead_letters]
            if (step.state is not None or step.evict) and key is not None:
                out.changed[key] = (step.state, step.state_size)
                out.deadlines[key] = step.due
        out.decide_ms = 1000 * (time.perf_counter() - started)
        return out

    async def complete(
        self, batch: list[Any], out: BatchOutcome, producer: AIOKafkaProducer, let_go: bool = True
    ) -> None:
        """A decided batch sent and acked, its states written, then its inputs let go."""
        sent = time.perf_counter()
        at = await send_until_acked(
            producer,
            [*out.tasks.values(), *out.dead_letters],
            log_topic=self.events_topic,
            decisions=out.decisions,
        )
        acked = time.perf_counter()
        self.written(out.changed, out.last, at)
        if self.unwritten is out.changed:
            self.unwritten = {}
        for key, deadline in out.deadlines.items():
            self.index.set(key, deadline)
        handled_at = self.clock()
        for event in batch:
            if event.message.topic == self.ticks_topic and event.key is not None:
                self.index.handled(event.key, handled_at)
            if let_go:
                event.ack()  # the hold taken in handle_batches: now faust may commit it
        log.debug(
            "batch_handled",
            inputs=len(batch),
            decisions=len(out.decisions),
            decide_ms=round(out.decide_ms, 1),
            acks_ms=round(1000 * (acked - sent), 1),
            write_ms=round(1000 * (time.perf_counter() - acked), 1),
        )

    def current(
        self, key: bytes | None, out: BatchOutcome
    ) -> tuple[bytes | IncidentState | None, int | None]:
        """The key's state as the inputs before this one left it: in this batch, in the batch
        in flight, else in the table."""
        if key is not None:
            for changed in (out.changed, self.unwritten):
                if key in changed:
                    return changed[key]
        return self.stored(key)

    def new_partitions(self, batch: list[Any]) -> bool:
        """Whether the batch has inputs of a partition not brought up in this assignment."""
        return any(
            self.caught_up.get(event.message.partition) != event.message.generation_id
            for event in batch
        )

    def feed(self, enterprise: str) -> str:
        """The real topic of an enterprise's task feed."""
        return topic_name(task_feed(enterprise), self.prefix)

    def stored(self, key: bytes | None) -> tuple[bytes | IncidentState | None, int | None]:
        """The key's state, decoded once, with its row's size; the raw row when it does not
        parse (its input then says why, as a dead letter); (None, 0) when there is none."""
        raw = self.row(key)
        if raw is None or key is None:
            return None, 0
        state = self.decoded.get(key, raw)
        if state is None:
            try:
                state = load_state(raw)
            except Exception:
                return raw, None
            self.decoded.put(key, raw, state)
        return state, len(raw)

    def row(self, key: bytes | None) -> bytes | None:
        """The table's row for `key` (None: no state)."""
        return None if key is None else self.table.get(key)

    def rows(self) -> Iterator[tuple[bytes, bytes | None]]:
        """The table's incidents: every row but the partitions' log marks."""
        reserved = set(self.marks.values())
        return ((key, raw) for key, raw in self.table.items() if key not in reserved)

    def assigned(self) -> set[int]:
        """The input partitions the worker holds now, as faust's consumer has them."""
        try:
            held = self.app.consumer.assignment()
        except ConsumerNotStarted:  # faust's test context: no consumer, the batch's only
            return set()
        return {tp.partition for tp in held if tp.topic in self.source_of}

    async def bring_up(self, batch: list[Any]) -> None:
        """The stored states of the partitions new to this assignment, brought up to the log.

        At the first input of a new assignment every partition it holds is read at once, in
        one consumer, rather than each at the first input it happens to see.
        """
        new = {
            event.message.partition: event.message.generation_id
            for event in batch
            if self.caught_up.get(event.message.partition) != event.message.generation_id
        }
        if not new:
            return
        generation = max(new.values())
        new |= {
            p: generation
            for p in self.assigned() - new.keys()
            if self.caught_up.get(p) != generation
        }
        starts = {
            p: None if (mark := self.table.get(self.marks[p])) is None else int(mark) for p in new
        }
        for partition, records in (await self.read_log(starts)).items():
            result = catch_up(self.row, records, policy=self.policy)
            for key, raw in result.rows.items():
                self.table[key] = raw
            if records:
                self.table[self.marks[partition]] = b"%d" % (records[-1].offset + 1)
            for key, deadline in result.due.items():
                self.index.set(key, deadline)
            self.caught_up[partition] = new[partition]
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

    def written(
        self, changed: dict[bytes, Held], last: dict[bytes, int], at: list[LogPosition]
    ) -> None:
        """The batch's states, each with its key's last event, then the marks after them."""
        for key, (state, _) in changed.items():
            if state is not None:
                row = encode_row(dumped(state), at[last[key]])
                self.table[key] = row
                self.decoded.put(key, row, state)
            else:
                self.decoded.forget(key)
                if key in self.table:
                    del self.table[key]  # a tombstone on the changelog; the log keeps its events
        ends: dict[int, int] = {}
        for partition, offset in at:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        for partition, end in ends.items():
            self.table[self.marks[partition]] = b"%d" % end

    async def send_due_ticks(self, send: Callable[[bytes, datetime], Any]) -> None:
        """Ask for a tick of every incident with a deadline due; the agent decides, in order."""
        if self.app.rebalancing or self.app.in_recovery:
            # The table is incomplete until recovery ends: rebuild from it at the next tick.
            self.index.forget()
            return
        now = self.clock()
        for key in self.index.due(now, lambda: due_index(self.rows(), self.policy)):
            await send(key, now)
