"""Pure: SLA figures from recorded incidents: compliance, MTTA and MTTR percentiles, escalations,
and how notifications of them were delivered."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.kinds import KIND

DIMENSIONS = ("enterprise", "district", "kind")
ALL = "all"
CANCELLED = "cancelled"
ENDED = (CANCELLED, "closed")  # the recorder's statuses of an incident that is over


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
    closed_at: datetime | None = None
    # From the opening report: whose network or office it is about (its kind's `owner`
    # field), and the line, resource or item it names.
    owner: str | None = None
    subject: str | None = None

    @property
    def cancelled(self) -> bool:
        """It should not have existed: a clear with no alarm open on its key, for one."""
        return self.status == CANCELLED

    @property
    def open(self) -> bool:
        return self.resolved_at is None and self.status not in ENDED

    @property
    def mtta_s(self) -> float | None:
        return _seconds(self.opened_at, self.acknowledged_at)

    @property
    def mttr_s(self) -> float | None:
        return _seconds(self.opened_at, self.resolved_at)

    @property
    def accountable(self) -> str | None:
        """The primary enterprise; for one never routed, the enterprise its report was about."""
        return self.enterprise or self.owner

    def value(self, dimension: str) -> str:
        """Its group in `dimension`; an enterprise always, unless nothing says whose it is."""
        if dimension == "enterprise":
            return self.accountable or "(not routed)"
        return getattr(self, dimension) or "(none)"


def about_report(report: Mapping[str, Any]) -> dict[str, str | None]:
    """A recorded report's owner and subject, read by its kind's row of schemas/kinds.py."""
    spec = KIND.get(str(report.get("kind")))
    if spec is None:
        return {}
    return {"owner": _field(report, spec.owner), "subject": _field(report, spec.subject)}


def _field(report: Mapping[str, Any], dotted: str) -> str | None:
    found: Any = report
    for name in dotted.split("."):
        found = found.get(name) if isinstance(found, Mapping) else None
    return None if found is None else str(found)


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
    ack_deadlines: int
    ack_breached: int
    resolve_deadlines: int
    resolve_breached: int
    escalations: int
    open: int
    cancelled: int

    @property
    def deadlines(self) -> int:
        return self.ack_deadlines + self.resolve_deadlines

    @property
    def breached(self) -> int:
        return self.ack_breached + self.resolve_breached

    @property
    def compliance(self) -> float | None:
        """Share of deadlines met; None when there were none."""
        return _met(self.deadlines, self.breached)

    @property
    def ack_compliance(self) -> float | None:
        return _met(self.ack_deadlines, self.ack_breached)

    @property
    def resolve_compliance(self) -> float | None:
        return _met(self.resolve_deadlines, self.resolve_breached)


def _met(deadlines: int, breached: int) -> float | None:
    return None if not deadlines else 1 - breached / deadlines


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
        sum(i.ack_due_at is not None for i in incidents),
        sum("acknowledge" in i.breaches for i in incidents),
        sum(i.resolve_due_at is not None for i in incidents),
        sum("resolve" in i.breaches for i in incidents),
        sum(len(i.escalations) for i in incidents),
        sum(i.open for i in incidents),
        sum(i.cancelled for i in incidents),
    )


@dataclass(frozen=True)
class AttemptFigures:
    """One attempt to tell a person of an incident, as the report counts it."""

    incident_id: str
    enterprise: str  # the enterprise whose person was told
    channel: str
    outcome: str
    latency_s: float  # from the event it tells of to the attempt


@dataclass(frozen=True)
class Delivery:
    """How the notifications of one channel (or all of them) were delivered."""

    channel: str
    attempts: int
    delivered: int
    failed: int  # tried again later
    dead_lettered: int
    suppressed: int
    latency_p50_s: float | None  # of the delivered attempts
    latency_p90_s: float | None
    latency_p99_s: float | None


def delivery(channel: str, attempts: Sequence[AttemptFigures]) -> Delivery:
    """The delivery figures of these attempts."""
    outcomes = Counter(a.outcome for a in attempts)
    latencies = [a.latency_s for a in attempts if a.outcome == "delivered"]
    return Delivery(
        channel,
        len(attempts),
        outcomes["delivered"],
        outcomes["failed"],
        outcomes["dead_lettered"],
        outcomes["suppressed"],
        *(percentile(latencies, share) for share in (0.5, 0.9, 0.99)),
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
    attempts: list[AttemptFigures] = field(default_factory=list)
    delivery: list[Delivery] = field(default_factory=list)  # all channels, then each


def figures(
    incidents: Sequence[IncidentFigures],
    dead_letters: Iterable[tuple[str, str, str]],
    *,
    since: datetime | None,
    until: datetime | None,
    at: datetime,
    attempts: Sequence[AttemptFigures] = (),
) -> Figures:
    """SLA rows by each dimension (and all incidents), dead letters and escalations counted,
    notification delivery by channel (and over all channels)."""
    out = Figures(since, until, at, list(incidents), attempts=list(attempts))
    channels: dict[str, list[AttemptFigures]] = defaultdict(list)
    for attempt in attempts:
        channels[attempt.channel].append(attempt)
    out.delivery = [delivery(ALL, attempts), *(delivery(c, channels[c]) for c in sorted(channels))]
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


def for_enterprise(f: Figures, enterprise: str) -> Figures:
    """The figures of `enterprise`'s incidents alone (those its enterprise rows count), and of
    the attempts to tell its own people of them; no dead letters, which are no enterprise's."""
    mine = [i for i in f.incidents if i.value("enterprise") == enterprise]
    ids = {i.incident_id for i in mine}
    told = [a for a in f.attempts if a.incident_id in ids and a.enterprise == enterprise]
    return figures(mine, [], since=f.since, until=f.until, at=f.at, attempts=told)
