"""The incident-state table, its changelog partitions read in bulk when they are assigned.

faust's recovery replays a changelog through its stream machinery, a few thousand records a
second on a 2-core machine, and the memory store replays it whole after every start: the
incident manager's recovery after a kill -9 grew with its table (issue 13's crash loop:
2.4 s of 10 s after 12 kills, and growing). This table reads its newly assigned active
changelog partitions with one plain consumer (`log.kafka_partitions_reader`, tens of
thousands of records a second) before faust's recovery starts, and reports them read to
their ends, so the recovery has at most the records written since then to replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import structlog
from faust.types import TP

from services.incidents.log import PartitionsReader, partition_of

log = structlog.get_logger(component="incidents")


class BulkLoadedTable(faust.Table):
    """faust's table on the memory store, loaded from its changelog in bulk."""

    def __init__(
        self, *args: Any, reader_for: Callable[[str], PartitionsReader], **kwargs: Any
    ) -> None:
        """faust's arguments, and `reader_for`, which makes a reader of a topic's partitions."""
        super().__init__(*args, **kwargs)
        self._reader_for = reader_for
        self._loaded: dict[TP, int] = {}  # loaded at this rebalance: partition, last offset

    def persisted_offset(self, tp: TP) -> int | None:
        """The changelog offset a partition loaded at this rebalance is read to, else None
        (faust then goes on from where its own recovery left the partition)."""
        return self._loaded.get(tp)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        """Drop the states of revoked partitions; load the newly assigned active ones."""
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        self._loaded.clear()
        topic = self.changelog_topic.get_topic_name()
        actives = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        fresh = {tp.partition for tp in newly_assigned if tp.topic == topic} & actives
        gone = {tp.partition for tp in revoked if tp.topic == topic}
        rows = self.data.data  # the memory store's dict: keys and values as raw bytes
        for key in [k for k in rows if partition_of(k) in fresh | gone]:
            del rows[key]
        if not fresh:
            return
        read = await self._reader_for(topic)({partition: None for partition in fresh})
        for partition, records in read.records.items():
            for record in records:
                if record.value is None:
                    rows.pop(record.key, None)  # a tombstone: the key left the table
                else:
                    rows[record.key] = record.value
            if read.ends[partition] > 0:
                self._loaded[TP(topic, partition)] = read.ends[partition] - 1
        log.info(
            "changelog_loaded",
            partitions=sorted(fresh),
            records=sum(len(r) for r in read.records.values()),
            keys=len(rows),
        )
