"""The gateway as a subprocess on one test's stack, and tokens for it (integration and e2e)."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.gateway.access import Role
from services.gateway.tokens import create_token
from services.runtime import db
from services.runtime.settings import Settings
from tests.support.service_process import start_service


@dataclass
class RunningGateway:
    """A gateway process, where it listens, and its log."""

    url: str
    process: asyncio.subprocess.Process
    log: Path
    settings: Settings

    async def token(self, enterprise: str, role: Role | str) -> str:
        """A fresh token's secret for `enterprise` in `role`, made as `signalpost tokens` does:
        as the owner role (the services' role may not make tokens)."""
        conn = await db.connect(self.settings, url=self.settings.owner_database_url)
        try:
            made = await create_token(conn=conn, enterprise=enterprise, role=Role(role))
        finally:
            await conn.close()
        return made.secret

    def client(
        self, secret: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.AsyncClient:
        """An HTTP client for the gateway, with the token if given."""
        auth = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.AsyncClient(base_url=self.url, headers=auth | (headers or {}), timeout=30)


def free_port() -> int:
    """A port free now, below the ephemeral range (the house keeps test ports under 32768)."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32000")


async def start_gateway(
    settings: Settings,
    log: Path,
    *,
    healthy: bool = True,
    port: int | None = None,
    **variables: str,
) -> RunningGateway:
    """`signalpost run gateway` on the test's prefix and schema, once /healthz says ok.

    With `healthy=False`, once /healthz answers at all (a gateway started in an outage). On a
    free port, or on `port` (a gateway started again where its clients know it).
    """
    port = port or free_port()
    # The gateway's own role, on the test's server (the child would read the session's).
    database = settings.gateway_database_url.get_secret_value()
    process = await start_service(
        "gateway",
        settings,
        log,
        SIGNALPOST_GATEWAY_PORT=str(port),
        SIGNALPOST_GATEWAY_DATABASE_URL=database,
        **variables,
    )
    running = RunningGateway(f"http://127.0.0.1:{port}", process, log, settings)
    async with httpx.AsyncClient(base_url=running.url, timeout=5) as http:
        async with asyncio.timeout(60):
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"gateway exited; see {log}")
                try:
                    status = (await http.get("/healthz")).status_code
                    if status == 200 or not healthy:
                        return running
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)


async def stop_gateway(running: RunningGateway) -> None:
    """SIGTERM, and wait for a clean exit."""
    assert running.process.returncode is None, running.log.read_text()[-3000:]
    running.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(running.process.wait(), timeout=30)


@asynccontextmanager
async def gateway_running(settings: Settings, log: Path) -> AsyncIterator[RunningGateway]:
    """A gateway started for the block, and stopped cleanly after it."""
    running = await start_gateway(settings, log)
    try:
        yield running
    finally:
        await stop_gateway(running)
