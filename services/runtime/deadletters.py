"""Messages set aside for good: the same dead-letter record from every stage that reads Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.deadletter import DeadLetter, OriginalBytes, SourcePosition
from schemas.errors import ContractError


@dataclass(frozen=True)
class RawMessage:
    """A Kafka record as read: where it was, and its bytes exactly."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def dead_letter(
    message: RawMessage, error: ContractError, *, stage: str, now: datetime
) -> DeadLetter:
    """The message kept exactly, with where it was read and every problem found."""
    return DeadLetter(
        source=SourcePosition(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC),
        ),
        key=None if message.key is None else OriginalBytes.from_bytes(message.key),
        value=None if message.value is None else OriginalBytes.from_bytes(message.value),
        error=error.body(),
        rejected_by=stage,
        dead_lettered_at=now,
    )
