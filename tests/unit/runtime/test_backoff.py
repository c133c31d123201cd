"""Back-off: grows with failures, never past its cap, and jittered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.backoff import backoff_delay

pytestmark = pytest.mark.unit


@given(failures=st.integers(1, 10_000), draw=st.floats(0, 1))
def test_the_delay_is_between_half_and_all_of_its_capped_ceiling(failures, draw) -> None:
    delay = backoff_delay(failures, base=0.5, cap=30, draw=lambda: draw)
    ceiling = min(30, 0.5 * 2 ** min(failures, 32))
    assert ceiling / 2 <= delay <= ceiling


def test_it_grows_until_the_cap() -> None:
    delays = [backoff_delay(n, base=0.5, cap=30, draw=lambda: 1.0) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
