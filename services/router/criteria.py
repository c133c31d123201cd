"""What a rule can test: each condition key, the kinds it fits, how it reads and parses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, overload

from schemas.envelope import ReportEnvelope
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
    SuspiciousParcel,
)
from services.router.calendar import Calendar
from services.router.kinds import ALL_KINDS, CAPACITY, LINE, PARCEL, TELECOM, Kinds
from services.router.parties import asset_owner

__all__ = ["CRITERIA", "Condition", "Criterion"]

Values = tuple[Any, ...]
Reader = Callable[[AnyReport, Registry, frozenset[str]], Values]
Parser = Callable[[Any, Registry, Calendar], Any]
A = TypeVar("A", bound=ReportEnvelope)
B = TypeVar("B", bound=ReportEnvelope)


@overload
def _of(models: type[A], read: Callable[[A], Values]) -> Reader: ...
@overload
def _of(models: tuple[type[A], type[B]], read: Callable[[A | B], Values]) -> Reader: ...
def _of(
    models: type[ReportEnvelope] | tuple[type[ReportEnvelope], ...],
    read: Callable[[Any], Values],
) -> Reader:
    """A reader of fields only `models` have: the engine reads a criterion only for a report of
    the rule's kinds, which loading keeps within the criterion's, so another model is a bug."""

    def reader(report: AnyReport, registry: Registry, periods: frozenset[str]) -> Values:
        if not isinstance(report, models):
            raise TypeError(f"this criterion does not read a {report.kind} report")
        return read(report)

    return reader


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
    # Not a string first: a list or mapping in a rule file is not hashable, so `in` would
    # raise TypeError rather than report the bad value.
    if not isinstance(value, str) or value not in calendar.names:
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
        _choice(
            "severity",
            TELECOM,
            _of((LineFault, CapacityAlarm), lambda r: (r.perceived_severity,)),
            PerceivedSeverity,
        ),
        Criterion(
            "operator",
            TELECOM,
            _of((LineFault, CapacityAlarm), lambda r: (r.operator,)),
            _enterprise,
        ),
        Criterion(
            "owner", TELECOM, lambda r, g, p: tuple(filter(None, [asset_owner(r, g)])), _enterprise
        ),
        _choice(
            "service_class",
            LINE,
            _of(LineFault, lambda r: (r.alarmed_object.service_class,)),
            ServiceClass,
        ),
        _flag("election_critical", LINE, _of(LineFault, lambda r: (r.election_critical,))),
        _choice("metric", CAPACITY, _of(CapacityAlarm, lambda r: (r.metric,)), CapacityMetric),
        _choice(
            "resource_type",
            CAPACITY,
            _of(CapacityAlarm, lambda r: (r.alarmed_object.type,)),
            ResourceType,
        ),
        Criterion(
            "post_office", PARCEL, _of(SuspiciousParcel, lambda r: (r.post_office,)), _enterprise
        ),
        _choice("item_type", PARCEL, _of(SuspiciousParcel, lambda r: (r.item.type,)), ItemType),
        _choice(
            "custody_status",
            PARCEL,
            _of(SuspiciousParcel, lambda r: (r.custody_status,)),
            CustodyStatus,
        ),
        _flag("election_related", PARCEL, _of(SuspiciousParcel, lambda r: (r.election_related,))),
        # Any of the listed indicators is enough.
        Criterion(
            "indicator", PARCEL, _of(SuspiciousParcel, lambda r: r.indicators), _enum(Indicator)
        ),
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
