"""The log wins: stored states brought up to incidents.events before any input is decided.

A crash between a batch's acks and its state writes leaves events in the log that the table
does not hold; the inputs that made them come again, in an order nothing fixes. These tests
run the agent's steps (`handle`, `catch_up`) without a broker: whatever the crash point and
the order of redelivery, the log ends with one history and the state is its fold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import decode, encode
from schemas.contracts import INCIDENT_EVENT
from services.incidents import IncidentState, fold, next_due
from services.incidents.handler import (
    LogRecord,
    catch_up,
    dumped,
    encode_row,
    handle,
    load_row,
    load_state,
)
from services.incidents.transitions import holds
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_TICKS, ROUTED_REPORTS
from tests.support.incident_samples import (
    ACK_WITHIN,
    KEY,
    POLICY,
    PRIMARY,
    T0,
    command,
    opened,
    routed,
)

pytestmark = pytest.mark.unit
RAW_KEY = KEY.encode()
INCIDENT = opened().incident_id


def ms(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


# The inputs of one crash window: (source, value, offset in its topic, Kafka timestamp).
ALARM = (ROUTED_REPORTS, encode(routed(1)), 0, ms(0))
WINDOW = (
    (ROUTED_REPORTS, encode(routed(2, minutes=1, severity="cleared")), 1, ms(1)),
    (INCIDENT_COMMANDS, encode(command("acknowledge_incident", 1, PRIMARY, INCIDENT)), 0, ms(2)),
    (ROUTED_REPORTS, encode(routed(3, minutes=3)), 2, ms(3)),
    (INCIDENT_TICKS, b"tick", 0, ms(ACK_WITHIN.total_seconds() / 60 + 1)),
    (INCIDENT_COMMANDS, encode(command("start_work", 2, PRIMARY, INCIDENT)), 1, ms(20)),
)


@dataclass
class Worker:
    """The agent's table (in memory, and as far as it reached the changelog) and the log."""

    rows: dict[bytes, bytes] = field(default_factory=dict)  # in memory: what inputs see
    durable: dict[bytes, bytes] = field(default_factory=dict)  # what a restart recovers
    log: list[LogRecord] = field(default_factory=list)
    mark: int = 0  # the log's end after the last batch whose states were all written

    def decide(self, item: tuple, *, durable: bool = True) -> None:
        """One input in a batch of its own: its events acked, then its state written."""
        source, value, offset, at = item
        step = handle(
            self.rows.get(RAW_KEY),
            key=RAW_KEY,
            source=source,
            value=value,
            position=(source, 0, offset, at),
            policy=POLICY,
        )
        for event in step.events:
            self.log.append(LogRecord(RAW_KEY, 0, len(self.log), event))
        if step.state is not None:
            self.rows[RAW_KEY] = encode_row(dumped(step.state), (0, len(self.log) - 1))
        if durable:  # the crash is after the acks, before the changelog has the writes
            self.durable, self.mark = dict(self.rows), len(self.log)

    def restart(self) -> None:
        """A new worker: the table recovered from the changelog, brought up to the log."""
        result = catch_up(self.durable.get, self.log[self.mark :], policy=POLICY)
        self.rows = self.durable | result.rows
        self.durable, self.mark = dict(self.rows), len(self.log)

    def crash_and_decide_again(self, items) -> None:
        """What the agent did before the catch-up: a restart decides from the recovered rows."""
        self.rows = dict(self.durable)
        for item in items:
            self.decide(item)

    def history(self) -> dict[tuple[str, int], set[str]]:
        ids = defaultdict(set)
        for record in self.log:
            event = decode(INCIDENT_EVENT, record.value)
            ids[event.incident_id, event.sequence].add(event.event_id)
        return ids

    def folded(self) -> IncidentState:
        events = {e.event_id: e for e in (decode(INCIDENT_EVENT, r.value) for r in self.log)}
        return fold(events.values())


def crashed_after(before: list[tuple], crash_at: int) -> Worker:
    """A worker that decided the alarm, wrote it, then decided `before` and died `crash_at`
    inputs in: their events in the log, none of their states written."""
    worker = Worker()
    worker.decide(ALARM)
    for item in before[:crash_at]:
        worker.decide(item, durable=False)
    return worker


