"""After recovery, inputs are sought (or rewound) before being resumed; nothing is wiped."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP
from mode.utils.queues import FlowControlQueue

from schemas.registry import load_registry
from services.incidents.policy import Policy
from services.incidents.recovery import SeekThenResumeRecovery, SnapshotConsumer
from services.incidents.service import build
from services.incidents.settings import IncidentSettings

pytestmark = pytest.mark.unit
INPUT = TP("t.reports.routed", 0)


class RecordingConsumer:
    """The consumer calls recovery makes, in order; its seek lets other tasks run meanwhile."""

    def __init__(self, changelog: TP) -> None:
        self.calls: list[str] = []
        self.resumed: set[TP] = set()
        self._assignment = {INPUT, changelog}

    def assignment(self) -> set[TP]:
        return self._assignment

    async def perform_seek(self) -> None:
        self.calls.append("seek")
        await asyncio.sleep(0.01)  # a real seek asks the broker; the fetcher runs meanwhile

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return {INPUT: None}  # never committed

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.calls.append(f"rewind {sorted(offsets.values())}")

    def resume_partitions(self, tps) -> None:
        self.calls.append("resume inputs")
        self.resumed |= set(tps)

    def resume_flow(self) -> None:
        self.calls.append("resume flow")


class IdleFetcher:
    async def maybe_start(self) -> None:
        return None


async def test_inputs_are_sought_while_paused_and_resumed_with_the_flow_at_once():
    settings = IncidentSettings(topic_prefix="t.")
    app = build(settings, policy=Policy.from_registry(load_registry()))
    recovery = app.tables.recovery
    assert isinstance(recovery, SeekThenResumeRecovery)
    changelog = TP(next(iter(app.tables.changelog_topics)), 0)
    consumer = RecordingConsumer(changelog)
    app.consumer = consumer
    app._fetcher = IdleFetcher()
    # A stream queue holding an input while the flow is suspended: resuming the flow wipes it.
    app.flow_control.suspend()
    queue = FlowControlQueue(flow_control=app.flow_control, clear_on_resume=True)
    queue.put_nowait("fetched before the flow resumed")
    wiped_while_resumed: list[bool] = []

    async def fetcher() -> None:
        """What faust's fetcher sees each time it runs: inputs resumed but queue not yet wiped?"""
        while not recovery.completed.is_set() or queue.qsize():
            wiped_while_resumed.append(bool(consumer.resumed) and queue.qsize() > 0)
            await asyncio.sleep(0)

    watching = asyncio.ensure_future(fetcher())
    await recovery.on_recovery_completed(generation_id=app.consumer_generation_id)
    await asyncio.wait_for(watching, timeout=5)

    # An input never committed starts at its first offset, not wherever aiokafka left it.
    assert consumer.calls == ["seek", "rewind [0]", "resume inputs", "resume flow"]
    assert consumer.resumed == {INPUT}  # the changelog stays paused
    assert wiped_while_resumed and not any(wiped_while_resumed)
    assert app.flow_control.is_active()


async def test_the_consumer_fetches_for_the_partitions_active_when_it_asked():
    live = {INPUT, TP("t.changelog", 0)}
    asked_for: list[set[TP]] = []

    class ConsumerThread:
        async def getmany(self, active, timeout):
            live.clear()  # faust pauses partitions while aiokafka waits for records
            asked_for.append(set(active))  # empty would mean "every partition" to aiokafka
            return {}

    consumer = object.__new__(SnapshotConsumer)  # only the fetch path, no broker
    consumer._thread = ConsumerThread()
    await consumer._getmany(live, 1.0)
    assert asked_for == [{INPUT, TP("t.changelog", 0)}]
