"""Router throughput against the real broker, beside a raw aiokafka consume->produce loop.

Both drain the same messages from the same topic in the same run, with the same batch
size; the raw loop only copies bytes, the router validates, collapses, routes, groups and
encodes. First every report on a line of its own; then a storm, many reports over 500
lines, drained with the router's grouping window (SIGNALPOST_ROUTER_GROUP_INTERVAL_MS):
how fast it is taken in (read, decided, and what it became acknowledged), and how many
routed messages it became once the last windows have ended.

    .venv/bin/python -m benchmarks.bench_router [--reports 50000] [--storm 100000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from dataclasses import dataclass

from aiokafka.admin import NewTopic

from benchmarks.results import Figure, add_arguments
from benchmarks.results import report as report_figures
from infra import stack
from infra.settings import StackSettings
from schemas.example_reports import encoded, report
from services.router import RouterSettings
from services.router.service import build
from services.runtime.collector import tune_for_batches
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topic_admin import apply_catalog
from services.runtime.topics import LINE_FAULT_REPORTS, topic_name

BATCH = 2000


def line_faults(count: int, lines: int, tag: str) -> list[bytes]:
    """`count` line-fault reports spread over `lines` distinct lines."""
    return [
        encoded(report("line_fault", f"{tag}-{n}", **{"alarmed_object.id": f"L-{tag}-{n % lines}"}))
        for n in range(count)
    ]


async def publish(settings: StackSettings, topic: str, values: list[bytes]) -> float:
    """Produce every value; messages per second."""
    producer = make_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        sends = [await producer.send(topic, value) for value in values]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return len(values) / (time.perf_counter() - started)


async def raw_copy(settings: StackSettings, source: str, sink: str, total: int) -> float:
    """The baseline: consume a batch, produce it unchanged, wait for acks, commit."""
    consumer = make_consumer(settings, source, group_id=f"raw-{uuid.uuid4().hex[:8]}")
    producer = make_producer(settings)
    await consumer.start()
    await producer.start()
    done, started = 0, time.perf_counter()
    try:
        while done < total:
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            sends = [
                await producer.send(sink, r.value, key=r.key) for rs in batch.values() for r in rs
            ]
            await asyncio.gather(*sends)
            if batch:
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items()})
            done += len(sends)
    finally:
        await consumer.stop()
        await producer.stop()
    return total / (time.perf_counter() - started)


@dataclass
class Drained:
    """How a router drained a topic."""

    rate: float  # messages/s until all were read and what they became acknowledged
    released_s: float  # seconds until the windows had released every report held
    routed: int  # routed messages


async def drain_with_router(settings: RouterSettings, total: int) -> Drained:
    """Run the router step by step until it has handled `total` messages."""
    router = build(settings)
    await router.producer.start()
    await router.consumer.start()
    handled = routed = 0
    started = time.perf_counter()
    try:
        while handled + router.grouping.held < total:
            outcome = await router.step()
            handled, routed = handled + outcome.messages, routed + len(outcome.routed)
        await router.drain()
        rate = total / (time.perf_counter() - started)
        while handled < total:  # the windows still open release the rest as they end
            outcome = await router.step()
            handled, routed = handled + outcome.messages, routed + len(outcome.routed)
        await router.drain()
        return Drained(rate, time.perf_counter() - started, routed)
    finally:
        await router.consumer.stop()
        await router.producer.stop()


async def main(reports: int, storm: int) -> list[Figure]:
    """Set up a private prefix on the local stack, then run every measurement."""
    tune_for_batches()  # both loops run under the collector settings the router's run() uses
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    settings = base.model_copy(update={"topic_prefix": prefix})
    async with admin_client(settings) as admin:
        await apply_catalog(admin=admin, prefix=prefix)
        await admin.create_topics([NewTopic(f"{prefix}raw-sink", 6, 1)])
    source = topic_name(LINE_FAULT_REPORTS, prefix)
    router_settings = RouterSettings.model_validate(
        settings.model_dump() | {"router_group_id": f"{prefix}router", "router_batch_max": BATCH}
    )

    produce_rate = await publish(settings, source, line_faults(reports, reports, "tp"))
    raw_rate = await raw_copy(settings, source, f"{prefix}raw-sink", reports)
    distinct = await drain_with_router(router_settings, reports)

    storm_source = f"{prefix}storm."
    storm_settings = router_settings.model_copy(
        update={"topic_prefix": storm_source, "router_group_id": f"{storm_source}router"}
    )
    async with admin_client(settings) as admin:
        await apply_catalog(admin=admin, prefix=storm_source)
        await admin.create_topics([NewTopic(f"{storm_source}raw-sink", 6, 1)])
    storm_topic = topic_name(LINE_FAULT_REPORTS, storm_source)
    await publish(settings, storm_topic, line_faults(storm, 500, "st"))
    storm_raw = await raw_copy(settings, storm_topic, f"{storm_source}raw-sink", storm)
    drained = await drain_with_router(storm_settings, storm)
    # The storm's prefix is under the first: one deletion ends both corners.
    await stack.delete_topics(settings)

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = len(encoded(report("line_fault", "x")))
    window = storm_settings.router_group_interval_ms
    print(f"# {reports:,} line faults of ~{size} B, batches of {BATCH}, published at "
          f"{produce_rate:,.0f}/s; {distinct.routed:,} routed; storm: {drained.routed:,} "
          f"routed messages, all released {drained.released_s:.1f} s after the start "
          f"(window {window} ms)")  # fmt: skip
    raw = {"baseline": "aiokafka consume→produce"}
    return [
        Figure("router", f"{reports:,} line faults, distinct lines", distinct.rate,
               "reports/s", peak_rss_mib=peak_mib, baseline_rate=raw_rate, target="≥ 0.5 of raw",
               **raw),
        Figure("router", f"storm: {storm:,} reports, 500 lines", drained.rate, "reports/s",
               peak_rss_mib=peak_mib, baseline_rate=storm_raw, target="≥ 0.5 of raw", **raw),
        Figure("router", f"storm → {drained.routed:,} routed ({window / 1000:g} s window)",
               storm / drained.released_s, "reports/s", peak_rss_mib=peak_mib),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=None, help="default 50,000 (quick 2,000)")
    parser.add_argument("--storm", type=int, default=None, help="default 100,000 (quick 5,000)")
    add_arguments(parser)
    args = parser.parse_args()
    reports = args.reports or (2_000 if args.quick else 50_000)
    storm = args.storm or (5_000 if args.quick else 100_000)
    report_figures(asyncio.run(main(reports, storm)), args)
