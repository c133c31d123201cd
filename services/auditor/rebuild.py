"""The recorder's projection over rows already recorded: live state at any sequence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT
from services.recorder import IncidentState, apply


def project(rows: Iterable[Mapping[str, Any]]) -> dict[str, IncidentState]:
    """Each incident's state after its rows (incident_id, event as JSON text, hash), in order."""
    states: dict[str, IncidentState] = {}
    for row in rows:
        event = decode(INCIDENT_EVENT, row["event"].encode("utf-8"))
        states[row["incident_id"]] = apply(states.get(row["incident_id"]), event, row["hash"])
    return states
