"""Whole batches into the real PostgreSQL: one COPY, repeats, many incidents, bad events amid."""

from __future__ import annotations

import json

import asyncpg
import pytest

from schemas.chain import verify_chain
from services.recorder import store
from services.recorder.store import RecordCounts
from tests.support.lifecycle_samples import incident_story
from tests.support.recorder_messages import OPENED, batch_of, values_of

pytestmark = pytest.mark.integration
TIMELINE = "SELECT * FROM incident_events ORDER BY incident_id, sequence"


async def record(pool: asyncpg.Pool, group: str, values: list[bytes], first_offset: int = 0):
    batch, next_offsets = batch_of(values, first_offset=first_offset)
    async with pool.acquire() as conn:
        return await store.record(conn=conn, group=group, batch=batch, next_offsets=next_offsets)


async def chain_break(pool: asyncpg.Pool):
    """The first broken link of what is recorded, the incidents' heads included (None: none)."""
    heads = {
        r["incident_id"]: (r["last_sequence"], r["last_hash"])
        for r in await pool.fetch("SELECT incident_id, last_sequence, last_hash FROM incidents")
    }
    return verify_chain(await pool.fetch(TIMELINE), heads)


def interleaved(incidents: range, steps: int = 7) -> list[dict]:
    """The incidents' events as a log holds them: each incident's in order, all mixed together."""
    stories = [incident_story(n, OPENED, steps=steps) for n in incidents]
    return [story[step] for step in range(steps) for story in stories]


async def test_a_batch_spanning_many_incidents_is_recorded_whole_and_every_chain_verifies(
    database, test_id
):
    events = interleaved(range(400))
    first = await record(database, test_id, values_of(events[:1500]))
    second = await record(database, test_id, values_of(events[1500:]), first_offset=1500)

    assert (first.recorded, second.recorded) == (1500, len(events) - 1500)
    assert first.poison == second.poison == 0
    assert await chain_break(database) is None
    incidents = await database.fetch(
        "SELECT status, event_count, last_sequence, closed_at IS NOT NULL AS closed FROM incidents"
    )
    assert len(incidents) == 400
    assert {tuple(r) for r in incidents} == {("closed", 7, 7, True)}
    stored = await database.fetchval("SELECT next_offset FROM consumer_offsets")
    assert stored == len(events)


async def test_repeats_of_recorded_events_in_a_batch_are_no_ops_and_the_new_ones_follow(
    database, test_id
):
    events = incident_story(1, OPENED) + incident_story(2, OPENED, steps=2)
    await record(database, test_id, values_of(events[:4]))
    # The producer sent the first four again (a retry), then the rest, one of them twice.
    again = [*events[:4], *events[4:], events[5]]
    outcome = await record(database, test_id, values_of(again), first_offset=4)

    assert (outcome.recorded, outcome.duplicates, outcome.poison) == (len(events) - 4, 5, 0)
    rows = await database.fetch(TIMELINE)
    assert [(r["incident_id"], r["sequence"]) for r in rows] == [
        *(("inc-1", n) for n in range(1, 8)),
        ("inc-2", 1),
        ("inc-2", 2),
    ]
    # Each row is the first copy's: its offset, not the repeat's.
    assert [r["source_offset"] for r in rows if r["incident_id"] == "inc-1"][:4] == [0, 1, 2, 3]
    assert await chain_break(database) is None


async def test_bad_events_in_the_middle_of_a_batch_are_set_aside_and_the_rest_recorded(
    database, test_id
):
    refused = incident_story(8, OPENED, steps=1)[0] | {"added_later": "nul \u0000 inside"}
    gap = incident_story(9, OPENED, steps=2)[1]  # sequence 2 of an incident never opened
    one, two = incident_story(1, OPENED), incident_story(2, OPENED)
    values = [
        *values_of(one[:3]),
        b"{not json",
        *values_of(two),
        *values_of([refused]),
        *values_of(one[3:]),
        *values_of([gap]),
    ]
    outcome = await record(database, test_id, values)

    assert (outcome.recorded, outcome.poison) == (14, 3)
    set_aside = await database.fetch(
        'SELECT "offset", reason FROM recorder_dead_letters ORDER BY 1'
    )
    assert [r["offset"] for r in set_aside] == [3, 11, 16]
    assert "invalid_event" in set_aside[0]["reason"]
    assert "the database refused it" in set_aside[1]["reason"]
    assert "events 1..1 are missing" in set_aside[2]["reason"]
    recorded = await database.fetchval(
        "SELECT array_agg(DISTINCT incident_id) FROM incident_events"
    )
    assert sorted(recorded) == ["inc-1", "inc-2"]
    assert await chain_break(database) is None
    assert await database.fetchval("SELECT next_offset FROM consumer_offsets") == len(values)


async def test_an_event_reusing_a_recorded_id_for_another_incident_is_set_aside_not_dropped(
    database, test_id
):
    await record(database, test_id, values_of(incident_story(1, OPENED, steps=2)))
    impostor = incident_story(2, OPENED, steps=1)[0] | {"event_id": "inc-1:1"}
    outcome = await record(database, test_id, values_of([impostor]), first_offset=2)

    assert outcome == RecordCounts(poison=1)
    reason = await database.fetchval("SELECT reason FROM recorder_dead_letters")
    assert "the database refused it: UniqueViolationError" in reason
    assert await database.fetchval("SELECT count(*) FROM incident_events") == 2
    assert await chain_break(database) is None


async def test_rows_written_by_copy_hold_the_log_json_and_chain_as_the_definition_says(
    database, test_id
):
    events = incident_story(1, OPENED)
    events[2]["added_by_a_newer_writer"] = {"z": [1, 2.5, None], "a": "Điện Bàn"}
    await record(database, test_id, values_of(events))

    rows = await database.fetch(TIMELINE)
    assert [json.loads(r["event"]) for r in rows] == events
    assert await chain_break(database) is None
