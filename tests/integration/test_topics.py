"""The topic catalog applied to the real broker: idempotent, and honest about drift."""

from __future__ import annotations

import pytest
from aiokafka.admin import NewTopic

from services.runtime.kafka import admin_client
from services.runtime.topic_admin import apply_catalog, partitions_of
from services.runtime.topics import CATALOG, INCIDENT_EVENTS, topic_name

pytestmark = pytest.mark.integration


async def test_apply_twice_creates_then_changes_nothing(settings):
    async with admin_client(settings) as admin:
        first = await apply_catalog(admin=admin, prefix=settings.topic_prefix)
        second = await apply_catalog(admin=admin, prefix=settings.topic_prefix)
        events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
        described = await partitions_of(admin, [events], wait=True)
    names = sorted(topic_name(spec.name, settings.topic_prefix) for spec in CATALOG)
    assert sorted(first.created) == names
    assert sorted(second.unchanged) == names
    assert second.created == second.reconfigured == second.drift == []
    assert len(described[events]) == 6


async def test_fewer_partitions_than_the_catalog_is_reported_as_drift(settings):
    events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(events, 2, 1, topic_configs={"retention.ms": "1000"})])
        result = await apply_catalog(admin=admin, prefix=settings.topic_prefix)
    assert not result.ok
    assert any(events in d and "2 partitions" in d for d in result.drift), result.drift
    # The retention that would delete the log is put back, not merely reported.
    assert events in result.reconfigured
