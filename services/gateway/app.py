"""The gateway's HTTP application: one place wires settings, PostgreSQL, Kafka and the routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import ErrorBody, Problem, field_path
from schemas.registry import Registry, load_registry
from services.gateway.errors import ApiError, unavailable
from services.gateway.metrics import Metrics
from services.gateway.outcomes import EventListener
from services.gateway.settings import GatewaySettings
from services.gateway.streams import StreamSlots
from services.runtime import db
from services.runtime.backoff import backoff_delay
from services.runtime.kafka import make_producer

log = structlog.get_logger(component="gateway")


# What the gateway's PostgreSQL calls raise when the server is gone, refusing or shutting down.
DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


@dataclass
class Gateway:
    """What the routes share: settings, registry, pool, producer, the events listener, metrics.

    It starts whether or not Kafka and PostgreSQL answer: until they do, what needs them is
    answered 503 naming the part, and every wait on either is bounded by a setting.
    """

    settings: GatewaySettings
    registry: Registry
    metrics: Metrics
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    listener: EventListener | None = None
    streams: StreamSlots = field(init=False)
    _publishing: asyncio.Semaphore = field(init=False)
    _connecting: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.streams = StreamSlots(
            per_token=self.settings.gateway_streams_per_token,
            total=self.settings.gateway_streams_total,
        )
        self._publishing = asyncio.Semaphore(self.settings.gateway_publish_slots)

    async def start(self) -> None:
        """Make the pool (it connects on first use) and connect to Kafka in the background."""
        self.pool = await db.create_pool(
            self.settings, min_size=0, max_size=self.settings.gateway_db_pool_size
        )
        self._connecting = asyncio.create_task(self._connect_kafka(), name="gateway-kafka")
        # A healthy broker is ready before the first request; a dead one does not hold start.
        await asyncio.wait({self._connecting}, timeout=self.settings.gateway_kafka_timeout_seconds)
        log.info("gateway_started", port=self.settings.gateway_port)

    async def _connect_kafka(self) -> None:
        failures = 0
        while True:
            producer, listener = make_producer(self.settings), EventListener(self.settings)
            try:
                await producer.start()
                await listener.start()
            except (KafkaError, OSError) as error:
                await asyncio.gather(listener.stop(), producer.stop(), return_exceptions=True)
                failures += 1
                delay = backoff_delay(failures, base=0.5, cap=10.0)
                log.warning(
                    "kafka_unavailable_will_retry",
                    bootstrap=self.settings.kafka_bootstrap,
                    failures=failures,
                    retry_in_s=round(delay, 3),
                    error=repr(error)[:300],
                )
                await asyncio.sleep(delay)
                continue
            self.producer, self.listener = producer, listener
            log.info("kafka_connected", bootstrap=self.settings.kafka_bootstrap)
            return

    async def stop(self) -> None:
        """Close what start opened."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.listener is not None:
            await self.listener.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()

    @property
    def enterprises(self) -> list[str]:
        """Every enterprise of the registry: each has a task feed."""
        return [e.id for e in self.registry.enterprises]

    @asynccontextmanager
    async def database(self, *, extra_s: float = 0) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; the wait for it and the work on it bounded, else 503.

        `extra_s` is time the work may spend on something with a bound of its own (a send).
        """
        limit = self.settings.gateway_db_timeout_seconds
        with _database_down(limit):
            async with asyncio.timeout(limit):
                conn = await self.pool.acquire()
        reusable = False
        try:
            with _database_down(limit):
                async with asyncio.timeout(limit + extra_s):
                    yield conn
                reusable = True
        except ApiError as error:
            reusable = error.problems[0].field != "postgres"  # a 409 or a Kafka 503 leave it fine
            raise
        finally:
            if not reusable:
                # Cut, not reset: a reset or a query's cancel would wait on a hung server.
                conn.terminate()
            await self.pool.release(conn, timeout=limit)

    def kafka(self) -> tuple[AIOKafkaProducer, EventListener]:
        """The producer and the events listener, or 503 while Kafka has not been reached."""
        if self.producer is None or self.listener is None:
            reason = f"Kafka at {self.settings.kafka_bootstrap} has not been reached since start"
            raise unavailable("kafka", reason)
        return self.producer, self.listener

    def deadline(self) -> float:
        """The loop time by which Kafka must have taken a message sent from now."""
        return asyncio.get_running_loop().time() + self.settings.gateway_kafka_timeout_seconds

    @asynccontextmanager
    async def publish_slot(self, deadline: float) -> AsyncIterator[None]:
        """One of the few publishes that may hold a connection while Kafka takes the report."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._publishing.acquire()
        except TimeoutError:
            slots = self.settings.gateway_publish_slots
            reason = f"all {slots} publish slots are waiting for Kafka"
            raise unavailable("kafka", reason) from None
        self.metrics.publishing.inc()
        try:
            yield
        finally:
            self.metrics.publishing.dec()
            self._publishing.release()

    async def send(self, topic: str, value: bytes, *, key: bytes, deadline: float) -> None:
        """Send one message and wait until Kafka has it, by `deadline`, else 503."""
        producer, _ = self.kafka()
        try:
            async with asyncio.timeout_at(deadline):
                await (await producer.send(topic, value, key=key))
        except TimeoutError:
            limit = self.settings.gateway_kafka_timeout_seconds
            raise unavailable(
                "kafka", f"Kafka did not take the message within {limit:g} s"
            ) from None
        except KafkaError as error:
            log.error("kafka_send_failed", topic=topic, error=repr(error)[:300])
            raise unavailable(
                "kafka", f"Kafka refused the message ({type(error).__name__})"
            ) from None


@contextmanager
def _database_down(limit: float) -> Iterator[None]:
    """PostgreSQL's silence or absence as a 503 naming it."""
    try:
        yield
    except TimeoutError:
        raise unavailable("postgres", f"PostgreSQL did not answer within {limit:g} s") from None
    except DATABASE_DOWN as error:
        log.error("database_unavailable", error=repr(error)[:300])
        reason = f"PostgreSQL cannot be reached ({type(error).__name__})"
        raise unavailable("postgres", reason) from None


async def gateway_of(request: Request) -> Gateway:
    """The app's shared parts (async: FastAPI would run a plain function in a thread)."""
    return request.app.state.gateway


def create_app(settings: GatewaySettings) -> FastAPI:
    """The FastAPI application for these settings."""
    from services.gateway import routes  # the routes need this module's Gateway

    gateway = Gateway(settings, load_registry(settings.gateway_registry_dir), Metrics())

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
    )
    app.state.gateway = gateway
    app.include_router(routes.router)
    routes.document_bodies(app)
    _install_error_handlers(app)
    # A plain ASGI wrapper, not BaseHTTPMiddleware, so streams pass through untouched.
    app.add_middleware(MeasureRequests, metrics=gateway.metrics)
    return app


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
        log.error("backend_timeout", path=request.url.path)
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
