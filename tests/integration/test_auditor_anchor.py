"""Verify anchors PostgreSQL to the log: an event with a sound hash chain but no record behind
it, or one that differs from its record, is found (real broker, real database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin.records_to_delete import RecordsToDelete

from schemas.chain import GENESIS_HASH, canonical_json, chain_hash
from schemas.registry import load_registry
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime import db
from services.runtime.kafka import admin_client
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.audit_history import recorded_scenario

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime.now(UTC) + timedelta(hours=1)
INCIDENTS = 8
COLUMNS = (
    "event_id, incident_key, incident_id, sequence, type, occurred_at, event, source_topic,"
    " source_partition, source_offset, prev_hash, hash"
)


@pytest.fixture
async def recorded(topics, database):
    """Eight incidents routed with the reference rules, published and recorded."""
    return await recorded_scenario(
        topics, INCIDENTS, rules=RULES, registry=REGISTRY, source=str(REFERENCE_RULES)
    )


def auditor(settings) -> AuditorSettings:
    return AuditorSettings.model_validate(settings.model_dump())


async def timelines(conn: asyncpg.Connection) -> list[list[asyncpg.Record]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM incident_events ORDER BY incident_id, sequence")
    by_incident: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_incident.setdefault(r["incident_id"], []).append(r)
    return list(by_incident.values())


async def forge_note(conn: asyncpg.Connection, after: asyncpg.Record, position) -> str:
    """INSERT a note continuing `after`'s chain, hash and head right, claiming `position`."""
    event = json.loads(after["event"]) | {
        "event_id": f"ev-forged-{after['incident_id']}",
        "sequence": after["sequence"] + 1,
        "type": "note_added",
        "text": "Resolved on time, as agreed.",
    }
    canonical = canonical_json(event)
    digest = chain_hash(after["hash"], canonical)
    await conn.execute(
        f"INSERT INTO incident_events ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        event["event_id"],
        after["incident_key"],
        after["incident_id"],
        event["sequence"],
        event["type"],
        after["occurred_at"],
        canonical,
        *position,
        after["hash"],
        digest,
    )
    await conn.execute(
        "UPDATE incidents SET last_sequence = $2, last_hash = $3 WHERE incident_id = $1",
        after["incident_id"],
        event["sequence"],
        digest,
    )
    return event["event_id"]


async def rewrite(conn: asyncpg.Connection, timeline: list[asyncpg.Record], index: int, **change):
    """UPDATE one event's jsonb and rehash the chain from there on, head included."""
    prev = timeline[index - 1]["hash"] if index else GENESIS_HASH
    for number, row in enumerate(timeline[index:]):
        event = json.loads(row["event"]) | (change if number == 0 else {})
        digest = chain_hash(prev, canonical_json(event))
        await conn.execute(
            "UPDATE incident_events SET event = $2::jsonb, prev_hash = $3, hash = $4"
            " WHERE event_id = $1",
            row["event_id"],
            canonical_json(event),
            prev,
            digest,
        )
        prev = digest
    await conn.execute(
        "UPDATE incidents SET last_hash = $2 WHERE incident_id = $1",
        timeline[0]["incident_id"],
        prev,
    )


async def test_a_clean_history_has_every_event_anchored(topics, recorded):
    result = await verify(auditor(topics), now=NOW)

    assert result.findings == []
    assert result.anchored == result.events == len(recorded.events)


async def test_events_inserted_with_the_service_role_and_a_sound_chain_are_found(
    topics, database, recorded
):
    log = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    async with database.acquire() as conn:  # the service role: INSERT, no UPDATE
        first, second, third = (await timelines(conn))[:3]
        end = await conn.fetchval("SELECT max(source_offset) FROM incident_events") + 1
        unlogged = await forge_note(conn, first[-1], (log, first[-1]["source_partition"], end))
        real = (log, third[0]["source_partition"], third[0]["source_offset"])
        misplaced = await forge_note(conn, second[-1], real)

    result = await verify(auditor(topics), now=NOW)

    by_event = {f.event: f for f in result.findings}
    assert set(by_event) == {unlogged, misplaced}, result.findings
    assert {f.check for f in result.findings} == {"anchor"}  # the chains hold
    assert by_event[unlogged].incident == first[0]["incident_id"]
    assert by_event[unlogged].reason.startswith(
        f"not in the log at {log}:{first[-1]['source_partition']}:{end}"
    )
    assert by_event[misplaced].reason.startswith(
        f"differs from the log at {':'.join(map(str, real))}"
    )
    assert result.events == len(recorded.events) + 2
    assert result.anchored == len(recorded.events)


async def test_an_event_updated_in_place_with_its_chain_rehashed_is_found(topics, recorded):
    owner = await db.connect(topics, url=topics.owner_database_url)
    try:
        timeline = (await timelines(owner))[0]
        acknowledged = next(
            i for i, r in enumerate(timeline) if r["type"] == "incident_acknowledged"
        )
        await rewrite(owner, timeline, acknowledged, occurred_at="2007-05-19T22:00:30Z")
    finally:
        await owner.close()
    row = timeline[acknowledged]

    result = await verify(auditor(topics), now=NOW)

    (finding,) = result.findings
    where = f"{row['source_topic']}:{row['source_partition']}:{row['source_offset']}"
    assert (finding.check, finding.incident, finding.event) == (
        "anchor",
        row["incident_id"],
        row["event_id"],
    )
    assert finding.reason == f"differs from the log at {where}: field(s) occurred_at"
    assert result.anchored == result.events - 1


async def test_events_whose_records_the_log_dropped_are_told_apart(topics, database, recorded):
    log = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    async with database.acquire() as conn:
        partition = await conn.fetchval(
            "SELECT source_partition FROM incident_events GROUP BY 1 HAVING count(*) > 2 LIMIT 1"
        )
        dropped = await conn.fetch(
            "SELECT event_id FROM incident_events WHERE source_partition = $1"
            " ORDER BY source_offset LIMIT 2",
            partition,
        )
    async with admin_client(topics) as admin:  # as retention would, or a delete-records
        await admin.delete_records({TopicPartition(log, partition): RecordsToDelete(2)})

    result = await verify(auditor(topics), now=NOW)

    assert {f.event for f in result.findings} == {r["event_id"] for r in dropped}
    assert all(
        f.check == "anchor"
        and f.reason.startswith(f"log no longer holds offset {log}:{partition}:")
        and f.reason.endswith("(it starts at 2); cannot anchor")
        for f in result.findings
    ), result.findings
    assert result.anchored == result.events - 2
