"""Alarm storms: reports of one batch with the same incident key collapse into one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.envelope import ReportRef
from schemas.kinds import incident_key, is_clear
from schemas.reports import AnyReport, PerceivedSeverity, SuspiciousParcel

__all__ = ["Collapsed", "collapse", "precedence"]

# Higher is more severe; a parcel has no severity and ranks by time alone.
_RANK = {
    PerceivedSeverity.CRITICAL: 4,
    PerceivedSeverity.MAJOR: 3,
    PerceivedSeverity.MINOR: 2,
    PerceivedSeverity.WARNING: 1,
    PerceivedSeverity.CLEARED: 0,
}


def precedence(report: AnyReport) -> tuple[int, datetime]:
    """What makes a report its group's representative: severity first, then occurred_at."""
    rank = 0 if isinstance(report, SuspiciousParcel) else _RANK[report.perceived_severity]
    return rank, report.occurred_at


@dataclass(frozen=True)
class Collapsed:
    """Reports of one batch about one incident: a representative and all of them, in order."""

    incident_key: str
    representative: AnyReport
    reports: tuple[AnyReport, ...]
    cleared: bool

    @property
    def count(self) -> int:
        """How many reports were folded together (retries included)."""
        return len(self.reports)

    @property
    def first_seen(self) -> datetime:
        """The earliest occurred_at among them."""
        return min(r.occurred_at for r in self.reports)

    @property
    def last_seen(self) -> datetime:
        """The latest occurred_at among them."""
        return max(r.occurred_at for r in self.reports)

    @property
    def refs(self) -> tuple[ReportRef, ...]:
        """Every report folded in, as references, in input order (repeats kept)."""
        return tuple(
            ReportRef(reported_by=r.reported_by, report_id=r.report_id) for r in self.reports
        )


def collapse(reports: Sequence[AnyReport]) -> list[Collapsed]:
    """Group a batch by incident key; clears stay apart from alarms; nothing is dropped.

    Within a group the representative is the most severe report, ties going to the latest
    occurred_at and then to the later one in the batch (the newest word on the incident).
    A cleared report is never merged with uncleared ones: the clears of one key form their
    own group, a clear signal for the incident manager. Groups come in order of their first
    report in the batch, so per-key order is kept. The same (reported_by, report_id) sent
    twice in a batch (a publisher retry) stays in `reports` twice: deduplication is the
    incident manager's, which sees every batch.
    """
    groups: dict[tuple[str, bool], list[AnyReport]] = {}
    for report in reports:
        groups.setdefault((incident_key(report), is_clear(report)), []).append(report)
    return [
        Collapsed(
            incident_key=key,
            representative=max(reversed(members), key=precedence),
            reports=tuple(members),
            cleared=cleared,
        )
        for (key, cleared), members in groups.items()
    ]
