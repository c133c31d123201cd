"""A report in at the front door; a task out to the dispatcher; the timeline in PostgreSQL.

Router, incident manager and recorder run as an operator runs them (`signalpost run`),
against the real Kafka and PostgreSQL, on this test's own topics and schema.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from schemas.codec import decode, encode
from schemas.commands import AcknowledgeIncident
from schemas.contracts import TASK
from schemas.example_reports import EXAMPLES
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    LINE_FAULT_REPORTS,
    task_feed,
    topic_name,
)
from tests.support.kafka_io import publish, read_until
from tests.support.polling import eventually
from tests.support.service_process import SIGNALPOST

pytestmark = pytest.mark.e2e
HOTLINE = EXAMPLES / "report.line-fault-election-hotline.json"


async def wait_for_rows(pool, query: str, *args, want, deadline_s: float = 90):
    """Poll PostgreSQL until `want(rows)` holds, with a deadline."""

    async def wanted_rows():
        rows = await pool.fetch(query, *args)
        return (rows,) if want(rows) else None

    (rows,) = await eventually(wanted_rows, deadline_s=deadline_s, interval_s=0.3, what=query)
    return rows


async def test_a_report_becomes_a_task_and_a_recorded_timeline(running_system, test_id):
    settings, pool, env = running_system
    prefix = settings.topic_prefix
    report = json.loads(HOTLINE.read_text())
    await publish(settings, topic_name(LINE_FAULT_REPORTS, prefix), [(None, HOTLINE.read_bytes())])

    # The line's owner (VNPT, per the registry) gets the task on its own feed.
    feed = topic_name(task_feed(report["operator"]), prefix)
    records = await read_until(settings, feed, lambda r: len(r) >= 1, group=f"{test_id}-feed",
                               deadline_s=120)  # fmt: skip
    task = decode(TASK, records[0].value)
    assert (task.role, task.enterprise, task.district) == (
        "primary",
        "vnpt-quang-nam",
        "tien-phuoc",
    )

    # The dispatcher acknowledges; the whole story lands in PostgreSQL, in order.
    ack = AcknowledgeIncident(
        command_id=f"{test_id}-ack",
        incident_id=task.incident_id,
        incident_key=task.incident_key,
        issued_by=task.enterprise,
        issued_at=datetime.now(UTC),
        dispatcher="Trực ban Tiên Phước",
    )
    await publish(
        settings,
        topic_name(INCIDENT_COMMANDS, prefix),
        [(task.incident_key.encode(), encode(ack))],
    )
    rows = await wait_for_rows(
        pool,
        "SELECT sequence, type FROM incident_events WHERE incident_id = $1 ORDER BY sequence",
        task.incident_id,
        want=lambda rows: "incident_acknowledged" in {r["type"] for r in rows},
    )
    types = [r["type"] for r in rows]
    assert types[:2] == ["incident_opened", "incident_routed"]
    assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1))
    status = await pool.fetchval(
        "SELECT status FROM incidents WHERE incident_id = $1", task.incident_id
    )
    assert status == "acknowledged"

    # The auditor's view of the same timeline, through the CLI, hash chain intact.
    timeline = await asyncio.create_subprocess_exec(
        SIGNALPOST, "timeline", task.incident_id, "--json", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await timeline.communicate()
    assert timeline.returncode == 0, err.decode()
    assert [e["type"] for e in json.loads(out)["events"]][: len(types)] == types
