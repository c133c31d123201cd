"""Incident manager figures against the real broker, beside a raw aiokafka loop in the same run.

1. Throughput: N routed reports (distinct incidents) are published first, then the faust
   worker drains them; lifecycle events/s from its first event to its last.
   Then the same with two instances in one consumer group, sharing the partitions.
2. Latency: routed reports at a steady rate; for each, the time from its publication to
   its primary task on the enterprise's feed (p50/p95/p99).
The raw baseline consumes the same routed reports and produces each once, unchanged.

    .venv/bin/python -m benchmarks.bench_incidents [--reports 3000] [--rate 200] [--seconds 20]
        [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime

from aiokafka.admin import NewTopic

from benchmarks.bench_router import raw_copy
from benchmarks.results import Figure, add_arguments, percentiles
from benchmarks.results import report as report_figures
from infra import stack
from infra.settings import StackSettings
from infra.spawn import peak_rss_mib, spawn_service
from schemas.codec import decode, encode
from schemas.contracts import TASK
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set, process_batch
from services.runtime.deadletters import RawMessage
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS, task_feed, topic_name

REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)


def routed_reports(count: int, tag: str) -> list:
    """Routed reports for `count` distinct lines, as the router makes them."""
    messages = [
        RawMessage("reports.line-fault", 0, n, 1179640000000, None,
                   encoded(report("line_fault", f"{tag}{n}", **{"alarmed_object.id": f"{tag}{n}"})))
        for n in range(count)
    ]  # fmt: skip
    return process_batch(messages, rules=RULES, registry=REGISTRY, now=datetime.now(UTC)).routed


async def start_worker(settings: StackSettings, app_id: str) -> asyncio.subprocess.Process:
    """`signalpost run incidents` on the benchmark's prefix, quietly."""
    return await spawn_service(
        "incidents", settings, SIGNALPOST_INCIDENTS_APP_ID=app_id, SIGNALPOST_LOG_LEVEL="WARNING"
    )


