"""Recorder throughput end to end (Kafka -> PostgreSQL), beside a raw asyncpg COPY of its rows.

N lifecycle events (whole incident stories, 7 events each) are published first; the timer
runs from the recorder's start until the last event's row is committed (and, separately,
from its first committed batch, which leaves out joining the group). Then the same
rows, read back, are written by bare COPY into a table shaped like incident_events (same
indexes), in batches of the same size: the floor any recorder pays for the writes alone.

    .venv/bin/python -m benchmarks.bench_recorder [--events 50000] [--batch 5000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from datetime import UTC, datetime

from benchmarks.results import Figure, add_arguments, report
from infra import stack
from infra.settings import StackSettings
from services.recorder.rows import EVENT_COLUMNS
from services.recorder.service import build
from services.recorder.settings import RecorderSettings
from services.runtime import db
from services.runtime.kafka import admin_client, make_producer
from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings
from services.runtime.topic_admin import apply_catalog
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.lifecycle_samples import encoded, incident_story

OPENED = datetime(2007, 5, 20, 0, 0, tzinfo=UTC)


async def publish(settings: StackSettings, topic: str, events: list[tuple[bytes, bytes]]) -> float:
    """Produce every (key, value); messages per second."""
    producer = make_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        sends = [await producer.send(topic, value, key=key) for key, value in events]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return len(events) / (time.perf_counter() - started)


async def drain(settings: RecorderSettings, total: int) -> tuple[float, float]:
    """Run the recorder until `total` rows are committed; (events/s from its start, from its first
    committed batch), watching the table from another connection."""
    stop = asyncio.Event()
    watcher = await db.connect(settings)
    started = time.perf_counter()
    task = asyncio.create_task(build(settings).run(stop))
    first = None
    try:
        while (count := await watcher.fetchval("SELECT count(*) FROM incident_events")) < total:
            if count and first is None:
                first = (time.perf_counter(), count)
            await asyncio.sleep(0.02)
        done = time.perf_counter()
    finally:
        stop.set()
        await task
        await watcher.close()
    if first is None:
        raise RuntimeError("every event landed in one batch: use more events or smaller batches")
    return total / (done - started), (total - first[1]) / (done - first[0])


async def raw_copy(settings: StackSettings, batch: int) -> float:
    """COPY the recorded rows again into a same-shaped table, `batch` rows per COPY; rows/s."""
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        await conn.execute("CREATE TABLE raw_copy (LIKE incident_events INCLUDING ALL)")
        columns = ", ".join(EVENT_COLUMNS)
        rows = [
            tuple(r)
            for r in await conn.fetch(
                f"SELECT {columns} FROM incident_events ORDER BY source_offset"
            )
        ]
        started = time.perf_counter()
        for at in range(0, len(rows), batch):
            await conn.copy_records_to_table(
                "raw_copy", records=rows[at : at + batch], columns=EVENT_COLUMNS
            )
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def main(events: int, batch: int) -> list[Figure]:
    """Set up a private prefix and schema on the local stack, measure, clean up."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    configure_logging(base.model_copy(update={"log_level": "WARNING"}))
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": f"{tag}.", "db_schema": tag})
    async with admin_client(settings) as admin:
        await apply_catalog(admin=admin, prefix=settings.topic_prefix)
    await stack.apply_migrations(settings, lambda m: print(f"# {m}", file=sys.stderr))
    stories = [e for n in range(events // 7) for e in incident_story(n, OPENED)]
    payloads = [encoded(e) for e in stories]
    size = sum(len(v) for _, v in payloads) / len(payloads)
    recorder_settings = RecorderSettings.model_validate(
        settings.model_dump()
        | {"recorder_group_id": f"{tag}-recorder", "recorder_batch_max": batch}
    )
    try:
        produce_rate = await publish(
            settings, topic_name(INCIDENT_EVENTS, settings.topic_prefix), payloads
        )
        recorder_rate, steady_rate = await drain(recorder_settings, len(payloads))
        copy_rate = await raw_copy(settings, batch)
    finally:
        await stack.delete_topics(settings)
        await stack.drop_schema(settings)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# {len(payloads):,} lifecycle events of ~{size:.0f} B ({len(payloads) // 7:,} "
        f"incidents), batches of up to {batch:,}; published at {produce_rate:,.0f}/s"
    )
    copy = {"baseline": "asyncpg COPY of the rows", "baseline_rate": copy_rate}
    return [
        Figure("recorder", f"{len(payloads):,} events, Kafka→PostgreSQL", recorder_rate,
               "events/s", peak_rss_mib=peak_mib, **copy),
        Figure("recorder", "the same, after its first commit", steady_rate, "events/s",
               peak_rss_mib=peak_mib, **copy),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="default 50,000 (quick 3,500)")
    parser.add_argument("--batch", type=int, default=None, help="default 5,000 (quick 500)")
    add_arguments(parser)
    args = parser.parse_args()
    events = args.events or (3_500 if args.quick else 50_000)
    batch = args.batch or (500 if args.quick else 5_000)
    report(asyncio.run(main(events, batch)), args)
