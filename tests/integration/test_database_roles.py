"""Least privilege in the real PostgreSQL: a role per service with exactly the rights that
service needs; history is appended, never rewritten; tokens are read and only their last use
written; the auditor never sees a secret's hash; passwords are generated, never a role's
name; and the rules follow the role names of the settings, whatever they are."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from infra import stack
from infra.postgres.local import SUPERUSER, existing_cluster
from infra.postgres.roles import create_database_and_roles, superuser_connect
from services.gateway.access import Role
from services.gateway.tokens import create_token
from services.runtime import db
from services.runtime.dburls import DatabaseUrl, role_of
from services.runtime.migrate import load_migrations, migrate
from services.runtime.settings import DATABASE_URL_FIELDS, env_var_name

pytestmark = pytest.mark.integration

# What each service's role may do to each relation, written out from what the service does
# (the recorder's store; the gateway's store, tokens and timelines), not read from the code
# that grants it. S select, I insert, U update, D delete, T truncate; "" nothing at all.
EXPECTED = {
    "recorder": {
        "schema_migrations": "S",  # `signalpost status` checks them as this role
        "consumer_offsets": "SIU",
        "incidents": "SIU",
        "registry_info": "SIU",
        "districts": "SIU",
        "enterprises": "SIU",
        "incident_events": "SI",
        "rule_sets": "SI",
        "dead_letters": "SI",
        "recorder_dead_letters": "SI",
        "notification_attempts": "SI",
        "ack_links": "",
        "gateway_reports": "",
        "api_tokens": "",
        "console_sessions": "",
        "incident_response_times": "",
        "response_times_by_day": "",
    },
    "gateway": {
        "schema_migrations": "",
        "consumer_offsets": "",
        "incidents": "S",
        "registry_info": "",
        "districts": "",
        "enterprises": "",
        "incident_events": "S",
        "rule_sets": "",
        "dead_letters": "",
        "recorder_dead_letters": "",
        "notification_attempts": "S",  # who was told of an incident, for its page and the report
        "ack_links": "SI",  # an acknowledge link's one use, never undone
        "gateway_reports": "SI",
        "api_tokens": "S",  # and UPDATE of the one column last_used_at, checked below
        "console_sessions": "SI",  # and UPDATE of ended_at alone: a sign-out
        "incident_response_times": "",
        "response_times_by_day": "",
    },
}
PRIVILEGES = {"S": "SELECT", "I": "INSERT", "U": "UPDATE", "D": "DELETE", "T": "TRUNCATE",
              "R": "REFERENCES", "X": "TRIGGER"}  # fmt: skip
ROLE_FIELDS = {"recorder": "database_url", "gateway": "gateway_database_url"}
# Names for roles of a test's own: no migration or default could know them.
SUFFIXES = {"database_url": "rec", "gateway_database_url": "gw", "owner_database_url": "own",
            "auditor_database_url": "aud"}  # fmt: skip

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
    "DELETE FROM console_sessions",
    "UPDATE console_sessions SET expires_at = expires_at + interval '1 year'",
    "UPDATE console_sessions SET token_id = 'tok_other'",
    "UPDATE ack_links SET used_at = used_at",  # a used link is never given back
    "DELETE FROM ack_links",
    "UPDATE notification_attempts SET outcome = 'delivered'",
    "DELETE FROM notification_attempts",
    "DELETE FROM schema_migrations",
    "UPDATE schema_migrations SET checksum = ''",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
]
MINT = (
    "INSERT INTO api_tokens (token_id, secret_sha256, enterprise, role)"
    " VALUES ('tok_forged', sha256('known'::bytea), 'so-tt-tt-quang-nam', 'supervisor')"
)
OFFSET_ROW = (
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
    " VALUES ('g', 't', 0, 1)"
)
REPORT_ROW = (
    "INSERT INTO gateway_reports (reported_by, report_id, kind, body_sha256, incident_key)"
    " VALUES ('vnpt-quang-nam', 'r1', 'line_fault', sha256('x'::bytea), 'k')"
)


@pytest.fixture
async def gateway_role(settings, database):
    """A connection to this test's migrated schema as the gateway's role."""
    conn = await db.connect(settings, url=settings.gateway_database_url)
    yield conn
    await conn.close()


@pytest.fixture
def service_conns(database, gateway_role):
    """Each service's own role: the recorder's pool, the gateway's connection."""
    return {"recorder": database, "gateway": gateway_role}


