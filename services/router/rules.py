"""Routing rule sets: declarative YAML, checked against the registry at load, content-hashed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
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
from schemas.errors import SignalPostError, error_details, field_path
from schemas.located_yaml import Key, YamlReadError, read_located_yaml
from schemas.registry import Registry
from schemas.reports import (
    AnyReport,
    CapacityAlarm,
    CapacityMetric,
    CustodyStatus,
    Indicator,
    ItemType,
    LineFault,
    PerceivedSeverity,
    ReportKind,
    ResourceType,
    ServiceClass,
)
from schemas.routing import Priority
from services.router.calendar import Calendar, Period

__all__ = [
    "ALL_KINDS",
    "CRITERIA",
    "REFERENCE_RULES",
    "RESOLVERS",
    "Condition",
    "Criterion",
    "Level",
    "Party",
    "Resolution",
    "Resolver",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "RuleSetProblem",
    "load_rule_set",
]

REFERENCE_RULES = Path(__file__).resolve().parent / "data" / "quang-nam-2007.yaml"

Kinds = frozenset[ReportKind]
ALL_KINDS: Kinds = frozenset(ReportKind)
_LINE: Kinds = frozenset({ReportKind.LINE_FAULT})
_CAPACITY: Kinds = frozenset({ReportKind.CAPACITY_ALARM})
_PARCEL: Kinds = frozenset({ReportKind.SUSPICIOUS_PARCEL})
_TELECOM: Kinds = _LINE | _CAPACITY


# --- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSetProblem:
    """One thing wrong in a rule file: where (file, line, rule, key) and why."""

    file: Path
    line: int | None
    rule: str | None
    key: str
    reason: str

    def __str__(self) -> str:
        """The problem as one line a rule author can act on."""
        parts = [str(self.file)]
        parts += [f"line {self.line}"] if self.line is not None else []
        parts += [f"rule {self.rule}"] if self.rule else []
        parts += [f"key {self.key}"] if self.key else []
        return f"{', '.join(parts)}: {self.reason}"


class RuleSetError(SignalPostError):
    """A rule file cannot be read or does not hold a sound rule set; names file, rule, reason."""

    def __init__(self, problems: Iterable[RuleSetProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("bad rule set:\n" + "\n".join(f"  {p}" for p in self.problems))


# --- what a rule can test: criteria --------------------------------------------------------

Values = tuple[Any, ...]
Reader = Callable[[AnyReport, Registry, frozenset[str]], Values]
Parser = Callable[[Any, Registry, Calendar], Any]


def _owner(report: AnyReport, registry: Registry) -> str | None:
    if isinstance(report, LineFault):
        found = registry.owner_of_line(report.alarmed_object.id)
    elif isinstance(report, CapacityAlarm):
        found = registry.owner_of_resource(report.alarmed_object.id)
    else:
        return None
    return found.id if found is not None else None


def _enum(kind: type[StrEnum]) -> Parser:
    def parse(value: Any, registry: Registry, calendar: Calendar) -> Any:
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(m.value for m in kind)
            raise ValueError(f"unknown value {value!r}; expected one of {known}") from None

    return parse


def _boolean(value: Any, registry: Registry, calendar: Calendar) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _district(value: Any, registry: Registry, calendar: Calendar) -> str:
    if not isinstance(value, str) or registry.district(value) is None:
        raise ValueError(f"unknown district {value!r} in the registry")
    return value


def _enterprise(value: Any, registry: Registry, calendar: Calendar) -> str:
    if not isinstance(value, str) or registry.enterprise(value) is None:
        raise ValueError(f"unknown enterprise {value!r} in the registry")
    return value


def _period(value: Any, registry: Registry, calendar: Calendar) -> str:
    if value not in calendar.names:
        known = ", ".join(sorted(calendar.names)) or "none are defined"
        raise ValueError(f"unknown period {value!r}; periods: {known}")
    return value


@dataclass(frozen=True)
class Criterion:
    """A condition key a rule may test: the kinds it applies to, how to read and parse it."""

    name: str
    kinds: Kinds
    read: Reader
    parse: Parser
    # Every value the key can take, when finite: a condition listing all of them constrains
    # nothing, which the shadowing check must know.
    domain: Callable[[Registry], frozenset[Any]] | None = None


def _choice(name: str, kinds: Kinds, read: Reader, kind: type[StrEnum]) -> Criterion:
    return Criterion(name, kinds, read, _enum(kind), lambda registry: frozenset(kind))


def _flag(name: str, kinds: Kinds, read: Reader) -> Criterion:
    return Criterion(name, kinds, read, _boolean, lambda registry: frozenset({True, False}))


# The report's `kind` is a criterion too, but rules keep it apart as their set of kinds.
CRITERIA: Mapping[str, Criterion] = {
    c.name: c
    for c in (
        _choice("kind", ALL_KINDS, lambda r, g, p: (ReportKind(r.kind),), ReportKind),
        Criterion(
            "district",
            ALL_KINDS,
            lambda r, g, p: (r.district,),
            _district,
            lambda g: frozenset(d.id for d in g.districts),
        ),
        # Any of the listed periods active at the report's occurred_at is enough.
        Criterion("period", ALL_KINDS, lambda r, g, p: tuple(sorted(p)), _period),
        Criterion("reported_by", ALL_KINDS, lambda r, g, p: (r.reported_by,), _enterprise),
        _choice("severity", _TELECOM, lambda r, g, p: (r.perceived_severity,), PerceivedSeverity),
        Criterion("operator", _TELECOM, lambda r, g, p: (r.operator,), _enterprise),
        Criterion(
            "owner", _TELECOM, lambda r, g, p: tuple(filter(None, [_owner(r, g)])), _enterprise
        ),
        _choice(
            "service_class", _LINE, lambda r, g, p: (r.alarmed_object.service_class,), ServiceClass
        ),
        _flag("election_critical", _LINE, lambda r, g, p: (r.election_critical,)),
        _choice("metric", _CAPACITY, lambda r, g, p: (r.metric,), CapacityMetric),
        _choice("resource_type", _CAPACITY, lambda r, g, p: (r.alarmed_object.type,), ResourceType),
        Criterion("post_office", _PARCEL, lambda r, g, p: (r.post_office,), _enterprise),
        _choice("item_type", _PARCEL, lambda r, g, p: (r.item.type,), ItemType),
        _choice("custody_status", _PARCEL, lambda r, g, p: (r.custody_status,), CustodyStatus),
        _flag("election_related", _PARCEL, lambda r, g, p: (r.election_related,)),
        # Any of the listed indicators is enough.
        Criterion("indicator", _PARCEL, lambda r, g, p: r.indicators, _enum(Indicator)),
    )
}


@dataclass(frozen=True)
class Condition:
    """One test of a rule: the report's value(s) for `criterion` meet one of `allowed`."""

    criterion: Criterion
    allowed: frozenset[Any]

    def observe(self, report: AnyReport, registry: Registry, periods: frozenset[str]) -> Values:
        """What the report shows for this criterion (empty when it shows nothing)."""
        return self.criterion.read(report, registry, periods)

    def holds(self, observed: Values) -> bool:
        """Whether any observed value is allowed: one value for most keys, several for some."""
        return not self.allowed.isdisjoint(observed)

    def constrains(self, registry: Registry) -> bool:
        """False when the condition allows every value its key can take."""
        domain = self.criterion.domain
        return domain is None or not self.allowed >= domain(registry)


