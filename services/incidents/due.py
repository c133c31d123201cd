"""Which incidents' deadlines are due, known without parsing a state at every timer tick."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

# A due incident's tick that was handled and changed nothing (its deadline is still the
# same) is sent again this long after it was handled; otherwise each deadline is ticked once.
TICK_RESEND_AFTER = timedelta(seconds=30)


class DeadlineIndex:
    """Each incident's next deadline in memory, so a timer tick parses no state.

    Built from the table at the first tick after a start or a rebalance once recovery is
    over, then kept by the agent as it writes states. A due key is ticked once for its
    deadline and not again while that tick is on its way: the timer runs every second, and
    re-sending every due key each time (or every half minute) flooded the agent with its own
    ticks once thousands were due behind a backlog (the crash loop: timer runs of 60-120 s,
    the inputs left waiting). A tick that was handled and changed nothing is sent again
    TICK_RESEND_AFTER after it was handled.
    """

    def __init__(self) -> None:
        self._due: dict[bytes, datetime] | None = None
        # key: the deadline its tick was sent for, and when that tick was handled (None: not yet)
        self._ticked: dict[bytes, tuple[datetime, datetime | None]] = {}

    def forget(self) -> None:
        """Drop the index; the next `due` rebuilds it from the table and ticks again."""
        self._due = None
        self._ticked.clear()

    def set(self, key: bytes, deadline: datetime | None) -> None:
        """Record a key's next deadline (None: nothing pending)."""
        if self._due is None:
            return  # built from the table, which already holds this state, at the next tick
        if deadline is None:
            self._due.pop(key, None)
            self._ticked.pop(key, None)
        else:
            self._due[key] = deadline

    def handled(self, key: bytes, at: datetime) -> None:
        """The agent has decided a tick of `key`'s."""
        ticked = self._ticked.get(key)
        if ticked is not None:
            self._ticked[key] = (ticked[0], at)

    def due(self, now: datetime, build: Callable[[], dict[bytes, datetime]]) -> list[bytes]:
        """The keys with a deadline due by `now` whose tick is not on its way already."""
        if self._due is None:
            self._due = build()
        keys = []
        for key, deadline in self._due.items():
            if deadline <= now and self._may_tick(key, deadline, now):
                self._ticked[key] = (deadline, None)
                keys.append(key)
        return keys

    def _may_tick(self, key: bytes, deadline: datetime, now: datetime) -> bool:
        ticked = self._ticked.get(key)
        if ticked is None or ticked[0] != deadline:
            return True
        handled_at = ticked[1]
        return handled_at is not None and now - handled_at >= TICK_RESEND_AFTER
