"""The acknowledge link's pure parts: which refusal a bad link gets, the command it sends,
its command id, and pages that escape what they show and hold no script."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.envelope import ID_PATTERN
from services.gateway.acklinks import acknowledgement, claim_of, command_id_of, refusal
from services.gateway.ackpage import PAGE_HEADERS, confirm_page, refused_page, sent_page
from services.gateway.errors import ApiError
from services.runtime.acklinks import AckClaim, AckLinkError, read_ack_token, sign_ack_token

pytestmark = pytest.mark.unit
NOW = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
SECRET = "s" * 43


def claim(**fields) -> AckClaim:
    values = {
        "notification_id": "inc-1:2:nguyen-van-an:email",
        "incident_key": "line_fault:vnpt-quang-nam:L-1",
        "incident_id": "inc-1",
        "task_id": "inc-1:task:vnpt-quang-nam",
        "enterprise": "vnpt-quang-nam",
        "person": "nguyen-van-an",
        "person_name": "Nguyễn Văn An",
        "expires_at": NOW + timedelta(hours=1),
    }
    return AckClaim.model_validate(values | fields)


def refused(token: str, *, secret: str = SECRET, now: datetime = NOW) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        claim_of(token, secret=secret, now=now)
    return caught.value.status, caught.value.code


def test_a_genuine_link_past_its_time_is_gone_and_a_forged_or_garbled_one_refused():
    token = sign_ack_token(claim(), secret=SECRET)
    assert refused(token, now=NOW + timedelta(hours=2)) == (410, "link_expired")
    assert refused(token, secret="another secret") == (403, "link_refused")
    assert refused("not-a-token") == (403, "link_refused")
    text, signature = token.split(".")
    assert refused(f"{text}x.{signature}") == (403, "link_refused")
    assert refused(f"{text}.{signature[:-1]}é") == (403, "link_refused")  # not even ASCII
    assert claim_of(token, secret=SECRET, now=NOW) == claim()


def test_only_a_genuine_link_past_its_time_is_told_it_expired():
    with pytest.raises(AckLinkError) as caught:
        read_ack_token("x.y", secret=SECRET, now=NOW)
    assert refusal(caught.value).status == 403
    assert refusal(AckLinkError("the link expired at 2007-05-20T07:00:00+00:00")).status == 410


def test_the_acknowledgement_is_the_enterprise_s_as_the_person_with_the_notification_s_id():
    sent = acknowledgement(claim(), now=NOW)
    assert (sent.issued_by, sent.dispatcher) == ("vnpt-quang-nam", "Nguyễn Văn An")
    assert (sent.incident_id, sent.incident_key) == ("inc-1", "line_fault:vnpt-quang-nam:L-1")
    assert sent.command_id == "ack:inc-1:2:nguyen-van-an:email" and sent.issued_at == NOW
    assert acknowledgement(claim(), now=NOW + timedelta(minutes=3)).command_id == sent.command_id


@given(st.from_regex(ID_PATTERN, fullmatch=True), st.from_regex(ID_PATTERN, fullmatch=True))
def test_every_notification_id_gives_a_valid_command_id_of_its_own(one, other):
    made = command_id_of(one)
    assert re.fullmatch(ID_PATTERN, made) and made.startswith("ack:")
    assert made == f"ack:{one}" if len(one) <= 124 else len(made) == len("ack:") + 64
    assert (made == command_id_of(other)) == (one == other)


def test_pages_escape_what_they_show_and_post_back_to_themselves_without_script():
    hostile = claim(person_name='<script>alert("x")</script> & <b>')
    confirm = confirm_page(hostile)
    assert (
        "<script>" not in confirm and "&lt;script&gt;" in confirm and "&amp; &lt;b&gt;" in confirm
    )
    assert '<form method="post" action="">' in confirm
    sent = sent_page(hostile, "rejected", "already acknowledged <by someone>")
    assert "already acknowledged &lt;by someone&gt;" in sent and "<script>" not in sent
    assert "on your task feed" in sent_page(hostile, "pending", None)
    assert "Link no longer valid" in refused_page(410, "used at 07:00")
    policy = PAGE_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert PAGE_HEADERS["Referrer-Policy"] == "no-referrer"
