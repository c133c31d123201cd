"""The supervisor's decisions over plain values: when to restart, when to give up, what a service's
state record says, and whether a running service is stuck. No clock reads, no I/O."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.runtime.backoff import backoff_delay

State = Literal["starting", "running", "restarting", "failed", "stopped"]
# What `signalpost status` shows: the supervisor's state, or what it finds instead.
Shown = Literal[State, "down", "stuck", "unhealthy"]
FINE: frozenset[str] = frozenset({"starting", "running"})
LAST_ERROR_LINES = 10


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential back-off with jitter, and at most `limit` restarts within `window` seconds."""

    first_delay: float
    max_delay: float
    jitter: float
    limit: int
    window: float

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds before restart number `attempt` (0-based); `rand` in [0, 1) takes the jitter."""
        return backoff_delay(
            attempt,
            base=self.first_delay,
            cap=self.max_delay,
            jitter=self.jitter,
            draw=lambda: 1 - rand,
        )


def next_restart(
    policy: RestartPolicy, restarted_at: Sequence[float], now: float, rand: float
) -> float | None:
    """Seconds to wait before restarting a service that exited at `now`, or None to give it up.

    `restarted_at` holds the times of its earlier restarts; only those within the window count,
    so a service that ran quietly for a whole window starts again from the first delay.
    """
    recent = sum(1 for t in restarted_at if now - t < policy.window)
    if recent >= policy.limit:
        return None
    return policy.delay(recent, rand)


@dataclass(frozen=True)
class ServiceRecord:
    """One service as the supervisor last saw it: the content of its state file."""

    service: str
    updated_at: datetime
    state: State = "stopped"
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_error: str = ""
    # Since when it has been making progress: reset at each start, moved on by each sample in
    # which the group caught up or advanced on every partition it was behind on (the gateway:
    # each healthy answer).
    progress_at: datetime | None = None
    sampled_at: datetime | None = None
    lag: int | None = None
    healthy: bool | None = None
    detail: str = ""
    behind: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, times as ISO 8601."""
        plain = dataclasses.asdict(self)
        for name in ("updated_at", "progress_at", "sampled_at"):
            plain[name] = plain[name] and plain[name].isoformat()
        return plain

    @classmethod
    def from_json(cls, plain: Mapping[str, Any]) -> ServiceRecord:
        """The record `to_json` wrote (fields it does not know are left out)."""
        known = {f.name for f in dataclasses.fields(cls)} & plain.keys()
        values = {name: plain[name] for name in known}
        for name in {"updated_at", "progress_at", "sampled_at"} & known:
            values[name] = values[name] and datetime.fromisoformat(values[name])
        return cls(**values)


def started(record: ServiceRecord, pid: int, now: datetime) -> ServiceRecord:
    """A new process of the service is running but has not settled yet."""
    return _at(record, now, state="starting", pid=pid, progress_at=now)


def settled(record: ServiceRecord, now: datetime) -> ServiceRecord:
    """The process has stayed up past its start."""
    return _at(record, now, state="running")


def exited(
    record: ServiceRecord, code: int, output: Sequence[str], now: datetime, *, restart: bool
) -> ServiceRecord:
    """The process exited; it is restarted (one more restart) or given up."""
    return _at(
        record,
        now,
        state="restarting" if restart else "failed",
        pid=None,
        restarts=record.restarts + restart,
        last_exit_code=code,
        last_error=last_error(code, output),
    )


def stopped(record: ServiceRecord, code: int | None, now: datetime) -> ServiceRecord:
    """The supervisor stopped the service on its way out."""
    return _at(record, now, state="stopped", pid=None, last_exit_code=code)


def last_error(code: int, output: Sequence[str]) -> str:
    """How a process ended: its exit code (and signal), then the last lines it wrote."""
    lines = [line.rstrip() for line in output if line.strip()][-LAST_ERROR_LINES:]
    return "\n".join([f"exited with {describe_exit(code)}", *lines])


def describe_exit(code: int) -> str:
    """`code 1`, or `code -9 (SIGKILL)` for a process ended by a signal."""
    if code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"code {code}"


def exit_message(record: ServiceRecord, delay: float | None, policy: RestartPolicy) -> str:
    """The supervisor's log line for a service that has just exited (see `exited`)."""
    first, *rest = record.last_error.splitlines() or [""]
    said = f"; last output: {rest[-1]}" if rest else ""
    if delay is None:
        return (
            f"{record.service} {first}; given up after {policy.limit} "
            f"restart{'' if policy.limit == 1 else 's'} within "
            f"{policy.window:g}s (state failed){said}"
        )
    return f"{record.service} {first}; restart {record.restarts} in {delay:.2f}s{said}"


@dataclass(frozen=True)
class Position:
    """Where a consumer group stands: committed and end offsets, keyed "topic:partition"."""

    committed: Mapping[str, int]
    ends: Mapping[str, int]


@dataclass(frozen=True)
class Answer:
    """A health check's answer, for a service without a consumer group."""

    healthy: bool
    detail: str


# A sample of one service; a string says why none could be taken.
Sample = Position | Answer | str


def observe(record: ServiceRecord, sample: Sample, now: datetime) -> ServiceRecord:
    """The record after one sample: lag and progress, health, or why it is unknown."""
    if isinstance(sample, Position):
        return _observe_position(record, sample, now)
    if isinstance(sample, Answer):
        progress_at = now if sample.healthy else record.progress_at
        return _at(
            record, now, sampled_at=now, healthy=sample.healthy, detail=sample.detail,
            progress_at=progress_at,
        )  # fmt: skip
    # Unknown lag is neither progress nor a stall: the Kafka or PostgreSQL row says why.
    return _at(record, now, sampled_at=now, lag=None, behind={}, detail=sample)


def _observe_position(record: ServiceRecord, sample: Position, now: datetime) -> ServiceRecord:
    # A stall: a partition behind at the last sample is still behind, at the same offset.
    committed = sample.committed
    behind = {p: committed.get(p, 0) for p, end in sample.ends.items() if end > committed.get(p, 0)}
    stalled = any(p in behind and behind[p] <= offset for p, offset in record.behind.items())
    return _at(
        record,
        now,
        sampled_at=now,
        lag=sum(sample.ends[p] - offset for p, offset in behind.items()),
        behind=behind,
        detail="",
        progress_at=record.progress_at if stalled else now,
    )


def shown_state(record: ServiceRecord, *, alive: bool, now: datetime, stuck_after: float) -> Shown:
    """What status reports: "down" when the recorded pid is gone, "stuck" or "unhealthy" when a
    running service has made no progress for `stuck_after` seconds, else the recorded state."""
    if record.state in FINE and not alive:
        return "down"
    if record.state != "running" or record.progress_at is None:
        return record.state
    quiet = (now - record.progress_at).total_seconds() >= stuck_after
    if quiet and record.lag:
        return "stuck"
    if quiet and record.healthy is False:
        return "unhealthy"
    return "running"


def _at(record: ServiceRecord, now: datetime, **changes: Any) -> ServiceRecord:
    return dataclasses.replace(record, updated_at=now, **changes)
