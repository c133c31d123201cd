"""From one lifecycle event and the rosters to the notifications it asks for: pure, no I/O.

Every notification has a deterministic id (the idempotency key): the same event read again
gives the same ids, so a redelivery is one receivers can drop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.lifecycle import (
    DeadlineKind,
    DeadlineWarned,
    IncidentEscalated,
    IncidentEventBase,
    IncidentRouted,
)
from schemas.notifications import NotificationReason
from schemas.registry.rosters import Channel, Person, Rosters, in_quiet_hours
from schemas.routing import Priority
from schemas.tasks import PersonRef

__all__ = ["Notification", "decide", "notification_id"]

RANK = {p: i for i, p in enumerate(Priority)}  # p1 first: the most urgent


@dataclass(frozen=True)
class Notification:
    """One message to one person by one channel, about one event, and whether it is held back.

    `channel` is None when the person is not in the rosters loaded (renamed or removed since
    the event was written): such a notification can only be a dead letter.
    """

    notification_id: str
    reason: NotificationReason
    incident_key: str
    incident_id: str
    task_id: str | None
    enterprise: str
    person: PersonRef
    priority: Priority
    summary: str
    district: str | None
    deadline: DeadlineKind | None
    due_at: datetime | None
    caused_by: str
    caused_at: datetime
    channel: Channel | None
    suppressed: str | None = None  # why it is not sent: the person's preferences


def notification_id(event_id: str, task_id: str | None, person: PersonRef, channel: str) -> str:
    """The idempotency key: a hash of the event, the task, the person and the channel."""
    parts = (event_id, task_id or "", person.enterprise, person.id, channel)
    return "ntf-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def decide(event: IncidentEventBase, rosters: Rosters) -> list[Notification]:
    """The notifications `event` asks for, suppressed ones included; none for most events."""
    return [n for told in _told(event) for n in _per_channel(told, rosters)]


def _told(event: IncidentEventBase) -> list[Notification]:
    """One notification per person the event tells, before channels and preferences."""
    if isinstance(event, IncidentRouted):
        reason = _routed_reason(event)
        if reason is None:
            return []
        return [
            _about(
                event,
                reason=reason,
                task_id=task.task_id,
                person=task.on_duty.person,
                priority=task.priority,
                summary=task.summary,
                district=task.district,
                deadline=DeadlineKind.ACKNOWLEDGE if task.ack_due_at else None,
                due_at=task.ack_due_at,
            )
            for task in event.tasks
            if task.on_duty is not None
        ]
    if isinstance(event, IncidentEscalated | DeadlineWarned):
        warned = isinstance(event, DeadlineWarned)
        return [
            _about(
                event,
                reason=(
                    NotificationReason.DEADLINE_WARNING if warned else NotificationReason.ESCALATION
                ),
                task_id=event.task_id if isinstance(event, DeadlineWarned) else None,
                person=person,
                # An older incident manager wrote no priority: tell rather than keep quiet.
                priority=event.priority or Priority.P1,
                summary=event.summary or _fallback_summary(event),
                district=None,
                deadline=event.deadline,
                due_at=event.due_at if isinstance(event, DeadlineWarned) else None,
            )
            for person in event.told
        ]
    return []


def _about(
    event: IncidentEventBase,
    *,
    reason: NotificationReason,
    task_id: str | None,
    person: PersonRef,
    priority: Priority,
    summary: str,
    district: str | None,
    deadline: DeadlineKind | None,
    due_at: datetime | None,
) -> Notification:
    """A notification of `event` to `person`, its channel and id still to be chosen."""
    return Notification(
        notification_id="",
        reason=reason,
        incident_key=event.incident_key,
        incident_id=event.incident_id,
        task_id=task_id,
        enterprise=person.enterprise,
        person=person,
        priority=priority,
        summary=summary,
        district=district,
        deadline=deadline,
        due_at=due_at,
        caused_by=event.event_id,
        caused_at=event.occurred_at,
        channel=None,
    )


def _routed_reason(event: IncidentRouted) -> NotificationReason | None:
    """New tasks tell of themselves; a command's are a reassignment or hand-back; tasks an
    escalation issued tell nothing, the IncidentEscalated before them named whom it tells."""
    if event.caused_by.command_id is not None:
        return NotificationReason.REASSIGNMENT
    if event.caused_by.event_id is not None:
        return None
    return NotificationReason.NEW_TASK


def _fallback_summary(event: IncidentEscalated | DeadlineWarned) -> str:
    if isinstance(event, IncidentEscalated):
        return f"Escalated (level {event.level}): the {event.deadline} deadline was missed"
    return f"The {event.deadline} deadline is due at {event.due_at.isoformat()}"


def _per_channel(told: Notification, rosters: Rosters) -> list[Notification]:
    """The person's channels that take the priority, each with its id and any suppression."""
    person = rosters.person(told.person.enterprise, told.person.id)
    if person is None:
        unknown = replace(told, notification_id=_id(told, "unknown"))
        return [unknown]
    taking = [c for c in person.channels if not c.priorities or told.priority in c.priorities]
    held = _held_back(person, told, rosters)
    if not taking and told.priority is Priority.P1:
        # P1 always goes through: no channel names it, so every channel carries it.
        taking = list(person.channels)
    elif not taking:
        # Kept in the log rather than dropped: the person's channels all refuse this priority.
        held = f"none of {person.id}'s channels takes {told.priority.value}"
        taking = list(person.channels)
    return [
        replace(told, channel=c, suppressed=held, notification_id=_id(told, _channel_key(c)))
        for c in taking
    ]


def _held_back(person: Person, told: Notification, rosters: Rosters) -> str | None:
    """Why the person's preferences keep this from them (never for P1), or None."""
    if told.priority is Priority.P1:
        return None
    if RANK[told.priority] > RANK[person.min_priority]:
        return (
            f"{told.priority.value} is less urgent than {person.id}'s minimum "
            f"{person.min_priority.value}"
        )
    quiet = in_quiet_hours(person, told.caused_at, rosters.zone)
    if quiet is not None:
        local = told.caused_at.astimezone(rosters.zone).strftime("%H:%M")
        return f"{local} is in {person.id}'s quiet hours {quiet.start}-{quiet.until}"
    return None


def _channel_key(channel: Channel) -> str:
    return f"{channel.kind.value}:{channel.address}"


def _id(told: Notification, channel: str) -> str:
    return notification_id(told.caused_by, told.task_id, told.person, channel)
