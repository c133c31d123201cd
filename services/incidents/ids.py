"""Deterministic ids: the same input from the same state always gets the same incident, task
and event ids, so a reprocessed input repeats ids the recorder already holds."""

from __future__ import annotations

import hashlib
from datetime import datetime

__all__ = ["digest", "event_id", "incident_id", "task_id"]


def digest(*parts: str, length: int = 32) -> str:
    """A hex SHA-256 of the parts, joined by a separator no id or slug contains, truncated."""
    # "\n" never appears in ids, slugs or event types, so ("a", "bc") and ("ab", "c") differ.
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:length]


def incident_id(incident_key: str, ordinal: int, opened_at: datetime) -> str:
    """The id of the key's `ordinal`-th incident (from 1), opened at `opened_at`; hashed.

    The opening time keeps ids unique when a key's numbering starts again at 1, after its
    state has left the hot state at the end of its retention.
    """
    return f"inc-{ordinal}-{digest(incident_key, str(ordinal), opened_at.isoformat(), length=24)}"


def stray_incident_id(incident_key: str, command_id: str) -> str:
    """Where a command for an incident its key never had is rejected: a timeline of its own.

    The id it claims may be another key's incident, or claimed by many commands: filed under
    it, every such rejection took its sequence 1, and all but the first were set aside.
    """
    return f"stray-{digest(incident_key, command_id)}"


def task_id(incident_id: str, enterprise: str) -> str:
    """The id of an enterprise's one task for an incident."""
    return f"task-{digest(incident_id, enterprise, length=24)}"


def event_id(incident_id: str, sequence: int, event_type: str, cause: str) -> str:
    """The id of a lifecycle event: its place in the timeline, its type and what caused it."""
    # The sequence keeps ids unique when a long-forgotten command id is reused; the cause and
    # type make a repeat of the same input from the same state repeat the same id.
    return f"ev-{digest(incident_id, str(sequence), event_type, cause)}"
