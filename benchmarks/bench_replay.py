"""Replay throughput (Kafka -> replay schema through the recorder's code), beside a raw consume.

A history of N incidents (about eight lifecycle events each, made by the real routing engine
and incident state machine) is published and recorded into a private live schema. Then, in
the same run: a plain aiokafka consumer reads the same events (assigned partitions, no group),
the floor any replay pays for reading alone; `replay` rebuilds them into a replay schema,
timed apart from its comparison with live; and `verify` checks the whole history.

    .venv/bin/python -m benchmarks.bench_replay [--incidents 3000] [--batch 5000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from benchmarks.results import Figure, add_arguments, report
from infra import stack
from infra.settings import StackSettings
from schemas.registry import load_registry
from services.auditor import access
from services.auditor.replay import replay
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime import logrange
from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.audit_history import START, activation, publish_history, record_all, scenario


def note(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


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


async def main(incidents: int, batch: int) -> list[Figure]:
    """Set up a private prefix and schemas on the local stack, measure, clean up."""
    base = load_settings(StackSettings)
    await stack.start_components(base, note)
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": f"{tag}.", "db_schema": tag})
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    await stack.apply_topics(settings, note)
    await stack.apply_migrations(settings, note)
    registry = load_registry()
    rules = load_rule_set(REFERENCE_RULES, registry)
    history = scenario(incidents, rules=rules, registry=registry, tag=tag)
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
        compared = time.perf_counter() - started - result.seconds
        started = time.perf_counter()
        checked = await verify(auditor, now=datetime.now(UTC))
        verified = time.perf_counter() - started
    finally:
        await _drop(settings, auditor)
    note(
        f"{incidents:,} incidents, {raw_count:,} events; replay {result.messages:,} messages "
        f"in {result.seconds:.2f} s, compared with live in {compared:.2f} s "
        f"({len(result.differences)} differences); verify {checked.events:,} events, "
        f"{checked.reports:,} reports, {checked.decisions:,} decisions in {verified:.2f} s "
        f"({len(checked.findings)} findings)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw = {"baseline": "aiokafka consume, no group", "baseline_rate": raw_rate}
    return [
        Figure("auditor", f"replay {result.messages:,} msgs into a schema",
               result.messages / result.seconds, "msgs/s", peak_rss_mib=peak, **raw),
        Figure("auditor", "replay incl. comparison with live",
               result.messages / (result.seconds + compared), "msgs/s", peak_rss_mib=peak, **raw),
        Figure("auditor", f"verify {checked.events:,} events, {checked.reports:,} reports",
               checked.events / verified, "events/s", peak_rss_mib=peak),
    ]  # fmt: skip


async def _drop(settings: StackSettings, auditor: AuditorSettings) -> None:
    conn = await access.connect(auditor, writable=True)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{auditor.auditor_replay_schema}" CASCADE')
    finally:
        await conn.close()
    await stack.delete_topics(settings)
    await stack.drop_schema(settings)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=None, help="default 3,000 (quick 300)")
    parser.add_argument("--batch", type=int, default=None, help="default 5,000 (quick 500)")
    add_arguments(parser)
    args = parser.parse_args()
    incidents = args.incidents or (300 if args.quick else 3_000)
    batch = args.batch or (500 if args.quick else 5_000)
    report(asyncio.run(main(incidents, batch)), args)
