"""Replay: the log of a time range rebuilt into an isolated schema by the recorder's own code.

Each batch read from Kafka goes through the recorder's decoding, chaining and projection
(`rows.sort_out`, `store.record`) into the replay schema, with the replay's position saved in
the same transaction, so a stopped replay resumes where it stopped. An incident opened
before the range is continued from its live rows before the range (`replay_seeded`), whose
hash chain `verify` checks on its own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import asyncpg

from services.auditor import replay_schema
from services.auditor.access import AuditSetupError, connect, open_audit
from services.auditor.checks import Finding
from services.auditor.compare import Difference, compare
from services.auditor.progress import Progress
from services.auditor.rebuild import project
from services.auditor.replay_schema import REPLAY_GROUP, ReplayRun
from services.auditor.settings import AuditorSettings
from services.auditor.verify import unaccounted_reports
from services.recorder import (
    COLUMNS,
    CONTRACT_OF_TOPIC,
    UPSERT_INCIDENTS,
    Batch,
    BatchCollection,
    RecordCounts,
    decode_polled,
    read_offsets,
    record,
)
from services.runtime import logrange
from services.runtime.logrange import Span
from services.runtime.topics import topic_name


@dataclass
class ReplayResult:
    """What a replay read and recorded, and every difference from the live tables."""

    schema: str
    messages: int = 0
    resumed_from: int = 0
    outcome: RecordCounts = field(default_factory=RecordCounts)
    seeded: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)
    reports: int = 0
    reports_in_flight: int = 0
    unaccounted: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Replay equals live, and every report of the range has an outcome."""
        return not self.differences and not self.unaccounted


async def replay(
    settings: AuditorSettings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    into: str | None = None,
    restart: bool = False,
    progress_out: TextIO | None = None,
    now: datetime | None = None,
) -> ReplayResult:
    """Replay [since, until) of the log into schema `into`, then compare it with the live one.

    The report topics' messages of the same range are matched with their outcomes (a report
    younger than the grace period at `now` is in flight, not lost).
    """
    schema = into or settings.auditor_replay_schema
    if schema == settings.db_schema:
        raise AuditSetupError(f"replay into {schema!r} would overwrite the live schema")
    live = await open_audit(settings)
    target = await connect(settings, schema=schema, writable=True)
    try:
        if restart:
            await replay_schema.drop(target, schema=schema)
        await replay_schema.prepare(target, schema=schema)
        result = await _replay(settings, live, target, schema, since, until, progress_out)
        result.differences = await compare(
            live, live_schema=settings.db_schema, replay_schema=schema
        )
        result.unaccounted, result.reports_in_flight, result.reports = await unaccounted_reports(
            live, settings, now=now or datetime.now(UTC), since=since, until=until
        )
        return result
    finally:
        await target.close()
        await live.close()


async def _replay(
    settings: AuditorSettings,
    live: asyncpg.Connection,
    target: asyncpg.Connection,
    schema: str,
    since: datetime | None,
    until: datetime | None,
    progress_out: TextIO | None,
) -> ReplayResult:
    catalog_names = {topic_name(n, settings.topic_prefix): n for n in CONTRACT_OF_TOPIC}
    consumer = logrange.reader(settings, batch_max=settings.auditor_batch_max)
    await consumer.start()
    try:
        spans = await _spans_of_run(target, consumer, settings, schema, catalog_names, since, until)
        stored = await read_offsets(
            conn=target, group=REPLAY_GROUP, partitions=[(s.topic, s.partition) for s in spans]
        )
        todo = [
            Span(s.topic, s.partition, max(s.first, stored.get((s.topic, s.partition), 0)), s.end)
            for s in spans
        ]
        total = sum(s.size for s in spans)
        result = ReplayResult(schema, resumed_from=total - sum(s.size for s in todo))
        bar = Progress("replay", total, already=result.resumed_from, out=progress_out)
        started = time.monotonic()
        writing: asyncio.Task[RecordCounts] | None = None
        try:
            with BatchCollection() as collection:  # as in the recorder: by the batch
                async for polled in logrange.read(consumer, todo):
                    # As in the recorder: the next batch is decoded while the last is written.
                    batch = await decode_polled(polled, catalog_names)
                    if writing is not None:
                        result.outcome += await writing
                        collection.tick()
                    writing = asyncio.create_task(_write(live, target, batch, polled, result))
                    count = sum(len(rs) for rs in polled.values())
                    result.messages += count
                    bar.advance(count)
                if writing is not None:
                    result.outcome += await writing
        finally:
            # Stopped (Ctrl-C): the batch being written commits with its position or not at all.
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
        bar.finish()
        await replay_schema.mark_finished(target)
        result.seconds = time.monotonic() - started
        return result
    finally:
        await consumer.stop()


async def _write(live, target, batch: Batch, polled, result: ReplayResult) -> RecordCounts:
    """Seed what the batch continues, then record it with its position, as the recorder does."""
    result.seeded += await seed(live=live, target=target, batch=batch)
    next_offsets = {(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in polled.items()}
    return await record(conn=target, group=REPLAY_GROUP, batch=batch, next_offsets=next_offsets)


async def _spans_of_run(target, consumer, settings, schema, catalog_names, since, until):
    """The spans this schema's run covers: stored at its start, or found now for a new run."""
    run, spans = await replay_schema.load_run(target)
    if run is None:
        spans = await logrange.spans(consumer, catalog_names, since=since, until=until)
        run = ReplayRun(settings.db_schema, since, until, None)
        await replay_schema.save_run(target, run=run, spans=spans)
        return spans
    if (run.live_schema, run.since, run.until) != (settings.db_schema, since, until):
        raise AuditSetupError(
            f"schema {schema} holds a replay of {run.live_schema} from {run.since or 'the start'}"
            f" to {run.until or 'the end'}; resume it with the same --from/--to, start over"
            " with --restart, or choose another --into"
        )
    return spans


async def seed(*, live: asyncpg.Connection, target: asyncpg.Connection, batch: Batch) -> int:
    """Give incidents first met mid-timeline their state before the range; how many were seeded."""
    first: dict[str, int] = {}
    for item in batch.events:
        first.setdefault(item.model.incident_id, item.model.sequence)
    later = {i: s for i, s in first.items() if s > 1}
    if not later:
        return 0
    known = await target.fetch(
        "SELECT incident_id FROM incidents WHERE incident_id = ANY($1::text[])", list(later)
    )
    for row in known:
        del later[row["incident_id"]]
    if not later:
        return 0
    rows = await live.fetch(
        """
        SELECT e.incident_id, e.event, e.hash FROM incident_events e
        JOIN unnest($1::text[], $2::integer[]) AS f(incident_id, sequence)
          ON e.incident_id = f.incident_id AND e.sequence < f.sequence
        ORDER BY e.incident_id, e.sequence
        """,
        list(later),
        list(later.values()),
    )
    states = project(rows)
    async with target.transaction():
        await target.execute(
            UPSERT_INCIDENTS, *([getattr(s, c) for s in states.values()] for c in COLUMNS)
        )
        await target.executemany(
            "INSERT INTO replay_seeded VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(i, s.last_sequence) for i, s in states.items()],
        )
    return len(states)
