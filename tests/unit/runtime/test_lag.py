"""Backlog arithmetic: what is written and not yet committed, per topic."""

import pytest
from aiokafka.structs import TopicPartition

from services.runtime.lag import behind

pytestmark = pytest.mark.unit

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_counts_only_the_named_topics() -> None:
    ends = {A0: 10, A1: 5, B0: 7}
    assert behind(ends, {A0: 4, A1: 5, B0: 0}, ["a"]) == 6
    assert behind(ends, {A0: 4, A1: 5, B0: 0}, ["b"]) == 7


def test_a_partition_never_committed_counts_from_zero() -> None:
    assert behind({A0: 3, A1: 2}, {A0: 3}, ["a"]) == 2


def test_a_commit_past_the_end_is_no_negative_backlog() -> None:
    # A topic recreated under the same name leaves stale offsets beyond its new end.
    assert behind({A0: 3, A1: 2}, {A0: 9, A1: 0}, ["a"]) == 2
