"""Building blocks of every contract: model bases, ids, bounded NFC text, the report envelope."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ID_PATTERN",
    "MAX_CLOCK_SKEW",
    "SLUG_PATTERN",
    "Actor",
    "ActorKind",
    "ContentHash",
    "Identifier",
    "InboundModel",
    "IncidentKey",
    "Instant",
    "LogModel",
    "LongText",
    "Reason",
    "ReportEnvelope",
    "ReportRef",
    "ShortText",
    "Slug",
    "levels_in_order",
    "nfc",
]

# Clocks of enterprise systems drift; a report may claim to have happened a little after it
# was sent, but more than this means a wrong clock or a wrong field, and the sender should know.
MAX_CLOCK_SKEW = timedelta(minutes=5)

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# Control characters in names break logs and consoles; long text may still hold line breaks.
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def nfc(value: object) -> object:
    """Text in Unicode NFC (Vietnamese arrives both composed and decomposed); other values as is."""
    if isinstance(value, str) and not unicodedata.is_normalized("NFC", value):
        return unicodedata.normalize("NFC", value)
    return value


class InboundModel(BaseModel):
    """Base of contracts written outside SignalPost: immutable, unknown keys refused."""

    # An unknown key from a publisher is usually a typo in a field name, which an operator
    # wants to see rather than have silently dropped.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class LogModel(BaseModel):
    """Base of contracts SignalPost writes itself: immutable, unknown keys ignored."""

    # Schemas only grow: during a rolling upgrade an older reader meets events carrying fields
    # added later, and must still read them rather than dead-letter the log.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


IncidentKey = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,256}$"),
    Field(description="The key an incident is grouped and partitioned by."),
]
# Strict: JSON numbers (epoch seconds or milliseconds? the reader cannot tell) are refused;
# only ISO 8601 text with an offset is a time.
Instant = Annotated[
    AwareDatetime,
    Strict(),
    Field(description="ISO 8601 date and time with a UTC offset, e.g. 2007-05-20T07:00:00+07:00."),
]
Identifier = Annotated[
    str,
    StringConstraints(pattern=ID_PATTERN),
    Field(description="An identifier: 1 to 128 of A-Z a-z 0-9 . _ : -"),
]
Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN, max_length=64),
    Field(description="A registry id: lower-case ASCII words joined by '-', e.g. 'tam-ky'."),
]
ContentHash = Annotated[
    str,
    StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$"),
    Field(description="A content hash, 'sha256:' and 64 hex digits."),
]


def _text_bounds(min_length: int, max_length: int, pattern: str) -> StringConstraints:
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern
    )


# NFC first, so the bound counts the characters a reader sees, not combining marks.
# The validator wraps the constrained str, so it runs first (and the constraints stay in
# pydantic's fast core, with its usual messages). Spelled out as `Annotated[...]` so a type
# checker reads each as a type alias of str.
ShortText = Annotated[str, _text_bounds(1, 200, _ONE_LINE), BeforeValidator(nfc)]
LongText = Annotated[str, _text_bounds(0, 4000, _MULTI_LINE), BeforeValidator(nfc)]
Reason = Annotated[str, _text_bounds(1, 4000, _MULTI_LINE), BeforeValidator(nfc)]


class ActorKind(StrEnum):
    """Who can act on an incident."""

    ENTERPRISE = "enterprise"
    SERVICE = "service"


class Actor(LogModel):
    """Who did something: an enterprise (and the person, if known) or a SignalPost service."""

    kind: ActorKind
    id: Identifier
    person: ShortText | None = None


def levels_in_order(steps: tuple[Any, ...]) -> tuple[Any, ...]:
    """Validator: the steps' `level` fields read 1, 2, 3, ... in order."""
    if [getattr(step, "level", None) for step in steps] != list(range(1, len(steps) + 1)):
        raise ValueError("levels must be numbered 1, 2, 3, ... in order")
    return steps


class ReportRef(LogModel):
    """Points at one report: report ids are unique only within their publisher."""

    reported_by: Slug
    report_id: Identifier


class ReportEnvelope(InboundModel):
    """Fields every incident report carries, whatever its kind."""

    report_id: Identifier = Field(
        description="Chosen by the publisher; sending the same id again is a retry, not news."
    )
    schema_version: Literal[1] = Field(description="Version of this report's contract.")
    reported_by: Slug = Field(description="Registry id of the enterprise publishing the report.")
    occurred_at: Instant = Field(
        description="When it happened at the source (X.733 eventTime, TMF642 alarmRaisedTime)."
    )
    reported_at: Instant = Field(
        description="When the publisher sent it (TMF642 alarmReportingTime)."
    )
    received_at: Instant | None = Field(
        default=None, description="Set by SignalPost when the report arrives; leave it out."
    )

    @model_validator(mode="after")
    def _occurred_before_reported(self) -> ReportEnvelope:
        ahead = self.occurred_at - self.reported_at
        if ahead > MAX_CLOCK_SKEW:
            raise PydanticCustomError(
                "clock_skew",
                "occurred_at is {ahead} after reported_at;"
                " at most {allowed} of clock skew is allowed",
                {"field": "occurred_at", "ahead": str(ahead), "allowed": str(MAX_CLOCK_SKEW)},
            )
        return self