# --- who a rule names: resolvers, roles, enterprise ids -------------------------------------

Found = tuple[tuple[str, ...], str | None]


def _field(name: str) -> Callable[[AnyReport, Registry, str | None], Found]:
    return lambda report, registry, primary: ((getattr(report, name),), None)


def _owner_of(asset: str) -> Callable[[AnyReport, Registry, str | None], Found]:
    def find(report: AnyReport, registry: Registry, primary: str | None) -> Found:
        asset_id = report.alarmed_object.id
        owner = _owner(report, registry)
        if owner is None:
            return (), f"no owner of {asset} {asset_id} in the registry"
        return (owner,), f"owner of {asset} {asset_id} is {owner} per registry"

    return find


def _post_office_of_district(report: AnyReport, registry: Registry, primary: str | None) -> Found:
    office = registry.post_office_for(report.district)
    if office is None:
        return (), f"no post office serves district {report.district} in the registry"
    return (office.id,), f"post office of district {report.district} is {office.id} per registry"


def _peer_operators(report: AnyReport, registry: Registry, primary: str | None) -> Found:
    peers = tuple(e.id for e in registry.operators_in(report.district) if e.id != primary)
    if not peers:
        return (), f"no other operator works in district {report.district} per registry"
    return peers, f"operators in district {report.district} besides the primary: " + ", ".join(
        peers
    )


