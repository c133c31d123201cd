"""How long to wait before trying again: exponential back-off with full jitter, pure."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    failures: int,
    *,
    base: float,
    cap: float,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `failures` consecutive failures (1 or more).

    Up to base * 2**failures, at most `cap`; the wait is drawn between half of that and all
    of it, so instances that failed together do not all come back together.
    """
    ceiling = min(cap, base * 2 ** min(failures, 32))
    return ceiling * (0.5 + draw() / 2)