async def count_until(settings, topic: str, total: int, deadline_s: float) -> list:
    """Records of `topic` from the start until there are `total` of them."""
    consumer = make_consumer(settings, topic, group_id=f"bench-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(deadline_s):
            while len(records) < total:
                for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def publish_routed(settings, batch: list) -> None:
    """Produce routed reports, keyed by incident key as the router does, and wait for acks."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = topic_name(ROUTED_REPORTS, settings.topic_prefix)
        sends = [await producer.send(topic, encode(r), key=r.incident_key.encode()) for r in batch]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def throughput(settings, reports: int, workers: int = 1) -> tuple[float, int, float]:
    """(lifecycle events/s, events, peak RSS MiB of the largest worker) for `reports` new
    incidents, decided by `workers` instances sharing the partitions (one consumer group).

    The workers first decide a warm-up and settle into their group, so that the figure is
    of deciding, not of joining and rebalancing.
    """
    events_topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    warm_up, batch = routed_reports(60, "w"), routed_reports(reports, "t")
    started = [await start_worker(settings, "bench-incidents") for _ in range(workers)]
    try:
        await publish_routed(settings, warm_up)
        # Every new incident yields opened, routed and two deadlines at least.
        await count_until(settings, events_topic, 4 * len(warm_up), 600)
        await asyncio.sleep(5)  # the group's last rebalance, if a worker joined late
        await publish_routed(settings, batch)
        keys = {r.incident_key.encode() for r in batch}
        everything = await count_until(settings, events_topic, 4 * (len(warm_up) + reports), 600)
        events = [r for r in everything if r.key in keys]
        stamps = sorted(r.timestamp for r in events)
        rate = len(events) / max((stamps[-1] - stamps[0]) / 1000, 1e-3)
        return rate, len(events), max(peak_rss_mib(w.pid) for w in started)
    finally:
        for worker in started:
            worker.terminate()
        for worker in started:
            await worker.wait()


async def latency(settings, rate: int, seconds: int) -> list[float]:
    """Publication-to-task latencies (ms) at a steady `rate` of new incidents per second."""
    prefix = settings.topic_prefix
    worker = await start_worker(settings, "bench-latency")
    warm_up, *batch = routed_reports(rate * seconds + 1, "l")
    feed = topic_name(task_feed(batch[0].decision.primary), prefix)
    producer = make_producer(settings, linger_ms=0)
    await producer.start()
    try:
        # The clock starts once the worker has joined its group and handled a first report.
        await producer.send_and_wait(
            topic_name(ROUTED_REPORTS, prefix), encode(warm_up), key=warm_up.incident_key.encode()
        )
        await count_until(settings, topic_name(task_feed(warm_up.decision.primary), prefix), 1, 300)
        sent_at: dict[str, float] = {}
        started = time.perf_counter()
        for n, r in enumerate(batch):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            sent_at[r.incident_key] = time.time()
            await producer.send(
                topic_name(ROUTED_REPORTS, prefix), encode(r), key=r.incident_key.encode()
            )
        await producer.flush()
        primaries = [r for r in batch if r.decision.primary == batch[0].decision.primary]
        tasks = await count_until(settings, feed, len(primaries) + 1, 300)
    finally:
        await producer.stop()
        worker.terminate()
        await worker.wait()
    first_seen: dict[str, float] = {}
    for record in tasks:
        task = decode(TASK, record.value)
        if task.role == "primary":
            first_seen.setdefault(task.incident_key, record.timestamp / 1000)
    return [1000 * (first_seen[k] - sent_at[k]) for k in first_seen if k in sent_at]


async def main(reports: int, rate: int, seconds: int) -> list[Figure]:
    """Run every measurement on a private prefix of the local stack."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await stack.apply_topics(settings, lambda m: None)
    lat_settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await stack.apply_topics(lat_settings, lambda m: None)
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(f"{settings.topic_prefix}raw-sink", 6, 1)])

    pair_settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await stack.apply_topics(pair_settings, lambda m: None)
    try:
        events_rate, events, rss = await throughput(settings, reports)
        pair_rate, pair_events, pair_rss = await throughput(pair_settings, reports, workers=2)
        source = topic_name(ROUTED_REPORTS, settings.topic_prefix)
        raw_rate = await raw_copy(settings, source, f"{settings.topic_prefix}raw-sink", reports)
        latencies = await latency(lat_settings, rate, seconds)
    finally:
        # A broker that keeps every run's partitions slows down (and runs out of files).
        for scratch in (settings, lat_settings, pair_settings):
            await stack.delete_topics(scratch)
    reports_rate = events_rate * reports / events
    print(f"# {reports:,} new incidents: {events:,} lifecycle events at {events_rate:,.0f}/s; "
          f"latency at {rate}/s for {seconds} s over {len(latencies):,} tasks")  # fmt: skip
    raw = {"baseline": "aiokafka consume→produce", "baseline_rate": raw_rate}
    return [
        Figure("incident manager", f"{reports:,} routed reports (new incidents)", reports_rate,
               "reports/s", peak_rss_mib=rss, target="≥ 0.3 of raw", **raw),
        Figure("incident manager", "the same, 2 instances in one group",
               pair_rate * reports / pair_events, "reports/s", peak_rss_mib=pair_rss, **raw),
        Figure("incident manager", f"steady {rate}/s: routed report → task", rate, "reports/s",
               target="p99 ≤ 100 ms", **percentiles(latencies)),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=None, help="default 3,000 (quick 500)")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=None, help="default 20 (quick 3)")
    add_arguments(parser)
    args = parser.parse_args()
    reports = args.reports or (500 if args.quick else 3_000)
    seconds = args.seconds or (3 if args.quick else 20)
    report_figures(asyncio.run(main(reports, args.rate, seconds)), args)
