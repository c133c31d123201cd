"""A recorder run in the test's process, and waits on what it has written to PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from services.recorder.service import build
from services.recorder.settings import RecorderSettings
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded
from tests.support.polling import eventually

OPENED = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
TIMELINE = "SELECT * FROM incident_events ORDER BY incident_id, sequence"


def recorder_settings(topics, group: str) -> RecorderSettings:
    """The recorder on this test's topics and schema, in its own consumer group."""
    return RecorderSettings.model_validate(topics.model_dump() | {"recorder_group_id": group})


class Running:
    """A recorder running in this process as a task, stopped on exit."""

    def __init__(self, settings: RecorderSettings) -> None:
        self.stop = asyncio.Event()
        self.recorder = build(settings)
        self.task = asyncio.create_task(self.recorder.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=30)


async def wait_until(pool: asyncpg.Pool, sql: str, wanted, *, deadline_s: float = 30) -> None:
    """Poll `sql` until it returns `wanted`; fail at the deadline."""

    async def returns_wanted() -> bool:
        return await pool.fetchval(sql) == wanted

    await eventually(returns_wanted, deadline_s=deadline_s, what=f"{sql!r} returning {wanted!r}")


async def record_events(settings, pool: asyncpg.Pool, events: list, group: str) -> None:
    """Publish lifecycle events and run a recorder until every one is a row, then stop it."""
    await publish(
        settings, topic_name(INCIDENT_EVENTS, settings.topic_prefix), [encoded(e) for e in events]
    )
    running = Running(recorder_settings(settings, group))
    try:
        await wait_until(pool, "SELECT count(*) FROM incident_events", len(events))
    finally:
        await running.close()
