"""Database URLs for a PostgreSQL server of a test's own, as a user writes them: the
settings' role names and no password, which is the local secret the server's start makes."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.runtime.dburls import DatabaseUrl, role_of
from services.runtime.settings import DATABASE_URL_FIELDS, Settings, env_var_name


def own_server_urls(settings: Settings, *, home: Path, port: int) -> dict[str, SecretStr]:
    """Each role's URL field pointed at 127.0.0.1:`port`, its password kept under `home`."""
    return {
        field: DatabaseUrl(
            f"postgresql://{role_of(getattr(settings, field))}@127.0.0.1:{port}/signalpost",
            home=home,
            variable=env_var_name(type(settings), field),
        )
        for field in DATABASE_URL_FIELDS
    }
