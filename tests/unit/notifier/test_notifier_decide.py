"""Whom a lifecycle event tells, by which channels, and what the person's preferences hold back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from schemas.lifecycle import DeadlineSet
from schemas.notifications import NotificationReason as Reason
from schemas.routing import Priority
from services.notifier import decide
from tests.support.lifecycle_samples import incident_story
from tests.support.notifier_samples import (
    ZONE,
    email,
    escalated,
    person,
    rosters,
    routed,
    sms,
    warned,
    webhook,
)

pytestmark = pytest.mark.unit

QUIET = [{"from": "22:00", "until": "06:00"}]  # across midnight
ROSTERS = rosters(
    person(
        "an",
        webhook("http://127.0.0.1:1/an"),
        email("an@vnpt.example.vn"),
        sms("+84900000001", priorities=["p1"]),
        quiet=QUIET,
        min_priority="p3",
    ),
    person("binh", webhook("http://127.0.0.1:1/binh", priorities=["p1", "p2"])),
)
DAY = datetime(2007, 5, 20, 10, 0, tzinfo=ZONE)


def local(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def kinds(notifications):
    return sorted((n.person.id, n.channel.kind.value) for n in notifications)


@pytest.mark.parametrize(
    ("event", "reason", "sent"),
    [
        (routed(1, DAY, "an"), Reason.NEW_TASK, [("an", "email"), ("an", "webhook")]),
        (
            routed(1, DAY, "an", caused_by={"command_id": "cmd-7"}),
            Reason.REASSIGNMENT,
            [("an", "email"), ("an", "webhook")],
        ),
        (
            escalated(1, DAY, "an", "binh"),
            Reason.ESCALATION,
            [("an", "email"), ("an", "webhook"), ("binh", "webhook")],
        ),
        (
            warned(1, DAY, DAY + timedelta(minutes=5), "binh"),
            Reason.DEADLINE_WARNING,
            [("binh", "webhook")],
        ),
        (
            routed(1, DAY, "an", priority="p1"),
            Reason.NEW_TASK,
            [("an", "email"), ("an", "sms"), ("an", "webhook")],
        ),
    ],
    ids=["new-task", "reassignment", "escalation", "deadline-warning", "p1-adds-sms"],
)
def test_each_telling_event_reaches_the_channels_that_take_its_priority(event, reason, sent):
    notifications = decide(event, ROSTERS)
    assert kinds(notifications) == sent
    assert {n.reason for n in notifications} == {reason}
    assert all(n.suppressed is None for n in notifications)


@pytest.mark.parametrize(
    "event",
    [
        routed(1, DAY, "an", caused_by={"event_id": "inc-1:escalated"}),
        routed(1, DAY, None),
        DeadlineSet.model_validate_json(json.dumps(incident_story(1, DAY, steps=3)[2])),
        escalated(1, DAY),
    ],
    ids=["escalation-issued-task", "no-one-on-duty", "deadline-set", "escalation-tells-no-one"],
)
def test_events_that_tell_no_one_give_nothing(event):
    assert decide(event, ROSTERS) == []


def test_a_deadline_warning_names_its_task_and_deadline():
    due = DAY + timedelta(minutes=5)
    [n] = decide(warned(1, DAY, due, "binh"), ROSTERS)
    assert (n.task_id, n.due_at, n.deadline.value) == (
        "inc-1:task:vnpt-quang-nam",
        due,
        "acknowledge",
    )


@pytest.mark.parametrize(
    ("at", "priority", "held"),
    [
        (local(23, 30), "p2", "23:30 is in an's quiet hours 22:00-06:00"),
        (local(2, 0), "p3", "02:00 is in an's quiet hours 22:00-06:00"),
        (local(5, 59), "p2", "05:59 is in an's quiet hours 22:00-06:00"),
        (local(6, 0), "p2", None),
        (local(21, 59), "p2", None),
        (local(23, 30), "p1", None),  # P1 always goes through
        (local(10, 0), "p4", "p4 is less urgent than an's minimum p3"),
        (local(10, 0), "p3", None),
        (local(23, 0), "p4", "p4 is less urgent than an's minimum p3"),
    ],
)
def test_quiet_hours_and_minimum_priority_suppress_all_but_p1(at, priority, held):
    notifications = decide(routed(1, at, "an", priority=priority), ROSTERS)
    assert notifications, "a suppressed notification is still a notification, never nothing"
    assert {n.suppressed for n in notifications} == {held}


def test_an_escalation_without_a_priority_counts_as_p1_and_goes_through_quiet_hours():
    notifications = decide(escalated(1, local(23, 30), "an", priority=None), ROSTERS)
    assert {n.priority for n in notifications} == {Priority.P1}
    assert {n.suppressed for n in notifications} == {None}
    assert all(n.summary.startswith("Escalated (level 1)") for n in notifications)


def test_when_no_channel_takes_the_priority_every_channel_is_suppressed_saying_so():
    [n] = decide(
        routed(1, DAY, "binh", priority="p3"),
        rosters(person("binh", webhook("http://127.0.0.1:1/binh", priorities=["p1"]))),
    )
    assert n.suppressed == "none of binh's channels takes p3"


def test_a_person_missing_from_the_rosters_gives_one_notification_without_a_channel():
    [n] = decide(escalated(1, DAY, "someone-renamed"), ROSTERS)
    assert n.channel is None and n.person.id == "someone-renamed"
    assert n.notification_id.startswith("ntf-")


def test_ids_are_the_same_on_every_reading_and_differ_by_event_person_and_channel():
    first = decide(escalated(1, DAY, "an", "binh"), ROSTERS)
    again = decide(escalated(1, DAY, "an", "binh"), ROSTERS)
    later = decide(escalated(1, DAY + timedelta(minutes=1), "an", "binh"), ROSTERS)
    ids = [n.notification_id for n in first]
    assert ids == [n.notification_id for n in again]
    assert len(set(ids)) == len(ids) == 3
    assert not set(ids) & {n.notification_id for n in later}


def test_a_p1_goes_through_even_when_no_channel_names_p1():
    limited = rosters(person("binh", webhook("http://127.0.0.1:1/binh", priorities=["p3"])))
    [n] = decide(routed(1, DAY, "binh", priority="p1"), limited)
    assert n.suppressed is None and n.channel is not None
