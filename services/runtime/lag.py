"""How far consumers are behind the log: Kafka-committed groups and groups whose offsets live in
PostgreSQL (the recorder keeps them in `consumer_offsets`, with the rows they produced)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.structs import TopicPartition

from services.runtime import db
from services.runtime.kafka import admin_client, make_consumer
from services.runtime.settings import Settings
from services.runtime.topic_admin import partitions_of, report_topics
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS, topic_name

Offsets = Mapping[TopicPartition, int]


async def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The next offset to be written on every partition of `topics`."""
    names = list(topics)
    async with admin_client(settings) as admin:
        found = await partitions_of(admin, names)
    partitions = [TopicPartition(t, p["partition"]) for t in names for p in found.get(t, ())]
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return ends


async def kafka_committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """Offsets the Kafka consumer group `group` has committed."""
    async with admin_client(settings) as admin:
        committed = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


async def postgres_committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """Offsets a group keeps in PostgreSQL's consumer_offsets table (in settings.db_schema)."""
    conn = await db.connect(settings)
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            group,
        )
    finally:
        await conn.close()
    return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def behind(ends: Offsets, committed: Offsets, topics: Iterable[str]) -> int:
    """Messages of `topics` written but not yet committed."""
    wanted = set(topics)
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items() if tp.topic in wanted)


@dataclass(frozen=True)
class PipelineGroups:
    """The consumer groups of one router, incident manager (its faust app name) and recorder."""

    router: str
    incidents: str
    recorder: str


async def pipeline_backlog(settings: Settings, groups: PipelineGroups) -> int:
    """Messages of the report, routed and event topics that some stage has not finished with:
    the router's and incident manager's committed offsets, the recorder's in PostgreSQL."""
    prefix = settings.topic_prefix
    reports = await report_topics(settings)
    routed = topic_name(ROUTED_REPORTS, prefix)
    events = topic_name(INCIDENT_EVENTS, prefix)
    ends = await end_offsets(settings, [*reports, routed, events])
    return (
        behind(ends, await kafka_committed(settings, groups.router), reports)
        + behind(ends, await kafka_committed(settings, groups.incidents), [routed])
        + behind(ends, await postgres_committed(settings, groups.recorder), [events])
    )
