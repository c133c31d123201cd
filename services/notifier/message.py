"""What a notification says: the webhook's JSON, the e-mail's text, the SMS; pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.notifications import NotificationReason
from services.notifier.decide import Notification
from services.runtime.acklinks import AckClaim

__all__ = ["ack_claim", "email_subject", "email_text", "message_body", "sms_text"]

HEADLINE = {
    NotificationReason.NEW_TASK: "New task",
    NotificationReason.REASSIGNMENT: "Task reassigned to you",
    NotificationReason.ESCALATION: "Escalation",
    NotificationReason.DEADLINE_WARNING: "Deadline warning",
}


def ack_claim(notification: Notification, *, expires_at: datetime) -> AckClaim | None:
    """What the notification's acknowledge link stands for; None without a task to acknowledge
    (an escalation names the incident, not one task)."""
    if notification.task_id is None:
        return None
    return AckClaim(
        notification_id=notification.notification_id,
        incident_key=notification.incident_key,
        incident_id=notification.incident_id,
        task_id=notification.task_id,
        enterprise=notification.enterprise,
        person=notification.person.id,
        person_name=notification.person.name,
        expires_at=expires_at,
    )


def message_body(notification: Notification, ack_link: str | None) -> dict[str, Any]:
    """The webhook's JSON body, also the `notification` of a dead letter."""
    n = notification
    return {
        "notification_id": n.notification_id,
        "reason": n.reason.value,
        "incident_id": n.incident_id,
        "incident_key": n.incident_key,
        "task_id": n.task_id,
        "enterprise": n.enterprise,
        "person": n.person.model_dump(mode="json"),
        "priority": n.priority.value,
        "summary": n.summary,
        "district": n.district,
        "event_id": n.caused_by,
        "occurred_at": n.caused_at.isoformat(),
        "deadline": None
        if n.deadline is None
        else {"kind": n.deadline.value, "due_at": n.due_at.isoformat() if n.due_at else None},
        "ack_link": ack_link,
    }


def email_subject(notification: Notification) -> str:
    """'[SignalPost P1] New task: <summary>'."""
    n = notification
    return f"[SignalPost {n.priority.value.upper()}] {HEADLINE[n.reason]}: {n.summary}"


def email_text(notification: Notification, ack_link: str | None) -> str:
    """The e-mail's plain-text body: what happened, by when, and the one-click link."""
    n = notification
    lines = [
        f"{n.person.name},",
        "",
        f"{HEADLINE[n.reason]} ({n.priority.value.upper()}): {n.summary}",
        f"Incident: {n.incident_id} ({n.incident_key})",
    ]
    if n.district:
        lines.append(f"District: {n.district}")
    if n.due_at is not None and n.deadline is not None:
        lines.append(f"Deadline ({n.deadline.value}): {n.due_at.isoformat()}")
    if ack_link:
        lines += ["", "Acknowledge with one click:", ack_link]
    lines += ["", f"Notification {n.notification_id}, about event {n.caused_by}."]
    return "\n".join(lines) + "\n"


def sms_text(notification: Notification, ack_link: str | None) -> str:
    """The SMS: priority, headline and summary, the deadline and the link, in a few words."""
    n = notification
    text = f"SignalPost {n.priority.value.upper()} {HEADLINE[n.reason]}: {n.summary}"
    if n.due_at is not None:
        text += f" Due {n.due_at.isoformat(timespec='minutes')}."
    return f"{text} Ack: {ack_link}" if ack_link else text