async def _owner_token(settings) -> str:
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        made = await create_token(conn=owner, enterprise="vnpt-quang-nam", role=Role.PUBLISHER)
    finally:
        await owner.close()
    return made.token_id


def _superuser_url(settings, database: str) -> str:
    cluster = existing_cluster(settings)
    return f"postgresql://{SUPERUSER}@/{database}?host={cluster.socket_dir}&port={cluster.port}"


async def test_each_service_role_holds_exactly_the_rights_its_service_needs(database, settings):
    for service, expected in EXPECTED.items():
        rows = await database.fetch(
            """
            SELECT c.relname, coalesce(string_agg(p.letter, '' ORDER BY p.n)
                FILTER (WHERE has_table_privilege($1, c.oid, p.privilege)), '') AS held
            FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
            CROSS JOIN unnest($3::text[], $4::text[]) WITH ORDINALITY AS p(letter, privilege, n)
            WHERE ns.nspname = $2 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
            GROUP BY c.relname
            """,
            role_of(getattr(settings, ROLE_FIELDS[service])),
            settings.db_schema,
            list(PRIVILEGES),
            list(PRIVILEGES.values()),
        )
        held = {r["relname"]: r["held"] for r in rows}
        assert set(held) == set(expected), (
            f"say what {service} may do to {set(held) ^ set(expected)}"
        )
        assert held == expected, service


async def gateway_columns(database, settings, table: str, privilege: str) -> set[str]:
    """The columns of `table` on which the gateway's role holds `privilege`."""
    columns = await database.fetch(
        "SELECT attname, has_column_privilege($1, attrelid, attname, $3) AS may"
        " FROM pg_attribute WHERE attrelid = format('%I.%I', $2::text, $4::text)::regclass"
        " AND attnum > 0 AND NOT attisdropped",
        role_of(settings.gateway_database_url),
        settings.db_schema,
        privilege,
        table,
    )
    return {c["attname"] for c in columns if c["may"]}


async def test_of_api_tokens_the_gateway_updates_only_the_last_use(database, settings):
    assert await gateway_columns(database, settings, "api_tokens", "UPDATE") == {"last_used_at"}


async def test_of_dead_letters_the_gateway_reads_what_the_report_counts_never_the_record(
    database, settings
):
    # GET /v1/report counts them by stage, source topic and error, in a period.
    counted = {"rejected_by", "source_topic", "dead_lettered_at", "error"}
    assert await gateway_columns(database, settings, "dead_letters", "SELECT") == counted


@pytest.mark.parametrize("service", sorted(EXPECTED))
@pytest.mark.parametrize("statement", DENIED)
async def test_no_service_role_may_rewrite_history_or_tokens(
    service_conns, settings, service, statement
):
    await _owner_token(settings)  # a row to aim at: refused for want of the right, not of rows
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await service_conns[service].execute(statement)


@pytest.mark.parametrize("service", sorted(EXPECTED))
async def test_no_service_role_may_mint_or_revoke_a_token(service_conns, settings, service):
    token_id = await _owner_token(settings)
    for statement in (
        MINT,
        f"UPDATE api_tokens SET revoked_at = now() WHERE token_id = '{token_id}'",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service_conns[service].execute(statement)


async def test_the_gateway_appends_reports_and_writes_a_tokens_last_use(gateway_role, settings):
    token_id = await _owner_token(settings)
    done = await gateway_role.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1", token_id
    )
    assert done == "UPDATE 1"
    await gateway_role.execute(REPORT_ROW)
    assert await gateway_role.fetchval("SELECT count(*) FROM gateway_reports") == 1


async def test_the_recorder_neither_reads_tokens_nor_writes_the_gateways_reports(database):
    for statement in ("SELECT count(*) FROM api_tokens", "SELECT 1 FROM gateway_reports",
                      REPORT_ROW):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await database.execute(statement)


