"""The webhook channel: the message as signed JSON, POSTed to the person's URL."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from services.notifier.channel import Delivery, Outgoing, http_outcome
from services.notifier.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook
from services.runtime.clock import Clock

__all__ = ["WebhookChannel", "post_json"]


class WebhookChannel:
    """POSTs each message with its signature, timestamp and idempotency key."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        clock: Clock,
        default_secret: str,
        secrets: Mapping[str, str],
    ) -> None:
        self.client = client
        self.clock = clock
        self.default_secret = default_secret
        self.secrets = secrets  # by environment variable, as the channels' secret_env name them

    async def deliver(self, outgoing: Outgoing) -> Delivery:
        """Sign and POST once."""
        channel = outgoing.notification.channel
        assert channel is not None
        secret = self.default_secret
        if channel.secret_env is not None:
            if channel.secret_env not in self.secrets:
                return Delivery(False, f"{channel.secret_env} is not set", retry=False)
            secret = self.secrets[channel.secret_env]
        body = json.dumps(outgoing.body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock().timestamp())
        headers = {
            SIGNATURE_HEADER: sign_webhook(secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            "Idempotency-Key": outgoing.notification.notification_id,
        }
        return await post_json(self.client, outgoing.address, body, headers)


async def post_json(
    client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]
) -> Delivery:
    """POST a JSON body once; a timeout or a connection error is worth another try."""
    try:
        answer = await client.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}
        )
    except httpx.TimeoutException as exc:
        return Delivery(False, f"timed out: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Delivery(False, f"{type(exc).__name__}: {exc}"[:200])
    return http_outcome(answer.status_code, answer.text.strip())
