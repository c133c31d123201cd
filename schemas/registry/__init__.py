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

__all__ = [
    "REFERENCE_REGISTRY",
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
    "consistency_problems",
    "load_registry",
]
