"""kill -9 of the router mid-stream loses no report: the restarted one picks up uncommitted work."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from schemas.codec import decode
from schemas.contracts import ROUTED_REPORT
from schemas.example_reports import encoded, report
from services.runtime.topics import LINE_FAULT_REPORTS, ROUTED_REPORTS, topic_name
from tests.support.kafka_io import publish, read_until
from tests.support.service_process import start_service

pytestmark = pytest.mark.integration


async def start_router(settings, group: str, log: Path) -> asyncio.subprocess.Process:
    """`signalpost run router` as an operator starts it, on this test's topics."""
    return await start_service(
        "router", settings, log, SIGNALPOST_ROUTER_GROUP_ID=group, SIGNALPOST_ROUTER_BATCH_MAX="200"
    )


def accounted(records) -> list[str]:
    ids = []
    for record in records:
        routed = decode(ROUTED_REPORT, record.value)
        ids += [routed.report.report_id, *(ref.report_id for ref in routed.collapsed)]
    return ids


async def test_no_report_is_lost_across_a_kill_9(topics, test_id, tmp_path):
    prefix, group, log = topics.topic_prefix, f"{test_id}-router", tmp_path / "router.log"
    sent = [
        report("line_fault", f"crash-{n}", **{"alarmed_object.id": f"L-{n % 700}"})
        for n in range(6000)
    ]
    await publish(
        topics, topic_name(LINE_FAULT_REPORTS, prefix), [(None, encoded(p)) for p in sent]
    )
    routed_topic = topic_name(ROUTED_REPORTS, prefix)

    first = await start_router(topics, group, log)
    # Kill it once it has visibly done part of the work, with more still to do.
    await read_until(topics, routed_topic, lambda r: len(r) >= 300, group=f"{test_id}-peek")
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    second = await start_router(topics, group, log)
    try:
        records = await read_until(
            topics, routed_topic, lambda r: len(set(accounted(r))) >= len(sent),
            group=f"{test_id}-check", deadline_s=120,
        )  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), timeout=30)
    ids = accounted(records)
    assert set(ids) == {p["report_id"] for p in sent}, log.read_text()[-2000:]
    # Redelivery may repeat reports, never invent them; and SIGTERM is a clean stop.
    assert len(ids) >= len(sent)
    assert code == 0, log.read_text()[-2000:]
