"""kill -9 of `signalpost run recorder` mid-stream: the restarted one records every event once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from schemas.chain import verify_chain
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.recorder_run import OPENED, TIMELINE, wait_until
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration
INCIDENTS = 1500
EVENTS = INCIDENTS * 7


async def start_recorder(settings, group: str, log: Path) -> asyncio.subprocess.Process:
    """`signalpost run recorder` as an operator starts it, on this test's topics and schema."""
    return await start_service(
        "recorder",
        settings,
        log,
        SIGNALPOST_RECORDER_GROUP_ID=group,
        SIGNALPOST_RECORDER_BATCH_MAX="300",
    )


async def test_no_event_is_lost_or_doubled_across_a_kill_9(topics, database, test_id, tmp_path):
    events = [encoded(e) for n in range(INCIDENTS) for e in incident_story(n, OPENED)]
    await publish(topics, topic_name(INCIDENT_EVENTS, topics.topic_prefix), events)
    group, log = f"{test_id}-recorder", tmp_path / "recorder.log"

    first = await start_recorder(topics, group, log)
    # Kill it once it has visibly recorded part of the stream, with more still to do.
    await wait_until(
        database, f"SELECT count(*) >= {EVENTS // 4} FROM incident_events", True, deadline_s=60
    )
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    at_kill = await database.fetchval("SELECT count(*) FROM incident_events")
    assert at_kill < EVENTS, "the recorder finished before it could be killed"

    second = await start_recorder(topics, group, log)
    try:
        await wait_until(database, "SELECT count(*) FROM incident_events", EVENTS, deadline_s=60)
        await wait_until(
            database, "SELECT sum(next_offset) FROM consumer_offsets", EVENTS, deadline_s=10
        )
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), timeout=30)
    per_incident = await database.fetch(
        "SELECT count(*) AS n, min(sequence) AS lo, max(sequence) AS hi"
        " FROM incident_events GROUP BY incident_id"
    )
    assert len(per_incident) == INCIDENTS
    assert {(r["n"], r["lo"], r["hi"]) for r in per_incident} == {(7, 1, 7)}  # no gaps
    assert verify_chain(await database.fetch(TIMELINE)) is None
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 0
    assert code == 0, log.read_text()[-2000:]