async def test_the_gateway_writes_nothing_of_the_recorders(gateway_role):
    for statement in (
        OFFSET_ROW,
        "UPDATE incidents SET status = 'closed'",
        "SELECT count(*) FROM recorder_dead_letters",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await gateway_role.execute(statement)


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


@pytest.mark.parametrize("field", DATABASE_URL_FIELDS)
async def test_no_role_logs_in_with_its_own_name_as_password(local_stack, field):
    url = getattr(local_stack, field)
    role = role_of(url)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            host="127.0.0.1", port=local_stack.database_port, user=role, password=role,
            database=local_stack.database_name,
        )  # fmt: skip
    conn = await asyncpg.connect(dsn=url.get_secret_value())
    try:
        assert await conn.fetchval("SELECT current_user") == role
    finally:
        await conn.close()


@pytest.fixture
async def old_roles(local_stack, test_id, tmp_path):
    """Settings of four roles as an older stack made them, each with its name as password,
    and URLs without passwords on a home of their own; the roles dropped after."""
    admin = await asyncpg.connect(_superuser_url(local_stack, "postgres"))
    urls = {}
    for field in DATABASE_URL_FIELDS:
        role = f"{test_id}_{SUFFIXES[field]}"
        await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}'")
        written = f"postgresql://{role}@127.0.0.1:{local_stack.database_port}/signalpost"
        variable = env_var_name(type(local_stack), field)
        urls[field] = DatabaseUrl(written, home=tmp_path, variable=variable)
    yield local_stack.model_copy(update={"home": tmp_path, **urls})
    database = await asyncpg.connect(_superuser_url(local_stack, local_stack.database_name))
    for url in urls.values():
        await database.execute(f'DROP OWNED BY "{role_of(url)}"')
        await admin.execute(f'DROP ROLE "{role_of(url)}"')
    await database.close()
    await admin.close()


async def test_a_start_replaces_the_passwords_an_older_stack_set(local_stack, old_roles):
    connect = superuser_connect(_superuser_url(local_stack, "postgres"))
    await create_database_and_roles(old_roles, connect=connect)
    for field in DATABASE_URL_FIELDS:
        url = getattr(old_roles, field)
        role = role_of(url)
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(dsn=url.given.replace(f"{role}@", f"{role}:{role}@"))
        conn = await asyncpg.connect(dsn=url.get_secret_value())  # the generated one
        await conn.close()


@pytest.fixture
async def renamed(settings, test_id):
    """Settings whose services' and auditor roles have names no migration could know, and
    passwords written in their URLs, as a managed server's are."""
    superuser = _superuser_url(settings, settings.database_name)
    roles = {field: f"{test_id}_{SUFFIXES[field]}" for field in DATABASE_URL_FIELDS}
    del roles["owner_database_url"]  # the owner stays: it owns the database
    admin = await asyncpg.connect(superuser)
    for role in roles.values():
        await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}-pw'")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{settings.database_name}" TO "{role}"')
    base = settings.database_url.get_secret_value().split("@", 1)[1]
    yield settings.model_copy(
        update={
            field: SecretStr(f"postgresql://{role}:{role}-pw@{base}")
            for field, role in roles.items()
        }
    )
    await stack.drop_schema(settings)
    for role in roles.values():
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
    await admin.close()


async def test_the_rules_follow_the_role_names_of_the_settings(renamed):
    await stack.apply_migrations(renamed, lambda message: None)
    await stack.apply_migrations(renamed, lambda message: None)  # again on an existing schema
    for field, allowed, denied in (
        ("database_url", OFFSET_ROW, ("DELETE FROM incident_events", "SELECT 1 FROM api_tokens")),
        ("gateway_database_url", REPORT_ROW,
         ("UPDATE api_tokens SET role = role", "SELECT 1 FROM consumer_offsets")),
    ):  # fmt: skip
        conn = await db.connect(renamed, url=getattr(renamed, field))
        try:
            await conn.execute(allowed)
            for statement in denied:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
        finally:
            await conn.close()
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
        gateway = await db.connect(settings, url=settings.gateway_database_url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await gateway.execute("UPDATE api_tokens SET role = role")
        finally:
            await gateway.close()
    finally:
        await owner.close()
        await stack.drop_schema(settings)
