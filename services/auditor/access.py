"""Database access for the auditor: read-only on the live schema, writable only in its own."""

from __future__ import annotations

import asyncpg

from services.runtime.errors import SignalPostError
from services.runtime.settings import Settings

# The recorder's tables: an auditor connection that could change any of them is refused.
LIVE_TABLES = (
    "incident_events",
    "incidents",
    "rule_sets",
    "dead_letters",
    "recorder_dead_letters",
    "consumer_offsets",
)
WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


class WriteCredentialsError(SignalPostError):
    """The auditor was given a database role that can change the live history."""


class AuditSetupError(SignalPostError):
    """The database is not ready for an audit (schema missing, replay schema misnamed, ...)."""


async def connect(
    settings: Settings, *, schema: str | None = None, writable: bool = False
) -> asyncpg.Connection:
    """A connection as the auditor role, searching `schema` (default: the live one).

    The role's transactions are read-only by default; `writable` lifts that for the replay
    schema's connection, where the role's own privileges are all it can use.
    """
    server_settings = {
        "search_path": schema or settings.db_schema,
        "application_name": "signalpost-auditor",
    }
    if writable:
        server_settings["default_transaction_read_only"] = "off"
    return await asyncpg.connect(
        dsn=settings.auditor_database_url.get_secret_value(), server_settings=server_settings
    )


async def refuse_write_credentials(conn: asyncpg.Connection, *, schema: str) -> None:
    """Raise unless the connection's role can only read the live tables of `schema`."""
    if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
        raise AuditSetupError(f"schema {schema!r} does not exist; run `signalpost migrate`")
    rows = await conn.fetch(
        """
        SELECT t.table_name, p.privilege
        FROM unnest($2::text[]) AS t(table_name)
        CROSS JOIN unnest($3::text[]) AS p(privilege)
        WHERE to_regclass(format('%I.%I', $1::text, t.table_name)) IS NOT NULL
          AND has_table_privilege(format('%I.%I', $1::text, t.table_name), p.privilege)
        ORDER BY 1, 2
        """,
        schema,
        list(LIVE_TABLES),
        list(WRITES),
    )
    if rows:
        user = await conn.fetchval("SELECT current_user")
        held = ", ".join(f"{r['privilege']} on {r['table_name']}" for r in rows)
        raise WriteCredentialsError(
            f"role {user} may change the live history ({held}); the auditor runs only with the "
            "read-only auditor role (SIGNALPOST_AUDITOR_DATABASE_URL)"
        )


async def open_audit(settings: Settings) -> asyncpg.Connection:
    """A checked read-only connection to the live schema."""
    conn = await connect(settings)
    try:
        await refuse_write_credentials(conn, schema=settings.db_schema)
    except BaseException:
        await conn.close()
        raise
    return conn
