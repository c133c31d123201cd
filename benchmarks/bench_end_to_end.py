"""The whole pipeline end to end: router, incident manager and recorder as `signalpost run`.

1. Steady: new line faults at a steady rate (200/s); for each, report → first task on an
   enterprise's feed (the task record's timestamp) and report → its incident's first row in
   PostgreSQL (the recorder's transaction time), p50/p95/p99.
2. Storm over Kafka: 100,000 line faults over 500 lines published at once; the ingest
   rate, the time from the first report until the last of the 500 lines' first tasks is on
   an enterprise's feed, until PostgreSQL counts all 100,000 reports against their
   incidents, and until every service has caught up with the log (router and incident
   manager: committed offsets; recorder: its offsets in PostgreSQL).
3. Storm over HTTP: the same storm posted to a gateway in NDJSON batches of 500 by 4
   concurrent clients (as Alertmanager's comparison was run), timed the same way.
The raw baseline is an aiokafka consume→produce loop over the storm's messages, in the
same run; each service's peak memory is read from /proc.

    .venv/bin/python -m benchmarks.bench_end_to_end [--rate 200] [--seconds 20] [--storm 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import NewTopic

from benchmarks.bench_gateway import (
    VNPT,
    gateway_url,
    post_storm,
    wait_healthy,
)
from benchmarks.bench_gateway import storm as gateway_storm
from benchmarks.bench_router import line_faults, publish, raw_copy
from benchmarks.results import Figure, add_arguments, percentiles, report
from infra import stack
from infra.settings import StackSettings
from infra.spawn import peak_rss_mib, spawn_service, static_membership
from schemas.codec import decode
from schemas.contracts import REPORT, TASK
from schemas.example_reports import encoded
from schemas.example_reports import report as sample_report
from services.gateway import Role, create_token
from services.incidents.settings import IncidentSettings
from services.router import incident_key
from services.runtime import db, lag
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topics import (
    LINE_FAULT_REPORTS,
    TASK_FEED_PREFIX,
    topic_name,
)

SERVICES = ("router", "incidents", "recorder")
SETTLE_S = 10.0  # after the warm-up report, before the steady clock starts
# The services' own logs are kept quiet in a benchmark; SIGNALPOST_BENCH_LOG_LEVEL=INFO
# shows what a service did, and when (its recovery phases, in a crash loop).
SERVICE_LOG_LEVEL = os.environ.get("SIGNALPOST_BENCH_LOG_LEVEL", "WARNING")


def _progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


class Pipeline:
    """The three services on a private prefix and schema, with their group names."""

    def __init__(self, settings: StackSettings, tag: str) -> None:
        self.settings = settings
        self.groups = {
            "router": f"{tag}-router",
            "incidents": f"{tag}-incidents",
            "recorder": f"{tag}-recorder",
        }
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, logs: Path) -> None:
        """Start every service; each one's output goes to `logs`/NAME.log."""
        logs.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before the clock runs
        for name in SERVICES:
            await self.spawn(name, logs)

    async def spawn(self, name: str, logs: Path) -> asyncio.subprocess.Process:
        """Start (or start again) one service, appending to its log."""
        variables = {
            "router": {"SIGNALPOST_ROUTER_GROUP_ID": self.groups["router"]},
            "incidents": {"SIGNALPOST_INCIDENTS_APP_ID": self.groups["incidents"]},
            "recorder": {"SIGNALPOST_RECORDER_GROUP_ID": self.groups["recorder"]},
        }
        with (logs / f"{name}.log").open("ab") as log:
            self.processes[name] = await spawn_service(
                name,
                self.settings,
                log,
                SIGNALPOST_LOG_LEVEL=SERVICE_LOG_LEVEL,
                **static_membership(name),  # as `signalpost up` runs them
                **variables[name],
            )
        return self.processes[name]

    def peak_memory(self) -> dict[str, float]:
        """Each running service's peak resident memory, MiB."""
        return {name: peak_rss_mib(p.pid) for name, p in self.processes.items()}

    async def stop(self) -> None:
        """SIGTERM every service and wait for it."""
        for process in self.processes.values():
            if process.returncode is None:
                process.terminate()
        await asyncio.gather(*(p.wait() for p in self.processes.values()))

    async def backlog(self) -> int:
        """Messages some service has not yet finished with, summed over the services."""
        incidents = IncidentSettings.model_validate(
            self.settings.model_dump() | {"incidents_app_id": self.groups["incidents"]}
        )
        groups = lag.PipelineGroups(
            router=self.groups["router"],
            incidents=incidents.app_name,
            recorder=self.groups["recorder"],
        )
        return await lag.pipeline_backlog(self.settings, groups)


