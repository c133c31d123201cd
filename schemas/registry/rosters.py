"""Duty rosters: an enterprise's teams, people and shifts, and who is on duty at a moment."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BeforeValidator, Field, StringConstraints, model_validator

from schemas.envelope import InboundModel, ShortText, Slug
from schemas.routing import Priority

__all__ = [
    "WEEK",
    "Channel",
    "ChannelKind",
    "Duty",
    "Override",
    "Person",
    "QuietHours",
    "Roster",
    "RosterHistory",
    "Rosters",
    "Shift",
    "Team",
    "Weekday",
    "in_quiet_hours",
    "on_duty_at",
    "rosters_at",
]

WEEK = timedelta(days=7)
MINUTES_A_WEEK = 7 * 24 * 60


def _quoted_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 19:00 as the base-60 number 1140: say so rather than guess.
    if isinstance(value, int):
        raise ValueError(f"write the time in quotes, e.g. '19:00' (YAML read it as {value})")
    return value


ClockTime = Annotated[
    str,
    StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"),
    BeforeValidator(_quoted_time),
    Field(description="A wall-clock time in the registry's time zone, 'HH:MM'."),
]


class Weekday(StrEnum):
    """A day of the week, as a shift names it."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


DAYS = tuple(Weekday)


class ChannelKind(StrEnum):
    """How a person can be reached."""

    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"


class Channel(InboundModel):
    """One way to reach a person; `priorities` limits it to those (all when empty)."""

    kind: ChannelKind
    address: Annotated[str, StringConstraints(min_length=3, max_length=500)] = Field(
        description="The webhook's URL, the e-mail address or the phone number."
    )
    priorities: tuple[Priority, ...] = ()
    secret_env: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,99}$")] | None = Field(
        default=None,
        description="Webhook only: the environment variable holding this endpoint's signing "
        "secret (the notifier's own secret otherwise). Secrets never sit in the roster.",
    )

    @model_validator(mode="after")
    def _address_fits_kind(self) -> Channel:
        # A control character would break an e-mail header or an HTTP request line.
        if any(ord(c) < 32 or ord(c) == 127 for c in self.address):
            raise ValueError("an address must not hold control characters (line breaks)")
        if self.kind is ChannelKind.WEBHOOK and not _usable_url(self.address):
            raise ValueError("a webhook's address must be an http:// or https:// URL with a host")
        if self.kind is ChannelKind.EMAIL and ("@" not in self.address or " " in self.address):
            raise ValueError("an e-mail address must be name@domain")
        if self.kind is ChannelKind.SMS and not self.address.lstrip("+").isdigit():
            raise ValueError("an SMS number must be digits, optionally after a '+'")
        if self.secret_env is not None and self.kind is not ChannelKind.WEBHOOK:
            raise ValueError("only a webhook has a signing secret")
        return self


def _usable_url(address: str) -> bool:
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in address


class QuietHours(InboundModel):
    """A daily span in which only P1 reaches the person; it may run across midnight."""

    start: ClockTime = Field(alias="from")
    until: ClockTime


class Person(InboundModel):
    """Someone who can be on duty, with the channels that reach them and when to keep quiet."""

    id: Slug
    name: ShortText
    channels: tuple[Channel, ...] = Field(min_length=1)
    quiet: tuple[QuietHours, ...] = ()
    min_priority: Priority = Field(
        default=Priority.P4,
        description="The least urgent priority the person is told of (P1 always reaches them).",
    )


class Team(InboundModel):
    """A duty team; with no districts it covers all of its enterprise's."""

    id: Slug
    name: ShortText
    districts: tuple[Slug, ...] = ()


class Shift(InboundModel):
    """A weekly shift of one team: on the days given, from `from` for as long as it lasts.

    `until` at or before `from` ends the next day (a night shift across midnight).
    """

    team: Slug
    days: tuple[Weekday, ...] = DAYS
    start: ClockTime = Field(alias="from")
    until: ClockTime
    person: Slug
    lead: Slug

    def spans(self) -> list[tuple[int, int]]:
        """The minutes of the week (Monday 00:00 = 0) it covers, as [start, end) pieces."""
        begin, end = _minutes(self.start), _minutes(self.until)
        length = end - begin if end > begin else end + 24 * 60 - begin
        pieces: list[tuple[int, int]] = []
        for day in self.days:
            first = DAYS.index(day) * 24 * 60 + begin
            last = first + length
            pieces.append((first, min(last, MINUTES_A_WEEK)))
            if last > MINUTES_A_WEEK:  # Sunday night runs into Monday morning
                pieces.append((0, last - MINUTES_A_WEEK))
        return pieces


