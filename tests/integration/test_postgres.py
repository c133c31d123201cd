"""asyncpg, roles and migrations against the real local PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from infra.postgres.local import SUPERUSER, existing_cluster
from infra.stack import apply_migrations, initialise
from services.runtime import db
from services.runtime.errors import MigrationError
from services.runtime.migrate import Migration, load_migrations, migrate
from services.runtime.settings import DATABASE_URL_FIELDS

pytestmark = pytest.mark.integration


async def test_service_role_round_trip_in_the_test_schema(database, settings):
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT current_schema()") == settings.db_schema
        await conn.execute(
            "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
            "VALUES ('g', 'reports.line-fault', 2, 41)"
        )
        row = await conn.fetchrow("SELECT topic, partition, next_offset FROM consumer_offsets")
    assert dict(row) == {"topic": "reports.line-fault", "partition": 2, "next_offset": 41}


async def test_auditor_role_reads_but_cannot_write(database, settings):
    auditor = await db.connect(settings, url=settings.auditor_database_url)
    try:
        assert await auditor.fetchval("SELECT count(*) FROM consumer_offsets") == 0
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await auditor.execute(
                "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES ('g', 't', 0, 0)"
            )
    finally:
        await auditor.close()


async def test_migrations_applied_twice_change_nothing(settings):
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        first = await migrate(conn=owner, schema=settings.db_schema)
        second = await migrate(conn=owner, schema=settings.db_schema)
        recorded = await owner.fetch(
            f'SELECT name FROM "{settings.db_schema}".schema_migrations ORDER BY version'
        )
    finally:
        await owner.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
        await owner.close()
    assert first == [m.name for m in load_migrations()]
    assert second == []
    assert [r["name"] for r in recorded] == first


async def test_a_migration_edited_after_it_ran_is_refused(settings):
    original = Migration(1, "0001_probe.sql", "CREATE TABLE probe (id int);")
    edited = Migration(1, "0001_probe.sql", "CREATE TABLE probe (id bigint);")
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        await migrate(conn=owner, schema=settings.db_schema, migrations=[original])
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn=owner, schema=settings.db_schema, migrations=[edited])
    finally:
        await owner.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
        await owner.close()


async def test_a_failing_migration_leaves_nothing_behind(settings):
    good = Migration(1, "0001_good.sql", "CREATE TABLE good (id int);")
    bad = Migration(2, "0002_bad.sql", "CREATE TABLE bad (id no_such_type);")
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
            await migrate(conn=owner, schema=settings.db_schema, migrations=[good, bad])
        exists = await owner.fetchval("SELECT to_regclass($1)", f"{settings.db_schema}.good")
    finally:
        await owner.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
        await owner.close()
    assert exists is None


async def test_init_creates_database_and_roles_through_a_superuser_url(local_stack, test_id):
    """`signalpost init` as Docker and managed servers use it: roles, database, migrations."""
    cluster = existing_cluster(local_stack)
    superuser = f"postgresql://{SUPERUSER}@/postgres?host={cluster.socket_dir}&port={cluster.port}"
    with_db = {
        field: SecretStr(
            getattr(local_stack, field).get_secret_value().rsplit("/", 1)[0] + "/" + test_id
        )
        for field in DATABASE_URL_FIELDS
    }
    settings = local_stack.model_copy(
        update={**with_db, "superuser_database_url": SecretStr(superuser), "db_schema": test_id}
    )
    await initialise(settings, lambda message: None)
    await apply_migrations(settings, lambda message: None)  # a second run changes nothing
    conn = await db.connect(settings)
    try:
        assert await conn.fetchval("SELECT current_database()") == test_id
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(
            load_migrations()
        )
    finally:
        await conn.close()
        admin = await asyncpg.connect(superuser)
        await admin.execute(f'DROP DATABASE "{test_id}" WITH (FORCE)')
        await admin.close()
