"""Incident manager figures against the real broker, beside a raw aiokafka loop in the same run.

1. Throughput: N routed reports (distinct incidents) are published first, then the faust
   worker drains them; lifecycle events/s from its first event to its last.
2. Latency: routed reports at a steady rate; for each, the time from its publication to
   its primary task on the enterprise's feed (p50/p95/p99).
The raw baseline consumes the same routed reports and produces each once, unchanged.

    .venv/bin/python -m benchmarks.bench_incidents [--reports 3000] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.admin import NewTopic

from benchmarks.bench_router import raw_copy
from infra import stack
from infra.settings import StackSettings
from schemas.codec import decode, encode
from schemas.contracts import TASK
from schemas.registry import load_registry
from schemas.samples import encoded, report
from services.router.intake import process_batch
from services.router.rules import REFERENCE_RULES, load_rule_set
from services.runtime.deadletters import RawMessage
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS, task_feed, topic_name

SIGNALPOST = str(Path(sys.executable).with_name("signalpost"))
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
    env = {
        "SIGNALPOST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALPOST_INCIDENTS_APP_ID": app_id,
        "PATH": "/usr/bin:/bin",
    }
    return await asyncio.create_subprocess_exec(
        SIGNALPOST, "run", "incidents", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


async def throughput(settings, reports: int) -> tuple[float, int, float]:
    """(lifecycle events/s, events, worker peak RSS MiB) for `reports` new incidents."""
    batch = routed_reports(reports, "t")
    producer = make_producer(settings)
    await producer.start()
    sends = [
        await producer.send(topic_name(ROUTED_REPORTS, settings.topic_prefix), encode(r),
                            key=r.incident_key.encode())
        for r in batch
    ]  # fmt: skip
    await asyncio.gather(*sends)
    await producer.stop()
    worker = await start_worker(settings, "bench-incidents")
    try:
        # Every new incident yields opened, routed and two deadlines at least.
        events = await count_until(
            settings, topic_name(INCIDENT_EVENTS, settings.topic_prefix), 4 * reports, 600
        )
        stamps = sorted(r.timestamp for r in events)
        rate = len(events) / max((stamps[-1] - stamps[0]) / 1000, 1e-3)
        return rate, len(events), peak_rss_mib(worker.pid)
    finally:
        worker.terminate()
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


async def main(reports: int, rate: int, seconds: int) -> None:
    """Run and print every measurement on a private prefix of the local stack."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await stack.apply_topics(settings, lambda m: None)
    lat_settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await stack.apply_topics(lat_settings, lambda m: None)
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(f"{settings.topic_prefix}raw-sink", 6, 1)])

    events_rate, events, rss = await throughput(settings, reports)
    source = topic_name(ROUTED_REPORTS, settings.topic_prefix)
    raw_rate = await raw_copy(settings, source, f"{settings.topic_prefix}raw-sink", reports)
    latencies = await latency(lat_settings, rate, seconds)
    q = statistics.quantiles(latencies, n=100)
    print(f"incident manager: {reports:,} new incidents; latency at {rate}/s for {seconds} s")
    print(f"{'measure':<46}{'value':>12}")
    print(f"{'lifecycle events written':<46}{events:>12,}")
    print(f"{'lifecycle events/s (faust worker)':<46}{events_rate:>12,.0f}")
    print(f"{'routed reports/s (faust worker)':<46}{events_rate * reports / events:>12,.0f}")
    print(f"{'raw aiokafka consume->produce, msgs/s':<46}{raw_rate:>12,.0f}")
    print(
        f"{'worker reports/s ÷ raw msgs/s':<46}{events_rate * reports / events / raw_rate:>12.3f}"
    )
    print(f"{'report -> primary task latency p50, ms':<46}{q[49]:>12.1f}")
    print(f"{'report -> primary task latency p95, ms':<46}{q[94]:>12.1f}")
    print(f"{'report -> primary task latency p99, ms':<46}{q[98]:>12.1f}")
    print(f"{'tasks measured':<46}{len(latencies):>12,}")
    print(f"{'worker peak RSS, MiB':<46}{rss:>12,.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.reports, args.rate, args.seconds))
