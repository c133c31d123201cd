"""The run's figures, folded from the lifecycle events and dead letters it saw; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean

from schemas.lifecycle import (
    IncidentAcknowledged,
    IncidentCancelled,
    IncidentClosed,
    IncidentEscalated,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
)

__all__ = ["Tally", "format_final", "format_paths", "format_summary"]

_ENDED = (IncidentResolved, IncidentCancelled, IncidentClosed)


@dataclass
class Tally:
    """Counts and response times so far; `department` is who escalations climb to."""

    department: str
    sent: int = 0
    sent_invalid: int = 0
    commands: int = 0
    dead_letters: int = 0
    commands_rejected: int = 0
    escalations: int = 0
    escalated_to_department: int = 0
    to_department: set[str] = field(default_factory=set)
    opened: dict[str, datetime] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    ack_seconds: list[float] = field(default_factory=list)
    resolve_seconds: list[float] = field(default_factory=list)

    def add(self, event: IncidentEvent) -> None:
        """Fold one lifecycle event in."""
        incident = event.incident_id
        # What dispatchers need to know, whenever the incident was opened.
        told = isinstance(event, IncidentEscalated) and self.department in event.notified
        if told:
            self.to_department.add(incident)
        if isinstance(event, _ENDED):
            self.ended.add(incident)
        if isinstance(event, IncidentOpened):
            self.opened[incident] = event.occurred_at
        # The figures count only incidents opened during the run, not older ones that a
        # replayed report or another run touches.
        if incident not in self.opened:
            return
        since_opened = (event.occurred_at - self.opened[incident]).total_seconds()
        if isinstance(event, IncidentEscalated):
            self.escalations += 1
            self.escalated_to_department += told
        elif isinstance(event, IncidentAcknowledged):
            self.ack_seconds.append(since_opened)
        elif isinstance(event, IncidentResolved):
            self.resolved.add(incident)
            self.resolve_seconds.append(since_opened)
        elif event.type == "command_rejected":
            self.commands_rejected += 1

    def is_open(self, incident_id: str) -> bool:
        """Whether the incident is known and still open (a dispatcher may act on it)."""
        return incident_id not in self.ended

    @property
    def open(self) -> int:
        """Incidents opened in this run and not yet resolved, cancelled or closed."""
        return len(self.opened.keys() - self.ended)

    @property
    def mtta(self) -> float | None:
        """Mean time to acknowledge so far, in real seconds."""
        return fmean(self.ack_seconds) if self.ack_seconds else None

    @property
    def mttr(self) -> float | None:
        """Mean time to resolve so far, in real seconds."""
        return fmean(self.resolve_seconds) if self.resolve_seconds else None


def format_summary(tally: Tally, *, elapsed: float, simulated: datetime, speed: float) -> str:
    """One line for the terminal: progress, incidents, escalations, MTTA/MTTR, dead letters."""
    return (
        f"[{elapsed:6.1f}s | {simulated:%d %b %H:%M}] "
        f"reports {tally.sent} ({tally.sent_invalid} invalid) | "
        f"incidents {len(tally.opened)}: open {tally.open}, resolved {len(tally.resolved)} | "
        f"escalations {tally.escalations} ({tally.escalated_to_department} to the Department) | "
        f"MTTA {_duration(tally.mtta, speed)} MTTR {_duration(tally.mttr, speed)} | "
        f"dead letters {tally.dead_letters} | commands {tally.commands}"
        f" ({tally.commands_rejected} rejected)"
    )


def _duration(seconds: float | None, speed: float) -> str:
    """Real seconds, and what they stand for in the scenario's time."""
    if seconds is None:
        return "-"
    simulated = seconds * speed
    unit = f"{simulated / 60:.0f} min" if simulated < 7200 else f"{simulated / 3600:.1f} h"
    return f"{seconds:.1f}s (~{unit} sim)"


def format_final(tally: Tally, *, speed: float, failures: int = 0, refused: int = 0) -> str:
    """The closing summary, one figure a line."""
    rows = (
        ("reports sent", f"{tally.sent} ({tally.sent_invalid} invalid on purpose)"),
        ("not accepted by the path", f"{failures + refused} ({refused} refused by the gateway)"),
        ("incidents opened", str(len(tally.opened))),
        ("resolved / still open", f"{len(tally.resolved)} / {tally.open}"),
        (
            "escalations",
            f"{tally.escalations} ({tally.escalated_to_department} to the Department)",
        ),
        ("MTTA", _duration(tally.mtta, speed)),
        ("MTTR", _duration(tally.mttr, speed)),
        ("dead letters", str(tally.dead_letters)),
        ("dispatcher commands", f"{tally.commands} ({tally.commands_rejected} rejected)"),
    )
    return "\n".join(f"  {name:<26}{value}" for name, value in rows)


def format_paths(
    reports: Mapping[str, int], commands: Mapping[str, int], answers: Mapping[str, int]
) -> str:
    """Which way messages went in, and the gateway's answers to the dispatchers' commands."""
    answered = ", ".join(f"{n} {outcome}" for outcome, n in sorted(answers.items()))
    rows = (
        ("reports via Kafka", str(reports.get("kafka", 0))),
        ("reports via the gateway", str(reports.get("gateway", 0))),
        ("commands via Kafka", str(commands.get("kafka", 0))),
        ("commands via the gateway", f"{commands.get('gateway', 0)} ({answered or 'none'})"),
    )
    return "\n".join(f"  {name:<26}{value}" for name, value in rows)
