"""Who a rule names: resolvers found from the report and the registry, roles, enterprise ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.registry import Registry
from schemas.reports import AnyReport, CapacityAlarm, LineFault, SuspiciousParcel
from services.router.kinds import ALL_KINDS, CAPACITY, LINE, PARCEL, TELECOM, Kinds

__all__ = ["RESOLVERS", "Party", "Resolution", "Resolver", "asset_owner"]


def asset_owner(report: AnyReport, registry: Registry) -> str | None:
    """The registry owner of the line or resource a report alarms on, if it knows one."""
    if isinstance(report, LineFault):
        found = registry.owner_of_line(report.alarmed_object.id)
    elif isinstance(report, CapacityAlarm):
        found = registry.owner_of_resource(report.alarmed_object.id)
    else:
        return None
    return found.id if found is not None else None


Found = tuple[tuple[str, ...], str | None]


def _field(name: str) -> Callable[[AnyReport, Registry, str | None], Found]:
    return lambda report, registry, primary: ((getattr(report, name),), None)


def _owner_of(asset: str) -> Callable[[AnyReport, Registry, str | None], Found]:
    def find(report: AnyReport, registry: Registry, primary: str | None) -> Found:
        # Its resolvers' kinds are line faults and capacity alarms: a parcel here is a bug.
        if isinstance(report, SuspiciousParcel):
            raise TypeError(f"a suspicious parcel has no {asset} to find the owner of")
        asset_id = report.alarmed_object.id
        owner = asset_owner(report, registry)
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
        Resolver("operator", TELECOM, True, True, _field("operator")),
        Resolver("post_office", PARCEL, True, True, _field("post_office")),
        Resolver("reported_by", ALL_KINDS, True, True, _field("reported_by")),
        Resolver("owner_of_line", LINE, True, False, _owner_of("line")),
        Resolver("owner_of_resource", CAPACITY, True, False, _owner_of("resource")),
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
