"""The table's rows decoded once: the agent's own states, not parsed again at every input.

A key's row is the JSON of its state; parsing it back with pydantic at every input cost
more than deciding the input. The agent keeps the states it wrote (and the rows it read)
beside the exact bytes of their rows: while the table still holds those bytes, the state
is the one decoded, and a row written by anyone else (recovery, a rebalance) is parsed anew.
"""

from __future__ import annotations

from collections import OrderedDict

from services.incidents.state import IncidentState

# States kept decoded; the least recently used leave first (a storm's keys stay in).
CAPACITY = 20_000


class DecodedRows:
    """Decoded states by key, each with the row it was decoded from or written as."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._rows: OrderedDict[bytes, tuple[bytes, IncidentState]] = OrderedDict()
        self._capacity = capacity

    def get(self, key: bytes, row: bytes) -> IncidentState | None:
        """The state of `row` if it is the row kept for `key`, else None."""
        kept = self._rows.get(key)
        if kept is None or (kept[0] is not row and kept[0] != row):
            return None
        self._rows.move_to_end(key)
        return kept[1]

    def put(self, key: bytes, row: bytes, state: IncidentState) -> None:
        """Keep `state` as the decoding of `row`, the key's row now."""
        self._rows[key] = (row, state)
        self._rows.move_to_end(key)
        if len(self._rows) > self._capacity:
            self._rows.popitem(last=False)

    def forget(self, key: bytes) -> None:
        """The key has no row any more."""
        self._rows.pop(key, None)
