"""A progress bar on stderr: how far, how fast, and how long is left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24


def progress_line(
    what: str, done: int, total: int, elapsed_s: float, *, this_run: int | None = None
) -> str:
    """One line: count, bar, percentage, rate and ETA (pure; the writer decides when).

    `this_run`: how much of `done` this run did (a resumed run's rate excludes earlier work).
    """
    share = 1.0 if total <= 0 else min(1.0, done / total)
    counted = done if this_run is None else this_run
    rate = counted / elapsed_s if elapsed_s > 0 else 0.0
    left = max(0, total - done)
    eta = f"{left / rate:,.0f}s" if rate > 0 else "?"
    filled = round(share * BAR)
    return (
        f"{what} {done:,}/{total:,} [{'#' * filled}{'.' * (BAR - filled)}] {share:6.1%}"
        f"  {rate:,.0f}/s  ETA {eta}"
    )


class Progress:
    """Draws progress_line on a stream: in place on a terminal, a line a second otherwise."""

    def __init__(self, what: str, total: int, *, already: int = 0, out: TextIO | None = None):
        self.what, self.total = what, total
        self.done = already
        self.out = out or sys.stderr
        self.started = time.monotonic()
        self.counted_from = already  # a resumed run's rate counts only this run's work
        self.last_drawn = 0.0
        self.tty = self.out.isatty()

    def advance(self, count: int) -> None:
        """Count `count` more done; redraw at most ten times a second."""
        self.done += count
        now = time.monotonic()
        if now - self.last_drawn >= (0.1 if self.tty else 1.0):
            self.draw(now)

    def draw(self, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        self.last_drawn = now
        elapsed = now - self.started
        line = progress_line(
            self.what, self.done, self.total, elapsed, this_run=self.done - self.counted_from
        )
        self.out.write(("\r" + line) if self.tty else line + "\n")
        self.out.flush()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self.draw()
        if self.tty:
            self.out.write("\n")
        self.out.flush()
