"""Task streams: how many may be open (per token, in total); a response that always cleans up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.gateway.errors import ApiError


class StreamSlots:
    """Counts the task streams open now; refuses one beyond either limit with 429."""

    def __init__(self, *, per_token: int, total: int) -> None:
        self.per_token = per_token
        self.total = total
        self._held: dict[str, int] = {}

    @property
    def open(self) -> int:
        """Streams open now, all tokens together."""
        return sum(self._held.values())

    def take(self, token_id: str) -> None:
        """Hold a slot for one more stream of this token, or raise 429."""
        if self.open >= self.total:
            reason = f"this gateway already serves {self.total} task streams, its limit"
            raise ApiError(429, "too_many_streams", "", reason)
        held = self._held.get(token_id, 0)
        if held >= self.per_token:
            reason = f"this token already holds {held} task streams open, its limit; close one"
            raise ApiError(429, "too_many_streams", "authorization", reason)
        self._held[token_id] = held + 1

    def give(self, token_id: str) -> None:
        """Free the slot of a stream that ended."""
        left = self._held.get(token_id, 0) - 1
        if left > 0:
            self._held[token_id] = left
        else:
            self._held.pop(token_id, None)


class ClosingStream(StreamingResponse):
    """A streaming response that closes its generator and runs `on_close` however it ends.

    Starlette cancels the sending task when the client leaves; if that happens before the
    generator's first step, the generator never runs its own `finally`. So what a stream
    holds (a Kafka consumer, a slot) is released here instead.
    """

    def __init__(
        self,
        content: AsyncIterator[str],
        *,
        on_close: Callable[[], Awaitable[None]],
        **options: Any,
    ) -> None:
        super().__init__(content, **options)
        self._content = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                # An async generator's (the task stream's is one, typed as the iterator it is).
                await self._content.aclose()  # type: ignore[attr-defined]
            finally:
                await self._on_close()
