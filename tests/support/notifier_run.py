"""A notifier run in the test's process on the real local Kafka, and reads of what it wrote."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from schemas.notifications import NotificationAttempted
from services.notifier import NotificationDeadLettered, Notifier, NotifierSettings
from services.notifier.service import build
from services.runtime.topics import (
    INCIDENT_EVENTS,
    NOTIFICATION_ATTEMPTS,
    NOTIFICATION_DEAD_LETTERS,
    topic_name,
)
from tests.support.kafka_io import publish, read_until
from tests.support.notifier_samples import as_record

WEBHOOK_SECRET = "test-webhook-secret"
ACK_SECRET = "test-ack-secret"


def notifier_settings(topics, registry_dir: Path, **overrides: Any) -> NotifierSettings:
    """The notifier on this test's topics and rosters, retrying quickly, with known secrets."""
    return NotifierSettings.model_validate(
        topics.model_dump()
        | {
            "notifier_registry_dir": registry_dir,
            "notifier_retry_base_seconds": 0.05,
            "notifier_retry_max_seconds": 0.2,
            "notifier_timeout_seconds": 3.0,
            "notifier_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "notifier_ack_link_secret": SecretStr(ACK_SECRET),
            "notifier_ack_base_url": "http://gateway.test",
        }
        | overrides
    )


@asynccontextmanager
async def running_notifier(settings: NotifierSettings) -> AsyncIterator[Notifier]:
    """The notifier running as a task of this process until the block ends."""
    stop = asyncio.Event()
    notifier = build(settings)
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def publish_events(settings: NotifierSettings, *events: Any) -> None:
    """Write lifecycle events on this test's incidents.events, as the incident manager would."""
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    await publish(settings, topic, [as_record(e) for e in events])


async def attempts_until(
    settings: NotifierSettings, done: Callable[[list[NotificationAttempted]], bool]
) -> list[NotificationAttempted]:
    """The attempt records on notifications.attempts, read until `done` holds of them."""
    return await _read(settings, NOTIFICATION_ATTEMPTS, NotificationAttempted, done)


async def dead_letters_until(
    settings: NotifierSettings, done: Callable[[list[NotificationDeadLettered]], bool]
) -> list[NotificationDeadLettered]:
    """The dead letters on notifications.dead-letter, read until `done` holds of them."""
    return await _read(settings, NOTIFICATION_DEAD_LETTERS, NotificationDeadLettered, done)


async def _read(settings, name, model, done):
    topic = topic_name(name, settings.topic_prefix)
    records = await read_until(
        settings,
        topic,
        lambda rs: done([model.model_validate_json(r.value) for r in rs]),
        group=f"{settings.topic_prefix}reader-{uuid.uuid4().hex[:8]}",
        deadline_s=60,
    )
    return [model.model_validate_json(r.value) for r in records]
