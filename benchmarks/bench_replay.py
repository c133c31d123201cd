"""Replay throughput (Kafka -> replay schema through the recorder's code), beside a raw consume.

A history of N incidents (about ten lifecycle events each, made by the real routing engine
and incident state machine) is published and recorded into a private live schema. Then, in
the same run: a plain aiokafka consumer reads the same events (assigned partitions, no group)
as the floor any replay pays for reading alone; and `replay` rebuilds them into a replay
schema, timed apart from its comparison with live; and `verify` checks the whole history.

    .venv/bin/python -m benchmarks.bench_replay [--incidents 3000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta

from infra import stack
from infra.settings import StackSettings
from schemas.registry import load_registry
from services.auditor import access, logrange
from services.auditor.replay import replay
from services.auditor.samples import START, activation, publish_history, record_all, scenario
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.router.rules import REFERENCE_RULES, load_rule_set
from services.runtime import db
from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings
from services.runtime.topics import INCIDENT_EVENTS, topic_name


async def raw_consume(settings: StackSettings, batch: int) -> tuple[int, float]:
    """Read every event of the topic with a bare assigned consumer; (messages, messages/s)."""
    consumer = logrange.reader(settings, batch_max=batch)
    await consumer.start()
    try:
        started = time.perf_counter()
        spans = await logrange.spans(consumer, [topic_name(INCIDENT_EVENTS, settings.topic_prefix)])
        count = 0
        async for polled in logrange.read(consumer, spans):
            count += sum(len(records) for records in polled.values())
        return count, count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def main(incidents: int, batch: int) -> None:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    base = load_settings(StackSettings)
    settings = base.model_copy(update={"topic_prefix": f"{tag}.", "db_schema": tag})
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    await stack.apply_topics(settings, lambda _: None)
    await stack.apply_migrations(settings, lambda _: None)
    registry = load_registry()
    rules = load_rule_set(REFERENCE_RULES, registry)
    made = time.perf_counter()
    history = scenario(incidents, rules=rules, registry=registry, tag=tag)
    print(f"history: {incidents:,} incidents, {len(history.events):,} events "
          f"(made in {time.perf_counter() - made:.1f} s)")  # fmt: skip
    start = activation(rules, registry, START - timedelta(hours=1), str(REFERENCE_RULES))
    total = await publish_history(settings, [history], [start])
    await record_all(settings, events=total, rule_sets=1, deadline_s=1800)
    auditor = AuditorSettings.model_validate(
        settings.model_dump()
        | {"auditor_replay_schema": f"{tag}_replay", "auditor_batch_max": batch}
    )
    try:
        raw_count, raw_rate = await raw_consume(settings, batch)
        started = time.perf_counter()
        result = await replay(auditor, progress_out=io.StringIO())
        whole = time.perf_counter() - started
        rate = result.messages / result.seconds
        print(
            f"raw aiokafka consume (assigned, no group): {raw_count:,} events, "
            f"{raw_rate:,.0f} events/s"
        )
        print(f"replay (decode, chain, project, write, position): {result.messages:,} messages "
              f"in {result.seconds:.2f} s = {rate:,.0f} messages/s")  # fmt: skip
        print(f"replay / raw consume: {rate / raw_rate:.2f}")
        print(f"comparison with live: {whole - result.seconds:.2f} s, "
              f"{len(result.differences)} difference(s)")  # fmt: skip
        started = time.perf_counter()
        checked = await verify(auditor, now=datetime.now(UTC))
        print(
            f"verify: {checked.events:,} events, {checked.reports:,} reports, "
            f"{checked.decisions:,} decisions in {time.perf_counter() - started:.2f} s, "
            f"{len(checked.findings)} finding(s)"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the benchmark process: {peak:.0f} MiB")
    finally:
        await _drop(settings, auditor)


async def _drop(settings: StackSettings, auditor: AuditorSettings) -> None:
    conn = await access.connect(auditor, writable=True)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{auditor.auditor_replay_schema}" CASCADE')
    finally:
        await conn.close()
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        await owner.execute(f'DROP SCHEMA "{settings.db_schema}" CASCADE')
    finally:
        await owner.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.batch))
