"""PostgreSQL stopped mid-stream and started again: the recorder waits, then loses nothing."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from structlog.testing import capture_logs

from infra import stack
from infra.postgres import local as postgres
from schemas.chain import verify_chain
from services.runtime import db
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.database_urls import own_server_urls
from tests.support.homes import moved_home
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.polling import eventually
from tests.support.recorder_run import OPENED, TIMELINE, Running, recorder_settings, wait_until

pytestmark = pytest.mark.integration
PORT = 25542  # a private server, so stopping it spares the session's


@pytest.fixture
async def own_postgres(topics, local_stack, test_id):
    """This test's settings on a PostgreSQL of its own, migrated; stopped and removed after."""
    home = local_stack.home / "test-homes" / test_id
    urls = own_server_urls(topics, home=home, port=PORT)
    settings = moved_home(topics, home, **urls)
    cluster = postgres.local_cluster(settings, lambda m: None)
    try:
        await postgres.start(cluster, settings, lambda m: None)
        await stack.apply_migrations(settings, lambda m: None)
        yield settings, cluster
    finally:
        postgres.stop(cluster)
        shutil.rmtree(home, ignore_errors=True)


async def test_nothing_is_lost_or_doubled_across_a_database_outage(own_postgres, test_id):
    settings, cluster = own_postgres
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    before = [encoded(e) for n in range(50) for e in incident_story(n, OPENED)]
    during = [encoded(e) for n in range(50, 100) for e in incident_story(n, OPENED)]
    pool = await db.create_pool(settings, min_size=0)
    with capture_logs() as logs:
        running = Running(recorder_settings(settings, f"{test_id}-recorder"))
        try:
            await publish(settings, topic, before)
            await wait_until(pool, "SELECT count(*) FROM incident_events", len(before))
            await asyncio.to_thread(postgres.stop, cluster)
            await publish(settings, topic, during)
            await eventually(
                lambda: any(e["event"] == "database_unavailable_will_retry" for e in logs),
                deadline_s=30,
                what="the recorder noticing the outage",
            )
            await postgres.start(cluster, settings, lambda m: None)
            total = len(before) + len(during)
            await wait_until(pool, "SELECT count(*) FROM incident_events", total, deadline_s=60)
        finally:
            await running.close()
    rows = await pool.fetch(TIMELINE)
    offsets = await pool.fetchval("SELECT sum(next_offset) FROM consumer_offsets")
    await pool.close()
    assert len({r["event_id"] for r in rows}) == len(rows) == total == offsets
    assert verify_chain(rows) is None
