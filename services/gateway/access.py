"""Who may do what: roles, the principal behind a token, and the scope of what it sees. No I/O."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.registry import EnterpriseKind, Registry

TOKEN_PREFIX = "sp_"
# A token's last use is written at most this often: a busy token does not write per request.
LAST_USE_EVERY = timedelta(minutes=1)
DURATION = re.compile(r"(\d+)([mhdw])")
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Role(StrEnum):
    """What a token lets its holder do."""

    PUBLISHER = "publisher"  # publish reports in its enterprise's name
    DISPATCHER = "dispatcher"  # see and act on its enterprise's tasks
    SUPERVISOR = "supervisor"  # the Department: see everything, act on anything, reassign
    AUDITOR = "auditor"  # read everything, change nothing


@dataclass(frozen=True)
class Principal:
    """The enterprise and role a request acts as."""

    token_id: str
    enterprise: str
    role: Role

    @property
    def sees_everything(self) -> bool:
        """The Department and auditors read every enterprise's tasks and incidents."""
        return self.role in (Role.SUPERVISOR, Role.AUDITOR)

    @property
    def may_publish(self) -> bool:
        return self.role is Role.PUBLISHER

    @property
    def may_read_tasks(self) -> bool:
        return self.role is not Role.PUBLISHER

    @property
    def may_command(self) -> bool:
        return self.role in (Role.DISPATCHER, Role.SUPERVISOR)

    @property
    def may_reassign(self) -> bool:
        return self.role is Role.SUPERVISOR


def new_secret() -> str:
    """A fresh token secret: 32 random bytes, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """A short public name for a token, for `tokens list` and `tokens revoke`."""
    return "tok_" + secrets.token_hex(6)


def secret_hash(secret: str) -> bytes:
    """What is stored for a secret: its SHA-256 (the secret has 256 random bits, no salt needed)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `1w2d`, `30m`: a positive span of weeks, days, hours and minutes."""
    compact = text.strip().lower()
    parts = DURATION.findall(compact)
    if not compact or "".join(n + unit for n, unit in parts) != compact:
        raise ValueError(f"expected a duration like 90d, 12h, 1w2d or 30m, got {text!r}")
    span = sum((timedelta(**{DURATION_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())
    if span <= timedelta(0):
        raise ValueError(f"a token's lifetime must be longer than nothing, got {text!r}")
    return span


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """A token with an expiry is refused from that instant on; one without never expires."""
    return expires_at is not None and expires_at <= now


def last_use_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether this use is written down: the first, then at most one per LAST_USE_EVERY."""
    return last_used_at is None or now - last_used_at >= LAST_USE_EVERY


def token_problem(registry: Registry, enterprise: str, role: Role) -> str | None:
    """Why a token for this enterprise and role must not be made, or None."""
    found = registry.enterprise(enterprise)
    if found is None:
        return f"unknown enterprise {enterprise!r} in the registry"
    if role is Role.SUPERVISOR and found.kind is not EnterpriseKind.SUPERVISOR:
        return f"only the Department may hold a supervisor token; {enterprise} is {found.kind}"
    return None


def visible_enterprises(
    principal: Principal, everyone: list[str], wanted: str | None = None
) -> list[str] | None:
    """Whose task feeds the principal reads (narrowed to `wanted`); None: not allowed."""
    if principal.sees_everything:
        if wanted is None:
            return list(everyone)
        return [wanted] if wanted in everyone else []
    if wanted not in (None, principal.enterprise):
        return None
    return [principal.enterprise]


# The console's session cookie, and the header a signed-in page sends its CSRF token in.
SESSION_COOKIE = "signalpost_session"
CSRF_HEADER = "x-csrf-token"
# Methods that change nothing: a cookie-authenticated call of any other needs the CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_session_secret() -> str:
    """A fresh session cookie value (the cookie's only content; its hash is what is stored)."""
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    """The token a signed-in page echoes in `X-CSRF-Token`; another site cannot read it."""
    return secrets.token_urlsafe(24)


def session_expiry(now: datetime, hours: float, token_expires_at: datetime | None) -> datetime:
    """When a sign-in made now ends: after `hours`, or when its token expires, if sooner."""
    ends = now + timedelta(hours=hours)
    return ends if token_expires_at is None else min(ends, token_expires_at)


def csrf_problem(
    method: str, sent: str | None, expected: str, origin: str | None, host: str
) -> str | None:
    """Why a cookie-authenticated request must be refused as a possible forgery, or None.

    Another site can make a browser send the cookie (SameSite=Strict already stops most
    browsers), but it can neither read the page's CSRF token nor set the header.
    """
    if method.upper() in SAFE_METHODS:
        return None
    if origin is not None and origin != "null" and origin.split("://", 1)[-1] != host:
        return f"the request comes from another origin ({origin[:100]})"
    if not sent:
        return "missing the `X-CSRF-Token` header of the signed-in page"
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        return "the `X-CSRF-Token` header does not match this session"
    return None
