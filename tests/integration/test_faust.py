"""A faust-streaming agent consuming and producing against the real broker, as a real worker."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from services.runtime.kafka import admin_client, make_consumer, make_producer

pytestmark = pytest.mark.integration
PROBE = Path(__file__).parents[1] / "support" / "faust_probe.py"


async def test_faust_agent_consumes_and_produces(settings, test_id, tmp_path):
    source, sink = f"{test_id}.probe-in", f"{test_id}.probe-out"
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    log = (tmp_path / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        "worker",
        "--loglevel",
        "warn",
        env={
            **os.environ,
            "PROBE_APP_ID": f"{test_id}-probe",
            "PROBE_BOOTSTRAP": settings.kafka_bootstrap,
            "PROBE_IN": source,
            "PROBE_OUT": sink,
        },
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        words = [f"tin-{n}".encode() for n in range(20)]
        producer = make_producer(settings)
        await producer.start()
        try:
            for word in words:
                await producer.send(source, value=word)
            await producer.flush()
        finally:
            await producer.stop()
        received = await _read(settings, sink, f"{test_id}-reader", len(words), deadline_s=90)
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), timeout=30)
        log.close()
    assert received == [w.upper() for w in words], (tmp_path / "worker.log").read_text()[-3000:]


async def _read(settings, topic: str, group: str, count: int, deadline_s: float) -> list[bytes]:
    consumer = make_consumer(settings, topic, group_id=group)
    await consumer.start()
    received: list[bytes] = []
    try:
        async with asyncio.timeout(deadline_s):
            while len(received) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    received.extend(r.value for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return received
