"""Pure: the canonical JSON of a recorded event and the hash chain linking an incident's events.

The form is documented in schemas/README.md ("The hash chain") so that an auditor can
recompute every hash without SignalPost's code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# prev_hash of an incident's first event.
GENESIS_HASH = "0" * 64
# The row columns that must agree with the same fields of the recorded event.
LINKED_COLUMNS = ("event_id", "incident_id", "sequence", "type")


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first row whose link in the hash chain does not hold, and what is wrong with it."""

    incident_id: str
    sequence: int
    event_id: str
    reason: str


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same text from the log and from jsonb."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    """sha256 of the previous hash followed by the event's canonical JSON, in hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def verify_chain(
    rows: Iterable[Mapping[str, Any]], heads: Mapping[str, tuple[int, str]] | None = None
) -> ChainBreak | None:
    """The first broken link among incident_events rows (each incident's in sequence order).

    Rows need event_id, incident_id, sequence, type, event (jsonb text or parsed), prev_hash
    and hash. `heads` (incident id -> last sequence and hash, from the incidents table) also
    catches rows removed from the end of a timeline.
    """
    last: dict[str, tuple[int, str]] = {}
    for row in rows:
        incident = row["incident_id"]
        sequence, prev = last.get(incident, (0, GENESIS_HASH))
        problem = _link_problem(row, sequence + 1, prev)
        if problem:
            return ChainBreak(incident, row["sequence"], row["event_id"], problem)
        last[incident] = (row["sequence"], row["hash"])
    for incident, (sequence, digest) in (heads or {}).items():
        if last.get(incident, (0, GENESIS_HASH)) != (sequence, digest):
            found = last.get(incident, (0, ""))[0]
            reason = f"timeline ends at sequence {found}, the incident's head is at {sequence}"
            return ChainBreak(incident, sequence, "", reason)
    return None


def _link_problem(row: Mapping[str, Any], expected_sequence: int, prev: str) -> str | None:
    """Why this row does not continue the chain, or None when it does."""
    event = row["event"]
    event = json.loads(event) if isinstance(event, str) else event
    if row["sequence"] != expected_sequence:
        found = row["sequence"]
        return f"sequence {found} where {expected_sequence} was due: a row is missing or moved"
    changed = [name for name in LINKED_COLUMNS if event.get(name) != row[name]]
    if changed:
        return f"column {', '.join(changed)} differs from the recorded event"
    if row["prev_hash"] != prev:
        return "prev_hash does not match the previous event's hash"
    if row["hash"] != chain_hash(prev, canonical_json(event)):
        return "hash does not match the event: the event was changed"
    return None
