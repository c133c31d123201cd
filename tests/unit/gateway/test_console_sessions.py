"""Console sign-ins: when a session ends, and which cookie-borne calls are refused as forged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.access import csrf_problem, new_csrf_token, session_expiry

NOW = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
HOST = "127.0.0.1:28080"


def test_a_session_lasts_its_hours_or_until_its_token_expires():
    assert session_expiry(NOW, 12, None) == NOW + timedelta(hours=12)
    assert session_expiry(NOW, 12, NOW + timedelta(hours=2)) == NOW + timedelta(hours=2)
    assert session_expiry(NOW, 1, NOW + timedelta(days=3)) == NOW + timedelta(hours=1)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_reading_needs_no_csrf_token(method):
    assert csrf_problem(method, None, "secret", "https://evil.example", HOST) is None


@pytest.mark.parametrize(
    ("sent", "origin", "why"),
    [
        (None, None, "missing"),
        ("", f"http://{HOST}", "missing"),
        ("wrong", None, "does not match"),
        ("secret", "https://evil.example", "another origin"),
        ("secret", f"http://{HOST}.evil.example", "another origin"),
    ],
)
def test_a_change_without_this_sessions_token_from_this_origin_is_refused(sent, origin, why):
    assert why in (csrf_problem("POST", sent, "secret", origin, HOST) or "")


def test_the_page_with_its_token_may_change_things():
    assert csrf_problem("POST", "secret", "secret", f"http://{HOST}", HOST) is None
    assert csrf_problem("DELETE", "secret", "secret", None, HOST) is None


def test_csrf_tokens_are_fresh_each_time():
    assert new_csrf_token() != new_csrf_token()
