"""Kafka records and decoded events for the recorder's unit tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from schemas.contracts import INCIDENT_EVENT
from services.recorder.rows import Decoded, decode_message
from tests.support.lifecycle_samples import incident_story

OPENED = datetime(2007, 5, 20, 0, 0, tzinfo=UTC)


def record(value: bytes | None, offset: int = 0, topic: str = "incidents.events") -> ConsumerRecord:
    """A record as aiokafka hands it over."""
    return ConsumerRecord(topic, 0, offset, 0, 0, None, value, None, 0, 0, ())


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
