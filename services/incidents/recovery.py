"""Two faust-streaming 0.15.3 paths that lose inputs after a restart, and the app's fixes.

1. `Recovery.on_recovery_completed` resumes the input partitions, then awaits the seek to
   the committed offsets, then resumes the flow, which empties every stream queue. Inputs
   fetched during that await are queued, marked read and emptied; after the seek they come
   again and are dropped as already read. Upstream faust seeks first and resumes after
   (faust-streaming PR #217): `SeekThenResumeRecovery` does the same.
2. faust hands aiokafka its live set of active partitions. Paused while aiokafka waits for
   records (the changelogs at the end of recovery), the set can become empty, which aiokafka
   reads as "every assigned partition": it returns the inputs' records too, and faust drops
   them as not active, with their positions already moved past them. A seek to committed
   offsets rewinds a partition that has a commit; one that has none stays past the dropped
   records, which were never processed. `SnapshotConsumer` fetches for a copy of the set,
   and the recovery starts never-committed inputs at their first offset.

Both lost routed reports after a kill -9 and restart (issue 5's crash test).

3. faust's consumer long-polls with a fetch wait of 1.5 s, and a broker answers one request
   of a connection at a time, so each offset lookup of the recovery (highwaters, earliest
   and committed offsets) could wait behind a poll: three waits of 1.5 s in a restart that
   otherwise takes 0.3 s (issue 13's crash loop). `SnapshotConsumer` polls for 0.1 s.
"""

from __future__ import annotations

import asyncio
from typing import cast

from aiokafka import AIOKafkaConsumer
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP

FETCH_MAX_WAIT_MS = 100


class ShortPollThread(AIOKafkaConsumerThread):
    """faust's consumer thread, its aiokafka consumer polling for at most FETCH_MAX_WAIT_MS."""

    def _create_worker_consumer(self, transport: Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust passes a fixed 1500; aiokafka reads it when the consumer starts, after this.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class SnapshotConsumer(Consumer):
    """faust's aiokafka consumer, fetching for the active partitions as they were at the call,
    and polling briefly (`ShortPollThread`)."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return ShortPollThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> dict:
        snapshot = None if active_partitions is None else frozenset(active_partitions)
        return await super()._getmany(snapshot, timeout)  # type: ignore[arg-type]


async def seek_inputs(consumer: Consumer, inputs: set[TP], *, reset: str) -> None:
    """Inputs to their committed offsets; never committed ones to their first, under "earliest".

    faust leaves a partition without a commit wherever aiokafka's position is, which may be
    past records it fetched and dropped.
    """
    await consumer.perform_seek()
    if reset != "earliest":
        return
    committed = await consumer.seek_to_committed()
    fresh = [tp for tp in inputs if not committed.get(tp)]
    if fresh:
        await consumer.seek_wait(await consumer.earliest_offsets(*fresh))


class SeekThenResumeRecovery(Recovery):
    """Recovery that seeks the input partitions while paused and resumes them with no await."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Tables restored: seek inputs to committed offsets, then resume inputs and flow."""
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        table_callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if table_callbacks:
            await asyncio.wait(table_callbacks)
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        inputs = {tp for tp in consumer.assignment() if not self._is_changelog_tp(tp)}
        if inputs:
            self.log.info("Seek stream partitions to committed offsets.")
            # The inputs are still paused here, so nothing is fetched from a stale position.
            reset = self.app.conf.consumer_auto_offset_reset
            await self._wait(
                seek_inputs(consumer, inputs, reset=reset),
                timeout=self.app.conf.broker_request_timeout,
            )
        # From here to the flow's resume there is no await: resuming the flow empties the
        # stream queues, which must not yet hold anything fetched from the inputs.
        consumer.resume_partitions(inputs)
        self.completed.set()
        self.app.flow_control.resume()
        consumer.resume_flow()
        await self.app._fetcher.maybe_start()  # type: ignore[attr-defined]
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class IncidentTableManager(TableManager):
    """faust's table manager, recovering through `SeekThenResumeRecovery`."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service, made on first use as faust's own is."""
        if self._recovery is None:
            self._recovery = SeekThenResumeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return cast(Recovery, self._recovery)
