"""A token's lifetime and last use: durations, expiry and the once-a-minute rule (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.access import LAST_USE_EVERY, is_expired, last_use_due, parse_duration

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("90d", timedelta(days=90)),
        ("2w", timedelta(weeks=2)),
        ("1w2d", timedelta(days=9)),
        ("1d12h30m", timedelta(days=1, hours=12, minutes=30)),
        (" 6H ", timedelta(hours=6)),
    ],
)
def test_durations_read_as_spans(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "90", "d", "3x", "1.5d", "-1d", "1d 2h", "0m", "0d0h"])
def test_anything_else_is_refused_with_the_text_it_got(text):
    with pytest.raises(ValueError, match="duration|longer than nothing"):
        parse_duration(text)


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from("mhdw")), min_size=1, max_size=4))
def test_a_duration_is_the_sum_of_its_parts(parts):
    text = "".join(f"{n}{unit}" for n, unit in parts)
    units = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    units["w"] = timedelta(weeks=1)
    total = sum((n * units[unit] for n, unit in parts), timedelta())
    if total > timedelta(0):
        assert parse_duration(text) == total
    else:
        with pytest.raises(ValueError):
            parse_duration(text)


def test_a_token_expires_at_its_instant_and_one_without_expiry_never():
    assert not is_expired(None, NOW)
    assert not is_expired(NOW + timedelta(seconds=1), NOW)
    assert is_expired(NOW, NOW)
    assert is_expired(NOW - timedelta(days=1), NOW)


@pytest.mark.parametrize(
    ("last_used", "due"),
    [
        (None, True),  # the first use is always written
        (NOW, False),
        (NOW - timedelta(seconds=59), False),
        (NOW - LAST_USE_EVERY, True),
        (NOW - timedelta(hours=3), True),
        (NOW + timedelta(seconds=5), False),  # another gateway's clock a little ahead
    ],
)
def test_last_use_is_written_at_most_once_a_minute(last_used, due):
    assert last_use_due(last_used, NOW) is due


def test_a_request_every_second_for_ten_minutes_writes_ten_times():
    last, writes = None, 0
    for second in range(600):
        now = NOW + timedelta(seconds=second)
        if last_use_due(last, now):
            last, writes = now, writes + 1
    assert writes == 10
