"""A gateway over two recorded incidents, VNPT's inc-1 and Viettel's inc-2, each with its
task on its enterprise's feed, as the incident manager writes them; for the access tests.

The recorder runs for real so the timeline endpoint reads recorded rows. No incident manager
runs: an allowed command is sent and answered 202 (pending), the access decision made before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.runtime.settings import Settings
from services.runtime.topics import INCIDENT_EVENTS, task_feed, topic_name
from tests.support.gateway_stack import RunningGateway, start_gateway, stop_gateway
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.polling import eventually
from tests.support.service_process import start_service

VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
OPENED = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
INCIDENTS = {"inc-1": VNPT, "inc-2": VIETTEL}
# A valid body for each dispatcher action.
ACTION_BODIES = {
    "acknowledge": {},
    "start": {"note": "on the way"},
    "hold": {"reason": "waiting for the power company"},
    "resolve": {"resolution": "spliced"},
    "reject": {"reason": "not our line"},
    "notes": {"text": "called the committee"},
    "reassign": {"to_enterprise": VIETTEL, "reason": "their cable"},
}


def as_enterprise(events: list[dict[str, Any]], enterprise: str) -> list[dict[str, Any]]:
    """The sample events with `enterprise` wherever they name VNPT."""
    moved: list[dict[str, Any]] = json.loads(json.dumps(events).replace(VNPT, enterprise))
    return moved


def story_for(number: int, enterprise: str) -> list[dict[str, Any]]:
    """Opened, routed, deadline set: an incident whose only task is `enterprise`'s."""
    return as_enterprise(incident_story(number, OPENED, steps=3), enterprise)


@asynccontextmanager
async def seeded_gateway(
    settings: Settings, database: asyncpg.Pool, logs: Path, **variables: str
) -> AsyncIterator[RunningGateway]:
    """Recorder and gateway (with `variables`) running, both incidents recorded."""
    recorder = await start_service(
        "recorder",
        settings,
        logs / "recorder.log",
        SIGNALPOST_RECORDER_GROUP_ID=f"{settings.db_schema}-rec",
    )
    gateway = await start_gateway(settings, logs / "gateway.log", **variables)
    try:
        prefix = settings.topic_prefix
        for incident, enterprise in INCIDENTS.items():
            events = story_for(int(incident.removeprefix("inc-")), enterprise)
            await publish(
                settings, topic_name(INCIDENT_EVENTS, prefix), [encoded(e) for e in events]
            )
            task = events[1]["tasks"][0]
            await publish(
                settings,
                topic_name(task_feed(enterprise), prefix),
                [(task["incident_key"].encode(), json.dumps(task).encode())],
            )

        async def all_recorded() -> bool:
            return await database.fetchval("SELECT count(*) FROM incidents") == len(INCIDENTS)

        await eventually(all_recorded, deadline_s=60, interval_s=0.2)
        yield gateway
    finally:
        await stop_gateway(gateway)
        recorder.terminate()
        await recorder.wait()
