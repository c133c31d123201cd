"""The rule file's shape as pydantic models: ISO 8601 durations, local times, time zones."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from schemas.envelope import Identifier
from schemas.routing import Priority

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150, pattern=r"^[^\n]*$")
]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Refs = Annotated[tuple[str, ...], BeforeValidator(_listify)]
_TIMEDELTA = TypeAdapter(timedelta)


def _duration(value: Any, *, positive: bool) -> timedelta:
    # pydantic alone would also take numbers and "15:00"; a rule file says PT15M and means it.
    if not isinstance(value, str) or not value.lstrip("-").startswith("P"):
        raise ValueError(f"bad duration {value!r}: write ISO 8601, e.g. PT15M")
    try:
        delta = _TIMEDELTA.validate_python(value)
    except ValidationError:
        raise ValueError(f"bad duration {value!r}: write ISO 8601, e.g. PT15M") from None
    if delta < timedelta(0) or (positive and delta == timedelta(0)):
        raise ValueError(f"bad duration {value!r}: must be {'positive' if positive else '>= 0'}")
    return delta


Deadline = Annotated[timedelta, BeforeValidator(lambda v: _duration(v, positive=True))]
Delay = Annotated[timedelta, BeforeValidator(lambda v: _duration(v, positive=False))]


# The models' names keep their underscore: pydantic puts a model's class name in a rule
# author's message ("a valid dictionary or instance of _RuleSpec").
class _Spec(BaseModel):
    # A misspelt key in a hand-written rule would otherwise be ignored, and the rule would
    # quietly match more than its author meant.
    model_config = ConfigDict(frozen=True, extra="forbid")


def _local_time(value: Any, *, end: bool) -> datetime:
    if isinstance(value, str):
        try:
            value = (
                datetime.fromisoformat(value)
                if "T" in value or " " in value
                else date.fromisoformat(value)
            )
        except ValueError:
            raise ValueError(
                f"bad date or time {value!r}: write 2007-05-19 or 2007-05-19T17:00"
            ) from None
    if isinstance(value, datetime):
        if value.utcoffset() is not None:
            raise ValueError("write local time without an offset; the period's timezone applies")
        return value
    if isinstance(value, date):
        # A bare date ends a period at the end of that day: "8 to 15 May" includes 15 May.
        return datetime.combine(value + timedelta(days=1 if end else 0), time(0))
    raise ValueError(f"bad date or time {value!r}: write 2007-05-19 or 2007-05-19T17:00")


class _PeriodSpec(_Spec):
    start: Annotated[datetime, BeforeValidator(lambda v: _local_time(v, end=False))]
    end: Annotated[datetime, BeforeValidator(lambda v: _local_time(v, end=True))]
    timezone: str | None = None
    description: str = ""


class _LevelSpec(_Spec):
    after: Delay
    notify: Annotated[Refs, Field(min_length=1)]


Chain = Annotated[tuple[_LevelSpec, ...], Field(min_length=1)]


class _ThenSpec(_Spec):
    primary: Refs = ()
    notify: Refs = ()
    support: Refs = ()
    priority: Priority | None = None
    ack_within: Deadline | None = None
    resolve_within: Deadline | None = None
    escalation: Name | Chain | None = None


class _RuleSpec(_Spec):
    id: Identifier
    description: Description
    continue_: StrictBool = Field(default=False, alias="continue")
    when: dict[str, Any] = {}
    then: _ThenSpec


class _FileSpec(_Spec):
    timezone: str
    periods: dict[Name, _PeriodSpec] = {}
    roles: dict[Name, Annotated[Refs, Field(min_length=1)]] = {}
    escalations: dict[Name, Chain] = {}
    rules: Annotated[tuple[_RuleSpec, ...], Field(min_length=1)]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return check_zone(zone)


def check_zone(zone: str) -> str:
    """The zone name, when it is an IANA time zone; ValueError naming it otherwise."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return zone
