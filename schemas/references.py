"""Check a valid report's ids against the registry: unknown names rejected, with a near match."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from schemas.errors import Problem
from schemas.kinds import KIND, owner
from schemas.registry import EnterpriseKind, Registry
from schemas.reports import AnyReport

__all__ = ["check_publisher", "check_references"]


def check_publisher(report: AnyReport, publisher: str, registry: Registry) -> Problem | None:
    """Why `publisher` may not publish `report` (None: it may): it reports in its own name
    and about its own network or office. The Department (the registry's supervisor) may
    report on any enterprise's network, but in its own name too."""
    if report.reported_by != publisher:
        return Problem(
            field="reported_by",
            reason=f"{report.reported_by!r} is not the publisher {publisher!r}",
        )
    field, about = owner(report)
    found = registry.enterprise(publisher)
    if about == publisher or (found is not None and found.kind is EnterpriseKind.SUPERVISOR):
        return None
    return Problem(
        field=field,
        reason=f"{about!r} is another enterprise; the publisher {publisher!r} reports only "
        "on its own",
    )


def check_references(report: AnyReport, registry: Registry) -> tuple[Problem, ...]:
    """Ids in the report the registry does not know, or knows as the wrong kind; empty if none."""
    return (
        *_enterprise(registry, "reported_by", report.reported_by, None),
        *_enterprise(registry, *owner(report), KIND[report.kind].owner_kind),
        *_district(registry, report.district),
    )


def _enterprise(
    registry: Registry, field: str, enterprise_id: str, kind: EnterpriseKind | None
) -> Iterator[Problem]:
    enterprise = registry.enterprise(enterprise_id)
    if enterprise is None:
        known = (e.id for e in registry.enterprises if kind is None or e.kind is kind)
        yield _unknown(field, "enterprise", enterprise_id, known)
    elif kind is not None and enterprise.kind is not kind:
        reason = f"{enterprise_id!r} is a {enterprise.kind.value} enterprise, not {kind.value}"
        yield Problem(field=field, reason=reason)


def _district(registry: Registry, district_id: str) -> Iterator[Problem]:
    if registry.district(district_id) is None:
        yield _unknown("district", "district", district_id, (d.id for d in registry.districts))


def _unknown(field: str, what: str, name: str, known: Iterable[str]) -> Problem:
    known = list(known)
    # A shortened id ("viettel" for "viettel-quang-nam") is the commonest slip; then typos.
    near = [k for k in known if k.startswith(name)][:2]
    near = near if len(near) == 1 else difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return Problem(field=field, reason=f"unknown {what} {name!r} in the registry{hint}")