def _primary(report: AnyReport, registry: Registry, primary: str | None) -> Found:
    return (primary,) if primary else (), None


@dataclass(frozen=True)
class Resolver:
    """A name that stands for enterprises found from the report and the registry."""

    name: str
    kinds: Kinds
    # At most one enterprise, so it can be a primary assignee.
    single: bool
    # Never finds nothing for a report that passed check_references.
    always: bool
    find: Callable[[AnyReport, Registry, str | None], Found]


RESOLVERS: Mapping[str, Resolver] = {
    r.name: r
    for r in (
        Resolver("operator", _TELECOM, True, True, _field("operator")),
        Resolver("post_office", _PARCEL, True, True, _field("post_office")),
        Resolver("reported_by", ALL_KINDS, True, True, _field("reported_by")),
        Resolver("owner_of_line", _LINE, True, False, _owner_of("line")),
        Resolver("owner_of_resource", _CAPACITY, True, False, _owner_of("resource")),
        Resolver("post_office_of_district", ALL_KINDS, True, False, _post_office_of_district),
        Resolver("peer_operators_in_district", ALL_KINDS, False, False, _peer_operators),
        # The rule's primary assignee; only meaningful once the primary is known.
        Resolver("primary", ALL_KINDS, False, True, _primary),
    )
}


@dataclass(frozen=True)
class Resolution:
    """Enterprises a party stood for in one decision, and the registry fact behind it."""

    ids: tuple[str, ...]
    words: str | None


@dataclass(frozen=True)
class Party:
    """A name in a rule's actions: a resolver, a role of the rule file, or an enterprise id."""

    ref: str
    resolver: Resolver | None = None
    members: tuple[str, ...] = ()

    @property
    def kinds(self) -> Kinds:
        """The report kinds this party can be found for."""
        return self.resolver.kinds if self.resolver else ALL_KINDS

    @property
    def always(self) -> bool:
        """Whether it always stands for at least one enterprise."""
        return self.resolver.always if self.resolver else bool(self.members)

    @property
    def single(self) -> bool:
        """Whether it stands for at most one enterprise."""
        return self.resolver.single if self.resolver else len(self.members) == 1

    def resolve(self, report: AnyReport, registry: Registry, primary: str | None) -> Resolution:
        """The enterprises it stands for in this report's decision."""
        if self.resolver is None:
            return Resolution(self.members, None)
        return Resolution(*self.resolver.find(report, registry, primary))


