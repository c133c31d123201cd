"""Lifecycle event payloads for tests and benchmarks: one incident's story, start to end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from schemas.example_reports import report

HASH = "sha256:" + "ab" * 32
SERVICE = {"kind": "service", "id": "incident-manager"}
DISPATCHER = {"kind": "enterprise", "id": "vnpt-quang-nam", "person": "Trực ban Tiên Phước"}
ENTERPRISE = "vnpt-quang-nam"
# Minutes after opening at which each step of a typical life happens.
STORY = (
    ("incident_opened", 0),
    ("incident_routed", 0),
    ("deadline_set", 0),
    ("incident_acknowledged", 4),
    ("work_started", 6),
    ("incident_resolved", 95),
    ("incident_closed", 100),
)


def _iso(at: datetime) -> str:
    return at.isoformat()


def _task(incident: dict[str, Any], opened: datetime) -> dict[str, Any]:
    return {
        "task_id": f"{incident['incident_id']}:task:{ENTERPRISE}",
        "incident_id": incident["incident_id"],
        "incident_key": incident["incident_key"],
        "enterprise": ENTERPRISE,
        "role": "primary",
        "kind": "line_fault",
        "district": incident["district"],
        "summary": "Đứt cáp đường dây nóng bầu cử",
        "priority": "p1",
        "ack_due_at": _iso(opened + timedelta(minutes=15)),
        "resolve_due_at": _iso(opened + timedelta(hours=2)),
        "updated_at": _iso(opened),
    }


def _body(kind: str, incident: dict[str, Any], opened: datetime) -> dict[str, Any]:
    """The fields particular to an event of type `kind`."""
    task = _task(incident, opened)
    on_task = {"task_id": task["task_id"], "enterprise": ENTERPRISE, "actor": DISPATCHER}
    payload = report(
        "line_fault",
        f"{incident['incident_id']}-report",
        district=incident["district"],
        occurred_at=_iso(opened - timedelta(minutes=2)),
        reported_at=_iso(opened - timedelta(minutes=1)),
        **{"alarmed_object.id": incident["line"]},
    )
    decision = {
        "rule_id": "hotline-critical",
        "ruleset_version": HASH,
        "registry_version": HASH,
        "primary": ENTERPRISE,
        "priority": "p1",
        "ack_within": "PT15M",
        "resolve_within": "PT2H",
        "reasons": ["election hotline, critical"],
    }
    return {
        "incident_opened": {"report": payload, "summary": task["summary"]},
        "incident_routed": {"decision": decision, "tasks": [task]},
        "deadline_set": {
            "task_id": task["task_id"],
            "enterprise": ENTERPRISE,
            "deadline": "acknowledge",
            "due_at": task["ack_due_at"],
        },
        "incident_acknowledged": on_task | {"note": "Đã nhận"},
        "work_started": on_task,
        "incident_resolved": on_task | {"resolution": "Đã nối lại cáp"},
        "incident_closed": {"reason": "resolved and confirmed"},
    }[kind]


def incident_story(
    number: int,
    opened: datetime,
    *,
    district: str = "tien-phuoc",
    steps: int = len(STORY),
    pace: float = 1.0,
) -> list[dict[str, Any]]:
    """The first `steps` lifecycle events of incident `number`, opened at `opened`.

    `pace` stretches the time each step takes (5: five times slower, missing its deadlines).
    """
    incident = {
        "incident_id": f"inc-{number}",
        "incident_key": f"line_fault:{ENTERPRISE}:L-{number}",
        "district": district,
        "line": f"L-{number}",
    }
    events = []
    for sequence, (kind, minutes) in enumerate(STORY[:steps], 1):
        cause = (
            {"event_id": events[-1]["event_id"]}
            if events
            else {"reports": [{"reported_by": ENTERPRISE, "report_id": f"inc-{number}-report"}]}
        )
        events.append(
            {
                "type": kind,
                "event_id": f"inc-{number}:{sequence}",
                "incident_key": incident["incident_key"],
                "incident_id": incident["incident_id"],
                "sequence": sequence,
                "occurred_at": _iso(opened + timedelta(minutes=minutes * pace)),
                "actor": SERVICE,
                "caused_by": cause,
            }
            | _body(kind, incident, opened)
        )
    return events


def storm_story(number: int, opened: datetime, events: int) -> list[dict[str, Any]]:
    """Incident `number` in a storm: opened, routed, its deadline set, then a repeat report
    linked to it every second until it has `events` events (its line keeps alarming)."""
    head = incident_story(number, opened, steps=min(events, 3))
    opening = head[0]["report"]
    links = []
    for sequence in range(len(head) + 1, events + 1):
        at = opened + timedelta(seconds=sequence)
        report_id = f"inc-{number}-report-{sequence}"
        repeat = opening | {"report_id": report_id, "reported_at": _iso(at)}
        links.append(
            {
                "type": "duplicate_linked",
                "event_id": f"inc-{number}:{sequence}",
                "incident_key": head[0]["incident_key"],
                "incident_id": head[0]["incident_id"],
                "sequence": sequence,
                "occurred_at": _iso(at),
                "actor": SERVICE,
                "caused_by": {"reports": [{"reported_by": ENTERPRISE, "report_id": report_id}]},
                "report": repeat,
            }
        )
    return head + links


def encoded(event: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of the event as the incident manager publishes it."""
    return event["incident_key"].encode(), json.dumps(event, ensure_ascii=False).encode("utf-8")


REJECTION = {"error": "invalid_transition", "problems": [{"field": "type", "reason": "closed"}]}


def answered_story(
    number: int, opened: datetime, accepted: str, rejected: str
) -> list[dict[str, Any]]:
    """inc-N opened, routed, deadline set; acknowledged by command `accepted`; command
    `rejected` refused with REJECTION: the log as the incident manager answers commands."""
    events = incident_story(number, opened, steps=4)
    events[3]["caused_by"] = {"command_id": accepted}
    refusal = {
        key: events[3][key] for key in ("incident_key", "incident_id", "occurred_at", "actor")
    }
    events.append(
        refusal
        | {
            "type": "command_rejected",
            "event_id": f"inc-{number}:5",
            "sequence": 5,
            "caused_by": {"command_id": rejected},
            "command_id": rejected,
            "command_type": "start_work",
            "error": REJECTION,
        }
    )
    return events
