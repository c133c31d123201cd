"""`signalpost run gateway`: the HTTP gateway under uvicorn."""

from __future__ import annotations

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

settings_class = GatewaySettings


async def run(settings: GatewaySettings) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn owns the signals and drains open requests."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,  # structlog, configured by the CLI, renders every line
        access_log=False,  # the metrics count requests; one log line each would drown the rest
        lifespan="on",
        timeout_graceful_shutdown=5,  # open task streams never end by themselves
    )
    await uvicorn.Server(config).serve()
