"""faust-streaming's table recovery, with the inputs resumed only after the seek to committed.

faust-streaming 0.15.3's `Recovery.on_recovery_completed` resumes the input partitions,
then awaits the seek to the committed offsets, then resumes the flow, which empties every
stream queue. Inputs the fetcher hands over during that await are queued and marked read,
then emptied from the queue; after the seek they come again and are dropped as already
read ("DROPPED MESSAGE ROFF"). After a kill -9 and restart this lost whole fetched batches
of routed reports, and left the group's committed offsets stuck before the hole. Upstream
faust seeks first and resumes after (faust-streaming PR #217); this does the same.
"""

from __future__ import annotations

import asyncio
from typing import cast

from faust.tables import TableManager
from faust.tables.recovery import Recovery


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
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
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
