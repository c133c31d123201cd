"""Signed acknowledge links: the notifier puts one in an e-mail, the gateway honours it once.

A link's token is `<claim>.<signature>`, both base64url without padding: the claim is
canonical JSON naming the task, the person it was sent to and when it expires; the
signature is HMAC-SHA256 over the claim's text with the secret both services share. Pure:
no clock is read (the caller passes `now`), and one use is the gateway's to enforce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from pydantic import ValidationError

from schemas.envelope import Identifier, IncidentKey, Instant, LogModel, ShortText, Slug
from schemas.errors import SignalPostError

__all__ = ["ACK_LINK_SECRET", "AckClaim", "AckLinkError", "read_ack_token", "sign_ack_token"]

# The local secret (services.runtime.secrets) both the notifier and the gateway read.
ACK_LINK_SECRET = "ack-link-secret"
MAX_TOKEN_CHARS = 2048


class AckClaim(LogModel):
    """What an acknowledge link stands for: who may acknowledge which task, until when."""

    notification_id: Identifier
    incident_key: IncidentKey
    incident_id: Identifier
    task_id: Identifier
    enterprise: Slug
    person: Slug
    person_name: ShortText
    expires_at: Instant


class AckLinkError(SignalPostError):
    """An acknowledge link that is malformed, forged or expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, claim_text: str) -> str:
    return _b64(hmac.new(secret.encode(), claim_text.encode(), hashlib.sha256).digest())


def sign_ack_token(claim: AckClaim, *, secret: str) -> str:
    """The token of a link that acknowledges `claim.task_id` as `claim.person`."""
    text = _b64(json.dumps(claim.model_dump(mode="json"), sort_keys=True).encode())
    return f"{text}.{_signature(secret, text)}"


def read_ack_token(token: str, *, secret: str, now: datetime) -> AckClaim:
    """The claim of a genuine, unexpired token; AckLinkError saying why otherwise."""
    # A token is base64url and one dot; anything else (non-ASCII text, which compare_digest
    # would refuse with a TypeError) is not a link at all.
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1 or not token.isascii():
        raise AckLinkError("not an acknowledge link")
    text, signature = token.split(".")
    # Compare before decoding, so a forged claim is never parsed.
    if not hmac.compare_digest(signature, _signature(secret, text)):
        raise AckLinkError("the link's signature does not verify")
    try:
        claim = AckClaim.model_validate_json(_unb64(text))
    except (binascii.Error, ValueError, ValidationError):
        raise AckLinkError("not an acknowledge link") from None
    if claim.expires_at <= now:
        raise AckLinkError(f"the link expired at {claim.expires_at.isoformat()}")
    return claim
