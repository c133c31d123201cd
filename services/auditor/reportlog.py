"""What verify reads from the log itself: every report ever written, every rule set activated,
the records that the recorded events say they came from, and the incident manager's inputs."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.contracts import RULESET_ACTIVATED
from services.recorder import Decoded, decode_message
from services.runtime import logrange
from services.runtime.deadletters import RawMessage
from services.runtime.settings import Settings
from services.runtime.topic_admin import report_topics
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    ROUTED_REPORTS,
    RULESET_ACTIVATIONS,
    topic_name,
)


@dataclass(frozen=True, slots=True)
class ReportSeen:
    """One message on a report topic; reported_by and report_id are None if unreadable."""

    topic: str
    partition: int
    offset: int
    appended_at: datetime
    reported_by: str | None
    report_id: str | None

    @property
    def position(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


def identity(value: bytes | None) -> tuple[str | None, str | None]:
    """(reported_by, report_id) of a message, as far as it can be read."""
    try:
        body = json.loads(value or b"")
    except (ValueError, RecursionError):  # hostile nesting must not end verify
        return None, None
    if not isinstance(body, dict):
        return None, None
    by, rid = body.get("reported_by"), body.get("report_id")
    return (by if isinstance(by, str) else None), (rid if isinstance(rid, str) else None)


async def read_rule_texts(settings: Settings) -> list[str]:
    """The rule files' texts that activations on rulesets.activations carry, in log order."""
    consumer = logrange.reader(settings)
    await consumer.start()
    try:
        spans = await logrange.spans(
            consumer, [topic_name(RULESET_ACTIVATIONS, settings.topic_prefix)]
        )
        texts = []
        async for polled in logrange.read(consumer, spans):
            for records in polled.values():
                for record in records:
                    item = decode_message(RULESET_ACTIVATED, record)
                    if isinstance(item, Decoded) and item.model.rules_text:
                        texts.append(item.model.rules_text)
        return texts
    finally:
        await consumer.stop()


async def read_reports(
    settings: Settings,
    *,
    batch_max: int = 5000,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ReportSeen]:
    """Every message of the three report topics appended in [since, until) (default: all)."""
    consumer = logrange.reader(settings, batch_max=batch_max)
    await consumer.start()
    try:
        topics = await report_topics(settings)
        spans = await logrange.spans(consumer, topics, since=since, until=until)
        seen = []
        async for polled in logrange.read(consumer, spans):
            for records in polled.values():
                for r in records:
                    by, rid = identity(r.value)
                    at = datetime.fromtimestamp(r.timestamp / 1000, tz=UTC)
                    seen.append(ReportSeen(r.topic, r.partition, r.offset, at, by, rid))
        return seen
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class Input:
    """One message of reports.routed or incidents.commands (`source`: its catalog name)."""

    source: str
    message: RawMessage

    @property
    def where(self) -> str:
        return f"{self.message.topic}:{self.message.partition}:{self.message.offset}"

    @property
    def now(self) -> datetime:
        # The agent decides an input at its Kafka timestamp (handler.handle).
        return datetime.fromtimestamp(self.message.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class LogView:
    """What the log holds at the positions asked for: each partition's [first, end) offsets
    still held, and the value and key of every record found at a position asked for."""

    topic: str
    bounds: Mapping[int, tuple[int, int]]
    values: Mapping[tuple[int, int], bytes | None]
    keys: Mapping[tuple[int, int], bytes | None] = field(default_factory=dict)


async def read_positions(
    settings: Settings, positions: Iterable[tuple[str, int, int]], *, batch_max: int = 5000
) -> LogView:
    """The records at the (topic, partition, offset) `positions` that are in incidents.events.

    One consumer reads each partition once, from the lowest offset asked to the highest
    (within what the log still holds): records in between are read and dropped, which is
    far cheaper than a seek and a fetch per event.
    """
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    wanted: dict[int, set[int]] = defaultdict(set)
    for at_topic, partition, offset in positions:
        if at_topic == topic:
            wanted[partition].add(offset)
    if not wanted:
        return LogView(topic, {}, {}, {})
    consumer = logrange.reader(settings, batch_max=batch_max)
    await consumer.start()
    try:
        held = {s.partition: (s.first, s.end) for s in await logrange.spans(consumer, [topic])}
        ranges = [
            logrange.Span(
                topic, p, max(held[p][0], min(offsets)), min(held[p][1], max(offsets) + 1)
            )
            for p, offsets in wanted.items()
            if p in held
        ]
        values, keys = {}, {}
        async for polled in logrange.read(consumer, ranges):
            for records in polled.values():
                for r in records:
                    if r.offset in wanted[r.partition]:
                        values[(r.partition, r.offset)] = r.value
                        keys[(r.partition, r.offset)] = r.key
        return LogView(topic, held, values, keys)
    finally:
        await consumer.stop()


async def read_inputs(settings: Settings, *, batch_max: int = 5000) -> list[Input]:
    """Every message of reports.routed and incidents.commands, in offset order per partition.

    Ticks are not read: a tick carries only its time, which the events it causes record, and
    its topic keeps a day.
    """
    source_of = {
        topic_name(t, settings.topic_prefix): t for t in (ROUTED_REPORTS, INCIDENT_COMMANDS)
    }
    consumer = logrange.reader(settings, batch_max=batch_max)
    await consumer.start()
    try:
        spans = await logrange.spans(consumer, list(source_of))
        found = []
        async for polled in logrange.read(consumer, spans):
            for records in polled.values():
                found += [
                    Input(
                        source_of[r.topic],
                        RawMessage(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value),
                    )
                    for r in records
                ]
        return found
    finally:
        await consumer.stop()
