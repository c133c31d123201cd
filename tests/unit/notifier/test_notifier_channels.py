"""The webhook signature as a receiver checks it, the retry schedule, the receivers' answers,
and what each message says."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

import pytest

from schemas.notifications import DeliveryOutcome
from services.notifier import decide, sign_webhook, verify_webhook
from services.notifier.attempts import (
    RetryPolicy,
    attempt_record,
    deliver_with_retries,
    one_line,
    retry_delays,
)
from services.notifier.channel import Delivery, Outgoing, http_outcome
from services.notifier.mail import MailChannel, message_id
from services.notifier.message import ack_claim, email_text, message_body, sms_text
from services.notifier.settings import NotifierSettings
from tests.support.notifier_samples import ZONE, email, escalated, person, rosters, routed, warned

pytestmark = pytest.mark.unit

BODY = b'{"notification_id":"ntf-1"}'
NOW = 1_179_640_800  # 2007-05-20 06:00 UTC
ROSTERS = rosters(person("an", email("an@vnpt.example.vn")))
AT = datetime(2007, 5, 20, 10, 0, tzinfo=ZONE)


def test_the_signature_is_the_hex_hmac_of_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1179640800." + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook("s3cret", NOW, BODY) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now", "genuine"),
    [
        ("s3cret", str(NOW), BODY, NOW + 10, True),
        ("other", str(NOW), BODY, NOW, False),  # wrong secret
        ("s3cret", str(NOW), BODY + b" ", NOW, False),  # body changed
        ("s3cret", str(NOW + 1), BODY, NOW, False),  # timestamp changed
        ("s3cret", str(NOW), BODY, NOW + 301, False),  # replayed too late
        ("s3cret", "soon", BODY, NOW, False),
    ],
)
def test_a_receiver_accepts_only_a_genuine_recent_signature(secret, timestamp, body, now, genuine):
    signature = sign_webhook("s3cret", NOW, BODY)
    assert (
        verify_webhook(secret, signature=signature, timestamp=timestamp, body=body, now=now)
        is genuine
    )


def test_retries_double_up_to_the_cap_with_full_jitter():
    policy = RetryPolicy(max_attempts=6, base_s=0.5, cap_s=5.0, timeout_s=1.0)
    assert retry_delays(policy, lambda: 1.0) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert retry_delays(policy, lambda: 0.0) == [0.0] * 5  # full jitter: anywhere down to none
    assert retry_delays(RetryPolicy(1, 0.5, 5.0, 1.0), lambda: 1.0) == []


@pytest.mark.parametrize(
    ("status", "ok", "retry"),
    [
        (200, True, True),
        (204, True, True),
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (503, False, True),
    ],
)
def test_only_2xx_delivers_and_only_408_429_and_5xx_are_tried_again(status, ok, retry):
    answer = http_outcome(status, "")
    assert (answer.ok, answer.retry) == (ok, retry)
    assert answer.detail.startswith(f"HTTP {status}")


def test_a_new_task_carries_a_link_for_its_task_and_person_and_an_escalation_none():
    [task] = decide(routed(1, AT, "an"), ROSTERS)
    claim = ack_claim(task, expires_at=AT + timedelta(hours=4))
    assert (claim.task_id, claim.person, claim.notification_id) == (
        task.task_id,
        "an",
        task.notification_id,
    )
    [escalation] = decide(escalated(1, AT, "an"), ROSTERS)
    assert ack_claim(escalation, expires_at=AT) is None
    assert message_body(escalation, None)["ack_link"] is None


def test_the_texts_say_what_by_when_and_how_to_acknowledge():
    due = AT + timedelta(minutes=5)
    [n] = decide(warned(1, AT, due, "an"), ROSTERS)
    text = email_text(n, "http://gw/v1/ack/t")
    assert "Deadline warning (P2): Đứt cáp đường dây nóng" in text
    assert f"Deadline (acknowledge): {due.isoformat()}" in text
    assert "Acknowledge with one click:\nhttp://gw/v1/ack/t" in text
    assert sms_text(n, "http://gw/v1/ack/t").endswith(
        "Due 2007-05-20T10:05+07:00. Ack: http://gw/v1/ack/t"
    )
    assert message_body(n, None)["deadline"] == {"kind": "acknowledge", "due_at": due.isoformat()}


def test_an_email_is_addressed_to_the_person_with_an_id_from_the_notification():
    [n] = decide(routed(1, AT, "an"), ROSTERS)
    mail = MailChannel(NotifierSettings(notifier_smtp_from="sp@test")).compose(
        Outgoing(n, message_body(n, None), None)
    )
    assert (mail["To"], mail["From"]) == ("an@vnpt.example.vn", "sp@test")
    assert (
        mail["Message-ID"] == message_id(n.notification_id) == f"<{n.notification_id}@signalpost>"
    )
    assert "Acknowledge" not in mail.get_content()


class Scripted:
    """A channel answering from a script of deliveries."""

    def __init__(self, *answers: Delivery) -> None:
        self.answers = list(answers)

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        return self.answers.pop(0)


FAIL, OK = Delivery(False, "HTTP 503"), Delivery(True, "HTTP 200")
REFUSE = Delivery(False, "HTTP 404", retry=False)


@pytest.mark.parametrize(
    ("answers", "recorded", "errors", "waits"),
    [
        ((FAIL, FAIL, OK), ["failed", "failed", "delivered"], [], [1.0, 2.0]),
        ((FAIL, FAIL, FAIL), ["failed", "failed"], [1, 2, 3], [1.0, 2.0]),
        ((REFUSE,), [], [1], []),
        ((OK,), ["delivered"], [], []),
    ],
    ids=["retried-to-success", "out-of-tries", "refused-for-good", "at-once"],
)
async def test_each_try_is_recorded_but_the_last_failure_left_to_the_dead_letter(
    answers, recorded, errors, waits
):
    [n] = decide(routed(1, AT, "an"), ROSTERS)
    records, waited = [], []

    async def record(attempt):
        records.append(attempt)

    async def wait(seconds):
        waited.append(seconds)

    failed = await deliver_with_retries(
        Outgoing(n, message_body(n, None), None),
        Scripted(*answers),
        policy=RetryPolicy(max_attempts=3, base_s=0.5, cap_s=5.0, timeout_s=1.0),
        clock=lambda: AT,
        draw=lambda: 1.0,
        wait=wait,
        record=record,
    )
    assert [r.outcome.value for r in records] == recorded
    assert [r.attempt for r in records] == list(range(1, len(recorded) + 1))
    # Unique per try: the notification, the try, and when it ended (a redelivered batch's
    # try 1 is another record than the first run's try 1).
    stamp = round(AT.timestamp() * 1_000_000)
    assert [r.attempt_id for r in records] == [
        f"{n.notification_id}:{r.attempt}:{stamp}" for r in records
    ]
    assert [e.attempt for e in failed] == errors
    assert waited == waits


def test_a_receivers_multi_line_answer_becomes_a_one_line_detail_that_fits_a_record():
    [n] = decide(routed(1, AT, "an"), ROSTERS)
    answer = http_outcome(502, "<html>\n\t<body>Bad\x00gateway</body>\r\n</html>" + "x" * 300)
    record = attempt_record(
        n, attempt=1, at=AT, outcome=DeliveryOutcome.FAILED, detail=answer.detail
    )
    assert record.detail.startswith("HTTP 502: <html> <body>Bad gateway</body> </html>")
    assert len(record.detail) <= 200 and one_line(" \n ") == "no detail given"


class Exploding:
    """An adapter whose address cannot be used at all (a malformed URL, a header break)."""

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        raise ValueError("Header values may not contain linefeed or carriage return characters")


async def test_an_address_that_cannot_be_used_is_a_dead_letter_at_once_not_a_crash():
    [n, *_] = decide(routed(1, AT, "an"), ROSTERS)
    records: list = []

    async def record(attempt) -> None:
        records.append(attempt)

    async def wait(seconds: float) -> None:
        raise AssertionError("a try that cannot succeed is not retried")

    failed = await deliver_with_retries(
        Outgoing(n, message_body(n, None), None),
        Exploding(),
        policy=RetryPolicy(max_attempts=3, base_s=0.5, cap_s=5.0, timeout_s=1.0),
        clock=lambda: AT,
        draw=lambda: 1.0,
        wait=wait,
        record=record,
    )
    assert [e.attempt for e in failed] == [1] and records == []
    assert "cannot be sent" in failed[0].detail and "linefeed" in failed[0].detail
