"""Garbage collection while recording: once every few batches, not every 700 allocations.

A batch of decoded events is tens of thousands of live objects (each event a tree of pydantic
models), and CPython's cyclic collector, triggered by allocations, walks them again and again
while they are built: profiled on a storm's batches it took half the CPU of decoding and
chaining them (~120 µs an event with it, ~60 µs without). Those objects hold no reference
cycles and are freed by reference counting the moment their batch is written, so while a
recorder or a replay runs the automatic collector is off, and a full collection runs every
`BATCHES_PER_COLLECTION` batches (or empty polls, so that an idle recorder collects too) for
whatever cyclic garbage the rest of the process makes.
"""

from __future__ import annotations

import gc
from types import TracebackType

# At most this many batches' worth of cyclic garbage waits for a collection.
BATCHES_PER_COLLECTION = 10


class _Holders:
    """How many collectors of this process hold the collector off, and how they found it."""

    count = 0
    was_enabled = True


class BatchCollection:
    """A context in which the automatic collector is off (while any such context is open in
    the process); `tick()` after each batch or empty poll collects every `every`th time."""

    def __init__(self, every: int = BATCHES_PER_COLLECTION) -> None:
        self.every = every
        self.batches = 0

    def __enter__(self) -> BatchCollection:
        if _Holders.count == 0:
            _Holders.was_enabled = gc.isenabled()
            gc.disable()
        _Holders.count += 1
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _Holders.count -= 1
        if _Holders.count == 0 and _Holders.was_enabled:
            gc.enable()

    def tick(self) -> None:
        """One more batch written (or poll that found none); every `every`th, collect all."""
        self.batches += 1
        if self.batches % self.every == 0:
            gc.collect()
