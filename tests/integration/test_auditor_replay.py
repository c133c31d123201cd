"""Replay against the real broker and database: the rebuilt projections equal the live ones."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import asyncpg
import pytest

from schemas.registry import load_registry
from services.auditor import access
from services.auditor.replay import replay
from services.auditor.settings import AuditorSettings
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime import db
from services.runtime.kafka import admin_client
from services.runtime.topics import INCIDENT_EVENTS, NOTIFICATION_ATTEMPTS, topic_name
from tests.support.audit_history import record_all, scenario
from tests.support.kafka_io import publish
from tests.support.notification_samples import attempt, encoded_attempt
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)


def auditor_settings(topics, test_id: str) -> AuditorSettings:
    """The auditor on this test's topics and schema, replaying into a schema of the test's."""
    return AuditorSettings.model_validate(
        topics.model_dump() | {"auditor_replay_schema": f"{test_id}_replay"}
    )


async def record_history(settings, history, pool: asyncpg.Pool, *, split: int = 0) -> datetime:
    """Publish the events (the first `split` of them earlier) and record them all.

    The time between the two parts is returned: a replay range can start or end there.
    """
    messages = history.event_messages()
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    await publish(settings, topic, messages[:split])
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await publish(settings, topic, messages[split:])
    await record_all(settings, events=len(history.events))
    return between


async def consumer_groups(settings) -> set[str]:
    """Every consumer group the broker knows."""
    async with admin_client(settings) as admin:
        return {group[0] for group in await admin.list_consumer_groups()}


@pytest.fixture
async def replay_cleanup(settings, test_id):
    """Drop the test's replay schemas afterwards (the auditor owns them)."""
    yield
    conn = await access.connect(settings, writable=True)
    try:
        for name in (f"{test_id}_replay", f"{test_id}_part"):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def test_replay_equals_live_and_resumes(topics, database, test_id, replay_cleanup):
    history = scenario(30, rules=RULES, registry=REGISTRY)
    await record_history(topics, history, database)
    settings = auditor_settings(topics, test_id)
    out = io.StringIO()
    groups_before = await consumer_groups(topics)

    result = await replay(settings, progress_out=out)

    assert result.messages == len(history.events)
    assert result.outcome.recorded == len(history.events)
    assert await consumer_groups(topics) == groups_before, "a replay joined a consumer group"
    assert result.differences == []
    assert "replay" in out.getvalue() and "/s" in out.getvalue() and "ETA" in out.getvalue()
    again = await replay(settings, progress_out=io.StringIO())
    assert again.messages == 0 and again.resumed_from == len(history.events)
    assert again.differences == []


async def test_a_range_that_cuts_timelines_replays_equal_to_live(
    topics, database, test_id, replay_cleanup
):
    history = scenario(12, rules=RULES, registry=REGISTRY)
    split = len(history.events) // 2 + 1
    between = await record_history(topics, history, database, split=split)
    assert history.events[split].sequence > 1, "the split should fall inside a timeline"
    settings = auditor_settings(topics, test_id)

    later = await replay(settings, since=between, progress_out=io.StringIO())
    earlier = await replay(
        settings, until=between, into=f"{test_id}_part", progress_out=io.StringIO()
    )

    assert later.messages == len(history.events) - split and later.seeded == 1
    assert later.differences == []
    assert earlier.messages == split and earlier.differences == []


async def test_a_replay_schema_holding_another_range_is_not_mixed_up(
    topics, database, test_id, replay_cleanup
):
    history = scenario(3, rules=RULES, registry=REGISTRY)
    between = await record_history(topics, history, database, split=5)
    settings = auditor_settings(topics, test_id)
    await replay(settings, since=between, progress_out=io.StringIO())

    with pytest.raises(access.AuditSetupError, match="--restart"):
        await replay(settings, progress_out=io.StringIO())
    whole = await replay(settings, restart=True, progress_out=io.StringIO())
    assert whole.messages == len(history.events) and whole.differences == []


async def test_the_live_schema_is_never_a_replay_target(topics, database):
    settings = AuditorSettings.model_validate(topics.model_dump())
    with pytest.raises(access.AuditSetupError, match="live schema"):
        await replay(settings, into=settings.db_schema)


async def test_a_replay_stopped_midway_resumes_where_it_stopped(
    topics, database, test_id, replay_cleanup
):
    history = scenario(20, rules=RULES, registry=REGISTRY)
    await record_history(topics, history, database)
    settings = auditor_settings(topics, test_id).model_copy(update={"auditor_batch_max": 10})
    task = asyncio.create_task(replay(settings, progress_out=io.StringIO()))
    watcher = await access.connect(settings)
    try:

        async def thirty_replayed() -> bool:
            return await replayed_so_far(watcher, settings.auditor_replay_schema) >= 30

        await eventually(thirty_replayed, deadline_s=60, interval_s=0.01)
    finally:
        await watcher.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    resumed = await replay(settings, progress_out=io.StringIO())

    total = len(history.events)
    assert 30 <= resumed.resumed_from < total, resumed
    assert resumed.resumed_from + resumed.messages == total
    assert resumed.differences == []


async def replayed_so_far(conn, schema: str) -> int:
    """Messages the replay has committed its position past (0 before it has begun)."""
    try:
        return await conn.fetchval(
            f'SELECT coalesce(sum(next_offset), 0) FROM "{schema}".consumer_offsets'
        )
    except asyncpg.UndefinedTableError:
        return 0


async def test_replay_rebuilds_who_was_told_and_finds_an_edited_attempt(
    topics, database, test_id, replay_cleanup
):
    history = scenario(3, rules=RULES, registry=REGISTRY)
    told_at = history.events[0].occurred_at
    tries = [
        attempt(0, 1, told_at, after_s=2, outcome="failed", detail="HTTP 503"),
        attempt(0, 2, told_at, after_s=9),
    ]
    await publish(
        topics,
        topic_name(NOTIFICATION_ATTEMPTS, topics.topic_prefix),
        [encoded_attempt(t) for t in tries],
    )
    await record_history(topics, history, database)
    await eventually(
        lambda: database.fetchval("SELECT count(*) FROM notification_attempts"),
        deadline_s=30,
        what="attempts recorded",
    )
    settings = auditor_settings(topics, test_id)
    assert (await replay(settings, progress_out=io.StringIO())).differences == []

    # A delivery claimed afterwards in the live table, as if the person had been reached.
    owner = await db.connect(topics, url=topics.owner_database_url)
    try:
        await owner.execute(
            "UPDATE notification_attempts SET outcome = 'delivered' WHERE attempt = 1"
        )
    finally:
        await owner.close()
    edited = await replay(
        settings.model_copy(update={"auditor_replay_schema": f"{test_id}_part"}),
        progress_out=io.StringIO(),
    )
    assert [(d.table, d.columns) for d in edited.differences] == [
        ("notification_attempts", ("outcome",))
    ], edited.differences
