"""Concurrent requests' work done together: what arrives while the flushes are busy goes in one.

Used for the round trips every publish makes (token lookups, idempotency rows and the wait
for the brokers' acks): alone, a request flushes at once; under load, the requests that
arrived while earlier flushes were out share the next one, so one round trip and one wait
serve them all. No request waits for a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`submit(item)` gives `flush([... item ...])[its position]`, at most `concurrency` flushes
    out at once and `max_items` items each; a flush's exception is every one of its items'."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        concurrency: int,
        max_items: int,
    ) -> None:
        self._flush = flush
        self._concurrency = concurrency
        self._max_items = max_items
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def submit(self, item: T, *, deadline: float) -> R:
        """The item's result, once the flush that took it is done; TimeoutError when no flush
        has taken it by `deadline` (loop time: it is dropped, never flushed). A flush that
        took it ends when the flush says: give the flush the items' deadlines too."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        entry = (item, future)
        self._waiting.append(entry)
        self._start()
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(future)
        except TimeoutError:
            if entry in self._waiting:
                self._waiting.remove(entry)
                raise
        return await future

    def _start(self) -> None:
        # A flush takes its items when it starts running, not now: everything submitted in
        # the meantime (the same turn of the loop) goes with it.
        waiting = len(self._waiting)
        while waiting > 0 and len(self._flushing) < self._concurrency:
            task = asyncio.create_task(self._run(), name="gateway-flush")
            self._flushing.add(task)
            waiting -= self._max_items

    async def _run(self) -> None:
        taken = self._waiting[: self._max_items]
        del self._waiting[: self._max_items]
        try:
            if taken:
                await self._deliver(taken)
        finally:
            self._flushing.discard(asyncio.current_task())  # type: ignore[arg-type]
            if self._waiting:
                self._start()

    async def _deliver(self, taken: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in taken])
        except Exception as error:
            for _, future in taken:
                if not future.done():
                    future.set_exception(error)
            return
        except asyncio.CancelledError:
            for _, future in taken:
                future.cancel()
            raise
        for (_, future), result in zip(taken, results, strict=True):
            if not future.done():  # its request may have gone
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the flushes that are out (at shutdown)."""
        await asyncio.gather(*self._flushing, return_exceptions=True)
