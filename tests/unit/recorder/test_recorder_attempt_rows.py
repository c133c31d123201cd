"""Notification attempts in the recorder's batches: sorted out by topic, kept apart from the
events, cut at the stored offsets, and written as rows with the person flattened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.recorder.rows import Batch, Decoded, attempt_row, sort_out
from tests.support.notification_samples import attempt, encoded_attempt
from tests.support.recorder_messages import record

pytestmark = pytest.mark.unit
ROUTED = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
TOPICS = {"p.notifications.attempts": "notifications.attempts"}


def attempts_batch(*values: bytes) -> Batch:
    messages = [record(v, n, "p.notifications.attempts", 1) for n, v in enumerate(values)]
    return sort_out(messages, TOPICS)


def test_attempts_are_sorted_out_apart_and_a_bad_one_is_poison():
    first, retry = (encoded_attempt(attempt(1, n, ROUTED, after_s=n))[1] for n in (1, 2))
    batch = attempts_batch(first, retry, b'{"attempt_id": "half"}')
    assert [d.model.attempt for d in batch.attempts] == [1, 2] and not batch.events
    assert len(batch.poison) == 1 and len(batch) == 3
    assert [
        d.message.offset for d in batch.after({("p.notifications.attempts", 1): 1}).attempts
    ] == [1]
    singles = batch.singles()
    assert sorted(len(s.attempts) for s in singles) == [0, 1, 1]
    assert sorted(s.message.offset for s in singles) == [0, 1, 2]
    whole = Batch()
    whole.extend(batch)
    assert len(whole.attempts) == 2 and len(whole.poison) == 1


def test_a_row_holds_every_field_of_the_contract_and_where_it_was_in_the_log():
    sent = attempt(1, 2, ROUTED, after_s=12.5, outcome="failed", detail="451 try later")
    (item,) = attempts_batch(encoded_attempt(sent)[1]).attempts
    assert isinstance(item, Decoded)
    row = attempt_row(item)
    assert row[:4] == (sent.attempt_id, sent.notification_id, 2, "new_task")
    assert row[8:11] == ("vnpt-quang-nam", "nguyen-van-an", "Nguyễn Văn An")
    assert row[11:14] == ("email", "an.nv@vnpt-quangnam.example", "p2")
    assert row[15:19] == (ROUTED, sent.attempted_at, "failed", "451 try later")
    assert row[19:] == ("p.notifications.attempts", 1, 0)
