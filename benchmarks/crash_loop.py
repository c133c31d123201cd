"""kill -9 of each service, again and again, during a steady stream: nothing lost or doubled.

For each service in turn, `rounds` times: wait a moment, `kill -9` it, start it again at
once (as the supervisor does), and time its recovery: from the kill to the first new output
of the restarted service (router: a routed report; incident manager: a lifecycle event;
recorder: a recorded row). `postgres` in `--services` stops the local PostgreSQL instead,
keeps it down 3 s and starts it again: from its return to the recorder's next row.
`broker` runs the whole loop on the local 3-node cluster (topics at replication factor 3,
min.insync.replicas 2) and kills one broker with kill -9 each round, in turn: from the kill
until every partition of each service's output has new output again (the partitions the
dead broker led wait for their new leaders); then the broker is started again.
Afterwards every report sent must have an outcome, no report may have opened two incidents,
and verify (chains, gaps, decisions) must find nothing.

    .venv/bin/python -m benchmarks.crash_loop [--rounds 20] [--rate 100] [--services ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.bench_end_to_end import SERVICES, Pipeline
from benchmarks.results import Figure, percentiles, table
from infra import stack
from infra.kafka import local as kafka
from infra.postgres import local as postgres
from infra.settings import StackSettings
from schemas.example_reports import encoded, report
from services.auditor.settings import AuditorSettings
from services.auditor.verify import VerifyResult, verify
from services.fuzz.account import Sent
from services.fuzz.hostile import FuzzInput
from services.fuzz.runner import wait_for_outcomes
from services.runtime import db
from services.runtime.errors import StackError
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topics import (
    INCIDENT_EVENTS,
    KEYED_PARTITIONS,
    LINE_FAULT_REPORTS,
    ROUTED_REPORTS,
    topic_name,
)

OUTPUT_TOPIC = {"router": ROUTED_REPORTS, "incidents": INCIDENT_EVENTS}
OPENED_TWICE = """
    SELECT event->'report'->>'report_id' AS id FROM incident_events
    WHERE type = 'incident_opened' GROUP BY 1 HAVING count(*) > 1
