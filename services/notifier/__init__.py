"""The notifier: the people on duty told of their tasks by webhook, e-mail or SMS, every try logged.

What other packages may use: the settings and the service (the command line runs it), the
core that decides whom an event tells, the webhook signature with its receiver-side check,
and the dead letter's shape (for whoever reads notifications.dead-letter).
"""

from services.notifier.deadletter import AttemptError, NotificationDeadLettered
from services.notifier.decide import Notification, decide, notification_id
from services.notifier.service import Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AttemptError",
    "Notification",
    "NotificationDeadLettered",
    "Notifier",
    "NotifierSettings",
    "decide",
    "notification_id",
    "sign_webhook",
    "verify_webhook",
]
