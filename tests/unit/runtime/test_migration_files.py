"""Migration files are found, ordered and refused when misnamed or duplicated."""

from __future__ import annotations

import pytest

from services.runtime.errors import MigrationError
from services.runtime.migrate import load_migrations

pytestmark = pytest.mark.unit


def test_the_project_migrations_load_in_order():
    migrations = load_migrations()
    assert migrations, "no migration files found"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["0001_a.sql", "0001_b.sql"], "share a number"),
        (["1_short.sql"], "NNNN_lower_snake"),
        (["0002_Upper.sql"], "NNNN_lower_snake"),
    ],
)
def test_bad_file_sets_are_refused(tmp_path, files, message):
    for name in files:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)