async def first_tasks(settings: StackSettings, keys: set[str], deadline_s: float) -> dict:
    """incident key → timestamp (s) of its first task on any enterprise's feed."""
    pattern = f"^{topic_name(TASK_FEED_PREFIX, settings.topic_prefix)}.*".replace(".", r"\.")
    consumer = make_consumer(settings, group_id=f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe(pattern=pattern)
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        async with asyncio.timeout(deadline_s):
            while not keys <= seen.keys():
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    for record in batch:
                        task = decode(TASK, record.value)
                        seen.setdefault(task.incident_key, record.timestamp / 1000)
    finally:
        await consumer.stop()
    return seen


async def until_found(settings: StackSettings, probe, deadline_s: float, every_s: float):
    """Ask PostgreSQL `probe(conn)` every `every_s` until it answers something but None."""
    conn = await db.connect(settings)
    try:
        async with asyncio.timeout(deadline_s):
            while (found := await probe(conn)) is None:  # noqa: ASYNC110 - polled from PostgreSQL
                await asyncio.sleep(every_s)
            return found
    finally:
        await conn.close()


async def first_rows(settings: StackSettings, keys: set[str], deadline_s: float) -> dict:
    """incident key → time (s) its first event was recorded in PostgreSQL."""

    async def probe(conn):
        rows = await conn.fetch(
            "SELECT incident_key, extract(epoch FROM min(recorded_at)) AS at"
            " FROM incident_events WHERE incident_key = ANY($1) GROUP BY incident_key",
            list(keys),
        )
        return {r["incident_key"]: float(r["at"]) for r in rows} if len(rows) == len(keys) else None

    return await until_found(settings, probe, deadline_s, every_s=0.5)


async def steady(settings: StackSettings, rate: int, seconds: int) -> tuple[list, list, float]:
    """(report→task ms, report→recorded ms, achieved rate) for new line faults at `rate`/s."""
    payloads = [
        encoded(sample_report("line_fault", f"steady-{n}", **{"alarmed_object.id": f"L-st-{n}"}))
        for n in range(rate * seconds + 1)
    ]
    keyed = [(incident_key(decode(REPORT, p)), p) for p in payloads]
    (warm_up_key, warm_up), *timed = keyed
    topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    producer = make_producer(settings, linger_ms=0)
    await producer.start()
    try:
        # The clock starts once every service has joined and handled a first report.
        await producer.send_and_wait(topic, warm_up)
        await first_rows(settings, {warm_up_key}, 300)
        # Just started, the services are still busy starting (faust's recovery, the first
        # commits) after that report: measured at once, start-up was a second of the p50.
        await asyncio.sleep(SETTLE_S)
        sent_at: dict[str, float] = {}
        started = time.perf_counter()
        for n, (key, payload) in enumerate(timed):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            sent_at[key] = time.time()
            await producer.send(topic, payload)
        await producer.flush()
        achieved = len(timed) / (time.perf_counter() - started)
    finally:
        await producer.stop()
    tasks = await first_tasks(settings, set(sent_at), 300)
    rows = await first_rows(settings, set(sent_at), 300)
    to_task = [1000 * (tasks[k] - t) for k, t in sent_at.items()]
    to_row = [1000 * (rows[k] - t) for k, t in sent_at.items()]
    return to_task, to_row, achieved


async def reports_recorded(settings: StackSettings, keys: set[str], total: int, deadline_s: float):
    """When (s) the incidents of `keys` in PostgreSQL count `total` reports between them."""

    async def probe(conn):
        counted = await conn.fetchval(
            "SELECT coalesce(sum(report_count), 0) FROM incidents WHERE incident_key = ANY($1)",
            list(keys),
        )
        return time.time() if counted >= total else None

    return await until_found(settings, probe, deadline_s, every_s=0.1)


async def caught_up(pipeline: Pipeline) -> None:
    """Until no service lags behind the log."""
    async with asyncio.timeout(900):
        while await pipeline.backlog():  # noqa: ASYNC110 - the lag is polled from the brokers
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class StormTimes:
    """One storm's times, each from its first publication, in seconds."""

    ingest_s: float  # until every report was durably accepted
    first_tasks_s: float  # until the last of its lines' first tasks was on a feed
    recorded_s: float  # until PostgreSQL counted every report against its incident
    caught_up_s: float  # until no service lagged behind the log


Publisher = Callable[[list[bytes]], Awaitable[None]]


async def storm(pipeline: Pipeline, payloads: list[bytes], publish_all: Publisher) -> StormTimes:
    """A storm published by `publish_all`, timed to its first tasks, its rows, the end."""
    settings = pipeline.settings
    await caught_up(pipeline)  # a storm meets a pipeline with nothing left to do
    keys = {incident_key(decode(REPORT, p)) for p in payloads}
    tasks = asyncio.create_task(first_tasks(settings, keys, 900))
    recorded = asyncio.create_task(reports_recorded(settings, keys, len(payloads), 900))
    await asyncio.sleep(1.0)  # the watchers have joined before the clock starts
    began, started = time.time(), time.perf_counter()
    await publish_all(payloads)
    ingest_s = time.perf_counter() - started
    first = await tasks
    recorded_at = await recorded
    await caught_up(pipeline)
    return StormTimes(
        ingest_s=ingest_s,
        first_tasks_s=max(first.values()) - began,
        recorded_s=recorded_at - began,
        caught_up_s=time.perf_counter() - started,
    )


async def gateway_publisher(
    settings: StackSettings, logs: Path
) -> tuple[Publisher, asyncio.subprocess.Process]:
    """A gateway on the pipeline's prefix and schema, and a publisher that posts a storm to
    it as Alertmanager's posters would: NDJSON batches of 500 from 4 concurrent clients."""
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        token = await create_token(conn=conn, enterprise=VNPT, role=Role.PUBLISHER)
    finally:
        await conn.close()
    port, url = gateway_url()
    log = logs / "gateway.log"
    with log.open("ab") as out:
        gateway = await spawn_service(
            "gateway",
            settings,
            out,
            SIGNALPOST_LOG_LEVEL=SERVICE_LOG_LEVEL,
            SIGNALPOST_GATEWAY_PORT=port,
        )
    await wait_healthy(url, gateway, log)

    async def publish_all(payloads: list[bytes]) -> None:
        await post_storm(url, token.secret, payloads, log)

    return publish_all, gateway


def storm_figures(how: str, count: int, times: StormTimes, raw: dict) -> list[Figure]:
    """A storm's figures: ingest, first tasks, recorded, caught up; the targets of issue 16."""
    name = f"storm over {how}"
    lines = f"{count:,} reports, 500 lines"
    return [
        Figure(name, f"{lines}: ingest", count / times.ingest_s, "reports/s",
               target="≥ 50,000/s" if how == "HTTP" else None),
        Figure(name, "first report → last of 500 first tasks", times.first_tasks_s, "s",
               target="≤ 1.0 s"),
        Figure(name, "first report → all recorded", times.recorded_s, "s", target="≤ 5 s"),
        Figure(name, f"{count:,} reports: all caught up", count / times.caught_up_s,
               "reports/s", target="≥ 0.5 of raw", **raw),
    ]  # fmt: skip


async def main(rate: int, seconds: int, storm_size: int) -> list[Figure]:
    """Run the pipeline on a private prefix and schema; measure; clean up."""
    base = load_settings(StackSettings)
    await stack.start_components(base, _progress)
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": f"{tag}.", "db_schema": tag})
    await stack.apply_topics(settings, _progress)
    await stack.apply_migrations(settings, _progress)
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(f"{tag}.raw-sink", 6, 1)])
    pipeline = Pipeline(settings, tag)
    logs = settings.home / "bench" / tag
    _progress(f"services' logs in {logs}")
    await pipeline.start(logs)
    try:
        to_task, to_row, achieved = await steady(settings, rate, seconds)
        topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)

        async def over_kafka(payloads: list[bytes]) -> None:
            await publish(settings, topic, payloads)

        kafka_storm = await storm(pipeline, line_faults(storm_size, 500, "storm"), over_kafka)
        over_http, gateway = await gateway_publisher(settings, logs)
        try:
            payloads = [json.dumps(r).encode() for r in gateway_storm("http", storm_size)]
            http_storm = await storm(pipeline, payloads, over_http)
            gateway_mib = peak_rss_mib(gateway.pid)
        finally:
            gateway.terminate()
            await gateway.wait()
        memory = pipeline.peak_memory() | {"gateway": gateway_mib}
    finally:
        await pipeline.stop()
    source = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    # Everything on the topic (warm-up, steady and both storms) goes through the raw loop.
    total = rate * seconds + 1 + 2 * storm_size
    raw_rate = await raw_copy(settings, source, f"{tag}.raw-sink", total)
    await stack.delete_topics(settings)
    await stack.drop_schema(settings)
    raw = {"baseline": "aiokafka consume→produce", "baseline_rate": raw_rate}
    return [
        Figure("end to end", f"steady {rate}/s: report → task", achieved, "reports/s",
               target="p99 ≤ 100 ms", **percentiles(to_task)),
        Figure("end to end", f"steady {rate}/s: report → recorded", achieved, "reports/s",
               **percentiles(to_row)),
        *storm_figures("Kafka", storm_size, kafka_storm, raw),
        *storm_figures("HTTP", storm_size, http_storm, raw),
        *(Figure(name, "peak memory in the end-to-end run", peak_rss_mib=mib)
          for name, mib in memory.items()),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="steady reports per second")
    parser.add_argument("--seconds", type=int, default=None, help="default 20 (quick 3)")
    parser.add_argument("--storm", type=int, default=None, help="default 100,000 (quick 3,000)")
    add_arguments(parser)
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.quick else 20)
    storm_size = args.storm or (3_000 if args.quick else 100_000)
    report(asyncio.run(main(args.rate, seconds, storm_size)), args)
