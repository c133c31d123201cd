"""The recorder against the real broker and database: every event once, history unalterable."""

from __future__ import annotations

import json

import asyncpg
import pytest

from schemas.chain import verify_chain
from schemas.codec import encode
from schemas.deadletter import DeadLetter, OriginalBytes, SourcePosition
from schemas.envelope import Actor, ActorKind
from schemas.errors import ErrorBody, Problem
from schemas.rulesets import RuleSetActivated
from services.runtime import db
from services.runtime.topics import DEAD_LETTERS, INCIDENT_EVENTS, RULESET_ACTIVATIONS, topic_name
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.recorder_run import OPENED, TIMELINE, Running, recorder_settings, wait_until

pytestmark = pytest.mark.integration
INCIDENTS = 20
EVENTS = INCIDENTS * 7


async def publish_stories(settings, count: int = INCIDENTS) -> None:
    """`count` incidents' full lives on the event topic, keyed by incident key."""
    events = [encoded(e) for n in range(count) for e in incident_story(n, OPENED)]
    await publish(settings, topic_name(INCIDENT_EVENTS, settings.topic_prefix), events)


async def publish_side_topics(settings) -> None:
    """One dead letter, one rule-set activation, and two events that can never be recorded."""
    prefix = settings.topic_prefix
    letter = DeadLetter(
        source=SourcePosition(topic=f"{prefix}reports.line-fault", partition=2, offset=7),
        key=None,
        value=OriginalBytes.from_bytes(b"{ not json"),
        error=ErrorBody(error="invalid_report", problems=(Problem(field="", reason="not JSON"),)),
        rejected_by="router",
        dead_lettered_at=OPENED,
    )
    activation = RuleSetActivated(
        event_id="ruleset-activated:1",
        ruleset_version="sha256:" + "1" * 64,
        registry_version="sha256:" + "2" * 64,
        activated_at=OPENED,
        source_file="quang-nam-2007.yaml",
        actor=Actor(kind=ActorKind.SERVICE, id="router-1"),
    )
    gap = incident_story(INCIDENTS + 1, OPENED)[3]  # sequence 4 of an incident never opened
    await publish(settings, topic_name(DEAD_LETTERS, prefix), [(None, encode(letter))])
    await publish(settings, topic_name(RULESET_ACTIVATIONS, prefix), [(None, encode(activation))])
    await publish(
        settings,
        topic_name(INCIDENT_EVENTS, prefix),
        [(b"junk", b"{ this is not an event"), encoded(gap)],
    )


async def test_a_stream_is_recorded_exactly_once_with_its_side_topics(topics, database, test_id):
    await publish_stories(topics)
    await publish_side_topics(topics)
    running = Running(recorder_settings(topics, f"{test_id}-recorder"))
    try:
        await wait_until(database, "SELECT count(*) FROM recorder_dead_letters", 2)
        await wait_until(database, "SELECT count(*) FROM incident_events", EVENTS)
        await wait_until(database, "SELECT count(*) FROM dead_letters", 1)
        await wait_until(database, "SELECT count(*) FROM rule_sets", 1)
    finally:
        await running.close()

    rows = await database.fetch(TIMELINE)
    heads = {
        r["incident_id"]: (r["last_sequence"], r["last_hash"])
        for r in await database.fetch("SELECT * FROM incidents")
    }
    assert len(heads) == INCIDENTS and verify_chain(rows, heads) is None
    assert {r["status"] for r in await database.fetch("SELECT status FROM incidents")} == {"closed"}
    reasons = [
        r["reason"] for r in await database.fetch("SELECT reason FROM recorder_dead_letters")
    ]
    assert any("invalid_event" in r for r in reasons) and any("missing" in r for r in reasons)
    letter = await database.fetchrow("SELECT * FROM dead_letters")
    assert (letter["source_partition"], letter["source_offset"], letter["rejected_by"]) == (
        2, 7, "router",
    )  # fmt: skip
    assert json.loads(letter["error"])["error"] == "invalid_report"
    assert await database.fetchval("SELECT count(*) FROM districts") == 17


async def test_redelivery_records_nothing_twice(topics, database, test_id):
    await publish_stories(topics)
    await publish_side_topics(topics)
    running = Running(recorder_settings(topics, f"{test_id}-first"))
    try:
        await wait_until(database, "SELECT count(*) FROM incident_events", EVENTS)
        await wait_until(database, "SELECT count(*) FROM recorder_dead_letters", 2)
    finally:
        await running.close()
    before = [dict(r) for r in await database.fetch(TIMELINE)]

    # A new group has no stored offsets: it reads every topic again from the beginning.
    running = Running(recorder_settings(topics, f"{test_id}-second"))
    total = EVENTS + 2 + 1 + 1
    try:
        where = f"consumer_group = '{test_id}-second'"
        await wait_until(
            database, f"SELECT sum(next_offset) FROM consumer_offsets WHERE {where}", total
        )
    finally:
        await running.close()
    assert [dict(r) for r in await database.fetch(TIMELINE)] == before
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 2
    assert await database.fetchval("SELECT count(*) FROM dead_letters") == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE incident_events SET type = 'incident_cancelled'",
        "DELETE FROM incident_events",
        "TRUNCATE incident_events",
        "DELETE FROM dead_letters",
    ],
)
async def test_the_service_role_cannot_alter_history(database, statement):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await database.execute(statement)


async def test_an_edited_row_is_found_by_the_chain(topics, database, settings, test_id):
    await publish_stories(topics, count=3)
    running = Running(recorder_settings(topics, f"{test_id}-recorder"))
    try:
        await wait_until(database, "SELECT count(*) FROM incident_events", 21)
    finally:
        await running.close()
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        # Someone with the owner's rights quietly moves an acknowledgement earlier.
        await owner.execute(
            """UPDATE incident_events
               SET event = jsonb_set(event, '{occurred_at}', '"2007-05-20T07:01:00+00:00"')
               WHERE event_id = 'inc-1:4'"""
        )
    finally:
        await owner.close()
    auditor = await db.connect(settings, url=settings.auditor_database_url)
    try:
        broken = verify_chain(await auditor.fetch(TIMELINE))
    finally:
        await auditor.close()
    assert broken is not None and broken.event_id == "inc-1:4"
    assert "the event was changed" in broken.reason


async def test_a_row_the_database_refuses_is_set_aside_and_the_rest_recorded(
    topics, database, test_id
):
    bad = incident_story(9, OPENED, steps=1)[0] | {"added_later": "nul \u0000 inside"}
    events = [*incident_story(0, OPENED)[:3], bad, *incident_story(0, OPENED)[3:]]
    await publish(
        topics, topic_name(INCIDENT_EVENTS, topics.topic_prefix), [encoded(e) for e in events]
    )
    running = Running(recorder_settings(topics, f"{test_id}-recorder"))
    try:
        await wait_until(database, "SELECT count(*) FROM recorder_dead_letters", 1)
        await wait_until(database, "SELECT count(*) FROM incident_events", 7)
    finally:
        await running.close()
    reason = await database.fetchval("SELECT reason FROM recorder_dead_letters")
    assert "the database refused it" in reason and "inc-9" not in await database.fetchval(
        "SELECT string_agg(incident_id, ',') FROM incident_events"
    )
