"""Signed acknowledge tokens: genuine ones read back; anything else is an AckLinkError, never
another exception (the token comes straight from a URL anyone can type)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.acklinks import AckClaim, AckLinkError, read_ack_token, sign_ack_token

pytestmark = pytest.mark.unit

NOW = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
SECRET = "s3cret"
CLAIM = AckClaim(
    notification_id="ntf-1",
    incident_key="line_fault:vnpt-quang-nam:L-1",
    incident_id="inc-1",
    task_id="task-1",
    enterprise="vnpt-quang-nam",
    person="phan-thi-nga",
    person_name="Phan Thị Nga",
    expires_at=NOW + timedelta(hours=4),
)


def test_a_genuine_token_reads_back_as_its_claim():
    assert read_ack_token(sign_ack_token(CLAIM, secret=SECRET), secret=SECRET, now=NOW) == CLAIM


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("x.y", "signature does not verify"),
        ("no-dot", "not an acknowledge link"),
        ("é.ü", "not an acknowledge link"),  # compare_digest refuses non-ASCII text
        ("a" * 3000, "not an acknowledge link"),
    ],
)
def test_a_bad_token_is_refused_with_its_reason(token, reason):
    with pytest.raises(AckLinkError, match=reason):
        read_ack_token(token, secret=SECRET, now=NOW)


def test_an_expired_or_resigned_token_is_refused():
    token = sign_ack_token(CLAIM, secret=SECRET)
    with pytest.raises(AckLinkError, match="expired"):
        read_ack_token(token, secret=SECRET, now=CLAIM.expires_at)
    with pytest.raises(AckLinkError, match="signature"):
        read_ack_token(token, secret="another", now=NOW)


@given(st.text(max_size=300))
def test_any_text_is_a_claim_or_an_ack_link_error(token):
    # Any other exception fails the test: a typed URL must never be a 500.
    try:
        answer: object = read_ack_token(token, secret=SECRET, now=NOW)
    except AckLinkError as refused:
        answer = refused
    assert isinstance(answer, AckClaim | AckLinkError)
