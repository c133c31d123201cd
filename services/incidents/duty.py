"""Who a task or a warning addresses: the rosters in force, read by the pure core."""

from __future__ import annotations

from datetime import datetime

from schemas.registry import Duty, Person
from schemas.tasks import OnDuty, PersonRef
from services.incidents.policy import Policy

__all__ = ["on_duty", "person_ref"]


def person_ref(enterprise: str, person: Person) -> PersonRef:
    """A roster's person as the log names them."""
    return PersonRef(enterprise=enterprise, id=person.id, name=person.name)


def on_duty(policy: Policy, enterprise: str, district: str | None, at: datetime) -> OnDuty | None:
    """Whom of `enterprise` a task issued at `at` names; None if it keeps no roster."""
    rosters = policy.rosters_at(at)
    duty: Duty | None = rosters.on_duty(enterprise, district, at) if rosters else None
    if rosters is None or duty is None:
        return None
    return OnDuty(
        team=duty.team.id,
        team_name=duty.team.name,
        person=person_ref(enterprise, duty.person),
        lead=person_ref(enterprise, duty.lead),
        roster_version=rosters.version,
    )
