"""Pure: SLA figures from recorded incidents: compliance, MTTA and MTTR percentiles, escalations."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

DIMENSIONS = ("enterprise", "district", "kind")
ALL = "all"


@dataclass(frozen=True)
class IncidentFigures:
    """One incident as the report sees it (times are SignalPost's event clock)."""

    incident_id: str
    incident_key: str
    kind: str | None
    district: str | None
    enterprise: str | None
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    escalations: tuple[tuple[datetime, int, str], ...] = ()
    breaches: frozenset[str] = frozenset()

    @property
    def mtta_s(self) -> float | None:
        return _seconds(self.opened_at, self.acknowledged_at)

    @property
    def mttr_s(self) -> float | None:
        return _seconds(self.opened_at, self.resolved_at)

    @property
    def deadlines(self) -> int:
        return (self.ack_due_at is not None) + (self.resolve_due_at is not None)

    def value(self, dimension: str) -> str:
        return getattr(self, dimension) or "(none)"


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def percentile(values: Sequence[float], share: float) -> float | None:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Row:
    """SLA figures of one group of incidents."""

    dimension: str
    value: str
    incidents: int
    acknowledged: int
    mtta_p50_s: float | None
    mtta_p90_s: float | None
    resolved: int
    mttr_p50_s: float | None
    mttr_p90_s: float | None
    deadlines: int
    breached: int
    escalations: int

    @property
    def compliance(self) -> float | None:
        """Share of deadlines met; None when there were none."""
        return None if not self.deadlines else 1 - self.breached / self.deadlines


def row(dimension: str, value: str, incidents: Sequence[IncidentFigures]) -> Row:
    """The figures of one group."""
    mtta = [i.mtta_s for i in incidents if i.mtta_s is not None]
    mttr = [i.mttr_s for i in incidents if i.mttr_s is not None]
    return Row(
        dimension,
        value,
        len(incidents),
        len(mtta),
        percentile(mtta, 0.5),
        percentile(mtta, 0.9),
        len(mttr),
        percentile(mttr, 0.5),
        percentile(mttr, 0.9),
        sum(i.deadlines for i in incidents),
        sum(len(i.breaches) for i in incidents),
        sum(len(i.escalations) for i in incidents),
    )


@dataclass
class Figures:
    """Everything the report shows."""

    since: datetime | None
    until: datetime | None
    at: datetime
    incidents: list[IncidentFigures]
    rows: list[Row] = field(default_factory=list)
    dead_letters: list[tuple[str, str, str, int]] = field(default_factory=list)
    escalations: list[tuple[int, str, int]] = field(default_factory=list)


def figures(
    incidents: Sequence[IncidentFigures],
    dead_letters: Iterable[tuple[str, str, str]],
    *,
    since: datetime | None,
    until: datetime | None,
    at: datetime,
) -> Figures:
    """SLA rows by each dimension (and all incidents), dead letters and escalations counted."""
    out = Figures(since, until, at, list(incidents))
    out.rows.append(row(ALL, ALL, incidents))
    for dimension in DIMENSIONS:
        groups: dict[str, list[IncidentFigures]] = defaultdict(list)
        for incident in incidents:
            groups[incident.value(dimension)].append(incident)
        out.rows += [row(dimension, value, groups[value]) for value in sorted(groups)]
    letters = Counter(dead_letters)
    out.dead_letters = [(*key, n) for key, n in sorted(letters.items())]
    levels = Counter((level, deadline) for i in incidents for _, level, deadline in i.escalations)
    out.escalations = [(*key, n) for key, n in sorted(levels.items())]
    return out
