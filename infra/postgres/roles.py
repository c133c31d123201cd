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


# What the services' role may do to each relation of a schema. Set from the settings' role
# names every time the migrations are applied (`apply_migrations`): the migrations name no
# role, so the rules hold whatever the roles are called. History is only ever appended; of
# api_tokens the gateway reads every column and writes one, a token's last use. A relation
# not named here gets SELECT only: a new table is read-only to the services until its
# author decides what they may write.
SERVICE_PRIVILEGES = {
    "schema_migrations": "SELECT",
    "consumer_offsets": "SELECT, INSERT, UPDATE",  # upserted; SELECT FOR UPDATE locks them
    "incidents": "SELECT, INSERT, UPDATE",  # the projection, upserted
    "registry_info": "SELECT, INSERT, UPDATE",  # reference data, upserted at start
    "districts": "SELECT, INSERT, UPDATE",
    "enterprises": "SELECT, INSERT, UPDATE",
    "incident_events": "SELECT, INSERT",
    "rule_sets": "SELECT, INSERT",
    "dead_letters": "SELECT, INSERT",
    "recorder_dead_letters": "SELECT, INSERT",
    "gateway_reports": "SELECT, INSERT",
    # Tokens are made and revoked by the owner (`signalpost tokens`, and the simulator's,
    # the fuzzer's and the benchmarks' run tokens); the gateway only notes their last use.
    "api_tokens": "SELECT, UPDATE (last_used_at)",
}
# Columns the auditor may not read: even the hash of a token's secret stays with the gateway.
AUDITOR_HIDDEN_COLUMNS = {"api_tokens": ("secret_sha256",)}


def role_names(settings: Settings) -> tuple[str, str, str]:
    """The owner's, the services' and the auditor's role names, from their URLs."""
    owner, service, auditor = (
        _role(url.get_secret_value())[0]
        for url in (
            settings.owner_database_url,
            settings.database_url,
            settings.auditor_database_url,
        )
    )
    return owner, service, auditor


async def grant_table_privileges(
    *, conn: asyncpg.Connection, schema: str, service: str, auditor: str
) -> None:
    """Set the services' and the auditor's rights on every relation of `schema`, exactly.

    Run as the owner, after the migrations and in their transaction: whatever the default
    privileges gave a new table is replaced by SERVICE_PRIVILEGES.
    """
    relations = await conn.fetch(
        """
        SELECT c.relname, format('%I.%I', n.nspname, c.relname) AS qualified
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY c.relname
        """,
        schema,
    )
    service_q, auditor_q = [
        await conn.fetchval("SELECT quote_ident($1)", r) for r in (service, auditor)
    ]
    for relation in relations:
        name, qualified = relation["relname"], relation["qualified"]
        await conn.execute(f"REVOKE ALL ON {qualified} FROM {service_q}, {auditor_q}")
        await conn.execute(
            f"GRANT {SERVICE_PRIVILEGES.get(name, 'SELECT')} ON {qualified} TO {service_q}"
        )
        await conn.execute(
            f"GRANT SELECT {await _readable(conn, schema, name)} ON {qualified} TO {auditor_q}"
        )


async def _readable(conn: asyncpg.Connection, schema: str, table: str) -> str:
    """The auditor's column list for `table`: empty (every column) unless some are hidden."""
    hidden = AUDITOR_HIDDEN_COLUMNS.get(table)
    if not hidden:
        return ""
    columns = await conn.fetchval(
        """
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
        WHERE attrelid = format('%I.%I', $1::text, $2::text)::regclass
          AND attnum > 0 AND NOT attisdropped AND attname <> ALL($3::text[])
        """,
        schema,
        table,
        list(hidden),
    )
    return f"({columns})"
