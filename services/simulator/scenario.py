"""Scenario messages, built from drafts with the shared contracts, and compressed in time."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.example_reports import TOPIC_OF_KIND, encoded, report

__all__ = [
    "Draft",
    "Scenario",
    "ScenarioMessage",
    "Scheduled",
    "build_messages",
    "compress",
]

# About one message in fifty is broken on purpose, so that dead letters show up in a run.
INVALID_SHARE = 0.02


@dataclass(frozen=True)
class Draft:
    """A report before it has an id: kind, when it is sent, fields, its part of the story."""

    kind: str
    sent_at: datetime
    part: str
    fields: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class ScenarioMessage:
    """One message a publisher sends: at `sent_at` (simulated), on a report topic, as bytes."""

    sent_at: datetime
    part: str
    topic: str
    key: bytes | None
    value: bytes
    valid: bool = True
    kind: str = ""
    reported_by: str = ""  # whose token the gateway path publishes it with


@dataclass(frozen=True)
class Scheduled:
    """A message and when to send it, in real seconds from the start of the run."""

    offset: float
    message: ScenarioMessage


@dataclass(frozen=True)
class Scenario:
    """The messages of one run, in sending order, for one seed, speed and window."""

    seed: int
    speed: float
    start: datetime
    duration: float | None
    schedule: tuple[Scheduled, ...]

    def simulated_at(self, elapsed: float) -> datetime:
        """The simulated time `elapsed` real seconds into the run."""
        return self.start + timedelta(seconds=elapsed * self.speed)


def build_messages(drafts: Iterable[Draft], seed: int) -> list[ScenarioMessage]:
    """Valid reports with ids from the seed, in sending order, a few broken ones among them."""
    rng = random.Random(f"invalid:{seed}")
    messages: list[ScenarioMessage] = []
    ordered = sorted(drafts, key=lambda d: (d.sent_at, d.kind, repr(sorted(d.fields.items()))))
    for number, draft in enumerate(ordered, start=1):
        payload = report(draft.kind, f"sim{seed}-{number:05d}", **draft.fields)
        value = encoded(payload)
        decode(REPORT, value)  # a draft the contract refuses is a bug in the scenario: fail loudly
        messages.append(_message(draft, payload, value))
        if rng.random() < INVALID_SHARE:
            messages.append(_broken(draft, payload, rng))
    return messages


def _message(
    draft: Draft, payload: dict[str, Any], value: bytes, valid: bool = True
) -> ScenarioMessage:
    return ScenarioMessage(
        sent_at=draft.sent_at,
        part=draft.part if valid else "invalid",
        topic=TOPIC_OF_KIND[draft.kind],
        key=str(payload.get("report_id", "")).encode() or None,
        value=value,
        valid=valid,
        kind=draft.kind,
        reported_by=str(payload.get("reported_by", "")),
    )


def _broken(draft: Draft, payload: dict[str, Any], rng: random.Random) -> ScenarioMessage:
    """A copy of a report spoilt the ways real publishers spoil them."""
    broken = dict(payload, report_id=f"{payload['report_id']}-x")
    how = rng.choice(("truncated", "renamed_field", "unknown_district", "wrong_type"))
    if how == "truncated":
        value = encoded(broken)[: rng.randint(10, 60)]
    elif how == "renamed_field":
        broken["severity"] = broken.pop("perceived_severity", "major")
        value = encoded(broken)
    elif how == "unknown_district":
        broken["district"] = "da-nang"
        value = encoded(broken)
    else:
        broken["occurred_at"] = 1179640800  # epoch seconds: the contract wants ISO 8601 text
        value = encoded(broken)
    return _message(draft, broken, value, valid=False)


def compress(
    messages: Iterable[ScenarioMessage],
    *,
    seed: int,
    speed: float,
    start: datetime,
    duration: float | None,
) -> Scenario:
    """The messages sent from `start` on, at `speed` simulated seconds per real second.

    With a `duration`, only what falls within that many real seconds is kept.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    schedule = []
    for message in messages:
        offset = (message.sent_at - start).total_seconds() / speed
        if offset < 0 or (duration is not None and offset > duration):
            continue
        schedule.append(Scheduled(offset=offset, message=message))
    return Scenario(seed, speed, start, duration, tuple(schedule))
