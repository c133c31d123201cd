"""Dead-letter records: a message that can never be processed, kept exactly, with the reason."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from schemas.envelope import Instant, LogModel, Slug
from schemas.errors import ErrorBody

__all__ = ["ByteEncoding", "DeadLetter", "OriginalBytes", "SourcePosition"]


class ByteEncoding(StrEnum):
    """How original bytes are written in a JSON string."""

    UTF8 = "utf-8"
    BASE64 = "base64"


class OriginalBytes(LogModel):
    """Bytes kept exactly: as text when they are valid UTF-8 (readable), else as base64."""

    encoding: ByteEncoding
    data: str

    @classmethod
    def from_bytes(cls, raw: bytes) -> OriginalBytes:
        """Wrap raw bytes, choosing the readable form when it is lossless."""
        try:
            return cls(encoding=ByteEncoding.UTF8, data=raw.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(encoding=ByteEncoding.BASE64, data=base64.b64encode(raw).decode("ascii"))

    def to_bytes(self) -> bytes:
        """The original bytes, exactly."""
        if self.encoding is ByteEncoding.UTF8:
            return self.data.encode("utf-8")
        return base64.b64decode(self.data, validate=True)

    @model_validator(mode="after")
    def _decodable(self) -> OriginalBytes:
        # Checked on the way in so that to_bytes() can never fail on a stored record.
        try:
            self.to_bytes()
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise ValueError(f"data is not valid {self.encoding.value}: {exc}") from None
        return self


class SourcePosition(LogModel):
    """Where a message was read: Kafka topic, partition, offset and the broker's timestamp."""

    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    timestamp: Instant | None = None


class DeadLetter(LogModel):
    """A message set aside for good, with where it came from and every problem found."""

    schema_version: Literal[1] = 1
    source: SourcePosition
    key: OriginalBytes | None = Field(description="The Kafka key; None when it had none.")
    value: OriginalBytes | None = Field(description="The message; None for a tombstone.")
    error: ErrorBody
    rejected_by: Slug = Field(description="The SignalPost stage that set it aside, e.g. router.")
    dead_lettered_at: Instant
