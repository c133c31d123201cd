"""The e-mail channel: the message as plain text over SMTP, its Message-ID from the notification."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.notifier.channel import Delivery, Outgoing
from services.notifier.message import email_subject, email_text
from services.notifier.settings import NotifierSettings

__all__ = ["MailChannel", "message_id"]


def message_id(notification_id: str) -> str:
    """The Message-ID: the same on every retry, so a mail server or reader can drop a second."""
    return f"<{notification_id}@signalpost>"


class MailChannel:
    """Sends through the SMTP server the settings name, one connection per message."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    def compose(self, outgoing: Outgoing) -> EmailMessage:
        """The e-mail for `outgoing`, headers and body."""
        n = outgoing.notification
        mail = EmailMessage()
        mail["From"] = self.settings.notifier_smtp_from
        mail["To"] = outgoing.address
        mail["Subject"] = email_subject(n)
        mail["Message-ID"] = message_id(n.notification_id)
        mail["Date"] = formatdate(n.caused_at.timestamp(), usegmt=True)
        mail.set_content(email_text(n, outgoing.ack_link))
        return mail

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        """Send once; a 5xx answer is permanent, the rest (4xx, connection, timeout) transient."""
        s = self.settings
        password = s.notifier_smtp_password.get_secret_value() if s.notifier_smtp_password else None
        try:
            await aiosmtplib.send(
                self.compose(outgoing),
                hostname=s.notifier_smtp_host,
                port=s.notifier_smtp_port,
                start_tls=s.notifier_smtp_starttls,
                username=s.notifier_smtp_username,
                password=password,
                timeout=s.notifier_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return _refused(min(codes, default=550), "recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Delivery(False, f"{type(exc).__name__}: {exc}"[:200])
        return Delivery(True, f"sent to {s.notifier_smtp_host}:{s.notifier_smtp_port}")


def _refused(code: int, message: str) -> Delivery:
    permanent = 500 <= code < 600
    detail = f"SMTP {code}: {message}"[:160]
    if permanent:
        return Delivery(False, f"{detail} (refused: retrying will not help)", retry=False)
    return Delivery(False, detail)
