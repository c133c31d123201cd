"""After recovery, inputs are sought before being resumed; nothing fetched is queued to be wiped."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP
from mode.utils.queues import FlowControlQueue

from schemas.registry import load_registry
from services.incidents.app import build_app
from services.incidents.policy import Policy
from services.incidents.recovery import SeekThenResumeRecovery
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
    app = build_app(settings, policy=Policy.from_registry(load_registry()))
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

    assert consumer.calls == ["seek", "resume inputs", "resume flow"]
    assert consumer.resumed == {INPUT}  # the changelog stays paused
    assert wiped_while_resumed and not any(wiped_while_resumed)
    assert app.flow_control.is_active()
