"""Least privilege in the real PostgreSQL: the services' role appends history and never
rewrites it, reads tokens and writes only their last use; the auditor never sees a secret's
hash; and the rules follow the role names of the settings, whatever they are."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from infra import stack
from infra.postgres.local import SUPERUSER, existing_cluster
from infra.postgres.roles import SERVICE_PRIVILEGES
from services.gateway.access import Role
from services.gateway.tokens import create_token
from services.runtime import db
from services.runtime.migrate import load_migrations, migrate

pytestmark = pytest.mark.integration

HISTORY = ("incident_events", "rule_sets", "dead_letters", "recorder_dead_letters",
           "gateway_reports")  # fmt: skip
DENIED = [
    *(f"UPDATE {table} SET recorded_at = recorded_at" for table in HISTORY[:-1]),
    "UPDATE gateway_reports SET kind = kind",
    *(f"DELETE FROM {table}" for table in HISTORY),
    *(f"TRUNCATE {table}" for table in HISTORY),
    "DELETE FROM api_tokens",
    "TRUNCATE api_tokens",
    "UPDATE api_tokens SET role = 'supervisor'",
    "UPDATE api_tokens SET enterprise = 'so-tt-tt-quang-nam'",
    "UPDATE api_tokens SET secret_sha256 = sha256('known'::bytea)",
    "UPDATE api_tokens SET expires_at = NULL",
    "UPDATE api_tokens SET label = 'mine now'",
    "DELETE FROM schema_migrations",
    "UPDATE schema_migrations SET checksum = ''",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
]
MINT = (
    "INSERT INTO api_tokens (token_id, secret_sha256, enterprise, role)"
    " VALUES ('tok_forged', sha256('known'::bytea), 'so-tt-tt-quang-nam', 'supervisor')"
)


async def _owner_token(settings) -> str:
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        made = await create_token(conn=owner, enterprise="vnpt-quang-nam", role=Role.PUBLISHER)
    finally:
        await owner.close()
    return made.token_id


@pytest.mark.parametrize("statement", DENIED)
async def test_the_services_role_may_not_rewrite_history_or_tokens(database, settings, statement):
    await _owner_token(settings)  # a row to aim at: refused for want of the right, not of rows
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await database.execute(statement)


async def test_the_services_role_may_not_mint_or_revoke_a_token(database, settings):
    token_id = await _owner_token(settings)
    for statement in (
        MINT,
        f"UPDATE api_tokens SET revoked_at = now() WHERE token_id = '{token_id}'",
    ):
        try:
            await database.execute(statement)
        except asyncpg.InsufficientPrivilegeError:
            continue
        raise AssertionError(f"the services' role may: {statement}")


async def test_the_services_role_appends_and_writes_a_tokens_last_use(database, settings):
    token_id = await _owner_token(settings)
    done = await database.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1", token_id
    )
    assert done == "UPDATE 1"
    await database.execute(
        "INSERT INTO gateway_reports (reported_by, report_id, kind, body_sha256, incident_key)"
        " VALUES ('vnpt-quang-nam', 'r1', 'line_fault', sha256('x'::bytea), 'k')"
    )
    assert await database.fetchval("SELECT count(*) FROM gateway_reports") == 1


async def test_the_auditor_reads_tokens_but_never_a_secrets_hash(database, settings):
    await _owner_token(settings)
    auditor = await db.connect(settings, url=settings.auditor_database_url)
    try:
        row = await auditor.fetchrow(
            "SELECT token_id, enterprise, role, expires_at, last_used_at, revoked_at"
            " FROM api_tokens"
        )
        assert row["enterprise"] == "vnpt-quang-nam"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await auditor.fetchval("SELECT secret_sha256 FROM api_tokens")
    finally:
        await auditor.close()


async def test_every_table_has_a_stated_policy(database, settings):
    tables = await database.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
        settings.db_schema,
    )
    unstated = {t["table_name"] for t in tables} - set(SERVICE_PRIVILEGES)
    assert not unstated, f"say what the services may do to {unstated} in SERVICE_PRIVILEGES"


@pytest.fixture
async def renamed(settings, test_id):
    """Settings whose services' and auditor roles have names no migration could know."""
    cluster = existing_cluster(settings)
    superuser = f"postgresql://{SUPERUSER}@/{settings.database_name}?host={cluster.socket_dir}&port={cluster.port}"
    service, auditor = f"{test_id}_svc", f"{test_id}_aud"
    admin = await asyncpg.connect(superuser)
    for role in (service, auditor):
        await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}-pw'")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{settings.database_name}" TO "{role}"')
    base = settings.database_url.get_secret_value().split("@", 1)[1]
    yield settings.model_copy(
        update={
            "database_url": SecretStr(f"postgresql://{service}:{service}-pw@{base}"),
            "auditor_database_url": SecretStr(f"postgresql://{auditor}:{auditor}-pw@{base}"),
        }
    )
    await stack.drop_schema(settings)
    for role in (service, auditor):
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
    await admin.close()


async def test_the_rules_follow_the_role_names_of_the_settings(renamed):
    await stack.apply_migrations(renamed, lambda message: None)
    await stack.apply_migrations(renamed, lambda message: None)  # again on an existing schema
    service = await db.connect(renamed)
    try:
        await service.execute(
            "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES ('g', 't', 0, 1)"
        )
        for statement in ("DELETE FROM incident_events", "UPDATE api_tokens SET role = role"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute(statement)
    finally:
        await service.close()
    auditor = await db.connect(renamed, url=renamed.auditor_database_url)
    try:
        assert await auditor.fetchval("SELECT count(*) FROM consumer_offsets") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await auditor.fetchval("SELECT secret_sha256 FROM api_tokens")
    finally:
        await auditor.close()


async def test_a_schema_migrated_before_takes_the_expiry_and_the_rules(settings):
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        earlier = [m for m in load_migrations() if m.version <= 4]
        await migrate(conn=owner, schema=settings.db_schema, migrations=earlier)
        await stack.apply_migrations(settings, lambda message: None)
        columns = await owner.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = $1 AND table_name = 'api_tokens'",
            settings.db_schema,
        )
        assert {"expires_at", "last_used_at"} <= {c["column_name"] for c in columns}
        service = await db.connect(settings)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute("UPDATE api_tokens SET role = role")
        finally:
            await service.close()
    finally:
        await owner.close()
        await stack.drop_schema(settings)
