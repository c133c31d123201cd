"""Migrations name no role: the old files' GRANT/REVOKE are left out, a new one is refused."""

from __future__ import annotations

import pytest

from services.runtime.errors import MigrationError
from services.runtime.migrate import LAST_NAMING_ROLES, ROLE_STATEMENT, load_migrations

pytestmark = pytest.mark.unit


def test_what_runs_of_the_project_migrations_names_no_role():
    for migration in load_migrations():
        runnable = migration.runnable_sql
        assert not ROLE_STATEMENT.search(runnable), migration.name
        assert "signalpost_auditor" not in runnable and " signalpost;" not in runnable
        # Only GRANT and REVOKE statements go: the tables are all still there.
        assert runnable.count("CREATE TABLE") == migration.sql.count("CREATE TABLE")


def test_the_old_role_statements_are_left_out_whole():
    [gateway] = [m for m in load_migrations() if m.version == LAST_NAMING_ROLES]
    assert "REVOKE" in gateway.sql and "TO signalpost_auditor" in gateway.sql
    assert "api_tokens" in gateway.runnable_sql and "REVOKE" not in gateway.runnable_sql
    assert "signalpost" not in gateway.runnable_sql


@pytest.mark.parametrize(
    "statement",
    ["GRANT SELECT ON t TO someone;", "  revoke update on t\n    from someone;"],
)
def test_a_new_migration_that_grants_or_revokes_is_refused(tmp_path, statement):
    (tmp_path / f"{LAST_NAMING_ROLES + 1:04d}_new.sql").write_text(
        f"CREATE TABLE t (id int);\n{statement}\n"
    )
    with pytest.raises(MigrationError, match="roles.py"):
        load_migrations(tmp_path)
