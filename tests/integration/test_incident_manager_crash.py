"""kill -9 of the incident manager mid-stream: nothing lost, repeats keep ids, no timer twice."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from datetime import timedelta

import pytest

from schemas.codec import encode
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS, topic_name
from tests.support.kafka_io import publish, read_until
from tests.support.routed_reports import events_of, routed
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration


async def start(settings, app_id: str, log) -> asyncio.subprocess.Process:
    return await start_service(
        "incidents",
        settings,
        log,
        SIGNALPOST_INCIDENTS_APP_ID=app_id,
        SIGNALPOST_INCIDENTS_TICK_SECONDS="0.5",
    )


# This test found two faust-streaming 0.15.3 paths that lost routed reports after the kill
# and restart (see services/incidents/recovery.py): inputs resumed before the seek to
# committed offsets, and records of paused inputs dropped after aiokafka had moved past them.
async def test_kill_9_loses_nothing_and_fires_each_timer_once(topics, test_id, tmp_path):
    prefix, log = topics.topic_prefix, tmp_path / "incidents.log"
    reports = [routed(f"c{n}", f"L-C{n}", ack_within=timedelta(seconds=3)) for n in range(150)]
    await publish(
        topics,
        topic_name(ROUTED_REPORTS, prefix),
        [(r.incident_key.encode(), encode(r)) for r in reports],
    )
    events_topic = topic_name(INCIDENT_EVENTS, prefix)
    first = await start(topics, f"{test_id}-im", log)
    await read_until(topics, events_topic, lambda r: len(r) >= 100, group=f"{test_id}-peek")
    first.send_signal(signal.SIGKILL)
    await first.wait()

    second = await start(topics, f"{test_id}-im", log)
    keys = {r.incident_key for r in reports}

    def escalated(records) -> set[str]:
        return {e.incident_key for e in events_of(records) if e.type == "incident_escalated"}

    try:
        try:
            records = await read_until(
                topics, events_topic, lambda r: escalated(r) >= keys,
                group=f"{test_id}-check", deadline_s=150,
            )  # fmt: skip
        except AssertionError as failure:
            raise AssertionError(f"{failure}\nworker log:\n{log.read_text()[-3000:]}") from None
        await asyncio.sleep(2)  # a second firing would come within a few ticks
        records = await read_until(
            topics, events_topic, lambda r: len(r) >= len(records), group=f"{test_id}-final"
        )
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=60)

    by_position: dict[tuple[str, int], set[str]] = defaultdict(set)
    firings: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in events_of(records):
        by_position[event.incident_id, event.sequence].add(event.event_id)
        if event.type == "incident_escalated":
            firings[event.incident_id, event.level].add(event.event_id)
    # A repeat after the crash carries the id of the event it repeats: one id per position.
    assert all(len(ids) == 1 for ids in by_position.values()), log.read_text()[-2000:]
    per_incident: dict[str, list[int]] = defaultdict(list)
    for incident, sequence in by_position:
        per_incident[incident].append(sequence)
    assert len(per_incident) == len(keys)
    for sequences in per_incident.values():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))  # no gaps
    assert all(len(ids) == 1 for ids in firings.values())  # each level fired once
