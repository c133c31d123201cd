"""Load the duty rosters beside a registry (`rosters/*.yaml`, one per enterprise); every problem
names the file, line, key and reason, and a gap in a roster is one of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from schemas.errors import RegistryError, RegistryProblem, error_details
from schemas.located_yaml import Key
from schemas.registry.loader import _read_yaml, _repeated, _Source
from schemas.registry.models import Registry
from schemas.registry.rosters import DAYS, MINUTES_A_WEEK, Override, Roster, Rosters, Shift

__all__ = ["ROSTER_DIR", "load_rosters", "roster_problems"]

ROSTER_DIR = "rosters"


def load_rosters(directory: Path, registry: Registry) -> Rosters:
    """The rosters in `directory/rosters/`, checked against `registry`; RegistryError if wrong.

    A registry without a rosters folder has no rosters: its tasks name no one.
    """
    files = sorted((Path(directory) / ROSTER_DIR).glob("*.yaml"))
    problems: list[RegistryProblem] = []
    rosters: list[Roster] = []
    owners: dict[str, Path] = {}
    for file in files:
        roster = _load_one(file, registry, problems)
        if roster is None:
            continue
        if roster.enterprise in owners:
            reason = f"{roster.enterprise} already has a roster in {owners[roster.enterprise].name}"
            problems.append(RegistryProblem(file, None, "enterprise", reason))
        owners[roster.enterprise] = file
        rosters.append(roster)
    if problems:
        raise RegistryError(problems)
    return Rosters(timezone=registry.timezone, rosters=tuple(rosters))


def _load_one(file: Path, registry: Registry, problems: list[RegistryProblem]) -> Roster | None:
    try:
        data, lines, duplicates = _read_yaml(file)
    except RegistryError as error:
        problems.extend(error.problems)
        return None
    source = _Source()
    source.lines = lines
    if isinstance(data, dict):
        source.file_of = dict.fromkeys(data, file)
    problems.extend(source.locate(k, "key repeated", file) for k in duplicates)
    try:
        roster = Roster.model_validate(data)
    except ValidationError as error:
        problems.extend(
            source.locate(tuple(d["loc"]), d["msg"], file) for d in error_details(error)
        )
        return None
    problems.extend(
        source.locate(key, reason, file) for key, reason in roster_problems(roster, registry)
    )
    return roster


def roster_problems(roster: Roster, registry: Registry) -> list[tuple[Key, str]]:
    """What is wrong in a roster: unknown names, repeated ids, overlaps, and gaps in cover."""
    return [
        *_unknown(roster, registry),
        *_repeated("teams", (t.id for t in roster.teams)),
        *_repeated("people", (p.id for p in roster.people)),
        *_unknown_people(roster),
        *_weekly_cover(roster),
        *_overlapping_overrides(roster),
    ]


def _unknown(roster: Roster, registry: Registry) -> Iterator[tuple[Key, str]]:
    enterprise = registry.enterprise(roster.enterprise)
    if enterprise is None:
        yield ("enterprise",), f"unknown enterprise {roster.enterprise!r}"
        return
    for t, team in enumerate(roster.teams):
        for d, district in enumerate(team.districts):
            if registry.district(district) is None:
                yield ("teams", t, "districts", d), f"unknown district {district!r}"
    if roster.teams[0].districts and not any(not t.districts for t in roster.teams):
        # A task in a district no team names must still reach someone.
        named = {d for t in roster.teams for d in t.districts}
        missing = [d for d in enterprise.districts if d not in named]
        if missing:
            yield ("teams",), f"no team covers {', '.join(missing)}; add a team with no districts"


def _unknown_people(roster: Roster) -> Iterator[tuple[Key, str]]:
    teams = {t.id for t in roster.teams}
    people = roster.by_person
    entries: list[tuple[str, int, Shift | Override]] = [
        *(("shifts", i, s) for i, s in enumerate(roster.shifts)),
        *(("overrides", i, o) for i, o in enumerate(roster.overrides)),
    ]
    for where, i, entry in entries:
        if entry.team not in teams:
            yield (where, i, "team"), f"unknown team {entry.team!r}"
        for role, person in (("person", entry.person), ("lead", entry.lead)):
            if person not in people:
                yield (where, i, role), f"unknown person {person!r}"


def _weekly_cover(roster: Roster) -> Iterator[tuple[Key, str]]:
    """Each team's weekly shifts cover the whole week once: a gap would leave no one on duty."""
    for team in roster.teams:
        owners: dict[int, int] = {}  # minute of the week -> index of the shift covering it
        for i, shift in enumerate(roster.shifts):
            if shift.team != team.id:
                continue
            for begin, end in shift.spans():
                clash = next((m for m in range(begin, end) if m in owners), None)
                if clash is not None:
                    other = owners[clash]
                    yield ("shifts", i), f"overlaps shifts[{other}] at {_when(clash)}"
                    break
                owners.update(dict.fromkeys(range(begin, end), i))
        for begin, end in _gaps(owners.keys()):
            yield ("shifts",), f"team {team.id} has no one on duty {_when(begin)}–{_when(end)}"


def _gaps(covered: Iterable[int]) -> Iterator[tuple[int, int]]:
    taken = set(covered)
    minute = 0
    while minute < MINUTES_A_WEEK:
        if minute in taken:
            minute += 1
            continue
        start = minute
        while minute < MINUTES_A_WEEK and minute not in taken:
            minute += 1
        yield start, minute


def _when(minute: int) -> str:
    day, rest = divmod(minute % MINUTES_A_WEEK, 24 * 60)
    return f"{DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"


def _overlapping_overrides(roster: Roster) -> Iterator[tuple[Key, str]]:
    for i, override in enumerate(roster.overrides):
        for j, other in enumerate(roster.overrides[:i]):
            if (
                other.team == override.team
                and override.start < other.until
                and other.start < override.until
            ):
                yield ("overrides", i), f"overlaps overrides[{j}] of team {override.team}"
