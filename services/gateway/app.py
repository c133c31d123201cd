"""The gateway's HTTP application: one place wires settings, PostgreSQL, Kafka and the routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import ErrorBody, Problem, field_path
from services.gateway import (
    acklinks,
    alertmanager,
    audit,
    console,
    incidents,
    ops,
    publish,
    tasks,
)
from services.gateway.docs import serve_documents
from services.gateway.errors import ApiError
from services.gateway.metrics import Metrics
from services.gateway.openapi import document_bodies
from services.gateway.state import Gateway

log = structlog.get_logger(component="gateway")
# Included in this order, the order in which requests are matched and the document lists them.
ROUTERS = (
    publish.router,
    alertmanager.router,
    tasks.router,
    incidents.router,
    acklinks.router,
    audit.router,
    ops.router,
    console.router,
)


def create_app(gateway: Gateway) -> FastAPI:
    """The FastAPI application serving `gateway`, which it starts and stops with itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="SignalPost gateway",
        version="1",
        description="Publish incident reports; receive and act on tasks. "
        "Every call takes `Authorization: Bearer <token>` (see `signalpost tokens create`).",
        lifespan=lifespan,
        docs_url=None,  # served from local files by docs.serve_documents
        redoc_url=None,
    )
    app.state.gateway = gateway
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console/static", console.static_files(), name="console-static")
    serve_documents(app)
    document_bodies(app)
    _install_error_handlers(app)
    # A plain ASGI wrapper, not BaseHTTPMiddleware, so streams pass through untouched.
    app.add_middleware(MeasureRequests, metrics=gateway.metrics)
    return app


def loggable_path(path: str) -> str:
    """A request path fit for a log: an acknowledge link's token is a credential, kept out."""
    return "/v1/ack/{token}" if path.startswith("/v1/ack/") else path


def error_response(status: int, body: ErrorBody) -> JSONResponse:
    """An error in the shared shape."""
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.body())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = tuple(
            Problem(field=field_path(e["loc"]), reason=str(e["msg"])[:300])
            for e in exc.errors()[:50]
        )
        return error_response(422, ErrorBody(error="invalid_request", problems=problems))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        problem = Problem(field="path", reason=str(exc.detail))
        return error_response(exc.status_code, ErrorBody(error=code, problems=(problem,)))

    @app.exception_handler(KafkaError)
    async def kafka_down(request: Request, exc: KafkaError) -> JSONResponse:
        log.error("kafka_error", error=repr(exc))
        problem = Problem(field="", reason="Kafka did not take the message; retry later")
        return error_response(503, ErrorBody(error="unavailable", problems=(problem,)))

    @app.exception_handler(TimeoutError)
    async def too_slow(request: Request, exc: TimeoutError) -> JSONResponse:
        log.error("backend_timeout", path=loggable_path(request.url.path))
        problem = Problem(field="", reason="a part the gateway needs did not answer in time")
        return error_response(503, ErrorBody(error="unavailable", problems=(problem,)))

    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(OSError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("backend_error", error=repr(exc))
        problem = Problem(field="", reason="the database cannot be reached; retry later")
        return error_response(503, ErrorBody(error="unavailable", problems=(problem,)))


class MeasureRequests:
    """ASGI middleware: count each answer by route template and status, and time it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "unmatched")
                method = scope["method"]
                self.metrics.requests.labels(method, route, message["status"]).inc()
                self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counted)
