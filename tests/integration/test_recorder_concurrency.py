"""Recorders racing for the same rows in the real PostgreSQL: they take turns, nothing doubles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime

import asyncpg
import pytest

from services.recorder import store
from services.recorder.rows import Batch
from services.recorder.store import RecordCounts
from services.runtime import db
from services.runtime.topics import INCIDENT_EVENTS
from tests.support.lifecycle_samples import incident_story
from tests.support.polling import eventually
from tests.support.recorder_messages import batch_of, values_of

pytestmark = pytest.mark.integration
OPENED = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
TOPIC = INCIDENT_EVENTS  # store.record needs only where a message was, not a live topic


def batch_on(partition: int, incidents: range) -> tuple[Batch, dict[tuple[str, int], int]]:
    """Every event of these incidents at offsets 0, 1, ... of one partition, and its next offset."""
    return batch_of(
        values_of([e for n in incidents for e in incident_story(n, OPENED)]), partition=partition
    )


async def blocked(pool: asyncpg.Pool, pids: list[int], wanted: int, deadline_s: float = 30) -> None:
    """Wait until `wanted` of these backends wait on a lock another transaction holds."""
    sql = "SELECT count(*) FROM unnest($1::int[]) AS p WHERE cardinality(pg_blocking_pids(p)) > 0"

    async def all_blocked() -> bool:
        return await pool.fetchval(sql, pids) == wanted

    await eventually(
        all_blocked, deadline_s=deadline_s, interval_s=0.05, what=f"{wanted} of {pids} blocked"
    )


async def at_once(settings, pool: asyncpg.Pool, *calls) -> list[RecordCounts]:
    """Run store.record calls on connections of their own, all let go at the same moment.

    The owner holds a SHARE lock on incident_events, so each call waits at its first write
    there (or earlier, on a lock another call holds); releasing it lets them race.
    """
    owner = await db.connect(settings, url=settings.owner_database_url)
    links = [await db.connect(settings) for _ in calls]
    try:
        holding = owner.transaction()
        await holding.start()
        await owner.execute("LOCK TABLE incident_events IN SHARE MODE")
        tasks: list[asyncio.Task[RecordCounts]] = []
        for link, (group, batch, next_offsets) in zip(links, calls, strict=True):
            work: Awaitable[RecordCounts] = store.record(
                conn=link, group=group, batch=batch, next_offsets=next_offsets
            )
            tasks.append(asyncio.ensure_future(work))
        await blocked(pool, [link.get_server_pid() for link in links], len(links))
        await holding.commit()
        return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))
    finally:
        for link in [owner, *links]:
            await link.close()


async def test_two_recorders_with_the_first_batch_of_a_partition_take_turns(
    settings, database, test_id
):
    batch, next_offsets = batch_on(0, range(3))
    group = f"{test_id}-recorder"
    outcomes = await at_once(
        settings, database, (group, batch, next_offsets), (group, batch, next_offsets)
    )

    # One records the batch; the other waits on the offsets row and finds it all recorded,
    # rather than racing it into incident_events and falling back to one message at a time.
    by_work = sorted(outcomes, key=lambda o: o.recorded)
    assert [(o.recorded, o.already_recorded, o.duplicates) for o in by_work] == [
        (0, len(batch), 0),
        (len(batch), 0, 0),
    ]
    assert await database.fetchval("SELECT count(*) FROM incident_events") == len(batch)
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 0
    stored = await database.fetch("SELECT topic, partition, next_offset FROM consumer_offsets")
    assert [tuple(r) for r in stored] == [(TOPIC, 0, len(batch))]


async def test_the_same_events_on_two_partitions_at_once_are_recorded_once(
    settings, database, test_id
):
    # A publisher that re-keyed its retry puts the same events on another partition; two
    # instances record the two partitions at the same moment.
    first, first_offsets = batch_on(0, range(2))
    second, second_offsets = batch_on(1, range(2))
    group = f"{test_id}-recorder"
    outcomes = await at_once(
        settings, database, (group, first, first_offsets), (group, second, second_offsets)
    )

    # The loser meets a UniqueViolationError on incident_events and finds the winner's rows:
    # duplicates, not messages the database refused.
    assert sorted((o.recorded, o.duplicates, o.poison) for o in outcomes) == [
        (0, len(first), 0),
        (len(first), 0, 0),
    ]
    assert await database.fetchval("SELECT count(*) FROM incident_events") == len(first)
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 0
    assert await database.fetchval("SELECT sum(next_offset) FROM consumer_offsets") == 2 * len(
        first
    )
