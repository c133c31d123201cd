"""The SMS channel: POST {to, text} to an HTTP SMS gateway. No real provider is wired."""

from __future__ import annotations

import json

import httpx

from services.notifier.channel import Delivery, Outgoing
from services.notifier.message import sms_text
from services.notifier.webhook import post_json

__all__ = ["NOT_CONFIGURED", "SmsChannel"]

NOT_CONFIGURED = "no SMS gateway is configured (SIGNALPOST_NOTIFIER_SMS_URL)"


class SmsChannel:
    """Sends the SMS text through the gateway at `url`, with a bearer token if given."""

    def __init__(self, client: httpx.AsyncClient, *, url: str | None, token: str | None) -> None:
        self.client = client
        self.url = url
        self.token = token

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        """POST once; without a gateway, a refusal for good (nothing to retry against)."""
        if self.url is None:
            return Delivery(False, NOT_CONFIGURED, retry=False)
        text = sms_text(outgoing.notification, outgoing.ack_link)
        body = json.dumps({"to": outgoing.address, "text": text}, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return await post_json(self.client, self.url, body, headers)
