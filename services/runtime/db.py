"""The PostgreSQL pool every service uses, pinned to SignalPost's schema; by default as the
recorder's role (SIGNALPOST_DATABASE_URL), or as the role whose URL is given."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import SecretStr

from services.runtime.settings import Settings


def _connect_args(settings: Settings, url: SecretStr | None) -> dict[str, Any]:
    return {
        "dsn": (url or settings.database_url).get_secret_value(),
        "server_settings": {"search_path": settings.db_schema, "application_name": "signalpost"},
    }


async def create_pool(
    settings: Settings, *, url: SecretStr | None = None, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections see the configured schema first on their search path."""
    return await asyncpg.create_pool(
        min_size=min_size, max_size=max_size, **_connect_args(settings, url)
    )


async def connect(settings: Settings, *, url: SecretStr | None = None) -> asyncpg.Connection:
    """One connection, on the same terms as the pool's."""
    return await asyncpg.connect(**_connect_args(settings, url))
