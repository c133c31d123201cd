"""Small shared type aliases."""

from collections.abc import Callable

Progress = Callable[[str], None]
"""Where a long step reports what it is doing, one line at a time."""
