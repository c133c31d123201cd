"""Pure: a grouping window per incident key across batches, like Alertmanager's group_interval.

The first reports of a key with no open window are released at once (no added latency) and
open a window of `interval`. Repeats of the key until the window ends are held, and released
together at its end as one update carrying every report; a new window then opens at once,
so a key that goes on storming sends one update per interval, and a window that ends with
nothing held closes. A clear of the key releases the held alarms first, then itself, and
closes the window: per-key order is kept, and the next alarm is news again.

Bounded: a window holds at most `max_refs` reports and `max_bytes` of references (an update
stays far under MAX_MESSAGE_BYTES, and under the incident manager's memory of a key's
reports); at most `max_windows` windows are open and `max_held` reports held in all.
Reaching a cap releases a window early (the window itself, or the oldest one). A held
report keeps only its position, not its bytes. Nothing here reads the clock: `now` comes in.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.codec import MAX_MESSAGE_BYTES
from schemas.envelope import ReportRef
from schemas.reports import AnyReport
from schemas.routing import GroupWindow, RoutingDecision
from services.router.storm import Collapsed, collapse, precedence
from services.runtime.deadletters import RawMessage

__all__ = ["MAX_REFS", "Grouping", "Release"]

# Half of what the incident manager remembers of a key (MAX_SEEN_REPORTS, 4096): an update
# and the one before it are both known to it when a redelivery repeats them.
MAX_REFS = 2000
# References of one update, in JSON; the report and decision it carries take the rest.
MAX_REF_BYTES = MAX_MESSAGE_BYTES // 2
_REF_OVERHEAD = 40  # {"reported_by":"","report_id":""}, and a comma


def ref_bytes(report: AnyReport) -> int:
    """About how many bytes the report's reference takes in a routed message."""
    return len(report.reported_by) + len(report.report_id) + _REF_OVERHEAD


@dataclass
class Release:
    """Reports of one key to route as one message: its representative, that report's decision,
    and every report folded in (references and sources, in the same order)."""

    incident_key: str
    representative: AnyReport
    decision: RoutingDecision
    refs: list[ReportRef]
    index: int  # of the representative's reference in refs
    first_seen: datetime
    last_seen: datetime
    sources: list[RawMessage]
    size: int  # bytes of refs, about
    window: GroupWindow | None = None

    @classmethod
    def of(
        cls, group: Collapsed, decision: RoutingDecision, sources: Sequence[RawMessage]
    ) -> Release:
        """A batch's collapsed group with its representative's decision."""
        reports = group.reports
        return cls(
            incident_key=group.incident_key,
            representative=group.representative,
            decision=decision,
            refs=[
                ReportRef.model_construct(reported_by=r.reported_by, report_id=r.report_id)
                for r in reports
            ],
            index=next(i for i, r in enumerate(reports) if r is group.representative),
            first_seen=group.first_seen,
            last_seen=group.last_seen,
            sources=list(sources),
            size=sum(map(ref_bytes, reports)),
        )

    @property
    def count(self) -> int:
        return len(self.refs)

    @property
    def collapsed(self) -> tuple[ReportRef, ...]:
        """Every reference but the representative's."""
        return (*self.refs[: self.index], *self.refs[self.index + 1 :])

    def fits(self, other: Release, *, max_refs: int, max_bytes: int) -> bool:
        return self.count + other.count <= max_refs and self.size + other.size <= max_bytes

    def absorb(self, other: Release) -> None:
        """Fold a later release of the same key in; its representative wins ties."""
        if precedence(other.representative) >= precedence(self.representative):
            self.representative, self.decision = other.representative, other.decision
            self.index = self.count + other.index
        self.refs += other.refs
        self.sources += other.sources
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.size += other.size


@dataclass
class _Window:
    started_at: datetime
    ends_at: datetime
    held: Release | None = None


