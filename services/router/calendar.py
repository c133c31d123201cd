"""Named time windows (periods) in a time zone, and which of them hold at a given instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

__all__ = ["Calendar", "Period"]


@dataclass(frozen=True)
class Period:
    """A named window [start, end) of aware instants, written in local time of `timezone`."""

    name: str
    start: datetime
    end: datetime
    timezone: str
    description: str = ""
    # Every report tests every period; comparing POSIX seconds is far cheaper than comparing
    # datetimes in two different zones.
    _bounds: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bounds", (self.start.timestamp(), self.end.timestamp()))

    def contains(self, instant: datetime) -> bool:
        """Whether the instant (aware) falls inside the window; the end is excluded."""
        return self._bounds[0] <= instant.timestamp() < self._bounds[1]

    def describe(self) -> str:
        """The window in words, e.g. 'election_days (2007-05-19..2007-05-21 Asia/Ho_Chi_Minh)'."""
        return f"{self.name} ({self.span()} {self.timezone})"

    def span(self) -> str:
        """Local start..end; whole days are shown as first..last day, both included."""
        if (
            self.start.timetz().replace(tzinfo=None)
            == self.end.timetz().replace(tzinfo=None)
            == (time(0))
        ):
            last_day = (self.end - timedelta(days=1)).date()
            return f"{self.start.date()}..{last_day}"
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class Calendar:
    """The periods a rule set can name; each is tested against a report's source time."""

    periods: tuple[Period, ...] = ()

    def active_at(self, instant: datetime) -> frozenset[str]:
        """Names of the periods containing `instant`, which must be time zone aware."""
        if instant.utcoffset() is None:
            raise ValueError("a calendar needs an aware instant, not a naive one")
        return frozenset(p.name for p in self.periods if p.contains(instant))

    def period(self, name: str) -> Period | None:
        """The period with this name, or None."""
        return next((p for p in self.periods if p.name == name), None)

    @property
    def names(self) -> frozenset[str]:
        """Every period name the calendar defines."""
        return frozenset(p.name for p in self.periods)
