"""`signalpost run SERVICE` as a subprocess, as an operator starts it, on one test's stack."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.runtime.settings import Settings

SIGNALPOST = str(Path(sys.executable).with_name("signalpost"))


async def start_service(
    name: str, settings: Settings, log: Path, **variables: str
) -> asyncio.subprocess.Process:
    """Start one service on the test's broker, topic prefix and schema; output goes to `log`."""
    env = {
        **os.environ,
        "SIGNALPOST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALPOST_DB_SCHEMA": settings.db_schema,
        "SIGNALPOST_DATABASE_URL": settings.database_url.get_secret_value(),
        "SIGNALPOST_LOG_FORMAT": "json",
        **variables,
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            SIGNALPOST, "run", name, env=env, stdout=out, stderr=out, cwd=log.parent
        )
