"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", and the receiver's check of it."""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER = "X-SignalPost-Signature"
TIMESTAMP_HEADER = "X-SignalPost-Timestamp"
# A receiver refuses a signature older (or newer) than this: a captured request replayed
# later fails, while clocks a little apart still agree.
TOLERANCE_SECONDS = 300


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The X-SignalPost-Signature value: 'sha256=' and the hex HMAC of '<timestamp>.<body>'."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str,
    *,
    signature: str,
    timestamp: str,
    body: bytes,
    now: float,
    tolerance_s: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether a received webhook is genuine and recent: what a receiver checks first."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature, sign_webhook(secret, int(timestamp), body))
