"""Which offsets the pipelined router may commit: in order, only what is acknowledged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.offsets import Offsets

pytestmark = pytest.mark.unit
P, Q = ("reports.line-fault", 0), ("reports.line-fault", 1)


def at(partition, *offsets):
    return [(partition[0], partition[1], o) for o in offsets]


def test_a_later_batch_acknowledged_first_commits_nothing_past_the_earlier_one():
    offsets = Offsets()
    offsets.read(P, range(0, 3))
    offsets.read(P, range(3, 6))
    first, second = offsets.ticket(at(P, 0, 1, 2)), offsets.ticket(at(P, 3, 4, 5))
    offsets.settle(second)
    assert offsets.to_commit() == {P: 0} or offsets.to_commit() == {}
    offsets.settle(first)
    assert offsets.to_commit() == {P: 6}


def test_a_held_report_holds_its_partition_back_until_its_update_is_acknowledged():
    offsets = Offsets()
    offsets.read(P, range(10, 15))
    offsets.read(Q, [0, 1])
    offsets.settle(offsets.ticket(at(P, 10, 11, 13, 14) + at(Q, 0, 1)))  # 12 is held
    assert offsets.to_commit() == {P: 12, Q: 2}
    offsets.mark_committed({P: 12, Q: 2})
    assert offsets.to_commit() == {}
    offsets.settle(offsets.ticket(at(P, 12)))  # its update, acknowledged
    assert offsets.to_commit() == {P: 15}


def test_a_partition_read_again_from_earlier_starts_afresh_and_old_acks_do_not_count():
    offsets = Offsets()
    offsets.read(P, range(0, 4))
    old = offsets.ticket(at(P, 0, 1, 2, 3))
    assert offsets.goes_back(P, 2)  # reset underneath: the caller rewinds
    assert not offsets.goes_back(P, 4) and not offsets.goes_back(Q, 0)
    assert offsets.positions() == {P: 0}
    offsets.reset()
    offsets.read(P, [2, 3])
    offsets.settle(old)  # acknowledged after the rewind: of the epoch before it
    assert offsets.positions() == {P: 2}


def test_gaps_in_offsets_are_not_waited_for():
    offsets = Offsets()
    offsets.read(P, [0, 1])
    offsets.read(P, [5, 6])  # compacted or transaction markers in between
    offsets.settle(offsets.ticket(at(P, 0, 1, 5, 6)))
    assert offsets.to_commit() == {P: 7}


@given(st.permutations(range(12)), st.integers(0, 11))
def test_the_commit_is_the_first_offset_not_acknowledged_whatever_the_order(order, cut):
    offsets = Offsets()
    offsets.read(P, range(12))
    tickets = [offsets.ticket(at(P, o)) for o in range(12)]
    acked = set(order[:cut])
    for o in order[:cut]:
        offsets.settle(tickets[o])
    expected = next((o for o in range(12) if o not in acked), 12)
    assert offsets.positions() == {P: expected}
