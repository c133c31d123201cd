"""Messages set aside for good: the same dead-letter record from every stage that reads Kafka.

A dead letter must always fit on its topic, whatever the message was: bytes too large to
keep are summarised (length, SHA-256, first bytes), and a letter that cannot be encoded at
all is replaced by one that says so. Encoding a dead letter therefore never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.codec import encode
from schemas.deadletter import DeadLetter, OriginalBytes, SourcePosition
from schemas.errors import ContractError, ErrorBody, Problem, clip

# Original bytes above this are summarised: with the error, the position and the JSON
# escaping of the worst bytes (6x for control characters), the letter stays far under
# MAX_MESSAGE_BYTES, the limit every reader of the dead-letter topic enforces.
KEEP_WHOLE_BYTES = 32 * 1024
PREFIX_BYTES = 4 * 1024
# Kafka keys of dead letters: the original key when it is this short, else its summary.
KEY_MAX_BYTES = 1024


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
    """The message kept exactly (or summarised when too large), with where it was read."""
    problems = tuple(map(_storable, error.problems))
    kept = [_kept(raw) for raw in (message.key, message.value)]
    for name, raw, original in zip(
        ("key", "value"), (message.key, message.value), kept, strict=True
    ):
        if original is not None and original.truncated:
            problems = (*problems, _summarised(name, len(raw or b"")))
    return DeadLetter(
        source=_position(message),
        key=kept[0],
        value=kept[1],
        error=ErrorBody(error=error.code, problems=problems),
        rejected_by=stage,
        dead_lettered_at=now,
    )


def failure(exc: BaseException, *, code: str = "processing_failed") -> ContractError:
    """An unexpected exception while processing one message, as the error its letter carries."""
    reason = f"{type(exc).__name__}: {exc}"
    return ContractError(code, (Problem(field="", reason=clip(reason)),))


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """The letter's bytes; never raises, and never more than the dead-letter topic accepts."""
    try:
        return encode(letter)
    except Exception as exc:  # too large, or a value pydantic cannot serialise: say so
        return encode(_last_resort(letter, exc))


def dead_letter_key(letter: DeadLetter) -> bytes | None:
    """The Kafka key a dead letter is sent with: the original key, unless summarised."""
    key = letter.key
    if key is None or not key.truncated:
        return None if key is None else key.to_bytes()
    # OriginalBytes' validator holds that truncated bytes always say their SHA-256.
    assert key.sha256 is not None
    return key.sha256.encode("ascii")


def _kept(raw: bytes | None) -> OriginalBytes | None:
    if raw is None:
        return None
    if len(raw) <= KEEP_WHOLE_BYTES:
        return OriginalBytes.from_bytes(raw)
    return OriginalBytes.summary(raw, prefix_bytes=PREFIX_BYTES)


def _summarised(name: str, size: int) -> Problem:
    reason = (
        f"the {name} is {size} bytes, too large to keep in a dead letter: kept are its length, "
        f"SHA-256 and first {PREFIX_BYTES} bytes"
    )
    return Problem(field="", reason=reason)


def _position(message: RawMessage) -> SourcePosition:
    return SourcePosition(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC),
    )


def _last_resort(letter: DeadLetter, exc: Exception) -> DeadLetter:
    """The letter with small summaries of its bytes and only the reason it could not be sent."""

    def small(original: OriginalBytes | None) -> OriginalBytes | None:
        if original is None or original.truncated:
            return original
        return OriginalBytes.summary(original.to_bytes(), prefix_bytes=256)

    problems = (
        *letter.error.problems[:5],
        Problem(field="", reason=clip(f"the dead letter itself could not be encoded: {exc!r}")),
    )
    return letter.model_copy(
        update={
            "key": small(letter.key),
            "value": small(letter.value),
            "error": ErrorBody(error=letter.error.error, problems=tuple(map(_clipped, problems))),
        }
    )


def _clipped(problem: Problem) -> Problem:
    return Problem(field=clip(problem.field), reason=clip(problem.reason))


def _storable(problem: Problem) -> Problem:
    """The problem with NUL written out: a field path can echo a hostile key, and the
    dead letter is recorded as jsonb, which cannot hold U+0000."""
    if "\x00" not in problem.field + problem.reason:
        return problem
    return Problem(
        field=problem.field.replace("\x00", "\\x00"), reason=problem.reason.replace("\x00", "\\x00")
    )
