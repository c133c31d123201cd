"""API tokens in PostgreSQL: created with their secret shown once, looked up by hash, revoked."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.gateway.access import Principal, Role, new_secret, new_token_id, secret_hash


@dataclass(frozen=True)
class NewToken:
    """A token just made; `secret` exists nowhere else and is shown once."""

    token_id: str
    enterprise: str
    role: Role
    secret: str


async def create_token(
    *, conn: asyncpg.Connection, enterprise: str, role: Role, label: str = ""
) -> NewToken:
    """Store a new token's hash; the secret is returned, never stored."""
    token = NewToken(new_token_id(), enterprise, role, new_secret())
    await conn.execute(
        "INSERT INTO api_tokens (token_id, secret_sha256, enterprise, role, label)"
        " VALUES ($1, $2, $3, $4, $5)",
        token.token_id,
        secret_hash(token.secret),
        enterprise,
        role.value,
        label,
    )
    return token


async def principal_of(*, conn: asyncpg.Connection | asyncpg.Pool, secret: str) -> Principal | None:
    """Who holds this secret, or None for an unknown or revoked one (read on every request)."""
    row = await conn.fetchrow(
        "SELECT token_id, enterprise, role FROM api_tokens"
        " WHERE secret_sha256 = $1 AND revoked_at IS NULL",
        secret_hash(secret),
    )
    return None if row is None else Principal(row["token_id"], row["enterprise"], Role(row["role"]))


async def list_tokens(
    *, conn: asyncpg.Connection, enterprise: str | None = None
) -> list[asyncpg.Record]:
    """Every token (never a secret or its hash), newest first."""
    return await conn.fetch(
        "SELECT token_id, enterprise, role, label, created_at, revoked_at FROM api_tokens"
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
