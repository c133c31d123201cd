"""Waiting on a condition with a deadline: poll a probe until it holds, or fail saying what."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    deadline_s: float,
    interval_s: float = 0.1,
    what: str = "",
) -> T:
    """Call `probe` (plain or async) every `interval_s` until it answers something truthy; that.

    At `deadline_s` an AssertionError names `what` (by default the probe) and its last answer.
    """
    last: object = None
    timeout = asyncio.timeout(deadline_s)
    try:
        async with timeout:
            while True:
                answer = probe()
                last = await answer if inspect.isawaitable(answer) else answer
                if last:
                    return last  # type: ignore[return-value]
                await asyncio.sleep(interval_s)
    except TimeoutError:
        if not timeout.expired():
            raise
        waited_for = what or getattr(probe, "__qualname__", repr(probe))
        raise AssertionError(
            f"not within {deadline_s}s: {waited_for} (last answer: {last!r})"
        ) from None
