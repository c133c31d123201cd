"""Load a registry directory of YAML files; every problem names the file, line, key and reason."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.errors import RegistryError, RegistryProblem, error_details, field_path
from schemas.located_yaml import Key, YamlReadError, read_located_yaml
from schemas.registry.claims import Claim, Ownership, overlapping_claims
from schemas.registry.models import EnterpriseKind, Registry
from schemas.registry.topology_checks import topology_problems

__all__ = ["REFERENCE_REGISTRY", "consistency_problems", "load_registry"]

REFERENCE_REGISTRY = Path(__file__).resolve().parent / "data" / "quang-nam-2007"


class _Source:
    """Where each top-level key and each key path of the merged registry came from."""

    def __init__(self) -> None:
        self.file_of: dict[str | int, Path] = {}
        self.lines: dict[Key, int] = {}

    def locate(self, key: Key, reason: str, fallback: Path) -> RegistryProblem:
        """A problem at `key`, with the line of the nearest key path that exists in a file."""
        file = self.file_of.get(key[0], fallback) if key else fallback
        line = next(
            (self.lines[key[:n]] for n in range(len(key), 0, -1) if key[:n] in self.lines), None
        )
        return RegistryProblem(file=file, line=line, key=field_path(key), reason=reason)


def load_registry(directory: Path = REFERENCE_REGISTRY) -> Registry:
    """Read every *.yaml file in `directory` as one registry; RegistryError on any problem."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise RegistryError([RegistryProblem(Path(directory), None, "", "no *.yaml files")])
    source = _Source()
    merged: dict[str, Any] = {}
    problems: list[RegistryProblem] = []
    for file in files:
        problems.extend(_merge(file, merged, source))
    if problems:
        raise RegistryError(problems)
    try:
        registry = Registry.model_validate(merged)
    except ValidationError as error:
        details = error_details(error)
        raise RegistryError(
            [source.locate(tuple(d["loc"]), d["msg"], files[0]) for d in details]
        ) from None
    found = [source.locate(key, reason, files[0]) for key, reason in consistency_problems(registry)]
    if found:
        raise RegistryError(found)
    return registry


def consistency_problems(registry: Registry) -> list[tuple[Key, str]]:
    """What is wrong across entries: duplicates, unknown references, unclear responsibility."""
    return [
        *_duplicates(registry),
        *_unknown_references(registry),
        *_post_office_coverage(registry),
        *_ownership_conflicts(registry),
        *topology_problems(registry),
    ]


def _merge(file: Path, merged: dict[str, Any], source: _Source) -> list[RegistryProblem]:
    try:
        data, lines, duplicates = _read_yaml(file)
    except RegistryError as error:
        return list(error.problems)
    if not isinstance(data, dict):
        return [RegistryProblem(file, 1, "", "the file must be a mapping of keys to values")]
    problems = [RegistryProblem(file, lines[k], field_path(k), "key repeated") for k in duplicates]
    for key, value in data.items():
        if key in merged:
            reason = f"key also defined in {source.file_of[key].name}"
            problems.append(RegistryProblem(file, lines.get((key,)), str(key), reason))
        merged[key] = value
        source.file_of[key] = file
    source.lines.update(lines)
    return problems


def _read_yaml(file: Path) -> tuple[Any, dict[Key, int], list[Key]]:
    try:
        found = read_located_yaml(file)
    except YamlReadError as exc:
        raise RegistryError([RegistryProblem(file, exc.line, "", exc.reason)]) from None
    return found.data, found.lines, found.duplicates


def _duplicates(registry: Registry) -> Iterator[tuple[Key, str]]:
    yield from _repeated("districts", (d.id for d in registry.districts))
    yield from _repeated("enterprises", (e.id for e in registry.enterprises))
    for i, enterprise in enumerate(registry.enterprises):
        yield from _repeated(
            ("enterprises", i, "duty_teams"), (t.id for t in enterprise.duty_teams)
        )


def _repeated(where: str | Key, ids: Iterable[str]) -> Iterator[tuple[Key, str]]:
    base = (where,) if isinstance(where, str) else where
    seen: set[str] = set()
    for index, item in enumerate(ids):
        if item in seen:
            yield (*base, index, "id"), f"id {item!r} is used twice"
        seen.add(item)


def _unknown_references(registry: Registry) -> Iterator[tuple[Key, str]]:
    for i, enterprise in enumerate(registry.enterprises):
        at: Key = ("enterprises", i)
        if enterprise.parent is not None and registry.enterprise(enterprise.parent) is None:
            yield (*at, "parent"), f"unknown enterprise {enterprise.parent!r}"
        yield from _unknown_districts(registry, (*at, "districts"), enterprise.districts)
        for t, team in enumerate(enterprise.duty_teams):
            yield from _unknown_districts(
                registry, (*at, "duty_teams", t, "districts"), team.districts
            )


def _unknown_districts(
    registry: Registry, at: Key, district_ids: tuple[str, ...]
) -> Iterator[tuple[Key, str]]:
    for j, district_id in enumerate(district_ids):
        if registry.district(district_id) is None:
            yield (*at, j), f"unknown district {district_id!r}"


def _post_office_coverage(registry: Registry) -> Iterator[tuple[Key, str]]:
    # A suspicious parcel must go to exactly one post office; none or two is a data error.
    for i, district in enumerate(registry.districts):
        offices = [
            e.id for e in registry.of_kind(EnterpriseKind.POSTAL) if district.id in e.districts
        ]
        if not offices:
            yield ("districts", i, "id"), f"no post office serves {district.id!r}"
        elif len(offices) > 1:
            yield ("districts", i, "id"), f"{district.id!r} is served by {', '.join(offices)}"


def _ownership_conflicts(registry: Registry) -> Iterator[tuple[Key, str]]:
    # Two operators claiming one line would make routing depend on file order.
    for asset in ("lines", "resources"):
        claims: list[Claim] = []
        for i, enterprise in enumerate(registry.enterprises):
            ownership: Ownership = getattr(enterprise.owns, asset)
            claims += ownership.claims(("enterprises", i, "owns", asset), enterprise.id)
        yield from overlapping_claims(claims)