"""


def _progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


@dataclass
class CrashLoopResult:
    """Recovery times by service, and what the history says afterwards."""

    recovery_s: dict[str, list[float]] = field(default_factory=dict)
    never_recovered: list[str] = field(default_factory=list)
    sent: int = 0
    lost: int = 0
    opened_twice: list[str] = field(default_factory=list)  # report ids
    verify: VerifyResult | None = None

    @property
    def ok(self) -> bool:
        checks = (self.lost, self.opened_twice, self.never_recovered)
        return not any(checks) and self.verify is not None and self.verify.ok


class Outputs:
    """The Kafka record timestamps seen on one topic from now on, read in the background."""

    def __init__(self, settings: StackSettings, topic: str) -> None:
        self._consumer = make_consumer(settings, group_id=None, auto_offset_reset="latest")
        self._topic = topic
        self.stamps: list[float] = []
        self.partitions_seen: list[tuple[float, int]] = []  # stamp, partition
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe([self._topic])
        await self._consumer.getmany(timeout_ms=1000)  # take the assignment at the end
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                self.stamps.extend(r.timestamp / 1000 for r in records)
                self.partitions_seen.extend((r.timestamp / 1000, r.partition) for r in records)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def first_after(self, moment: float, deadline_s: float) -> float | None:
        """Seconds from `moment` to the first output created after it; None at the deadline."""
        until = time.monotonic() + deadline_s
        while time.monotonic() < until:
            later = [s for s in self.stamps if s > moment]
            if later:
                return min(later) - moment
            await asyncio.sleep(0.05)
        return None

    async def every_partition_after(self, moment: float, deadline_s: float) -> float | None:
        """Seconds from `moment` until every partition had an output created after it."""
        until = time.monotonic() + deadline_s
        while time.monotonic() < until:
            firsts: dict[int, float] = {}
            for stamp, partition in self.partitions_seen:
                if stamp > moment:
                    firsts[partition] = min(stamp, firsts.get(partition, stamp))
            if len(firsts) == KEYED_PARTITIONS:
                return max(firsts.values()) - moment
            await asyncio.sleep(0.05)
        return None


async def _rows_after(settings: StackSettings, moment: float, deadline_s: float, answer):
    """Poll the recorder's rows committed after `moment`, as each log partition's first row
    time, until `answer(firsts)` gives a figure; None at the deadline."""
    conn = await db.connect(settings)
    until = time.monotonic() + deadline_s
    try:
        while time.monotonic() < until:
            rows = await conn.fetch(
                "SELECT source_partition, extract(epoch FROM min(recorded_at)) AS at"
                " FROM incident_events WHERE recorded_at > to_timestamp($1) GROUP BY 1",
                moment,
            )
            figure = answer({r["source_partition"]: float(r["at"]) - moment for r in rows})
            if figure is not None:
                return figure
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return None


async def rows_from_every_partition_after(
    settings: StackSettings, moment: float, deadline_s: float
) -> float | None:
    """Seconds from `moment` until the recorder committed a row from every log partition."""
    return await _rows_after(
        settings, moment, deadline_s,
        lambda firsts: max(firsts.values()) if len(firsts) == KEYED_PARTITIONS else None,
    )  # fmt: skip


async def first_row_after(settings: StackSettings, moment: float, deadline_s: float):
    """Seconds from `moment` to the first row the recorder committed after it."""
    return await _rows_after(
        settings, moment, deadline_s, lambda firsts: min(firsts.values(), default=None)
    )


async def stream(settings: StackSettings, rate: int, stop: asyncio.Event, sent: list[Sent]):
    """Line faults at `rate`/s, keyed by report id (as the README's example does) until stop."""
    topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    producer = make_producer(settings)
    await producer.start()
    pending: list[tuple[FuzzInput, asyncio.Future]] = []
    started, n = time.perf_counter(), 0
    try:
        while not stop.is_set():
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            rid = f"crash-{n}"
            # Mostly new lines; every fifth report repeats a recent line's fault.
            line = f"L-crash-{n - n % 5 if n % 5 == 4 else n}"
            value = encoded(report("line_fault", rid, **{"alarmed_object.id": line}))
            item = FuzzInput("kafka", LINE_FAULT_REPORTS, value, key=rid.encode(), label="steady")
            pending.append((item, await producer.send(topic, value, key=item.key)))
            n += 1
        for item, future in pending:
            meta = await future
            sent.append(Sent(item, (meta.topic, meta.partition, meta.offset)))
    finally:
        await producer.stop()


async def recover(pipeline: Pipeline, name: str, logs, outputs: dict[str, Outputs]):
    """kill -9 one service, start it again, and the seconds until it produced again."""
    process = pipeline.processes[name]
    killed_at = time.time()
    process.send_signal(signal.SIGKILL)
    _progress(f"kill -9 {name} (pid {process.pid}) at {datetime.now(UTC):%H:%M:%S.%f}")
    await process.wait()
    await pipeline.spawn(name, logs)
    if name == "recorder":
        return await first_row_after(pipeline.settings, killed_at, 90)
    return await outputs[name].first_after(killed_at, 90)


async def broker_loss(
    pipeline: Pipeline, cluster: kafka.KafkaDeployment, node: kafka.KafkaNode, outputs
) -> dict[str, float | None]:
    """kill -9 one broker of the cluster; seconds from the kill until each service's output
    is back on every partition. The broker is started again before this returns."""
    pid = node.pid()
    if pid is None:
        raise StackError(f"Kafka node {node.node_id} of the cluster is not running")
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    _progress(f"kill -9 Kafka node {node.node_id} (pid {pid}) at {datetime.now(UTC):%H:%M:%S.%f}")
    router, incidents, recorder = await asyncio.gather(
        outputs["router"].every_partition_after(killed_at, 120),
        outputs["incidents"].every_partition_after(killed_at, 120),
        rows_from_every_partition_after(pipeline.settings, killed_at, 120),
    )
    await kafka.start(cluster, pipeline.settings, _progress)
    return {"router": router, "incidents": incidents, "recorder": recorder}


async def outage(pipeline: Pipeline, down_s: float = 3.0) -> float | None:
    """Stop PostgreSQL mid-stream, keep it down, start it again; seconds from its return to
    the recorder's next committed row."""
    cluster = postgres.existing_cluster(pipeline.settings)
    if cluster is None:
        raise StackError("the crash loop stops and starts the local PostgreSQL: start it first")
    await asyncio.to_thread(postgres.stop, cluster)
    await asyncio.sleep(down_s)
    await postgres.start(cluster, pipeline.settings, _progress)
    return await first_row_after(pipeline.settings, time.time(), 90)


async def crash_loop(
    settings: StackSettings,
    *,
    rounds: int,
    rate: int,
    services: tuple[str, ...],
    seed: int,
    cluster: kafka.KafkaDeployment | None = None,
) -> CrashLoopResult:
    """Run the loop on `settings`' topics and schema (prepared by the caller); `broker` in
    `services` kills brokers of `cluster`, which `settings` must point at."""
    if "broker" in services and cluster is None:
        raise StackError("the broker round kills brokers of the 3-node cluster: pass it")
    rng, result = random.Random(seed), CrashLoopResult()
    tag = settings.db_schema
    pipeline, logs = Pipeline(settings, tag), settings.home / "crash-loop" / tag
    _progress(f"services' logs in {logs}")
    outputs = {name: Outputs(settings, topic_name(t, settings.topic_prefix))
               for name, t in OUTPUT_TOPIC.items()}  # fmt: skip
    for watcher in outputs.values():
        await watcher.start()
    await pipeline.start(logs)
    stop, sent = asyncio.Event(), []
    streaming = asyncio.create_task(stream(settings, rate, stop, sent))
    try:
        await outputs["incidents"].first_after(time.time() - 1, 120)  # everything has joined
        for name in services:
            for round_ in range(1, rounds + 1):
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                if name == "broker":
                    node = cluster.nodes[(round_ - 1) % len(cluster.nodes)]  # type: ignore[union-attr]
                    back = await broker_loss(pipeline, cluster, node, outputs)  # type: ignore[arg-type]
                    times = {f"broker→{service}": took for service, took in back.items()}
                elif name == "postgres":
                    times = {name: await outage(pipeline)}
                else:
                    times = {name: await recover(pipeline, name, logs, outputs)}
                for measured, took in times.items():
                    if took is None:
                        result.never_recovered.append(f"{measured} round {round_}")
                    else:
                        result.recovery_s.setdefault(measured, []).append(took)
                    _progress(f"{measured} kill {round_}: recovered in {took} s")
        stop.set()
        await streaming
        result.sent = len(sent)
        result.lost = len(await wait_for_outcomes(settings, sent, deadline_s=60))
        conn = await db.connect(settings)
        try:
            result.opened_twice = [r["id"] for r in await conn.fetch(OPENED_TWICE)]
        finally:
            await conn.close()
        auditor = AuditorSettings.model_validate(settings.model_dump())
        result.verify = await verify(auditor, now=datetime.now(UTC))
    finally:
        stop.set()
        await pipeline.stop()
        for watcher in outputs.values():
            await watcher.stop()
    return result


def figures(result: CrashLoopResult) -> list[Figure]:
    """Recovery percentiles by service, as the benchmarks' table shows them."""
    rows = []
    for name, times in result.recovery_s.items():
        ms = [1000 * t for t in times]
        spread = percentiles(ms) if len(ms) >= 2 else {"p50_ms": ms[0]}
        if name == "postgres":
            what = "stopped 3 s x{n}: back → first new row"
        elif name.startswith("broker"):
            what = "kill -9 x{n}: kill → all partitions again"
        else:
            what = "kill -9 x{n}: kill → first new output"
        rows.append(Figure(name, what.format(n=len(ms)), **spread))
    return rows


def summary(result: CrashLoopResult) -> str:
    """The verdict in lines: lost, doubled, verify, slowest recovery."""
    slowest = {n: max(t) for n, t in result.recovery_s.items()}
    lines = [
        f"reports sent {result.sent:,}; with no outcome {result.lost:,}; "
        f"opened two incidents {len(result.opened_twice):,} {result.opened_twice[:5]}",
        "slowest recovery: " + ", ".join(f"{n} {s:.1f} s" for n, s in slowest.items()),
    ]
    lines += [f"NEVER RECOVERED: {r}" for r in result.never_recovered]
    if result.verify is not None:
        findings = result.verify.findings
        lines.append(f"verify: {len(findings)} finding(s)")
        lines += [f"  {f}" for f in findings[:20]]
    lines.append("crash loop: nothing lost or doubled" if result.ok else "crash loop: FINDINGS")
    return "\n".join(lines)


async def main(
    rounds: int, rate: int, services: tuple[str, ...], seed: int, keep: bool = False
) -> CrashLoopResult:
    """On a private prefix and schema of the local stack; cleaned up afterwards unless `keep`."""
    base = load_settings(StackSettings)
    await stack.start_components(base, _progress)
    cluster = kafka.three_node_cluster(base) if "broker" in services else None
    started_cluster = cluster is not None and await kafka.start(cluster, base, _progress)
    tag = f"crash{uuid.uuid4().hex[:8]}"
    update: dict = {"topic_prefix": f"{tag}.", "db_schema": tag}
    if cluster is not None:  # everything on the cluster, each topic on all three brokers
        update |= {"kafka_bootstrap": cluster.bootstrap, "topic_replication_factor": 3}
    settings = base.model_copy(update=update)
    await stack.apply_topics(settings, _progress)
    await stack.apply_migrations(settings, _progress)
    try:
        return await crash_loop(
            settings, rounds=rounds, rate=rate, services=services, seed=seed, cluster=cluster
        )
    finally:
        if keep:
            _progress(f"kept: topic prefix {tag}. and schema {tag}")
        else:
            await stack.delete_topics(settings)
            await stack.drop_schema(settings)
        if started_cluster:
            kafka.stop(cluster)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills per service")
    parser.add_argument("--rate", type=int, default=100, help="reports per second meanwhile")
    parser.add_argument(
        "--services",
        default=",".join(SERVICES),
        help="comma-separated, of router, incidents, recorder, postgres and broker "
        "(default: the three services)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the topics and schema")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    services = tuple(args.services.split(","))
    outcome = asyncio.run(main(args.rounds, args.rate, services, seed, args.keep))
    print(table(figures(outcome)))
    print(summary(outcome))
    raise SystemExit(0 if outcome.ok else 1)