@dataclass
class Grouping:
    """Open windows by incident key, earliest end first; `interval` zero turns grouping off
    (every group is released as it comes, with no window: per-batch collapsing alone)."""

    interval: timedelta
    max_refs: int = MAX_REFS
    max_bytes: int = MAX_REF_BYTES
    max_windows: int = 10_000
    max_held: int = 100_000
    windows: OrderedDict[str, _Window] = field(default_factory=OrderedDict)
    held: int = 0  # reports held in all windows
    # (end, key) of windows that came to hold reports; stale entries are dropped when seen.
    _holding: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.interval > timedelta(0)

    def next_end(self) -> datetime | None:
        """When the earliest open window ends."""
        return next((w.ends_at for w in self.windows.values()), None)

    def next_flush(self) -> datetime | None:
        """When the earliest window holding reports ends: the loop must wake up then. A
        window holding nothing has nothing to send; it is closed at the next batch."""
        while self._holding:
            ends_at, key = self._holding[0]
            window = self.windows.get(key)
            if window is not None and window.held is not None and window.ends_at == ends_at:
                return ends_at
            heapq.heappop(self._holding)  # flushed, reopened or closed since
        return None

    def split(
        self, group: Collapsed, sources: Sequence[RawMessage]
    ) -> Iterator[tuple[Collapsed, Sequence[RawMessage]]]:
        """The group in runs that each fit one update (the whole group when grouping is off)."""
        if not self.enabled:
            yield group, sources
            return
        start = count = size = 0
        for n, report in enumerate(group.reports):
            if count and (count == self.max_refs or size + ref_bytes(report) > self.max_bytes):
                yield collapse(group.reports[start:n])[0], sources[start:n]
                start, count, size = n, 0, 0
            count, size = count + 1, size + ref_bytes(report)
        chunk = group.reports[start:]
        yield (group if start == 0 else collapse(chunk)[0]), sources[start:]

    def due(self, now: datetime) -> list[Release]:
        """The held reports of every window that has ended by `now`, each as one update."""
        out = []
        while self.windows:
            key, window = next(iter(self.windows.items()))
            if window.ends_at > now:
                break
            out += self._flush(key, window.ends_at, now, reopen=window.held is not None)
        return out

    def take(self, release: Release, *, cleared: bool, now: datetime) -> list[Release]:
        """What to route now for a batch's group of one key: itself (new news, or a clear
        after the key's held alarms), or nothing (held), or windows released early."""
        if not self.enabled:
            return [release]
        key = release.incident_key
        window = self.windows.get(key)
        if cleared:
            return [*(self._flush(key, now, now, reopen=False) if window else ()), release]
        if window is None:
            out = self._make_room(now)
            self.windows[key] = _Window(now, now + self.interval)
            release.window = GroupWindow(interval=self.interval, started_at=now, ended_at=now)
            return [*out, release]
        out = []
        if window.held and not window.held.fits(
            release, max_refs=self.max_refs, max_bytes=self.max_bytes
        ):
            out += self._flush(key, now, now, reopen=True)
        release.sources = [_position(s) for s in release.sources]
        if window.held is None:
            window.held = release
            heapq.heappush(self._holding, (window.ends_at, key))
        else:
            window.held.absorb(release)
        self.held += release.count
        while self.held > self.max_held:
            oldest = next(k for k, w in self.windows.items() if w.held)
            out += self._flush(oldest, now, now, reopen=True)
        return out

    def reset(self) -> None:
        """Forget every window and what it holds (their reports are to be read again)."""
        self.windows.clear()
        self._holding.clear()
        self.held = 0

    def _make_room(self, now: datetime) -> list[Release]:
        if len(self.windows) < self.max_windows:
            return []
        return self._flush(next(iter(self.windows)), now, now, reopen=False)

    def _flush(self, key: str, ended_at: datetime, now: datetime, *, reopen: bool) -> list[Release]:
        """The window's held reports as one update (none if it holds nothing); the window
        opens again at `now` or closes."""
        window = self.windows[key]
        held = window.held
        if held is not None:
            self.held -= held.count
            held.window = GroupWindow(
                interval=self.interval, started_at=window.started_at, ended_at=min(ended_at, now)
            )
        if reopen:
            window.started_at, window.ends_at, window.held = now, now + self.interval, None
            self.windows.move_to_end(key)
        else:
            del self.windows[key]
        return [] if held is None else [held]


def _position(message: RawMessage) -> RawMessage:
    """The message without its bytes: where it is in the log is all a held report keeps."""
    return RawMessage(
        message.topic, message.partition, message.offset, message.timestamp_ms, None, None
    )
