"""The notifier on real Kafka and a real local HTTP receiver: signed, retried, dead-lettered."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from schemas.codec import encode
from schemas.duty import RosterActivated
from schemas.envelope import Actor, ActorKind
from schemas.notifications import DeliveryOutcome as Outcome
from services.notifier import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from services.runtime import lag
from services.runtime.topics import INCIDENT_EVENTS, ROSTER_ACTIVATIONS, topic_name
from tests.support.kafka_io import publish
from tests.support.notifier_receivers import http_receiver, unused_port
from tests.support.notifier_run import (
    WEBHOOK_SECRET,
    attempts_until,
    dead_letters_until,
    notifier_settings,
    publish_events,
    running_notifier,
)
from tests.support.notifier_samples import (
    ZONE,
    escalated,
    person,
    registry_with_roster,
    rosters,
    routed,
    webhook,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def outcomes(records, notification_id):
    mine = sorted(
        (r for r in records if r.notification_id == notification_id), key=lambda r: r.attempt
    )
    return [(r.attempt, r.outcome) for r in mine]


async def test_a_receiver_failing_three_times_gets_the_message_once_signed_and_nothing_after(
    topics, tmp_path
):
    with http_receiver({"/an": [500, 503, 429]}) as receiver:
        registry = registry_with_roster(tmp_path, person("an", webhook(f"{receiver.url}/an")))
        settings = notifier_settings(topics, registry, notifier_max_attempts=5)
        event = routed(1, datetime.now(ZONE), "an", priority="p1")
        async with running_notifier(settings):
            await publish_events(settings, event)
            records = await attempts_until(
                settings, lambda rs: any(r.outcome is Outcome.DELIVERED for r in rs)
            )
            # Committed past the event: the notifier is done with it, so nothing more is due.
            events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
            await eventually(
                lambda: _committed(settings, events), deadline_s=30, what="offset committed"
            )
        arrivals = receiver.at("/an")
    [delivered] = [r for r in records if r.outcome is Outcome.DELIVERED]
    assert [a.status for a in arrivals] == [500, 503, 429, 200]
    assert outcomes(records, delivered.notification_id) == [
        (1, Outcome.FAILED), (2, Outcome.FAILED), (3, Outcome.FAILED), (4, Outcome.DELIVERED)
    ]  # fmt: skip
    assert {a.headers["Idempotency-Key"] for a in arrivals} == {delivered.notification_id}
    for arrival in arrivals:
        assert verify_webhook(
            WEBHOOK_SECRET,
            signature=arrival.headers[SIGNATURE_HEADER],
            timestamp=arrival.headers[TIMESTAMP_HEADER],
            body=arrival.body,
            now=time.time(),
        )
        assert not verify_webhook(
            "another-secret",
            signature=arrival.headers[SIGNATURE_HEADER],
            timestamp=arrival.headers[TIMESTAMP_HEADER],
            body=arrival.body,
            now=time.time(),
        )
    body = json.loads(arrivals[-1].body)
    task = event.tasks[0]
    assert body["notification_id"] == delivered.notification_id
    assert (body["reason"], body["task_id"], body["priority"]) == ("new_task", task.task_id, "p1")
    assert (body["incident_key"], body["event_id"]) == (event.incident_key, event.event_id)
    assert body["person"]["id"] == "an" and body["district"] == task.district
    assert body["ack_link"].startswith("http://gateway.test/v1/ack/")


async def _committed(settings, topic):
    committed = await lag.kafka_committed(settings, settings.group_id)
    ends = await lag.end_offsets(settings, [topic])
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


async def test_a_dead_receiver_ends_in_a_dead_letter_while_the_others_get_theirs_promptly(
    topics, tmp_path
):
    dead = f"http://127.0.0.1:{unused_port()}/gone"
    with http_receiver({"/chi": [404]}) as receiver:
        registry = registry_with_roster(
            tmp_path,
            person("an", webhook(dead)),
            person("binh", webhook(f"{receiver.url}/binh")),
            person("chi", webhook(f"{receiver.url}/chi")),
        )
        # Slow retries for the dead one: the healthy delivery must not wait for them.
        settings = notifier_settings(
            topics,
            registry,
            notifier_max_attempts=3,
            notifier_retry_base_seconds=0.5,
            notifier_retry_max_seconds=2.0,
        )
        event = escalated(1, datetime.now(ZONE), "an", "binh", "chi", "renamed-person")
        async with running_notifier(settings):
            await publish_events(settings, event)
            letters = await dead_letters_until(settings, lambda ls: len(ls) >= 3)
            records = await attempts_until(
                settings, lambda rs: sum(r.outcome is not Outcome.FAILED for r in rs) >= 3
            )
        [binh] = receiver.at("/binh")
    by_person = {r.person.id: r for r in records if r.outcome is not Outcome.FAILED}
    assert by_person["binh"].outcome is Outcome.DELIVERED
    an = by_person["an"]
    assert outcomes(records, an.notification_id) == [
        (1, Outcome.FAILED), (2, Outcome.FAILED), (3, Outcome.DEAD_LETTERED)
    ]  # fmt: skip
    second_try = next(r for r in records if r.person.id == "an" and r.attempt == 2)
    assert binh.at < second_try.attempted_at.timestamp(), "the healthy one waited on the dead"
    # A 4xx other than 408/429 is refused for good: one try, then the dead letter.
    chi = by_person["chi"]
    assert (chi.attempt, chi.outcome) == (1, Outcome.DEAD_LETTERED)
    assert "retrying will not help" in chi.detail
    letter = {lt.notification["person"]["id"]: lt for lt in letters}
    assert letter["an"].endpoint == dead and letter["an"].channel == "webhook"
    assert [e.attempt for e in letter["an"].errors] == [1, 2, 3]
    assert letter["an"].notification["notification_id"] == an.notification_id
    assert letter["an"].notification["reason"] == "escalation"
    # Someone no longer in the rosters: a dead letter naming no channel, no attempt record.
    assert letter["renamed-person"].channel is None and letter["renamed-person"].endpoint is None
    assert "not in the rosters" in letter["renamed-person"].reason
    assert "renamed-person" not in by_person


async def test_a_person_of_rosters_put_in_force_since_the_notifier_started_is_told(
    topics, tmp_path
):
    # The notifier's files know only "an"; the incident manager has since put in force
    # rosters with "moi", and a task names her: the notifier follows the log's rosters.
    with http_receiver() as receiver:
        registry = registry_with_roster(tmp_path, person("an", webhook(f"{receiver.url}/an")))
        settings = notifier_settings(topics, registry, notifier_roster_refresh_seconds=0)
        newer = rosters(person("moi", webhook(f"{receiver.url}/moi")))
        async with running_notifier(settings):
            await publish(
                settings,
                topic_name(ROSTER_ACTIVATIONS, settings.topic_prefix),
                [(b"rosters", encode(activation(newer)))],
            )
            await publish_events(settings, routed(1, datetime.now(ZONE), "moi", priority="p2"))
            await eventually(lambda: receiver.at("/moi"), deadline_s=30, what="moi's webhook")
        records = await attempts_until(settings, lambda rs: len(rs) >= 1)
        assert [(r.person.id, r.outcome) for r in records] == [("moi", Outcome.DELIVERED)]


def activation(rosters) -> RosterActivated:
    """The event the incident manager writes when it puts `rosters` in force now."""
    return RosterActivated(
        event_id="roster-activated:test",
        roster_version=rosters.version,
        registry_version="sha256:" + "0" * 64,
        activated_at=datetime.now(ZONE),
        source="test",
        actor=Actor(kind=ActorKind.SERVICE, id="incident-manager"),
        rosters=rosters.model_dump(mode="json", by_alias=True),
    )
