"""Incident managers sharing one group while partitions move: every report has one history.

Two workers consume from the start; a third joins mid-stream and one of the first two
leaves; the routed reports go on meanwhile. Afterwards every line has exactly one incident,
every report is in it (opened or linked), and no position of a timeline has two events.
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import pytest

from schemas.codec import encode
from services.runtime.kafka import admin_client
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS, topic_name
from tests.support.kafka_io import publish, read_until
from tests.support.polling import eventually
from tests.support.routed_reports import events_of, routed
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration


async def test_workers_joining_and_leaving_lose_and_double_nothing(topics, test_id, tmp_path):
    prefix, app_id = topics.topic_prefix, f"{test_id}-im"
    routed_topic, events_topic = (topic_name(t, prefix) for t in (ROUTED_REPORTS, INCIDENT_EVENTS))

    async def worker(n: int) -> asyncio.subprocess.Process:
        log = tmp_path / f"incidents-{n}.log"
        return await start_service("incidents", topics, log, SIGNALPOST_INCIDENTS_APP_ID=app_id)

    sent: list = []

    async def stream(rounds: int) -> None:
        for _ in range(rounds):
            n = len(sent)
            # Each line has an alarm and a repeat: the repeat must be linked, never reopen.
            batch = [routed(f"g{n + i}", f"L-G{(n + i) // 2}") for i in range(20)]
            await publish(
                topics, routed_topic, [(r.incident_key.encode(), encode(r)) for r in batch]
            )
            sent.extend(batch)
            await asyncio.sleep(0.3)

    async def until_members(count: int) -> None:
        """Wait until the group (named by the app id after the prefix) is stable with `count`."""
        async with admin_client(topics) as admin:

            async def stable_with_count() -> bool:
                (described,) = await admin.describe_consumer_groups([prefix + app_id])
                (group,) = described.groups
                return group[2] == "Stable" and len(group[5]) == count

            what = f"{prefix + app_id} stable with {count} members"
            await eventually(stable_with_count, deadline_s=60, interval_s=0.5, what=what)

    workers = [await worker(1), await worker(2)]
    try:
        await stream(10)
        workers.append(await worker(3))  # a third joins: partitions move to it
        await stream(3)
        await until_members(3)
        await stream(7)
        workers[0].send_signal(signal.SIGTERM)  # one of the first leaves: they move again
        await stream(10)
        keys = {r.incident_key for r in sent}
        ids = {r.report.report_id for r in sent}

        def accounted(records) -> set[str]:
            seen = set()
            for event in events_of(records):
                if event.type in ("incident_opened", "duplicate_linked"):
                    seen |= {ref.report_id for ref in event.caused_by.reports}
            return seen

        records = await read_until(topics, events_topic, lambda r: accounted(r) >= ids,
                                   group=f"{test_id}-check", deadline_s=150)  # fmt: skip
    finally:
        for process in workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), timeout=60) for p in workers]
    logs = "\n".join((tmp_path / f"incidents-{n}.log").read_text()[-1500:] for n in (1, 2, 3))
    assert codes == [0, 0, 0], logs
    events = events_of(records)
    opened = defaultdict(set)
    by_position = defaultdict(set)
    for event in events:
        by_position[event.incident_id, event.sequence].add(event.event_id)
        if event.type == "incident_opened":
            opened[event.incident_key].add(event.incident_id)
    assert set(opened) == keys and all(len(i) == 1 for i in opened.values()), logs
    assert all(len(ids) == 1 for ids in by_position.values()), "two events at one position"
