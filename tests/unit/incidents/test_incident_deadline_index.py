"""The timer's deadline index: a due incident is ticked once per deadline, not every second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.incidents.due import TICK_RESEND_AFTER, DeadlineIndex

pytestmark = pytest.mark.unit
T0 = datetime(2007, 5, 19, 14, 0, tzinfo=UTC)


def index_of(deadlines: dict[bytes, datetime]) -> DeadlineIndex:
    index = DeadlineIndex()
    index.due(T0 - timedelta(days=1), lambda: dict(deadlines))  # built, nothing due yet
    return index


def test_a_due_key_is_ticked_once_while_its_tick_is_on_its_way():
    index = index_of({b"a": T0, b"b": T0 + timedelta(minutes=5)})
    assert index.due(T0, dict) == [b"a"]
    # The timer runs every second; the agent has not handled the tick yet.
    assert index.due(T0 + timedelta(seconds=1), dict) == []
    assert index.due(T0 + timedelta(seconds=2), dict) == []


def test_a_new_deadline_is_ticked_when_it_falls_due():
    index = index_of({b"a": T0})
    assert index.due(T0, dict) == [b"a"]
    index.set(b"a", T0 + timedelta(minutes=5))  # the tick escalated it; next level in 5 min
    assert index.due(T0 + timedelta(minutes=4), dict) == []
    assert index.due(T0 + timedelta(minutes=5), dict) == [b"a"]


def test_a_tick_still_on_its_way_is_not_sent_again_however_long_it_takes():
    index = index_of({b"a": T0})
    assert index.due(T0, dict) == [b"a"]
    # A backlog: the agent has not reached the tick ten minutes later.
    assert index.due(T0 + timedelta(minutes=10), dict) == []


def test_a_handled_tick_that_changed_nothing_is_sent_again_after_a_while():
    index = index_of({b"a": T0})
    assert index.due(T0, dict) == [b"a"]
    handled = T0 + timedelta(minutes=2)
    index.handled(b"a", handled)  # decided; the deadline is the same, so nothing changed
    assert index.due(handled + TICK_RESEND_AFTER - timedelta(seconds=1), dict) == []
    assert index.due(handled + TICK_RESEND_AFTER, dict) == [b"a"]


def test_after_a_rebuild_every_due_key_is_ticked_again():
    index = index_of({b"a": T0})
    assert index.due(T0, dict) == [b"a"]
    index.forget()  # a rebalance: ticks sent before it may belong to another worker now
    assert index.due(T0 + timedelta(seconds=1), lambda: {b"a": T0}) == [b"a"]


def test_a_key_with_nothing_pending_leaves_the_index():
    index = index_of({b"a": T0})
    index.set(b"a", None)
    assert index.due(T0 + timedelta(days=1), dict) == []
