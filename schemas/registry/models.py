"""The registry's shape: districts, enterprises, who owns which lines and who serves where."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from schemas.envelope import InboundModel, ShortText, Slug, levels_in_order
from schemas.registry.claims import Ownership, _OwnerIndex
from schemas.registry.topology import Topology, TopologyNode

__all__ = [
    "Contact",
    "District",
    "DistrictKind",
    "DutyTeam",
    "Enterprise",
    "EnterpriseKind",
    "EscalationStep",
    "Holdings",
    "Ownership",
    "Registry",
]

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 .-]{2,30}$")]


class DistrictKind(StrEnum):
    """Administrative kind of a district-level unit (thành phố, thị xã, huyện)."""

    CITY = "city"
    TOWN = "town"
    DISTRICT = "district"


class EnterpriseKind(StrEnum):
    """What an enterprise is to SignalPost."""

    TELECOM = "telecom"
    POSTAL = "postal"
    AUTHORITY = "authority"
    SUPERVISOR = "supervisor"


class District(InboundModel):
    """A district-level unit of the province."""

    id: Slug
    name: ShortText = Field(description="Vietnamese name, e.g. 'Tam Kỳ'.")
    kind: DistrictKind


class Contact(InboundModel):
    """A person or desk to call."""

    name: ShortText
    phone: Phone


class DutyTeam(InboundModel):
    """A team on duty; with no districts listed it covers all of its enterprise's."""

    id: Slug
    name: ShortText
    districts: tuple[Slug, ...] = ()
    contacts: tuple[Contact, ...] = Field(min_length=1)


class EscalationStep(InboundModel):
    """Whom to call inside the enterprise at one level of escalation."""

    level: int = Field(ge=1)
    contacts: tuple[Contact, ...] = Field(min_length=1)


class Holdings(InboundModel):
    """An operator's lines (and circuits) and its capacity resources."""

    lines: Ownership = Ownership()
    resources: Ownership = Ownership()


class Enterprise(InboundModel):
    """An enterprise or authority that reports, handles or is told of incidents."""

    id: Slug
    name: ShortText
    kind: EnterpriseKind
    parent: Slug | None = None
    districts: tuple[Slug, ...] = Field(
        default=(), description="Where it operates (telecom) or which it serves (post office)."
    )
    owns: Holdings = Holdings()
    duty_teams: tuple[DutyTeam, ...] = ()
    escalation: Annotated[tuple[EscalationStep, ...], AfterValidator(levels_in_order)] = ()


@dataclass(frozen=True)
class _Lookup:
    """The registry's indexes and content hash."""

    version: str
    districts: dict[str, District]
    enterprises: dict[str, Enterprise]
    lines: _OwnerIndex[Enterprise]
    resources: _OwnerIndex[Enterprise]
    network: Topology
    serving: dict[tuple[str, EnterpriseKind], tuple[Enterprise, ...]]


class Registry(InboundModel):
    """The reference data decisions are made against; `version` is a hash of its content."""

    name: ShortText
    province: ShortText
    timezone: str = Field(description="IANA time zone of the province, e.g. Asia/Ho_Chi_Minh.")
    districts: tuple[District, ...] = Field(min_length=1)
    enterprises: tuple[Enterprise, ...] = Field(min_length=1)
    topology: tuple[TopologyNode, ...] = Field(
        default=(), description="The network's inventory graph: what each line hangs from."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    def model_post_init(self, context: Any, /) -> None:
        """Build the lookup indexes and the content hash once, at load."""
        self.lookup  # noqa: B018 - built now, so a load error cannot surface mid-routing

    @cached_property
    def lookup(self) -> _Lookup:
        """Indexes over the content, built once; routing reads them for every report."""
        # A plain object in the instance dict: pydantic private attributes go through
        # __getattr__ on every read, which cost more than the lookups themselves.
        # Hash the validated content, not the files: comments, layout and key order do not
        # change a decision, so they must not change the version decisions record.
        content = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        serving: dict[tuple[str, EnterpriseKind], list[Enterprise]] = {}
        for enterprise in self.enterprises:
            for district_id in enterprise.districts:
                serving.setdefault((district_id, enterprise.kind), []).append(enterprise)
        return _Lookup(
            version="sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest(),
            districts={d.id: d for d in self.districts},
            enterprises={e.id: e for e in self.enterprises},
            lines=_OwnerIndex((e, e.owns.lines) for e in self.enterprises),
            resources=_OwnerIndex((e, e.owns.resources) for e in self.enterprises),
            serving={key: tuple(found) for key, found in serving.items()},
            network=Topology(self.topology),
        )

    @property
    def version(self) -> str:
        """The content hash ('sha256:...') that routing decisions record."""
        return self.lookup.version

    @property
    def network(self) -> Topology:
        """The topology's lookups: what an object hangs from at a moment, and what hangs below."""
        return self.lookup.network

    def district(self, district_id: str) -> District | None:
        """The district with this id, or None."""
        return self.lookup.districts.get(district_id)

    def enterprise(self, enterprise_id: str) -> Enterprise | None:
        """The enterprise with this id, or None."""
        return self.lookup.enterprises.get(enterprise_id)

    def owner_of_line(self, line_id: str) -> Enterprise | None:
        """The operator owning a line or circuit id, or None when no one claims it."""
        return self.lookup.lines.owner(line_id)

    def owner_of_resource(self, resource_id: str) -> Enterprise | None:
        """The operator owning a capacity resource id, or None when no one claims it."""
        return self.lookup.resources.owner(resource_id)

    def post_office_for(self, district_id: str) -> Enterprise | None:
        """The post office serving a district, or None."""
        return next(iter(self._serving(district_id, EnterpriseKind.POSTAL)), None)

    def operators_in(self, district_id: str) -> tuple[Enterprise, ...]:
        """The telecom operators operating in a district, in registry order."""
        return self._serving(district_id, EnterpriseKind.TELECOM)

    def of_kind(self, kind: EnterpriseKind) -> tuple[Enterprise, ...]:
        """Every enterprise of one kind, in registry order."""
        return tuple(e for e in self.enterprises if e.kind is kind)

    def _serving(self, district_id: str, kind: EnterpriseKind) -> tuple[Enterprise, ...]:
        return self.lookup.serving.get((district_id, kind), ())
