"""The auditor reads through its read-only role and refuses any role that can change history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.auditor.access import WriteCredentialsError, open_audit
from services.auditor.report import load_figures
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def as_role(settings, url) -> AuditorSettings:
    return AuditorSettings.model_validate(settings.model_dump() | {"auditor_database_url": url})


@pytest.mark.parametrize("role", ["owner_database_url", "database_url"])
async def test_write_credentials_are_refused_by_every_command(topics, database, role):
    settings = as_role(topics, getattr(topics, role))

    with pytest.raises(WriteCredentialsError, match="may change the live history"):
        await verify(settings, now=NOW)
    with pytest.raises(WriteCredentialsError, match="INSERT on incident_events"):
        await load_figures(settings, since=None, until=None, now=NOW)


async def test_the_auditor_role_passes_and_cannot_write(topics, database):
    conn = await open_audit(AuditorSettings.model_validate(topics.model_dump()))
    try:
        assert await conn.fetchval("SELECT count(*) FROM incident_events") == 0
        with pytest.raises(Exception, match="read-only transaction|permission denied"):
            await conn.execute("DELETE FROM incident_events")
    finally:
        await conn.close()
