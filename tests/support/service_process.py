"""`signalpost run SERVICE` as a subprocess, as an operator starts it, on one test's stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

from infra.spawn import SIGNALPOST, spawn_service
from services.runtime.settings import Settings

__all__ = ["SIGNALPOST", "start_service"]


async def start_service(
    name: str, settings: Settings, log: Path, **variables: str
) -> asyncio.subprocess.Process:
    """Start one service on the test's broker, topic prefix and schema; output goes to `log`."""
    with log.open("ab") as out:
        return await spawn_service(name, settings, out, cwd=log.parent, **variables)
