"""The database and its three roles: owner (migrations), service (append), auditor (read only)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg

from services.runtime.errors import StackError
from services.runtime.settings import Settings

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Connect = Callable[[str], Awaitable[asyncpg.Connection]]
"""Opens a superuser connection to the named database."""


def _role(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if not parts.username or not ROLE_NAME.match(parts.username):
        raise StackError(f"database URL user {parts.username!r} is not a plain role name")
    return parts.username, parts.password or ""


async def create_database_and_roles(settings: Settings, *, connect: Connect) -> None:
    """Create the roles and the database once; later calls keep passwords in step."""
    owner, service, auditor = (
        _role(url.get_secret_value())
        for url in (
            settings.owner_database_url,
            settings.database_url,
            settings.auditor_database_url,
        )
    )
    admin = await connect("postgres")
    try:
        for name, password in (owner, service, auditor):
            await _ensure_role(admin, name, password)
        if not await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", settings.database_name
        ):
            await admin.execute(
                await admin.fetchval(
                    "SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text)",
                    settings.database_name,
                    owner[0],
                )
            )
    finally:
        await admin.close()
    conn = await connect(settings.database_name)
    try:
        await _grant_privileges(conn, settings.database_name, owner[0], service[0], auditor[0])
    finally:
        await conn.close()


async def _ensure_role(conn: asyncpg.Connection, name: str, password: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
        await conn.execute(f'CREATE ROLE "{name}" LOGIN')
    statement = await conn.fetchval(
        "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)", name, password
    )
    await conn.execute(statement)


async def _grant_privileges(
    conn: asyncpg.Connection, database: str, owner: str, service: str, auditor: str
) -> None:
    """Tables the owner creates are readable and appendable by the service, readable by auditors."""
    await conn.execute(
        f"""
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT CONNECT ON DATABASE "{database}" TO "{service}", "{auditor}";
        ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}"
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{service}";
        ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}"
            GRANT USAGE, SELECT ON SEQUENCES TO "{service}";
        ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT SELECT ON TABLES TO "{auditor}";
        ALTER ROLE "{auditor}" SET default_transaction_read_only = on;
        -- Replays rebuild the projections into a schema of the auditor's own; owning that
        -- schema gives it no right at all on the owner's tables.
        GRANT CREATE ON DATABASE "{database}" TO "{auditor}";
        """
    )


def superuser_connect(url: str) -> Connect:
    """Connect to any database of the server that `url` names, as the user it names."""

    async def connect(database: str) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(dsn=url, database=database)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StackError(f"cannot reach PostgreSQL as superuser: {exc}") from None

    return connect
