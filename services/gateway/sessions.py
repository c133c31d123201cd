"""Console sessions in PostgreSQL: a token exchanged for a cookie, found by the cookie, ended.

A session acts as its token and is looked up with it on every request, so revoking the token
ends the session at once; only the hash of the cookie's secret is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.access import (
    Principal,
    Role,
    is_expired,
    new_csrf_token,
    new_session_secret,
    secret_hash,
)
from services.gateway.tokens import Holder


@dataclass(frozen=True)
class NewSession:
    """A sign-in just made: the cookie's secret (shown once, to the browser) and its CSRF token."""

    secret: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    """A live session found by its cookie: its token's holder and what the page must echo."""

    holder: Holder
    csrf_token: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """Either the sign-in or the token behind it has run out."""
        return is_expired(self.expires_at, now) or self.holder.expired(now)


async def open_session(
    *, conn: asyncpg.Connection, token_id: str, now: datetime, expires_at: datetime
) -> NewSession:
    """Store a new session of the token; the cookie's secret is returned, never stored."""
    made = NewSession(new_session_secret(), new_csrf_token(), expires_at)
    await conn.execute(
        "INSERT INTO console_sessions (session_sha256, token_id, csrf_token, created_at,"
        " expires_at) VALUES ($1, $2, $3, $4, $5)",
        secret_hash(made.secret),
        token_id,
        made.csrf_token,
        now,
        expires_at,
    )
    return made


async def session_of(*, conn: asyncpg.Connection, secret: str) -> Session | None:
    """The session with this cookie, expired or not; None if unknown, ended or its token revoked."""
    row = await conn.fetchrow(
        "SELECT s.csrf_token, s.expires_at AS session_expires_at, t.token_id, t.enterprise,"
        " t.role, t.expires_at, t.last_used_at"
        " FROM console_sessions s JOIN api_tokens t USING (token_id)"
        " WHERE s.session_sha256 = $1 AND s.ended_at IS NULL AND t.revoked_at IS NULL",
        secret_hash(secret),
    )
    if row is None:
        return None
    principal = Principal(row["token_id"], row["enterprise"], Role(row["role"]))
    holder = Holder(principal, row["expires_at"], row["last_used_at"])
    return Session(holder, row["csrf_token"], row["session_expires_at"])


async def end_session(*, conn: asyncpg.Connection, secret: str, now: datetime) -> bool:
    """Sign out: the cookie stops working from now on; False if it was not a live session."""
    done = await conn.execute(
        "UPDATE console_sessions SET ended_at = $2 WHERE session_sha256 = $1 AND ended_at IS NULL",
        secret_hash(secret),
        now,
    )
    return done.endswith(" 1")
