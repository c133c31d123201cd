"""The recorder's projection over rows already recorded: live state at any sequence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT
from services.recorder import IncidentRow, project_event


def project(rows: Iterable[Mapping[str, Any]]) -> dict[str, IncidentRow]:
    """Each incident's state after its rows (incident_id, event as JSON text, hash), in order."""
    incidents: dict[str, IncidentRow] = {}
    for row in rows:
        event = decode(INCIDENT_EVENT, row["event"].encode("utf-8"))
        incident_id = row["incident_id"]
        incidents[incident_id] = project_event(incidents.get(incident_id), event, row["hash"])
    return incidents
