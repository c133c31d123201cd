"""Notification attempts on notifications.attempts: recorded once by the real recorder even
when redelivered, then read back by `signalpost timeline` and counted by `signalpost report`,
as the auditor reads them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.auditor import load_figures
from services.cli.main import build_parser
from services.cli.recorder_commands import show_timeline
from services.runtime.topics import NOTIFICATION_ATTEMPTS, topic_name
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import incident_story
from tests.support.notification_samples import attempt, encoded_attempt
from tests.support.recorder_run import OPENED, Running, record_events, recorder_settings, wait_until

pytestmark = pytest.mark.integration
ROUTED = OPENED  # the sample story routes at opening
COUNT = "SELECT count(*) FROM notification_attempts"
# inc-0's e-mail: refused once, delivered 40 s after the routing on the second try; inc-1's
# SMS, delivered after 5 s. The first try is sent twice (a producer's retry).
TRIES = [
    attempt(0, 1, ROUTED, after_s=10, outcome="failed", detail="451 mailbox busy"),
    attempt(0, 1, ROUTED, after_s=10, outcome="failed", detail="451 mailbox busy"),
    attempt(0, 2, ROUTED, after_s=40),
    attempt(1, 1, ROUTED, after_s=5, channel="sms", address="+84905000111"),
]


@pytest.fixture
async def recorded(topics, database, test_id):
    """Two incidents' first steps, and their notification attempts, recorded."""
    events = incident_story(0, OPENED, steps=4) + incident_story(1, OPENED, steps=3)
    await record_events(topics, database, events, f"{test_id}-events")
    topic = topic_name(NOTIFICATION_ATTEMPTS, topics.topic_prefix)
    await publish(topics, topic, [encoded_attempt(t) for t in TRIES])
    running = Running(recorder_settings(topics, f"{test_id}-events"))
    try:
        await wait_until(database, COUNT, 3)
    finally:
        await running.close()
    return topics


async def test_each_attempt_is_recorded_once_even_when_redelivered(recorded, database, test_id):
    rows = await database.fetch("SELECT * FROM notification_attempts ORDER BY attempted_at")
    assert [r["attempt_id"] for r in rows] == [t.attempt_id for t in (TRIES[3], TRIES[0], TRIES[2])]
    first = rows[1]
    assert (first["person_id"], first["person_name"]) == ("nguyen-van-an", "Nguyễn Văn An")
    assert (first["outcome"], first["detail"], first["caused_at"]) == (
        "failed", "451 mailbox busy", ROUTED
    )  # fmt: skip
    # Another group reads the whole topic again, to its end: nothing is recorded twice.
    again = Running(recorder_settings(recorded, f"{test_id}-again"))
    try:
        await wait_until(
            database,
            "SELECT sum(next_offset)::int FROM consumer_offsets WHERE consumer_group = "
            f"'{test_id}-again' AND topic LIKE '%notifications.attempts'",
            len(TRIES),
        )
    finally:
        await again.close()
    assert await database.fetchval(COUNT) == 3
    # ... and no repeat was taken for a refused row and set aside.
    assert await database.fetchval("SELECT count(*) FROM recorder_dead_letters") == 0


async def test_the_timeline_shows_who_was_told_among_the_events(recorded):
    args = build_parser().parse_args(["timeline", "inc-0"])
    text, code = await show_timeline(args, recorded)
    assert code == 0
    kinds = [line.split()[1] for line in text.splitlines()[2:8]]
    assert kinds == ["incident_opened", "incident_routed", "deadline_set",
                     "notification_attempted", "notification_attempted",
                     "incident_acknowledged"]  # fmt: skip
    failed = text.splitlines()[5]
    assert "Nguyễn Văn An (vnpt-quang-nam)" in failed and "2007-05-20 07:00:10Z" in failed
    assert "email an.nv@vnpt-quangnam.example; new_task #1; failed 10.0s after #2" in failed
    body = json.loads((await show_timeline(build_parser().parse_args(
        ["timeline", "inc-0", "--json"]), recorded))[0])  # fmt: skip
    assert [(n["attempt"], n["outcome"], n["delay_s"]) for n in body["notifications"]] == [
        (1, "failed", 10.0), (2, "delivered", 40.0)
    ]  # fmt: skip


async def test_the_report_counts_delivery_from_the_recorded_attempts(recorded):
    f = await load_figures(recorded, since=None, until=None, now=OPENED + timedelta(hours=1))
    rows = {d.channel: d for d in f.delivery}
    assert (rows["all"].attempts, rows["all"].delivered, rows["all"].failed) == (3, 2, 1)
    assert (rows["email"].latency_p50_s, rows["sms"].latency_p50_s) == (40.0, 5.0)
