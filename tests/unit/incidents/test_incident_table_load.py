"""The state table's bulk load: what a newly assigned changelog partition holds, nothing else."""

from __future__ import annotations

import faust
import pytest
from faust.types import TP

from services.incidents.handler import LogRecord
from services.incidents.log import PartitionsRead, partition_of
from services.incidents.table import BulkLoadedTable

pytestmark = pytest.mark.unit


def key_on(partition: int, n: int) -> bytes:
    """The n-th key of the form k<i> that the partitioner puts on `partition`."""
    keys = (b"k%d" % i for i in range(10_000))
    return [k for k in keys if partition_of(k) == partition][n]


class Changelog:
    """Partitions of records, read as the Kafka reader reads them; remembers what was asked."""

    def __init__(self, partitions: dict[int, list[tuple[bytes, bytes | None]]]) -> None:
        self.partitions = partitions
        self.asked: list[tuple[str, dict[int, int | None]]] = []

    def reader_for(self, topic: str):
        async def read(starts: dict[int, int | None]) -> PartitionsRead:
            self.asked.append((topic, starts))
            records = {
                p: [LogRecord(k, p, offset, v) for offset, (k, v) in enumerate(self.partitions[p])]
                for p in starts
            }
            return PartitionsRead(records, {p: len(self.partitions[p]) for p in starts})

        return read


def table_on(changelog: Changelog, actives: set[int]) -> tuple[BulkLoadedTable, str]:
    app = faust.App("table-load", store="memory://")
    table = app.tables.add(
        BulkLoadedTable(
            app,
            name="state",
            beacon=app.tables.beacon,
            reader_for=changelog.reader_for,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=6,
            use_partitioner=True,
        )
    )
    topic = table.changelog_topic.get_topic_name()
    app.assignor.assigned_actives = lambda: {TP(topic, p) for p in actives}
    return table, topic


async def test_a_new_partition_is_loaded_with_its_last_values_and_tombstones():
    a, b, c = key_on(0, 0), key_on(0, 1), key_on(0, 2)
    changelog = Changelog({0: [(a, b"1"), (b, b"1"), (a, b"2"), (b, None), (c, b"1")], 1: []})
    table, topic = table_on(changelog, actives={0, 1})
    assigned = {TP(topic, 0), TP(topic, 1)}
    await table.on_rebalance(assigned, set(), assigned, 1)
    assert dict(table.data.data) == {a: b"2", c: b"1"}
    assert changelog.asked == [(topic, {0: None, 1: None})]
    # faust's recovery then starts at the last offset read, and has nothing left to replay.
    assert table.persisted_offset(TP(topic, 0)) == 4
    assert table.persisted_offset(TP(topic, 1)) is None  # empty: faust has nothing to read


async def test_a_kept_partition_is_not_read_again_and_a_revoked_one_leaves():
    kept, gone = key_on(0, 0), key_on(1, 0)
    changelog = Changelog({0: [(kept, b"1")], 1: [(gone, b"1")], 2: [(key_on(2, 0), b"1")]})
    table, topic = table_on(changelog, actives={0, 1})
    first = {TP(topic, 0), TP(topic, 1)}
    await table.on_rebalance(first, set(), first, 1)
    table.data.data[kept] = b"2"  # written by the agent since, and sent to the changelog
    table.app.assignor.assigned_actives = lambda: {TP(topic, 0), TP(topic, 2)}
    second = {TP(topic, 0), TP(topic, 2)}
    await table.on_rebalance(second, {TP(topic, 1)}, {TP(topic, 2)}, 2)
    assert dict(table.data.data) == {kept: b"2", key_on(2, 0): b"1"}
    assert changelog.asked[-1] == (topic, {2: None})
    # The kept partition goes on from where faust's own recovery left it.
    assert table.persisted_offset(TP(topic, 0)) is None
    assert table.persisted_offset(TP(topic, 2)) == 0


async def test_a_standby_partition_is_left_to_faust():
    changelog = Changelog({0: [(key_on(0, 0), b"1")], 3: [(key_on(3, 0), b"1")]})
    table, topic = table_on(changelog, actives={0})
    assigned = {TP(topic, 0), TP(topic, 3)}  # 3 is a standby: faust reads it as it goes
    await table.on_rebalance(assigned, set(), assigned, 1)
    assert changelog.asked == [(topic, {0: None})]
    assert table.persisted_offset(TP(topic, 3)) is None