# --- the compiled rule set -----------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One escalation step of a rule: after a missed deadline, whom to tell."""

    after: timedelta
    notify: tuple[Party, ...]


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions, whether evaluation continues, and the actions."""

    id: str
    description: str
    line: int | None
    kinds: Kinds
    conditions: tuple[Condition, ...]
    continues: bool
    # Fallbacks in order: the first that finds an enterprise is the primary.
    primary: tuple[Party, ...] = ()
    notify: tuple[Party, ...] = ()
    support: tuple[Party, ...] = ()
    priority: Priority | None = None
    ack_within: timedelta | None = None
    resolve_within: timedelta | None = None
    escalation: tuple[Level, ...] = ()

    @property
    def always_finds_primary(self) -> bool:
        """Whether the primary is found for every report the conditions let through."""
        return any(party.always for party in self.primary)


@dataclass(frozen=True)
class RuleSet:
    """An ordered, checked rule set with its calendar; `version` hashes its parsed content."""

    version: str
    rules: tuple[Rule, ...]
    calendar: Calendar
    source: Path
    registry_version: str = field(default="", compare=False)


# --- the file's shape --------------------------------------------------------------------

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
        return _zone(zone)


def _zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return zone


# --- loading -----------------------------------------------------------------------------


class _Where:
    """Turns a key path of the file into a located problem: line and rule id."""

    def __init__(self, file: Path, raw: Any, lines: dict[Key, int]) -> None:
        self.file, self.raw, self.lines = file, raw, lines
        self.problems: list[RuleSetProblem] = []

    def add(self, key: Key, reason: str) -> None:
        """Record a problem at `key`, located at the nearest line the file has for it."""
        line = next(
            (self.lines[key[:n]] for n in range(len(key), -1, -1) if key[:n] in self.lines), None
        )
        self.problems.append(
            RuleSetProblem(self.file, line, self._rule(key), field_path(key), reason)
        )

    def _rule(self, key: Key) -> str | None:
        if len(key) < 2 or key[0] != "rules" or not isinstance(key[1], int):
            return None
        try:
            rule_id = self.raw["rules"][key[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return str(rule_id) if rule_id is not None else f"#{key[1] + 1}"


def load_rule_set(path: Path, registry: Registry) -> RuleSet:
    """Read, check and compile a rule file against `registry`; RuleSetError on any problem."""
    path = Path(path)
    raw, lines, duplicates = _read_yaml(path)
    where = _Where(path, raw, lines)
    for key in duplicates:
        where.add(key, "key repeated; YAML would keep only the last one")
    try:
        spec = _FileSpec.model_validate(raw)
    except ValidationError as error:
        for detail in error_details(error):
            where.add(tuple(detail["loc"]), detail["msg"])
        raise RuleSetError(where.problems) from None
    calendar = _calendar(spec, where)
    rules = tuple(_compile_rules(spec, registry, calendar, where))
    if not where.problems:
        _check_shadowing(rules, registry, where)
        _check_coverage(rules, registry, where)
    if where.problems:
        raise RuleSetError(where.problems)
    version = _content_hash(spec.roles, rules, calendar)
    return RuleSet(version, rules, calendar, path, registry.version)


def _read_yaml(file: Path) -> tuple[Any, dict[Key, int], list[Key]]:
    try:
        found = read_located_yaml(file)
    except YamlReadError as exc:
        raise RuleSetError([RuleSetProblem(file, exc.line, None, "", exc.reason)]) from None
    return found.data, found.lines, found.duplicates


def _calendar(spec: _FileSpec, where: _Where) -> Calendar:
    periods = []
    for name, period in spec.periods.items():
        try:
            zone_name = _zone(period.timezone or spec.timezone)
        except ValueError as exc:
            where.add(("periods", name, "timezone"), str(exc))
            continue
        zone = ZoneInfo(zone_name)
        start, end = period.start.replace(tzinfo=zone), period.end.replace(tzinfo=zone)
        if end <= start:
            where.add(("periods", name, "end"), f"period {name} ends before it starts")
            continue
        periods.append(Period(name, start, end, zone_name, period.description))
    return Calendar(tuple(sorted(periods, key=lambda p: p.name)))


def _compile_rules(
    spec: _FileSpec, registry: Registry, calendar: Calendar, where: _Where
) -> Iterator[Rule]:
    roles = _roles(spec, registry, where)
    seen: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        at: Key = ("rules", index)
        if rule.id in seen:
            where.add((*at, "id"), f"rule id {rule.id!r} is also used by rule #{seen[rule.id] + 1}")
        seen.setdefault(rule.id, index)
        compiled = _compile_rule(rule, at, spec, roles, registry, calendar, where)
        if compiled is not None:
            yield compiled


def _roles(spec: _FileSpec, registry: Registry, where: _Where) -> dict[str, tuple[str, ...]]:
    roles: dict[str, tuple[str, ...]] = {}
    for name, members in spec.roles.items():
        if name in RESOLVERS or registry.enterprise(name) is not None:
            where.add(("roles", name), f"role name {name!r} is already a resolver or enterprise")
        for j, member in enumerate(members):
            if registry.enterprise(member) is None:
                where.add(("roles", name, j), f"unknown enterprise {member!r} in the registry")
        roles[name] = members
    return roles


def _compile_rule(
    rule: _RuleSpec,
    at: Key,
    spec: _FileSpec,
    roles: Mapping[str, tuple[str, ...]],
    registry: Registry,
    calendar: Calendar,
    where: _Where,
) -> Rule | None:
    before = len(where.problems)
    declared, conditions = _conditions(rule.when, (*at, "when"), registry, calendar, where)
    then, then_at = rule.then, (*at, "then")

    def parties(refs: tuple[str, ...], key: Key) -> tuple[Party, ...]:
        return tuple(_party(ref, (*key, j), roles, registry, where) for j, ref in enumerate(refs))

    primary = parties(then.primary, (*then_at, "primary"))
    notify = parties(then.notify, (*then_at, "notify"))
    support = parties(then.support, (*then_at, "support"))
    escalation = _escalation(then.escalation, then_at, spec, parties, where)
    _check_actions(rule, then_at, primary, where)
    everything = [
        *conditions,
        *primary,
        *notify,
        *support,
        *(p for lv in escalation for p in lv.notify),
    ]
    kinds = _kinds(declared, everything, (*at, "when"), where)
    if len(where.problems) > before:
        return None
    return Rule(
        id=rule.id,
        description=rule.description,
        line=where.lines.get(at),
        kinds=kinds,
        conditions=conditions,
        continues=rule.continue_,
        primary=primary,
        notify=notify,
        support=support,
        priority=then.priority,
        ack_within=then.ack_within,
        resolve_within=then.resolve_within,
        escalation=escalation,
    )


def _conditions(
    when: dict[str, Any], at: Key, registry: Registry, calendar: Calendar, where: _Where
) -> tuple[Kinds | None, tuple[Condition, ...]]:
    declared: Kinds | None = None
    conditions = []
    for key, raw in when.items():
        criterion = CRITERIA.get(key)
        if criterion is None:
            known = ", ".join(sorted(CRITERIA))
            where.add((*at, key), f"unknown condition {key!r}; conditions: {known}")
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            where.add((*at, key), "an empty list never matches")
            continue
        allowed = set()
        for j, value in enumerate(values):
            try:
                allowed.add(criterion.parse(value, registry, calendar))
            except ValueError as exc:
                where.add((*at, key, j) if isinstance(raw, list) else (*at, key), str(exc))
        if key == "kind":
            declared = frozenset(allowed)
        else:
            conditions.append(Condition(criterion, frozenset(allowed)))
    return declared, tuple(sorted(conditions, key=lambda c: c.criterion.name))


def _party(
    ref: str, at: Key, roles: Mapping[str, tuple[str, ...]], registry: Registry, where: _Where
) -> Party:
    if ref in RESOLVERS:
        return Party(ref, resolver=RESOLVERS[ref])
    if ref in roles:
        return Party(ref, members=roles[ref])
    if registry.enterprise(ref) is None:
        where.add(at, f"unknown enterprise, role or resolver {ref!r}")
    return Party(ref, members=(ref,))


def _escalation(
    chain: str | tuple[_LevelSpec, ...] | None,
    then_at: Key,
    spec: _FileSpec,
    parties: Callable[[tuple[str, ...], Key], tuple[Party, ...]],
    where: _Where,
) -> tuple[Level, ...]:
    at: Key = (*then_at, "escalation")
    if isinstance(chain, str):
        if chain not in spec.escalations:
            known = ", ".join(sorted(spec.escalations)) or "none are defined"
            where.add(at, f"unknown escalation chain {chain!r}; chains: {known}")
            return ()
        at, chain = ("escalations", chain), spec.escalations[chain]
    levels = tuple(
        Level(step.after, parties(step.notify, (*at, n, "notify")))
        for n, step in enumerate(chain or ())
    )
    for n, (earlier, later) in enumerate(pairwise(levels)):
        if later.after < earlier.after:
            where.add((*at, n + 1, "after"), "levels must come in order of their delay")
    for n, level in enumerate(levels):
        # EscalationLevel needs someone to tell; a lookup that can find nobody cannot promise it.
        for j, party in enumerate(level.notify):
            if not party.always:
                where.add(
                    (*at, n, "notify", j),
                    f"{party.ref} may find nobody; escalate to a fixed enterprise, role or primary",
                )
    return levels


def _check_actions(rule: _RuleSpec, at: Key, primary: tuple[Party, ...], where: _Where) -> None:
    then = rule.then
    decides = ("primary", "priority", "ack_within", "resolve_within", "escalation")
    if rule.continue_:
        # A continuing rule only adds people; the first terminal rule decides the rest, so
        # the outcome never depends on which of two continuing rules came last.
        for key in decides:
            if getattr(then, key) not in (None, ()):
                where.add(
                    (*at, key), f"a continuing rule may only set notify and support, not {key}"
                )
        return
    for key in decides[:4]:
        if getattr(then, key) in (None, ()):
            where.add((*at, key), f"a rule that does not continue must set {key}")
    for j, party in enumerate(primary):
        if not party.single:
            where.add(
                (*at, "primary", j),
                f"{party.ref} may stand for several enterprises; a primary is one",
            )
    if then.ack_within and then.resolve_within and then.ack_within > then.resolve_within:
        where.add((*at, "ack_within"), "ack_within is longer than resolve_within")


def _kinds(declared: Kinds | None, used: list[Condition | Party], at: Key, where: _Where) -> Kinds:
    kinds = declared if declared is not None else ALL_KINDS
    for item in used:
        name, fits = (
            (item.criterion.name, item.criterion.kinds)
            if isinstance(item, Condition)
            else (item.ref, item.kinds)
        )
        if declared is not None and not declared <= fits:
            wrong = ", ".join(sorted(declared - fits))
            where.add((*at, "kind"), f"{name} does not apply to {wrong}")
        kinds &= fits
    if not kinds and declared is None:
        where.add(at, "no report kind has everything this rule uses; set kind")
    return kinds


def _subsumes(earlier: Rule, later: Rule, registry: Registry) -> bool:
    """Whether `earlier` matches every report `later` matches (a sound, not complete, test)."""
    if earlier.continues or not earlier.always_finds_primary or not earlier.kinds >= later.kinds:
        return False
    theirs = {c.criterion.name: c for c in later.conditions}
    for mine in earlier.conditions:
        other = theirs.get(mine.criterion.name)
        if other is None and mine.constrains(registry):
            return False
        if other is not None and not other.allowed <= mine.allowed:
            return False
    return True


def _check_shadowing(rules: tuple[Rule, ...], registry: Registry, where: _Where) -> None:
    for n, later in enumerate(rules):
        earlier = next((e for e in rules[:n] if _subsumes(e, later, registry)), None)
        if earlier is not None:
            # Shadowing is checked only when every rule compiled, so `n` is its place in the file.
            where.add(
                ("rules", n),
                f"never matches: earlier rule {earlier.id} (line {earlier.line})"
                " always matches first",
            )


def _check_coverage(rules: tuple[Rule, ...], registry: Registry, where: _Where) -> None:
    # Totality: each kind needs a last resort, a terminal rule that nothing can stop matching.
    for kind in sorted(ALL_KINDS):
        if not any(kind in r.kinds for r in rules):
            where.add(("rules",), f"no rule covers report kind {kind}")
        elif not any(
            kind in r.kinds
            and not r.continues
            and r.always_finds_primary
            and not any(c.constrains(registry) for c in r.conditions)
            for r in rules
        ):
            where.add(
                ("rules",),
                f"no catch-all rule for {kind}: add a last rule with only `kind: {kind}`"
                " and a primary that always resolves",
            )


def _content_hash(
    roles: Mapping[str, tuple[str, ...]], rules: tuple[Rule, ...], calendar: Calendar
) -> str:
    # The parsed content, not the file text: comments and layout change no decision, so they
    # must not change the version decisions record; rule order and every value do.
    content = {
        "periods": [
            {
                "name": p.name,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "timezone": p.timezone,
                "description": p.description,
            }
            for p in calendar.periods
        ],
        "roles": {name: list(members) for name, members in sorted(roles.items())},
        "rules": [_rule_content(rule) for rule in rules],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rule_content(rule: Rule) -> dict[str, Any]:
    def refs(parties: tuple[Party, ...]) -> list[str]:
        return [p.ref for p in parties]

    def seconds(delta: timedelta | None) -> float | None:
        return delta.total_seconds() if delta is not None else None

    return {
        "id": rule.id,
        "description": rule.description,
        "kinds": sorted(rule.kinds),
        "when": {c.criterion.name: sorted(map(str, c.allowed)) for c in rule.conditions},
        "continue": rule.continues,
        "primary": refs(rule.primary),
        "notify": refs(rule.notify),
        "support": refs(rule.support),
        "priority": rule.priority,
        "ack_within": seconds(rule.ack_within),
        "resolve_within": seconds(rule.resolve_within),
        "escalation": [
            {"after": seconds(lv.after), "notify": refs(lv.notify)} for lv in rule.escalation
        ],
    }
