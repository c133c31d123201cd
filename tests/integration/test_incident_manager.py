"""The incident manager as a real faust worker against the real broker."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import decode, encode
from schemas.commands import AcknowledgeIncident, HoldIncident
from schemas.contracts import TASK
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    ROUTED_REPORTS,
    task_feed,
    topic_name,
)
from tests.support.kafka_io import publish, read_until
from tests.support.routed_reports import events_of, routed
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration


@pytest.fixture
async def manager(topics, test_id, tmp_path, request):
    """`signalpost run incidents` on this test's topics, stopped (SIGTERM) afterwards.

    Indirect parameters are more settings for it, as environment variables.
    """
    log = tmp_path / "incidents.log"
    worker = await start_service(
        "incidents",
        topics,
        log,
        SIGNALPOST_INCIDENTS_APP_ID=f"{test_id}-incidents",
        SIGNALPOST_INCIDENTS_TICK_SECONDS="0.5",
        **getattr(request, "param", {}),
    )
    yield topics, log
    assert worker.returncode is None, f"the worker died:\n{log.read_text()[-3000:]}"
    if worker.returncode is None:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=60)


async def test_report_task_acknowledge_and_escalation(manager, test_id):
    settings, log = manager
    prefix = settings.topic_prefix
    slow = routed("r-slow", "L-SLOW", ack_within=timedelta(seconds=2))
    quick = routed("r-quick", "L-QUICK")
    await publish(
        settings,
        topic_name(ROUTED_REPORTS, prefix),
        [(r.incident_key.encode(), encode(r)) for r in (slow, quick)],
    )
    primary = quick.decision.primary
    feed = topic_name(task_feed(primary), prefix)
    tasks = await read_until(
        settings, feed, lambda r: len(r) >= 2, group=f"{test_id}-feed", deadline_s=120
    )
    quick_task = next(
        t for t in (decode(TASK, r.value) for r in tasks) if t.incident_key == quick.incident_key
    )
    assert quick_task.role == "primary" and quick_task.enterprise == primary

    ack = AcknowledgeIncident(
        command_id=f"{test_id}-ack",
        incident_id=quick_task.incident_id,
        incident_key=quick_task.incident_key,
        issued_by=primary,
        issued_at=datetime.now(UTC),
    )
    await publish(
        settings,
        topic_name(INCIDENT_COMMANDS, prefix),
        [(quick.incident_key.encode(), encode(ack))],
    )

    def seen(records) -> set[tuple[str, str]]:
        return {(e.incident_key, e.type) for e in events_of(records)}

    wanted = {
        (quick.incident_key, "incident_acknowledged"),
        (slow.incident_key, "incident_escalated"),
    }
    records = await read_until(
        settings, topic_name(INCIDENT_EVENTS, prefix), lambda r: wanted <= seen(r),
        group=f"{test_id}-events", deadline_s=60,
    )  # fmt: skip
    events = events_of(records)
    for key in (slow.incident_key, quick.incident_key):
        timeline = [e for e in events if e.incident_key == key]
        assert [e.sequence for e in timeline] == list(range(1, len(timeline) + 1)), log
        assert timeline[0].type == "incident_opened"
    assert len({e.event_id for e in events}) == len(events)
    escalations = [e for e in events if e.type == "incident_escalated"]
    assert [e.incident_key for e in escalations] == [slow.incident_key]  # fired once


async def task_of(settings, routed_report, group: str):
    """The primary's task for the routed report's incident, read from the primary's feed."""
    feed = topic_name(task_feed(routed_report.decision.primary), settings.topic_prefix)

    def found(records):
        return [
            t
            for t in (decode(TASK, r.value) for r in records)
            if t.incident_key == routed_report.incident_key
        ]

    records = await read_until(settings, feed, found, group=group, deadline_s=120)
    return found(records)[0]


@pytest.mark.parametrize(
    "manager", [{"SIGNALPOST_INCIDENTS_RETENTION_SECONDS": "2"}], indirect=True
)
async def test_a_hold_ends_at_its_until_and_an_ended_incident_leaves_the_table(manager, test_id):
    settings, log = manager
    prefix = settings.topic_prefix
    ended = routed("r-ended", "L-ENDED", severity="cleared")  # opened and cancelled at once
    held = routed("r-held", "L-HELD")
    await publish(
        settings,
        topic_name(ROUTED_REPORTS, prefix),
        [(r.incident_key.encode(), encode(r)) for r in (ended, held)],
    )
    task = await task_of(settings, held, f"{test_id}-feed")
    now = datetime.now(UTC)
    common = {
        "incident_id": task.incident_id,
        "incident_key": task.incident_key,
        "issued_by": task.enterprise,
        "issued_at": now,
    }
    commands = [
        AcknowledgeIncident(command_id=f"{test_id}-ack", **common),
        HoldIncident(
            command_id=f"{test_id}-hold",
            reason="Waiting for the bridge to reopen.",
            until=now + timedelta(seconds=2),
            **common,
        ),
    ]
    await publish(
        settings,
        topic_name(INCIDENT_COMMANDS, prefix),
        [(held.incident_key.encode(), encode(c)) for c in commands],
    )

    def timeline(records) -> list[tuple[str, str]]:
        return [
            (e.type, e.actor.kind)
            for e in events_of(records)
            if e.incident_key == held.incident_key
        ]

    records = await read_until(
        settings, topic_name(INCIDENT_EVENTS, prefix),
        lambda rs: timeline(rs)[-2:] == [("work_started", "service"), ("deadline_set", "service")],
        group=f"{test_id}-events", deadline_s=60,
    )  # fmt: skip
    assert [t for t, _ in timeline(records)][-3:] == [
        "incident_held",
        "work_started",
        "deadline_set",
    ], log.read_text()[-3000:]

    # The cancelled incident's key leaves the table: a tombstone on its changelog.
    changelog = f"{settings.topic_prefix}{test_id}-incidents-incident-state-changelog"
    key = ended.incident_key.encode()
    await read_until(
        settings, changelog, lambda rs: any(r.key == key and r.value is None for r in rs),
        group=f"{test_id}-changelog", deadline_s=60,
    )  # fmt: skip
