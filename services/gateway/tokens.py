"""API tokens in PostgreSQL: created with their secret shown once, looked up by hash, revoked.

Creating, listing and revoking are the owner's (`signalpost tokens`); the gateway's service
role may only read tokens and write down when one was last used (`record_use`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.access import (
    Principal,
    Role,
    is_expired,
    last_use_due,
    new_secret,
    new_token_id,
    secret_hash,
)
from services.runtime.clock import system_clock


@dataclass(frozen=True)
class NewToken:
    """A token just made; `secret` exists nowhere else and is shown once."""

    token_id: str
    enterprise: str
    role: Role
    secret: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Holder:
    """A live (not revoked) token found by its secret, with what the gateway checks at use."""

    principal: Principal
    expires_at: datetime | None
    last_used_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return is_expired(self.expires_at, now)


async def create_token(
    *,
    conn: asyncpg.Connection,
    enterprise: str,
    role: Role,
    label: str = "",
    expires_at: datetime | None = None,
) -> NewToken:
    """Store a new token's hash; the secret is returned, never stored."""
    token = NewToken(new_token_id(), enterprise, role, new_secret(), expires_at)
    await conn.execute(
        "INSERT INTO api_tokens (token_id, secret_sha256, enterprise, role, label, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        token.token_id,
        secret_hash(token.secret),
        enterprise,
        role.value,
        label,
        expires_at,
    )
    return token


async def holder_of(*, conn: asyncpg.Connection | asyncpg.Pool, secret: str) -> Holder | None:
    """The live token with this secret, expired or not; None for an unknown or revoked one."""
    return (await holders_of(conn=conn, secrets=[secret]))[0]


async def holders_of(
    *, conn: asyncpg.Connection | asyncpg.Pool, secrets: Sequence[str]
) -> list[Holder | None]:
    """holder_of for each secret, in one query (concurrent requests' lookups together)."""
    rows = await conn.fetch(
        "SELECT secret_sha256, token_id, enterprise, role, expires_at, last_used_at"
        " FROM api_tokens WHERE secret_sha256 = ANY($1::bytea[]) AND revoked_at IS NULL",
        list({secret_hash(s) for s in secrets}),
    )
    found = {
        row["secret_sha256"]: Holder(
            Principal(row["token_id"], row["enterprise"], Role(row["role"])),
            row["expires_at"],
            row["last_used_at"],
        )
        for row in rows
    }
    return [found.get(secret_hash(s)) for s in secrets]


async def principal_of(
    *, conn: asyncpg.Connection | asyncpg.Pool, secret: str, now: datetime | None = None
) -> Principal | None:
    """Who holds this secret, or None for an unknown, revoked or expired one (expired at
    `now`, the system clock's when not given: an open task stream checks with it)."""
    found = await holder_of(conn=conn, secret=secret)
    if found is None or found.expired(now or system_clock()):
        return None
    return found.principal


async def record_use(
    *, conn: asyncpg.Connection | asyncpg.Pool, holder: Holder, now: datetime
) -> None:
    """Write down that the token was used now, when a minute has passed since the last time.

    The update names the last use it read: of gateways racing on one token, one writes.
    """
    if not last_use_due(holder.last_used_at, now):
        return
    await conn.execute(
        "UPDATE api_tokens SET last_used_at = $2"
        " WHERE token_id = $1 AND last_used_at IS NOT DISTINCT FROM $3",
        holder.principal.token_id,
        now,
        holder.last_used_at,
    )


async def list_tokens(
    *, conn: asyncpg.Connection, enterprise: str | None = None
) -> list[asyncpg.Record]:
    """Every token (never a secret or its hash), newest first."""
    return await conn.fetch(
        "SELECT token_id, enterprise, role, label, created_at, expires_at, last_used_at,"
        " revoked_at FROM api_tokens"
        " WHERE $1::text IS NULL OR enterprise = $1 ORDER BY created_at DESC, token_id",
        enterprise,
    )


async def revoke_token(*, conn: asyncpg.Connection, token_id: str) -> bool:
    """Revoke a token from now on; False when no live token has that id."""
    done = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return done.endswith(" 1")
