"""Kafka records, decoded events and batches for the recorder's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from schemas.contracts import INCIDENT_EVENT
from services.recorder.rows import Batch, Decoded, decode_message, sort_out
from services.runtime.topics import INCIDENT_EVENTS
from tests.support.lifecycle_samples import encoded, incident_story

OPENED = datetime(2007, 5, 20, 0, 0, tzinfo=UTC)


def record(
    value: bytes | None, offset: int = 0, topic: str = "incidents.events", partition: int = 0
) -> ConsumerRecord:
    """A record as aiokafka hands it over."""
    return ConsumerRecord(topic, partition, offset, 0, 0, None, value, None, 0, 0, ())


def batch_of(
    values: list[bytes], *, partition: int = 0, first_offset: int = 0
) -> tuple[Batch, dict[tuple[str, int], int]]:
    """Message values at consecutive offsets of one partition of the log, sorted out as the
    recorder does, and the partition's next offset after them (what store.record takes)."""
    records = [
        record(value, first_offset + n, INCIDENT_EVENTS, partition)
        for n, value in enumerate(values)
    ]
    return sort_out(records, {INCIDENT_EVENTS: INCIDENT_EVENTS}), {
        (INCIDENT_EVENTS, partition): first_offset + len(values)
    }


def values_of(events: list[dict[str, Any]]) -> list[bytes]:
    """Lifecycle events as the incident manager publishes them."""
    return [encoded(e)[1] for e in events]


def decoded(events: list[dict[str, Any]], first_offset: int = 0) -> list[Decoded]:
    """Events as the recorder decodes them, at consecutive offsets."""
    items = [
        decode_message(INCIDENT_EVENT, record(json.dumps(e).encode(), first_offset + n))
        for n, e in enumerate(events)
    ]
    assert all(isinstance(i, Decoded) for i in items), items
    return items


def story(number: int = 1, **options: Any) -> list[dict[str, Any]]:
    """One incident's events, opened at OPENED."""
    return incident_story(number, OPENED, **options)
