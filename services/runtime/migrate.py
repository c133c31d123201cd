"""Numbered SQL migrations applied once, in order, into one schema, under an advisory lock.

A small runner rather than a migration framework: the files are plain SQL without a schema
name, so the same files build the production schema and each test's private schema, and it
needs nothing beyond asyncpg (the maintained tools want SQLAlchemy or a separate binary).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.runtime.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "postgres" / "migrations"
FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Privileges are set from the settings' role names once the migrations are applied
# (infra/postgres/roles.py), so a migration names no role. Migrations 0002 and 0004 did, in
# GRANT and REVOKE statements for the default names: those statements are left out when the
# files run (they would fail where the roles are called otherwise), and a later file that
# has one is refused. The checksum stays that of the whole file, as it was applied.
ROLE_STATEMENT = re.compile(r"^\s*(?:GRANT|REVOKE)\b[^;]*;", re.MULTILINE | re.IGNORECASE)
LAST_NAMING_ROLES = 4


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version number, name and content hash."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def runnable_sql(self) -> str:
        """The SQL to run: the file without the statements that name roles."""
        return ROLE_STATEMENT.sub("", self.sql)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in order; a misnamed file or a repeated number is an error."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        migration = Migration(int(match.group(1)), path.name, path.read_text())
        if migration.version > LAST_NAMING_ROLES and ROLE_STATEMENT.search(migration.sql):
            raise MigrationError(
                f"{path.name}: GRANT and REVOKE do not go in migrations; the privileges of the "
                "roles are set in infra/postgres/roles.py (SERVICE_PRIVILEGES)"
            )
        migrations.append(migration)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    return migrations


async def migrate(
    *,
    conn: asyncpg.Connection,
    schema: str,
    grant_to: tuple[str, ...] = (),
    migrations: list[Migration] | None = None,
) -> list[str]:
    """Apply the pending migrations to `schema` in one transaction; the names applied."""
    pending_names = []
    async with conn.transaction():
        # Two instances starting at once: the second waits, then finds nothing to do.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await _prepare_schema(conn, schema, grant_to)
        applied = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in migrations if migrations is not None else load_migrations():
            if migration.version in applied:
                _check_unchanged(migration, applied[migration.version])
                continue
            try:
                await conn.execute(migration.runnable_sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.name} failed: {exc}") from None
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            pending_names.append(migration.name)
    return pending_names


async def _prepare_schema(conn: asyncpg.Connection, schema: str, grant_to: tuple[str, ...]) -> None:
    quoted = await conn.fetchval("SELECT quote_ident($1)", schema)
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    for role in grant_to:
        role_quoted = await conn.fetchval("SELECT quote_ident($1)", role)
        await conn.execute(f"GRANT USAGE ON SCHEMA {quoted} TO {role_quoted}")
    await conn.execute(f"SET LOCAL search_path TO {quoted}")
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def _check_unchanged(migration: Migration, recorded_checksum: str) -> None:
    if migration.checksum != recorded_checksum:
        raise MigrationError(
            f"{migration.name} changed after it was applied; add a new migration instead"
        )
