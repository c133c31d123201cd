"""Shared fixtures: the real local stack once per session, and a private corner of it per test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from infra import stack
from infra.kafka import users as kafka_users
from infra.settings import StackSettings
from services.runtime import db
from services.runtime.settings import load_settings
from tests.support.service_process import start_service

KEEP_STACK = os.environ.get("SIGNALPOST_KEEP_STACK") == "1"


def _progress(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
async def local_stack() -> AsyncIterator[StackSettings]:
    """Kafka and PostgreSQL, started if they are not running, reused if they are.

    What this fixture started it stops at the end (unless SIGNALPOST_KEEP_STACK=1).
    """
    settings = load_settings(StackSettings)
    started = await stack.start_components(settings, _progress)
    yield settings
    if not KEEP_STACK:
        stack.stop_components(settings, started)


@pytest.fixture
def test_id() -> str:
    """A short unique name for this test's topics, consumer group and database schema."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(local_stack: StackSettings, test_id: str) -> StackSettings:
    """The stack's settings with this test's own topic prefix and database schema."""
    return local_stack.model_copy(update={"topic_prefix": f"{test_id}.", "db_schema": test_id})


@pytest.fixture
async def topics(settings: StackSettings) -> AsyncIterator[StackSettings]:
    """The catalog's topics and task feeds created under this test's prefix; deleted after,
    with any Kafka users the test made under it."""
    await stack.apply_topics(settings, _progress)
    yield settings
    await stack.delete_topics(settings)
    await kafka_users.revoke_prefixed_users(settings)


@pytest.fixture
async def database(settings: StackSettings) -> AsyncIterator[asyncpg.Pool]:
    """This test's schema, migrated, as a service-role pool; dropped afterwards."""
    await stack.apply_migrations(settings, _progress)
    pool = await db.create_pool(settings)
    yield pool
    await pool.close()
    await stack.drop_schema(settings)


@pytest.fixture
async def audit_pool(
    settings: StackSettings, database: asyncpg.Pool
) -> AsyncIterator[asyncpg.Pool]:
    """This test's schema as the read-only auditor role sees it: the gateway's tables too,
    which the recorder's role of `database` may not read."""
    pool = await db.create_pool(settings, url=settings.auditor_database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def running_system(topics, database, test_id, tmp_path):
    """Router, incident manager and recorder as subprocesses; stopped with SIGTERM after."""
    groups = {
        "router": {"SIGNALPOST_ROUTER_GROUP_ID": f"{test_id}-router"},
        "incidents": {"SIGNALPOST_INCIDENTS_APP_ID": f"{test_id}-incidents"},
        "recorder": {"SIGNALPOST_RECORDER_GROUP_ID": f"{test_id}-recorder"},
    }
    processes = {
        service: await start_service(service, topics, tmp_path / f"{service}.log", **variables)
        for service, variables in groups.items()
    }
    # The auditor's CLI reads the same schema.
    env = {**os.environ, "SIGNALPOST_DB_SCHEMA": topics.db_schema}
    yield topics, database, env
    for service, process in processes.items():
        assert process.returncode is None, (tmp_path / f"{service}.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)
