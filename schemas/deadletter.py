"""Dead-letter records: a message that can never be processed, kept exactly, with the reason."""

from __future__ import annotations

import base64
import binascii
import hashlib
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
    """Bytes kept exactly: as text when they are valid UTF-8 (readable), else as base64.

    Bytes too large to keep whole are kept as their length, SHA-256 and first bytes
    (`truncated`), so that the dead letter that carries them always fits on its topic.
    """

    encoding: ByteEncoding
    data: str
    truncated: bool = Field(
        default=False, description="True when data holds only the first bytes of the original."
    )
    length: int | None = Field(
        default=None, ge=0, description="Length of the original in bytes, when truncated."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the original in hex, when truncated.",
    )

    @classmethod
    def from_bytes(cls, raw: bytes) -> OriginalBytes:
        """Wrap raw bytes, choosing the readable form when it is lossless and storable."""
        try:
            return cls(encoding=ByteEncoding.UTF8, data=_text(raw))
        except UnicodeDecodeError:
            return cls(encoding=ByteEncoding.BASE64, data=base64.b64encode(raw).decode("ascii"))

    @classmethod
    def summary(cls, raw: bytes, *, prefix_bytes: int) -> OriginalBytes:
        """Bytes too large to keep: their length, SHA-256 and at most `prefix_bytes` of them."""
        prefix = raw[:prefix_bytes]
        try:
            # A cut can split a character: drop its partial tail rather than switch to base64.
            text = _text(prefix) if len(prefix) == len(raw) else _utf8_head(prefix)
            encoding, data = ByteEncoding.UTF8, text
        except UnicodeDecodeError:
            encoding, data = ByteEncoding.BASE64, base64.b64encode(prefix).decode()
        return cls(
            encoding=encoding,
            data=data,
            truncated=True,
            length=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
        )

    def to_bytes(self) -> bytes:
        """The original bytes, exactly (only their first bytes when `truncated`)."""
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
        if self.truncated and (self.length is None or self.sha256 is None):
            raise ValueError("truncated bytes must say their length and sha256")
        return self


def _text(raw: bytes) -> str:
    """The bytes as text, when they are UTF-8 without NUL.

    Dead letters are recorded as PostgreSQL jsonb, which cannot hold U+0000 anywhere: bytes
    with a NUL in them are kept as base64 instead, exactly all the same.
    """
    if b"\x00" in raw:
        raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), len(raw), "NUL")
    return raw.decode("utf-8")


def _utf8_head(prefix: bytes) -> str:
    """The prefix as text, less a character cut in two at its end (at most 3 bytes)."""
    for cut in range(4):
        try:
            return _text(prefix[: len(prefix) - cut])
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", prefix, 0, len(prefix), "not UTF-8")


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
