"""The reference registry: districts, enterprises and ownership, loaded from validated YAML."""

from schemas.registry.loader import REFERENCE_REGISTRY, consistency_problems, load_registry
from schemas.registry.models import (
    Contact,
    District,
    DistrictKind,
    DutyTeam,
    Enterprise,
    EnterpriseKind,
    EscalationStep,
    Holdings,
    Ownership,
    Registry,
)
from schemas.registry.roster_loader import ROSTER_DIR, load_rosters
from schemas.registry.rosters import (
    Channel,
    ChannelKind,
    Duty,
    Person,
    Roster,
    RosterHistory,
    Rosters,
    in_quiet_hours,
    rosters_at,
)

__all__ = [
    "REFERENCE_REGISTRY",
    "ROSTER_DIR",
    "Channel",
    "ChannelKind",
    "Contact",
    "District",
    "DistrictKind",
    "Duty",
    "DutyTeam",
    "Enterprise",
    "EnterpriseKind",
    "EscalationStep",
    "Holdings",
    "Ownership",
    "Person",
    "Registry",
    "Roster",
    "RosterHistory",
    "Rosters",
    "consistency_problems",
    "in_quiet_hours",
    "load_registry",
    "load_rosters",
    "rosters_at",
]
