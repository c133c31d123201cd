"""`signalpost run gateway`: the HTTP gateway under uvicorn; `build` wires it."""

from __future__ import annotations

import asyncio

import uvicorn
import uvloop
from fastapi import FastAPI

from schemas.registry import Registry, load_registry
from services.gateway.app import create_app
from services.gateway.metrics import Metrics
from services.gateway.settings import GatewaySettings
from services.gateway.state import Gateway, KafkaClients, OpenPool, kafka_clients, open_pool
from services.runtime.clock import Clock, system_clock

settings_class = GatewaySettings


def build(
    settings: GatewaySettings,
    *,
    clock: Clock = system_clock,
    registry: Registry | None = None,
    kafka: KafkaClients = kafka_clients,
    database: OpenPool = open_pool,
) -> FastAPI:
    """The gateway's application on `settings`; by default its registry is the settings' own.

    `kafka` makes the producer and the events listener, `database` opens the pool; both
    are called at start-up (and `kafka` again after each failed connect).
    """
    gateway = Gateway(
        settings,
        registry or load_registry(settings.gateway_registry_dir),
        Metrics(),
        clock=clock,
        kafka_clients=kafka,
        open_pool=database,
    )
    return create_app(gateway)


def run(settings: GatewaySettings) -> None:
    """Serve until SIGINT/SIGTERM on uvloop (what uvicorn picks when it owns the loop; under
    `asyncio.run` it would have asyncio's own); uvicorn owns the signals and drains open
    requests."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings))


async def serve(settings: GatewaySettings) -> None:
    """Serve on the running loop until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        build(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,  # structlog, configured by the CLI, renders every line
        access_log=False,  # the metrics count requests; one log line each would drown the rest
        lifespan="on",
        timeout_graceful_shutdown=5,  # open task streams never end by themselves
    )
    await uvicorn.Server(config).serve()
