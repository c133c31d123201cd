"""Partitions moving between recorders of one group mid-stream: every event once, no gaps."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import TopicPartition
from structlog.testing import capture_logs

from schemas.chain import verify_chain
from services.recorder import store
from services.recorder.service import build
from services.runtime.kafka import make_producer
from services.runtime.topics import INCIDENT_EVENTS, LINE_FAULT_REPORTS, topic_name
from tests.support.lifecycle_samples import STORY, encoded, incident_story
from tests.support.polling import eventually
from tests.support.recorder_run import OPENED, TIMELINE, Running, recorder_settings, wait_until

pytestmark = pytest.mark.integration
INCIDENTS = 300
EVENTS = INCIDENTS * len(STORY)
CHUNK = 50
# The publisher stays at most this far ahead of what is recorded, so the stream goes on for
# as long as the partitions take to move, however slow the machine.
LEAD = 200
COUNT = "SELECT count(*) FROM incident_events"


async def test_a_seek_on_a_partition_taken_away_meanwhile_is_logged_not_raised(
    topics, database, test_id
):
    settings = recorder_settings(topics, f"{test_id}-recorder")
    # Partitions of a topic the recorder does not read: never assigned to it, just as a
    # partition revoked by a second rebalance while the first one's offsets were being read.
    reports = topic_name(LINE_FAULT_REPORTS, topics.topic_prefix)
    stored, fresh = TopicPartition(reports, 0), TopicPartition(reports, 1)
    async with database.acquire() as conn:
        await store.save_offsets(conn=conn, group=settings.recorder_group_id, next_offsets={
            (reports, 0): 5
        })  # fmt: skip
    recorder = build(settings)
    await recorder.start()
    try:
        with capture_logs() as logs:
            await recorder.seek_to_stored({stored, fresh})
    finally:
        await recorder.close()
    (warning,) = [e for e in logs if e["event"] == "partitions_revoked_before_seek"]
    assert warning["partitions"] == [f"{reports}:0", f"{reports}:1"]
    assert warning["log_level"] == "warning"


async def count_at_least(pool: asyncpg.Pool, wanted: int, deadline_s: float = 60) -> None:
    """Wait until at least `wanted` events are rows."""
    await wait_until(
        pool, f"SELECT count(*) >= {wanted} FROM incident_events", True, deadline_s=deadline_s
    )


async def stream(settings, pool: asyncpg.Pool, gates: list[asyncio.Event]) -> None:
    """Every incident's story, step by step across all incidents, in chunks paced by recording;
    one part of it at once, then one more part as each of `gates` is set."""
    events = [
        encoded(incident_story(n, OPENED)[step])
        for step in range(len(STORY))
        for n in range(INCIDENTS)
    ]
    starts = range(0, len(events), CHUNK)
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    producer = make_producer(settings)
    await producer.start()
    try:
        for n, at in enumerate(starts):
            if phase := n * (len(gates) + 1) // len(starts):
                await gates[phase - 1].wait()
            sends = [await producer.send(topic, key=k, value=v) for k, v in events[at : at + CHUNK]]
            await asyncio.gather(*sends)
            await count_at_least(pool, at + CHUNK - LEAD)
    finally:
        await producer.stop()


async def assigned(running: Running, deadline_s: float = 60) -> None:
    """Wait until this recorder has been given partitions of the event topic."""
    await eventually(
        lambda: any(
            tp.topic.endswith(INCIDENT_EVENTS) for tp in running.recorder.consumer.assignment()
        ),
        deadline_s=deadline_s,
        what="partitions of the event topic assigned",
    )


async def test_partitions_moving_between_recorders_mid_stream_lose_and_double_nothing(
    topics, database, test_id
):
    settings = recorder_settings(topics, f"{test_id}-recorder").model_copy(
        update={"recorder_batch_max": 40}
    )
    joining, joined, leaving = asyncio.Event(), asyncio.Event(), asyncio.Event()
    part = EVENTS // 4
    first, second = Running(settings), Running(settings)
    publishing = asyncio.create_task(stream(topics, database, [joining, joined, leaving]))
    third = None
    try:
        await count_at_least(database, part)
        third = Running(settings)  # joins while the second part streams in
        joining.set()
        await assigned(third)
        joined.set()  # the third part is recorded by three recorders
        await count_at_least(database, 3 * part)
        leaving.set()  # the rest streams in while the third leaves and its partitions move back
        await third.close()
        third = None
        await asyncio.wait_for(publishing, timeout=120)
        await wait_until(database, COUNT, EVENTS, deadline_s=60)
    finally:
        publishing.cancel()
        for running in (first, second, third):
            if running is not None:
                await running.close()

    per_incident = await database.fetch(
        "SELECT count(*) AS n, min(sequence) AS lo, max(sequence) AS hi"
        " FROM incident_events GROUP BY incident_id"
    )
    assert len(per_incident) == INCIDENTS
    assert {(r["n"], r["lo"], r["hi"]) for r in per_incident} == {(7, 1, 7)}  # once, no gaps
    assert verify_chain(await database.fetch(TIMELINE)) is None
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 0
    events_topic = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    assert (
        await database.fetchval(
            "SELECT sum(next_offset) FROM consumer_offsets WHERE topic = $1", events_topic
        )
        == EVENTS
    )
