"""Recorder throughput end to end (Kafka -> PostgreSQL), beside a raw asyncpg COPY of its rows.

N lifecycle events (whole incident stories, 7 events each) are published first; the timer
runs from the recorder's start until the last event's row is committed (and, separately,
from its first committed batch, which leaves out joining the group). Then the same
rows, read back, are written by bare COPY into a table shaped like incident_events (same
indexes), in batches of the same size: the floor any recorder pays for the writes alone.

Then a storm: 100,000 events of 500 incidents (each opened, routed, its deadline set, then
linked repeat reports), timed from the moment the recorder is given its partitions to the
last row committed (the issue's target: within 5 s), beside a COPY of its own rows.

    .venv/bin/python -m benchmarks.bench_recorder [--events 50000] [--batch 5000]
        [--storm 100000] [--storm-incidents 500] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from dataclasses import dataclass
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
from tests.support.lifecycle_samples import encoded, incident_story, storm_story

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


@dataclass
class Drained:
    """When a recorder run started, was given its partitions, first committed, and finished."""

    events: int
    started: float
    assigned: float
    first_commit: tuple[float, int]  # when, and how many events it held
    done: float

    def rate_from_start(self) -> float:
        return self.events / (self.done - self.started)

    def rate_after_first_commit(self) -> float:
        when, count = self.first_commit
        return (self.events - count) / (self.done - when)

    def seconds_from_assignment(self) -> float:
        return self.done - self.assigned


async def drain(settings: RecorderSettings, total: int) -> Drained:
    """Run the recorder until `total` events are committed, watching from another connection.

    The watcher reads the group's stored offsets (committed with the rows, in the same
    transaction), not count(*) of the table: a count every 20 ms cost PostgreSQL, on the same
    two cores, a good part of what the recorder measured here.
    """
    stop = asyncio.Event()
    watcher = await db.connect(settings)
    recorder = build(settings)
    started = time.perf_counter()
    task = asyncio.create_task(recorder.run(stop))
    assigned = first = None
    group = settings.recorder_group_id
    try:
        while (
            count := await watcher.fetchval(
                "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets"
                " WHERE consumer_group = $1",
                group,
            )
        ) < total:
            if assigned is None and recorder.consumer.assignment():
                assigned = time.perf_counter()
            if count and first is None:
                first = (time.perf_counter(), count)
            if task.done():
                await task  # it stopped: say why
            await asyncio.sleep(0.02)
        done = time.perf_counter()
    finally:
        stop.set()
        await task
        await watcher.close()
    if first is None or assigned is None:
        raise RuntimeError("every event landed in one batch: use more events or smaller batches")
    return Drained(total, started, assigned, first, done)


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


async def run(base: StackSettings, payloads: list[tuple[bytes, bytes]], batch: int):
    """Publish, record and COPY again, on a private prefix and schema; (produce rate, drained,
    COPY rate)."""
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": f"{tag}.", "db_schema": tag})
    async with admin_client(settings) as admin:
        await apply_catalog(admin=admin, prefix=settings.topic_prefix)
    await stack.apply_migrations(settings, lambda m: print(f"# {m}", file=sys.stderr))
    recorder_settings = RecorderSettings.model_validate(
        settings.model_dump()
        | {"recorder_group_id": f"{tag}-recorder", "recorder_batch_max": batch}
    )
    try:
        produce_rate = await publish(
            settings, topic_name(INCIDENT_EVENTS, settings.topic_prefix), payloads
        )
        drained = await drain(recorder_settings, len(payloads))
        copy_rate = await raw_copy(settings, batch)
    finally:
        await stack.delete_topics(settings)
        await stack.drop_schema(settings)
    return produce_rate, drained, copy_rate


def storm(incidents: int, events: int) -> list[tuple[bytes, bytes]]:
    """A storm's events: each incident opened, routed, its deadline set, then linked reports,
    the incidents mixed as the log mixes them."""
    per_incident = -(-events // incidents)
    stories = [storm_story(n, OPENED, per_incident) for n in range(incidents)]
    mixed = [s[step] for step in range(per_incident) for s in stories if step < len(s)]
    return [encoded(e) for e in mixed[:events]]


async def main(events: int, batch: int, storm_events: int, storm_incidents: int) -> list[Figure]:
    """Measure the recorder on whole incident stories, then on a storm; clean up after each."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    configure_logging(base.model_copy(update={"log_level": "WARNING"}))
    payloads = [encoded(e) for n in range(events // 7) for e in incident_story(n, OPENED)]
    produce_rate, drained, copy_rate = await run(base, payloads, batch)
    size = sum(len(v) for _, v in payloads) / len(payloads)
    print(
        f"# {len(payloads):,} lifecycle events of ~{size:.0f} B ({len(payloads) // 7:,} "
        f"incidents), batches of up to {batch:,}; published at {produce_rate:,.0f}/s"
    )
    storm_payloads = storm(storm_incidents, storm_events)
    storm_produce, storm_drained, storm_copy = await run(base, storm_payloads, batch)
    seconds = storm_drained.seconds_from_assignment()
    print(
        f"# storm: {len(storm_payloads):,} events of {storm_incidents:,} incidents (opened, "
        f"routed, deadline set, then linked repeats) published at {storm_produce:,.0f}/s, "
        f"recorded {seconds:.2f} s after the recorder was given its partitions (target: "
        f"100,000 within 5 s)"
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    copy = {"baseline": "asyncpg COPY of the rows", "baseline_rate": copy_rate}
    storm_copy_figure = {"baseline": "asyncpg COPY of the rows", "baseline_rate": storm_copy}
    return [
        Figure("recorder", f"{len(payloads):,} events, Kafka→PostgreSQL",
               drained.rate_from_start(), "events/s", peak_rss_mib=peak_mib,
               target="≥ 0.5 of COPY", **copy),
        Figure("recorder", "the same, after its first commit", drained.rate_after_first_commit(),
               "events/s", peak_rss_mib=peak_mib, **copy),
        Figure("recorder", f"storm: {len(storm_payloads):,} events in {seconds:.1f} s",
               len(storm_payloads) / seconds, "events/s", peak_rss_mib=peak_mib,
               **storm_copy_figure),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="default 50,000 (quick 3,500)")
    parser.add_argument("--batch", type=int, default=None, help="default 5,000 (quick 500)")
    parser.add_argument("--storm", type=int, default=None, help="default 100,000 (quick 2,000)")
    parser.add_argument("--storm-incidents", type=int, default=None, help="default 500 (quick 50)")
    add_arguments(parser)
    args = parser.parse_args()
    events = args.events or (3_500 if args.quick else 50_000)
    batch = args.batch or (500 if args.quick else 5_000)
    storm_events = args.storm or (2_000 if args.quick else 100_000)
    storm_incidents = args.storm_incidents or (50 if args.quick else 500)
    report(asyncio.run(main(events, batch, storm_events, storm_incidents)), args)