@given(
    before=st.permutations(WINDOW),
    again=st.permutations(WINDOW),
    crash_at=st.integers(0, len(WINDOW)),
)
def test_after_a_crash_any_order_of_redelivery_gives_one_history(before, again, crash_at):
    worker = crashed_after(list(before), crash_at)
    worker.restart()
    for item in again:
        worker.decide(item)

    assert all(len(ids) == 1 for ids in worker.history().values())  # one event per sequence
    assert load_state(worker.rows[RAW_KEY]) == worker.folded()
    # The crash is invisible: the same log as a worker that wrote every state.
    alive = crashed_after([], crash_at=0)
    for item in [*before[:crash_at], *again]:
        alive.decide(item)
    assert [r.value for r in worker.log] == [r.value for r in alive.log]


def test_without_the_catch_up_the_other_order_makes_a_second_history():
    # What the agent did before: the clear then the ack, decided again as the ack then the clear.
    clear, ack = WINDOW[0], WINDOW[1]
    worker = crashed_after([clear, ack], crash_at=2)
    worker.crash_and_decide_again([ack, clear])
    taken = {at: ids for at, ids in worker.history().items() if len(ids) > 1}
    assert len(taken) >= 1  # the defect the catch-up exists for


def test_a_redelivery_after_the_catch_up_is_known_and_makes_nothing():
    worker = crashed_after(list(WINDOW), crash_at=len(WINDOW))
    length = len(worker.log)
    worker.restart()
    for item in reversed(WINDOW):
        worker.decide(item)
    assert len(worker.log) == length


# --- the pieces ----------------------------------------------------------------------------


def events_of(worker: Worker) -> list:
    return [decode(INCIDENT_EVENT, r.value) for r in worker.log]


def test_holds_tells_a_repeat_or_an_earlier_incident_from_the_next_event():
    worker = crashed_after(list(WINDOW[:2]), crash_at=2)
    events = events_of(worker)
    state = load_state(worker.durable[RAW_KEY])  # the state before the clear
    following = events[state.sequence]
    assert not holds(state, following)
    assert holds(state, events[state.sequence - 1])  # a repeat of its own last event
    assert holds(fold(events), following)
    new = IncidentState().model_copy(update={"incident_id": "inc-0-earlier", "sequence": 9})
    assert holds(new, following)  # an event of an incident before the current one
    assert not holds(new, events[0])  # the opening of the one after it


def test_catch_up_skips_what_a_row_holds_and_a_batch_sent_twice():
    worker = crashed_after(list(WINDOW[:2]), crash_at=2)
    _, at = load_row(worker.durable[RAW_KEY])
    window = worker.log[worker.mark :]
    # A broker error mid-batch: the agent sends the whole batch again.
    again = [LogRecord(r.key, 0, len(worker.log) + i, r.value) for i, r in enumerate(window)]
    result = catch_up(worker.durable.get, worker.log + again, policy=POLICY)
    assert (result.folded, result.held) == (len(window), at[1] + 1 + len(window))
    caught, position = load_row(result.rows[RAW_KEY])
    assert caught == fold(events_of(worker)) and position == (0, again[-1].offset)
    assert result.due[RAW_KEY] == next_due(caught, POLICY)  # for the timer's index


def test_catch_up_of_a_key_without_a_row_folds_its_whole_history():
    worker = crashed_after([], crash_at=0)
    result = catch_up({}.get, worker.log, policy=POLICY)
    assert load_state(result.rows[RAW_KEY]) == fold(events_of(worker))


def test_a_row_without_a_position_takes_no_new_incident_and_a_broken_row_takes_nothing():
    worker = crashed_after(list(WINDOW[:2]), crash_at=2)
    bare = load_state(worker.durable[RAW_KEY]).model_dump_json().encode()
    # A version that kept no position, read from the start of the log: the opening it holds
    # would otherwise be taken for a new incident.
    result = catch_up({RAW_KEY: bare}.get, worker.log, policy=POLICY)
    assert load_state(result.rows[RAW_KEY]) == fold(events_of(worker))
    broken = catch_up({RAW_KEY: b"{not a state"}.get, worker.log, policy=POLICY)
    assert broken.rows == {} and broken.unusable == len(worker.log)


def test_an_event_that_does_not_follow_and_an_unreadable_record_are_counted_not_folded():
    worker = crashed_after(list(WINDOW[:2]), crash_at=2)
    window = worker.log[worker.mark :]
    gap = [
        window[0],
        *window[2:],
        LogRecord(RAW_KEY, 0, 99, b"{broken"),
        LogRecord(None, 0, 100, b""),
    ]
    result = catch_up(worker.durable.get, gap, policy=POLICY)
    assert result.folded == 1 and result.unusable == len(window) - 2 + 2
