"""Notification attempts as the notifier publishes them, and acknowledge links it signs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas.codec import encode
from schemas.notifications import NotificationAttempted
from services.runtime.acklinks import AckClaim, sign_ack_token
from tests.support.lifecycle_samples import ENTERPRISE

PERSON = {"enterprise": ENTERPRISE, "id": "nguyen-van-an", "name": "Nguyễn Văn An"}


def attempt(
    number: int, attempt: int, caused_at: datetime, *, after_s: float, **fields: Any
) -> NotificationAttempted:
    """Try `attempt` of the new-task notification of sample incident `number` (the
    lifecycle samples' inc-N), made `after_s` seconds after the routing it tells of."""
    notification = f"inc-{number}:2:{PERSON['id']}:email"
    values = {
        "attempt_id": f"{notification}:{attempt}",
        "notification_id": notification,
        "attempt": attempt,
        "reason": "new_task",
        "incident_key": f"line_fault:{ENTERPRISE}:L-{number}",
        "incident_id": f"inc-{number}",
        "task_id": f"inc-{number}:task:{ENTERPRISE}",
        "enterprise": ENTERPRISE,
        "person": PERSON,
        "channel": "email",
        "address": "an.nv@vnpt-quangnam.example",
        "priority": "p2",
        "caused_by": f"inc-{number}:2",
        "caused_at": caused_at,
        "attempted_at": caused_at + timedelta(seconds=after_s),
        "outcome": "delivered",
    }
    return NotificationAttempted.model_validate(values | fields)


def encoded_attempt(item: NotificationAttempted) -> tuple[bytes, bytes]:
    """(key, value) as the notifier sends it: keyed by incident key."""
    return item.incident_key.encode(), encode(item)


def ack_token(
    secret: str,
    *,
    notification_id: str,
    incident_id: str,
    incident_key: str,
    expires_at: datetime,
    enterprise: str = ENTERPRISE,
) -> str:
    """The token of an acknowledge link for the enterprise's task, as sample person An."""
    claim = AckClaim(
        notification_id=notification_id,
        incident_key=incident_key,
        incident_id=incident_id,
        task_id=f"{incident_id}:task:{enterprise}",
        enterprise=enterprise,
        person=PERSON["id"],
        person_name=PERSON["name"],
        expires_at=expires_at,
    )
    return sign_ack_token(claim, secret=secret)
