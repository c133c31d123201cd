"""One notification's tries: each recorded, retried with full-jitter back-off, until final."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from schemas.errors import clip
from schemas.notifications import DeliveryOutcome, NotificationAttempted
from services.notifier.channel import ChannelAdapter, Delivery, Outgoing
from services.notifier.deadletter import AttemptError
from services.notifier.decide import Notification
from services.runtime.backoff import backoff_delay
from services.runtime.clock import Clock

__all__ = ["RetryPolicy", "attempt_record", "deliver_with_retries", "one_line", "retry_delays"]

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
Record = Callable[[NotificationAttempted], Awaitable[None]]
Wait = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one notification is tried."""

    max_attempts: int
    base_s: float
    cap_s: float
    timeout_s: float

    def delay(self, failures: int, draw: Callable[[], float]) -> float:
        """The wait after `failures` failed tries: full jitter, anywhere up to the ceiling."""
        return backoff_delay(failures, base=self.base_s, cap=self.cap_s, jitter=1.0, draw=draw)


def one_line(text: str) -> str:
    """A receiver's or a library's words fit for a record: one line, at most 200 characters."""
    return clip(" ".join(CONTROL.sub(" ", text).split())) or "no detail given"


def retry_delays(policy: RetryPolicy, draw: Callable[[], float]) -> list[float]:
    """The waits between one notification's tries, in order (one fewer than the tries)."""
    return [policy.delay(failures, draw) for failures in range(1, policy.max_attempts)]


def attempt_record(
    n: Notification, *, attempt: int, at: datetime, outcome: DeliveryOutcome, detail: str | None
) -> NotificationAttempted:
    """The attempt record of try `attempt` of `n` (which has a channel)."""
    assert n.channel is not None
    return NotificationAttempted(
        # Unique per try even across a redelivered batch (the same try number again), so the
        # recorder keeps both: the one that failed and the one that got through.
        attempt_id=f"{n.notification_id}:{attempt}:{round(at.timestamp() * 1_000_000)}",
        notification_id=n.notification_id,
        attempt=attempt,
        reason=n.reason,
        incident_key=n.incident_key,
        incident_id=n.incident_id,
        task_id=n.task_id,
        enterprise=n.enterprise,
        person=n.person,
        channel=n.channel.kind,
        address=n.channel.address,
        priority=n.priority,
        caused_by=n.caused_by,
        caused_at=n.caused_at,
        attempted_at=at,
        outcome=outcome,
        detail=one_line(detail) if detail else None,
    )


async def deliver_with_retries(
    outgoing: Outgoing,
    adapter: ChannelAdapter,
    *,
    policy: RetryPolicy,
    clock: Clock,
    draw: Callable[[], float],
    wait: Wait,
    record: Record,
) -> list[AttemptError]:
    """Try until delivered (no errors back) or out of tries or refused for good (every
    try's error back; the last try is left for the caller to record as dead-lettered)."""
    errors: list[AttemptError] = []
    for attempt in range(1, policy.max_attempts + 1):
        delivery = await _try_once(adapter, outgoing, policy.timeout_s)
        at = clock()  # when the try ended: a delivery's latency counts the exchange too
        outcome = DeliveryOutcome.DELIVERED
        if not delivery.ok:
            errors.append(AttemptError(attempt=attempt, at=at, detail=one_line(delivery.detail)))
            if not delivery.retry or attempt == policy.max_attempts:
                return errors
            outcome = DeliveryOutcome.FAILED
        n = outgoing.notification
        await record(
            attempt_record(n, attempt=attempt, at=at, outcome=outcome, detail=delivery.detail)
        )
        if delivery.ok:
            return []
        await wait(policy.delay(attempt, draw))
    return errors


async def _try_once(adapter: ChannelAdapter, outgoing: Outgoing, timeout_s: float) -> Delivery:
    # The adapters bound their own exchanges; this bounds an adapter that does not.
    try:
        return await asyncio.wait_for(adapter.deliver(outgoing), timeout=2 * timeout_s)
    except TimeoutError:
        return Delivery(False, f"no answer within {2 * timeout_s:g} s")
    except Exception as exc:  # an address no adapter can use (a bad URL, a header break)
        # One person's bad address must not end the batch for everyone: a dead letter now.
        return Delivery(False, f"cannot be sent: {exc!r}", retry=False)
