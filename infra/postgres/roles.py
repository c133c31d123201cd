"""The database and its roles: the owner (migrations, tokens), one role per service that uses
PostgreSQL (the recorder, the gateway), and the auditor (read only)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from pydantic import SecretStr

from services.runtime.dburls import explicit_password, role_of, secret_name
from services.runtime.errors import StackError
from services.runtime.secrets import ensure_secret
from services.runtime.settings import DATABASE_URL_FIELDS, Settings, env_var_name

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Connect = Callable[[str], Awaitable[asyncpg.Connection]]
"""Opens a superuser connection to the named database."""
# The settings field that names each service's role.
SERVICE_URLS = {"recorder": "database_url", "gateway": "gateway_database_url"}


@dataclass(frozen=True)
class Roles:
    """The role names the settings' URLs log in as."""

    owner: str
    services: dict[str, str]  # service -> role
    auditor: str

    @property
    def readers(self) -> list[str]:
        """Every role but the owner, each once: who is granted and revoked rights."""
        return list(dict.fromkeys([*self.services.values(), self.auditor]))


def _role(settings: Settings, field: str) -> str:
    name = role_of(getattr(settings, field))
    if not ROLE_NAME.match(name):
        raise StackError(
            f"{env_var_name(type(settings), field)}: user {name!r} is not a plain role name"
        )
    return name


def role_names(settings: Settings) -> Roles:
    """The owner's, each service's and the auditor's role names, from their URLs."""
    return Roles(
        owner=_role(settings, "owner_database_url"),
        services={service: _role(settings, field) for service, field in SERVICE_URLS.items()},
        auditor=_role(settings, "auditor_database_url"),
    )


def _passwords(settings: Settings) -> dict[str, str]:
    """Each role's password: the one its URL spells out, else its local secret (made now)."""
    passwords: dict[str, tuple[str, str]] = {}
    for field in DATABASE_URL_FIELDS:
        url: SecretStr = getattr(settings, field)
        role, variable = _role(settings, field), env_var_name(type(settings), field)
        password = explicit_password(url) or ensure_secret(settings.home, secret_name(role))
        earlier = passwords.setdefault(role, (password, variable))
        if earlier[0] != password:
            raise StackError(f"{earlier[1]} and {variable} give role {role} two passwords")
    return {role: password for role, (password, _) in passwords.items()}


async def create_database_and_roles(settings: Settings, *, connect: Connect) -> None:
    """Create the roles and the database once; later calls keep passwords in step."""
    roles = role_names(settings)
    admin = await connect("postgres")
    try:
        for name, password in _passwords(settings).items():
            await _ensure_role(admin, name, password)
        if not await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", settings.database_name
        ):
            await admin.execute(
                await admin.fetchval(
                    "SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text)",
                    settings.database_name,
                    roles.owner,
                )
            )
    finally:
        await admin.close()
    conn = await connect(settings.database_name)
    try:
        await _grant_privileges(conn, settings.database_name, roles)
    finally:
        await conn.close()


async def _ensure_role(conn: asyncpg.Connection, name: str, password: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
        await conn.execute(f'CREATE ROLE "{name}" LOGIN')
    statement = await conn.fetchval(
        "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)", name, password
    )
    await conn.execute(statement)


async def _grant_privileges(conn: asyncpg.Connection, database: str, roles: Roles) -> None:
    """Connecting for every role; tables the owner creates are readable by auditors. What a
    service's role may do to a table is set by grant_table_privileges alone."""
    services = ", ".join(f'"{role}"' for role in dict.fromkeys(roles.services.values()))
    owner, auditor = roles.owner, roles.auditor
    await conn.execute(
        f"""
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT CONNECT ON DATABASE "{database}" TO {services}, "{auditor}";
        -- Earlier stacks gave the services' role every right on new tables by default.
        ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" REVOKE ALL ON TABLES FROM {services};
        ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" REVOKE ALL ON SEQUENCES FROM {services};
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


# What each service's role may do to each relation of a schema, and nothing more. Set from
# the settings' role names every time the migrations are applied (`apply_migrations`): the
# migrations name no role, so the rules hold whatever the roles are called. History is only
# ever appended. A relation a service does not name is closed to it: a new table is no
# service's until its author says what each may do with it.
SERVICE_PRIVILEGES: dict[str, dict[str, str]] = {
    "recorder": {
        "schema_migrations": "SELECT",  # `signalpost status` asks, as the recorder's role
        "consumer_offsets": "SELECT, INSERT, UPDATE",  # upserted; SELECT FOR UPDATE locks them
        "incidents": "SELECT, INSERT, UPDATE",  # the projection, upserted
        "registry_info": "SELECT, INSERT, UPDATE",  # reference data, upserted at start
        "districts": "SELECT, INSERT, UPDATE",
        "enterprises": "SELECT, INSERT, UPDATE",
        "incident_events": "SELECT, INSERT",
        "rule_sets": "SELECT, INSERT",
        "dead_letters": "SELECT, INSERT",
        "recorder_dead_letters": "SELECT, INSERT",
        "notification_attempts": "SELECT, INSERT",
    },
    "gateway": {
        # Timelines, who takes part in an incident, a resent command's first answer.
        "incidents": "SELECT",
        "incident_events": "SELECT",
        "gateway_reports": "SELECT, INSERT",
        # Tokens are made and revoked by the owner (`signalpost tokens`, and the simulator's,
        # the fuzzer's and the benchmarks' run tokens); the gateway only notes their last use.
        "api_tokens": "SELECT, UPDATE (last_used_at)",
        # The console's sign-ins: opened and ended by the gateway, never erased.
        "console_sessions": "SELECT, INSERT, UPDATE (ended_at)",
        # The SLA report counts them (GET /v1/report); the rejected record itself stays unread.
        "dead_letters": "SELECT (rejected_by, source_topic, dead_lettered_at, error)",
        # Who was told of an incident and when (GET /v1/incidents/{id}, GET /v1/report).
        "notification_attempts": "SELECT",
        # An acknowledge link is claimed once by inserting its row, and never given back.
        "ack_links": "SELECT, INSERT",
    },
}
# Columns the auditor may not read: even the hash of a token's secret stays with the gateway.
AUDITOR_HIDDEN_COLUMNS = {
    "api_tokens": ("secret_sha256",),
    "console_sessions": ("session_sha256", "csrf_token"),
}


async def grant_table_privileges(*, conn: asyncpg.Connection, schema: str, roles: Roles) -> None:
    """Set the services' and the auditor's rights on every relation of `schema`, exactly.

    Run as the owner, after the migrations and in their transaction: whatever a role held on
    a relation is replaced by SERVICE_PRIVILEGES (two services sharing a role get both sets).
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
    quoted = {r: await conn.fetchval("SELECT quote_ident($1)", r) for r in roles.readers}
    for relation in relations:
        name, qualified = relation["relname"], relation["qualified"]
        await conn.execute(f"REVOKE ALL ON {qualified} FROM {', '.join(quoted.values())}")
        for service, role in roles.services.items():
            if rights := SERVICE_PRIVILEGES[service].get(name):
                await conn.execute(f"GRANT {rights} ON {qualified} TO {quoted[role]}")
        await conn.execute(
            f"GRANT SELECT {await _readable(conn, schema, name)} ON {qualified} "
            f"TO {quoted[roles.auditor]}"
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
