"""The one shape of a channel: deliver one message, say how it went and whether to try again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.notifier.decide import Notification

__all__ = ["ChannelAdapter", "Delivery", "Outgoing", "http_outcome"]


@dataclass(frozen=True)
class Outgoing:
    """A notification ready to go: its JSON body and its acknowledge link (if any)."""

    notification: Notification
    body: dict[str, Any]
    ack_link: str | None

    @property
    def address(self) -> str:
        """Where it goes: the channel's URL, e-mail address or phone number."""
        assert self.notification.channel is not None  # only a reachable person's goes out
        return self.notification.channel.address


@dataclass(frozen=True)
class Delivery:
    """How one try went; `retry` False when trying again cannot help (a dead letter at once)."""

    ok: bool
    detail: str
    retry: bool = True


class ChannelAdapter(Protocol):
    """A way to reach people: webhook, e-mail or SMS."""

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        """Try once to deliver `outgoing`; never raises for the receiver's failures."""
        ...


def http_outcome(status: int, answer: str) -> Delivery:
    """An HTTP receiver's answer: 2xx delivered; 408, 429 and 5xx worth another try; any other
    4xx refused for good (the request itself is wrong there: sending it again cannot help)."""
    detail = f"HTTP {status}" + (f": {answer[:120]}" if answer else "")
    if 200 <= status < 300:
        return Delivery(True, detail)
    if 400 <= status < 500 and status not in (408, 429):
        return Delivery(False, f"{detail} (refused: retrying will not help)", retry=False)
    return Delivery(False, detail)
