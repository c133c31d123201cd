"""How long to wait before trying again: exponential back-off with full jitter, pure."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    failures: int,
    *,
    base: float,
    cap: float,
    jitter: float = 0.5,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `failures` consecutive failures.

    Up to base * 2**failures, at most `cap`; up to the `jitter` share of that is taken off
    at random (`draw` in [0, 1]: 1 takes nothing off), so instances that failed together do
    not all come back together.
    """
    ceiling = min(cap, base * 2.0 ** min(failures, 32))
    return ceiling * (1 - jitter + jitter * draw())
