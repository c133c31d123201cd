"""Rosters and lifecycle events for the notifier's tests: people, and events naming them."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from schemas.lifecycle import DeadlineWarned, IncidentEscalated, IncidentRouted
from schemas.registry import REFERENCE_REGISTRY
from schemas.registry.rosters import Rosters
from tests.support.lifecycle_samples import encoded, incident_story

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
ENTERPRISE = "vnpt-quang-nam"
HASH = "sha256:" + "cd" * 32
E = TypeVar("E", IncidentEscalated, DeadlineWarned)


def person(person_id: str, *channels: dict[str, Any], **preferences: Any) -> dict[str, Any]:
    """A roster's person (as YAML would give it) with `channels` and preferences
    (`quiet=[{"from": "22:00", "until": "06:00"}]`, `min_priority="p3"`)."""
    named = {"id": person_id, "name": person_id.replace("-", " ").title()}
    return named | {"channels": list(channels)} | preferences


def webhook(url: str, **more: Any) -> dict[str, Any]:
    return {"kind": "webhook", "address": url} | more


def email(address: str, **more: Any) -> dict[str, Any]:
    return {"kind": "email", "address": address} | more


def sms(number: str, **more: Any) -> dict[str, Any]:
    return {"kind": "sms", "address": number} | more


def roster(*people: dict[str, Any]) -> dict[str, Any]:
    """ENTERPRISE's roster: the first person on duty around the clock, the last their lead."""
    first, last = people[0]["id"], people[-1]["id"]
    return {
        "enterprise": ENTERPRISE,
        "teams": [{"id": "truc-ban", "name": "Tổ trực ban"}],
        "people": list(people),
        "shifts": [
            {"team": "truc-ban", "from": "00:00", "until": "00:00", "person": first, "lead": last}
        ],
    }


def rosters(*people: dict[str, Any]) -> Rosters:
    """The rosters holding ENTERPRISE's `roster(*people)`."""
    return Rosters.model_validate({"timezone": str(ZONE), "rosters": [roster(*people)]})


def registry_with_roster(directory: Path, *people: dict[str, Any]) -> Path:
    """A copy of the reference registry in `directory` whose only roster is `roster(*people)`."""
    for source in REFERENCE_REGISTRY.glob("*.yaml"):
        shutil.copy(source, directory / source.name)
    (directory / "rosters").mkdir(exist_ok=True)
    # JSON is YAML: the loader reads it as the reference rosters are read.
    text = json.dumps(roster(*people), ensure_ascii=False)
    (directory / "rosters" / f"{ENTERPRISE}.yaml").write_text(text)
    return directory


def ref(person_id: str) -> dict[str, str]:
    """A PersonRef of ENTERPRISE's `person_id`, named as `person` names them."""
    return {"enterprise": ENTERPRISE, "id": person_id, "name": person_id.replace("-", " ").title()}


def routed(
    number: int,
    at: datetime,
    on_duty: str | None,
    *,
    priority: str = "p2",
    caused_by: dict[str, Any] | None = None,
) -> IncidentRouted:
    """Incident `number`'s IncidentRouted at `at`, its one task naming `on_duty` (or no one)."""
    opened, event = incident_story(number, at, steps=2)
    # Caused by the reports, as the incident manager routes them (the sample chains events).
    task = event["tasks"][0] | {"priority": priority}
    if on_duty is not None:
        task["on_duty"] = {
            "team": "truc-ban",
            "team_name": "Tổ trực ban",
            "person": ref(on_duty),
            "lead": ref(on_duty),
            "roster_version": HASH,
        }
    event = event | {"tasks": [task], "caused_by": caused_by or opened["caused_by"]}
    return IncidentRouted.model_validate_json(json.dumps(event))


def escalated(
    number: int, at: datetime, *told: str, priority: str | None = "p2"
) -> IncidentEscalated:
    """Incident `number` escalated at `at`, telling `told`."""
    head = _head(number, at)
    return _event(
        IncidentEscalated,
        head
        | {
            "type": "incident_escalated",
            "level": 1,
            "deadline": "acknowledge",
            "notified": [ENTERPRISE],
            "reason": "not acknowledged in time",
            "told": [ref(p) for p in told],
            "priority": priority,
            "summary": "Đứt cáp đường dây nóng" if priority else None,
        },
    )


def warned(
    number: int, at: datetime, due: datetime, *told: str, priority: str = "p2"
) -> DeadlineWarned:
    """Incident `number`'s acknowledge deadline (due at `due`) warned at `at`, telling `told`."""
    head = _head(number, at)
    return _event(
        DeadlineWarned,
        head
        | {
            "type": "deadline_warned",
            "task_id": f"inc-{number}:task:{ENTERPRISE}",
            "enterprise": ENTERPRISE,
            "deadline": "acknowledge",
            "due_at": due.isoformat(),
            "told": [ref(p) for p in told],
            "priority": priority,
            "summary": "Đứt cáp đường dây nóng",
        },
    )


def _event(model: type[E], fields: dict[str, Any]) -> E:
    # Through JSON, as read from the log: instants are strict about Python values.
    return model.model_validate_json(json.dumps(fields))


def _head(number: int, at: datetime) -> dict[str, Any]:
    first = incident_story(number, at, steps=1)[0]
    keep = ("incident_key", "incident_id", "actor")
    return {k: first[k] for k in keep} | {
        "event_id": f"inc-{number}:tick:{at.timestamp():.0f}",
        "sequence": 9,
        "occurred_at": at.isoformat(),
        "caused_by": {"event_id": f"inc-{number}:3"},
    }


def as_record(event: IncidentRouted | IncidentEscalated | DeadlineWarned) -> tuple[bytes, bytes]:
    """(key, value) of `event` as the incident manager publishes it."""
    return encoded(event.model_dump(mode="json"))