class Override(InboundModel):
    """A dated span that replaces a team's weekly shifts, e.g. the election days' denser ones."""

    team: Slug
    start: AwareDatetime = Field(alias="from")
    until: AwareDatetime
    person: Slug
    lead: Slug
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.until <= self.start:
            raise ValueError("`until` must be after `from`")
        return self


class Roster(InboundModel):
    """One enterprise's duty roster."""

    enterprise: Slug
    teams: tuple[Team, ...] = Field(min_length=1)
    people: tuple[Person, ...] = Field(min_length=1)
    shifts: tuple[Shift, ...] = Field(min_length=1)
    overrides: tuple[Override, ...] = ()

    @cached_property
    def by_person(self) -> dict[str, Person]:
        """Its people by id."""
        return {p.id: p for p in self.people}

    def team_for(self, district: str | None) -> Team:
        """The team covering a district: the first that names it, else the first covering all."""
        named = next((t for t in self.teams if district and district in t.districts), None)
        return named or next((t for t in self.teams if not t.districts), self.teams[0])


@dataclass(frozen=True)
class Duty:
    """Who is on duty for one team at one moment, and under which shift or override."""

    team: Team
    person: Person
    lead: Person
    override: bool


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def in_quiet_hours(person: Person, at: datetime, zone: ZoneInfo) -> QuietHours | None:
    """The person's quiet span that `at` falls in (local wall time), or None."""
    local = at.astimezone(zone).time()
    for quiet in person.quiet:
        begin, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.until)
        inside = begin <= local < end if begin < end else (local >= begin or local < end)
        if inside:
            return quiet
    return None


def on_duty_at(roster: Roster, team: Team, at: datetime, zone: ZoneInfo) -> Duty:
    """Who is on duty in `team` at `at`: an override covering it, else the weekly shift.

    The loader refuses a roster with a gap, so some shift always covers the moment.
    """
    for override in roster.overrides:
        if override.team == team.id and override.start <= at < override.until:
            return _duty(roster, team, override.person, override.lead, override=True)
    local = at.astimezone(zone)
    minute = local.weekday() * 24 * 60 + local.hour * 60 + local.minute
    for shift in roster.shifts:
        if shift.team == team.id and any(a <= minute < b for a, b in shift.spans()):
            return _duty(roster, team, shift.person, shift.lead, override=False)
    raise LookupError(f"no shift of team {team.id} covers {at.isoformat()}")


def _duty(roster: Roster, team: Team, person: str, lead: str, *, override: bool) -> Duty:
    people = roster.by_person
    return Duty(team=team, person=people[person], lead=people[lead], override=override)


class Rosters(InboundModel):
    """Every enterprise's roster, in the registry's time zone; `version` hashes the content."""

    timezone: str
    rosters: tuple[Roster, ...] = ()

    @cached_property
    def version(self) -> str:
        """The content hash ('sha256:...') that tasks and roster activations record."""
        content = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, ensure_ascii=False
        )
        return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()

    @cached_property
    def zone(self) -> ZoneInfo:
        """The time zone shifts are written in."""
        return ZoneInfo(self.timezone)

    @cached_property
    def by_enterprise(self) -> dict[str, Roster]:
        """Each roster by its enterprise."""
        return {r.enterprise: r for r in self.rosters}

    def on_duty(self, enterprise: str, district: str | None, at: datetime) -> Duty | None:
        """Who of `enterprise` is on duty for `district` at `at`; None if it keeps no roster."""
        roster = self.by_enterprise.get(enterprise)
        if roster is None:
            return None
        return on_duty_at(roster, roster.team_for(district), at, self.zone)

    def person(self, enterprise: str, person_id: str) -> Person | None:
        """A person of an enterprise's roster, by id."""
        roster = self.by_enterprise.get(enterprise)
        return roster.by_person.get(person_id) if roster else None

    def model_post_init(self, context: Any, /) -> None:
        """Hash once at load, so every task's decision reads the same version."""
        self.version  # noqa: B018


# Rosters, each with when it came into force (its RosterActivated), oldest first.
RosterHistory = tuple[tuple[datetime, Rosters], ...]


def rosters_at(history: RosterHistory, at: datetime) -> Rosters | None:
    """The rosters in force at `at`: the latest activated by then; None before the first
    (history recorded before any roster came into force names no one)."""
    found = None
    for activated_at, rosters in history:
        if activated_at > at:
            break
        found = rosters
    return found
