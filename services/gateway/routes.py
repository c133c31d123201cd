"""The gateway's routes: publish, tasks (list and live stream), incidents, commands, health."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import structlog
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from schemas.codec import encode
from schemas.envelope import ID_PATTERN
from schemas.errors import ErrorBody
from schemas.reports import CapacityAlarm, LineFault, ReportKind, SuspiciousParcel
from schemas.routing import Priority
from schemas.tasks import Task, TaskRole, TaskStatus
from services.gateway import store
from services.gateway.access import Principal
from services.gateway.app import Gateway, gateway_of
from services.gateway.commands import ACTIONS, CommandAnswer, build_command, request_schema
from services.gateway.errors import ApiError, forbidden, not_found, unauthorized, unavailable
from services.gateway.feeds import FeedReader
from services.gateway.intake import KINDS, Admitted, admit
from services.gateway.outcomes import Outcome, SeenIncident
from services.gateway.positions import (
    TaskFilter,
    current_tasks,
    format_positions,
    parse_positions,
)
from services.gateway.streams import ClosingStream
from services.gateway.tokens import principal_of
from services.recorder import store as recorder_store
from services.recorder.rows import verify_chain
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_EVENTS, topic_name

log = structlog.get_logger(component="gateway")
router = APIRouter()
bearer = HTTPBearer(auto_error=False, description="A token from `signalpost tokens create`.")
REPORT_MODELS = {
    "line_fault": LineFault,
    "capacity_alarm": CapacityAlarm,
    "suspicious_parcel": SuspiciousParcel,
}
T = TypeVar("T")
IncidentId = Annotated[str, Path(pattern=ID_PATTERN, description="The incident's id.")]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, all in the shared shape."""
    return {s: {"model": ErrorBody} for s in (401, 403, 422, 503, *statuses)}


def json_body(component: str, *, required: bool) -> dict[str, Any]:
    """OpenAPI for a JSON body read raw (see document_bodies for the component)."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


# --- who is calling ---------------------------------------------------------------------


Gw = Annotated[Gateway, Depends(gateway_of)]


async def caller(
    gw: Gw, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    """The token's principal, read from PostgreSQL on every request: a revoke acts at once."""
    if credentials is None:
        raise unauthorized("missing `Authorization: Bearer <token>` header")
    async with gw.database() as conn:
        found = await principal_of(conn=conn, secret=credentials.credentials)
    if found is None:
        raise unauthorized()
    return found


Caller = Annotated[Principal, Depends(caller)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    reason = f"body is at least {size} bytes; the limit is {limit}"
    return ApiError(413, "body_too_large", "", reason)


# --- publishing -------------------------------------------------------------------------


class PublishAnswer(BaseModel):
    """A report accepted: it is on its topic, on its way to the router."""

    status: Literal["accepted"]
    report_id: str
    reported_by: str
    kind: ReportKind
    incident_key: str


def _publisher(kind: str):
    async def publish(request: Request, who: Caller, gw: Gw) -> JSONResponse:
        if not who.may_publish:
            raise forbidden(f"a {who.role} token cannot publish; use a publisher token")
        body = await read_body(request, gw.settings.gateway_max_body_bytes)
        try:
            admitted = admit(body, kind=kind, enterprise=who.enterprise, registry=gw.registry)
            fresh = await _accept(gw, admitted)
        except ApiError:
            gw.metrics.reports.labels(kind, "refused").inc()
            raise
        gw.metrics.reports.labels(kind, "accepted" if fresh else "repeated").inc()
        return JSONResponse(admitted.answer(), status_code=202)

    publish.__name__ = f"publish_{kind}"
    publish.__doc__ = f"Publish a {kind.replace('_', ' ')} report in the token's enterprise's name."
    return publish


async def _accept(gw: Gateway, admitted: Admitted) -> bool:
    """Record and send the report; every wait bounded, and a slow Kafka holds few connections."""
    gw.kafka()  # no connection is taken for a send that cannot happen
    deadline = gw.deadline()
    topic = topic_name(admitted.topic, gw.settings.topic_prefix)
    # Keyed by incident key, so an alarm and its clear stay in order on one partition.
    key = admitted.incident_key.encode()
    async with (
        gw.publish_slot(deadline),
        gw.database(extra_s=gw.settings.gateway_kafka_timeout_seconds) as conn,
    ):
        return await store.accept_report(
            conn=conn,
            admitted=admitted,
            send=lambda: gw.send(topic, admitted.value, key=key, deadline=deadline),
        )


for _kind in KINDS:
    router.add_api_route(
        f"/v1/reports/{_kind}",
        _publisher(_kind),
        methods=["POST"],
        status_code=202,
        response_model=PublishAnswer,
        responses=errors(400, 409, 413),
        tags=["publish"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{REPORT_MODELS[_kind].__name__}"}
                    }
                },
            }
        },
    )


@router.post("/v1/reports/{kind}", status_code=202, responses=errors(404), tags=["publish"])
async def publish_unknown_kind(kind: str, request: Request, who: Caller, gw: Gw) -> JSONResponse:
    """Any other kind: `line-fault` spellings are taken; anything else is an unknown kind."""
    known = kind.replace("-", "_")
    if known in KINDS:
        return await _publisher(known)(request, who, gw)
    reason = f"unknown report kind {kind[:60]!r}; known: {', '.join(KINDS)}"
    raise ApiError(404, "unknown_kind", "kind", reason)


# --- tasks ------------------------------------------------------------------------------


class TaskList(BaseModel):
    """The caller's current tasks: each at its latest version, newest first."""

    tasks: list[Task]


def readable_feeds(who: Principal, gw: Gateway, wanted: str | None) -> list[str]:
    """Whose feeds the caller reads, narrowed to `wanted`; refusals as 403 or 404."""
    if not who.may_read_tasks:
        raise forbidden("a publisher token reads no tasks")
    if not who.sees_everything and wanted not in (None, who.enterprise):
        raise forbidden("a dispatcher reads only its own enterprise's tasks")
    if wanted is not None and wanted not in gw.enterprises:
        raise not_found("enterprise", f"no enterprise {wanted[:64]!r} in the registry")
    if wanted is not None or not who.sees_everything:
        return [wanted or who.enterprise]
    return gw.enterprises


def task_filter(
    status: TaskStatus | None = None,
    kind: ReportKind | None = None,
    role: TaskRole | None = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    priority: Priority | None = None,
    incident_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> TaskFilter:
    """The filters of the task endpoints, from the query string."""
    return TaskFilter(status, kind, role, district, priority, incident_id)


Wanted = Annotated[TaskFilter, Depends(task_filter)]
EnterpriseQuery = Annotated[
    str | None,
    Query(max_length=64, description="Only this enterprise's feed (Department, auditors)."),
]


@router.get("/v1/tasks", response_model=TaskList, responses=errors(404), tags=["tasks"])
async def list_tasks(who: Caller, gw: Gw, wanted: Wanted, enterprise: EnterpriseQuery = None):
    """The current tasks of the caller's enterprise (all enterprises for the Department)."""
    feeds = readable_feeds(who, gw, enterprise)
    gw.kafka()
    tasks = await open_bounded(gw, FeedReader(gw.settings, feeds).snapshot())
    return {"tasks": [t for t in current_tasks(tasks) if wanted.matches(t)]}


@router.get(
    "/v1/tasks/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 404, 429)},
    tags=["tasks"],
)
async def stream_tasks(
    request: Request,
    who: Caller,
    gw: Gw,
    wanted: Wanted,
    enterprise: EnterpriseQuery = None,
    start: Annotated[
        Literal["beginning", "end"], Query(description="Without Last-Event-ID.")
    ] = "beginning",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Tasks live as server-sent events; each event's id resumes the stream after it."""
    feeds = readable_feeds(who, gw, enterprise)
    resume = parse_positions(last_event_id, feeds) if last_event_id else None
    gw.kafka()
    gw.streams.take(who.token_id)  # 429 beyond the limits; given back when the stream ends
    gw.metrics.streams.inc()
    reader = FeedReader(gw.settings, feeds)
    opened = time.monotonic()

    async def close() -> None:
        try:
            await reader.close()
        finally:
            gw.streams.give(who.token_id)
            gw.metrics.streams.dec()
            seconds = round(time.monotonic() - opened, 3)
            log.info("task_stream_ended", token_id=who.token_id, feeds=len(feeds), seconds=seconds)

    try:
        await open_bounded(gw, reader.open(resume, at_end=start == "end" and resume is None))
    except BaseException:
        await close()
        raise
    secret = request.headers["authorization"].partition(" ")[2].strip()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return ClosingStream(
        _task_events(gw, reader, wanted, secret),
        on_close=close,
        media_type="text/event-stream",
        headers=headers,
    )


async def open_bounded(gw: Gateway, opening: Awaitable[T]) -> T:
    """A task read's start (or a whole snapshot) within the Kafka timeout, else 503."""
    limit = gw.settings.gateway_kafka_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            return await opening
    except TimeoutError:
        raise unavailable("kafka", f"Kafka did not answer within {limit:g} s") from None
    except KafkaError as error:
        raise unavailable("kafka", f"Kafka cannot be read ({type(error).__name__})") from None


async def _task_events(
    gw: Gateway, reader: FeedReader, wanted: TaskFilter, secret: str
) -> AsyncIterator[str]:
    sent = dict(reader.positions)
    heartbeat = gw.settings.gateway_stream_heartbeat_seconds
    next_check = time.monotonic() + heartbeat
    yield f"retry: 1000\nid: {format_positions(sent)}\n\n"
    while True:
        chunks = []
        for slot, offset, task in await reader.read(timeout_ms=500):
            sent[slot] = offset + 1
            if wanted.matches(task):
                data = task.model_dump_json()
                chunks.append(f"id: {format_positions(sent)}\nevent: task\ndata: {data}\n\n")
        if chunks:
            yield "".join(chunks)
        if time.monotonic() >= next_check:
            # A revoked token stops its open streams too, within one heartbeat; a token that
            # cannot be checked ends the stream as well, and the client resumes once it can.
            try:
                async with gw.database() as conn:
                    holder = await principal_of(conn=conn, secret=secret)
            except ApiError as error:
                yield f"event: unavailable\ndata: {error.body().model_dump_json()}\n\n"
                return
            if holder is None:
                yield 'event: revoked\ndata: {"error": "unauthorized"}\n\n'
                return
            yield ": keepalive\n\n"
            next_check = time.monotonic() + heartbeat


# --- incidents --------------------------------------------------------------------------


class TimelineEvent(BaseModel):
    """One recorded lifecycle event, with the time it happened and the time it was recorded."""

    incident_id: str
    incident_key: str
    sequence: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    event: dict[str, Any]


class Timeline(BaseModel):
    """An incident's recorded history in order, and whether its hash chain holds."""

    incident: str
    chain: str
    events: list[TimelineEvent]


@router.get(
    "/v1/incidents/{incident_id}",
    response_model=Timeline,
    responses=errors(404),
    tags=["incidents"],
)
async def incident_timeline(incident_id: IncidentId, who: Caller, gw: Gw):
    """The incident's recorded timeline (by id or key), if the caller may see it."""
    if not who.may_read_tasks:
        raise forbidden("a publisher token reads no incidents")
    async with gw.database() as conn:
        rows = [dict(r) for r in await recorder_store.timeline(conn=conn, incident=incident_id)]
    if not who.sees_everything:
        mine = {i for i, named in store.participants(rows).items() if who.enterprise in named}
        rows = [r for r in rows if r["incident_id"] in mine]
    if not rows:
        raise not_found("incident_id", f"no recorded incident {incident_id} that you may see")
    broken = verify_chain(rows)
    chain = "intact" if broken is None else f"broken at {broken.event_id}: {broken.reason}"
    events = [{**r, "event": json.loads(r["event"])} for r in rows]
    return {"incident": incident_id, "chain": chain, "events": events}


async def find_incident(gw: Gateway, incident_id: str) -> SeenIncident | None:
    """The incident as recorded or as heard on the log; waits briefly for one just opened."""
    _, listener = gw.kafka()
    deadline = time.monotonic() + gw.settings.gateway_lookup_wait_seconds
    async with gw.database() as conn:
        recorded = await store.recorded_incident(conn=conn, incident_id=incident_id)
    while True:
        heard = listener.incidents.get(incident_id)
        if recorded or heard:
            found = recorded or heard
            return SeenIncident(
                found.incident_key,
                (recorded.enterprises if recorded else set())
                | (heard.enterprises if heard else set()),
            )
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.05)


def _commander(action: str):
    async def act(incident_id: IncidentId, request: Request, who: Caller, gw: Gw) -> JSONResponse:
        if not who.may_command:
            raise forbidden(f"a {who.role} token cannot act on incidents")
        if action == "reassign" and not who.may_reassign:
            raise forbidden("only the Department reassigns incidents")
        body = await read_body(request, gw.settings.gateway_max_body_bytes)
        incident = await find_incident(gw, incident_id)
        if incident is None or not (who.sees_everything or who.enterprise in incident.enterprises):
            raise not_found("incident_id", f"no incident {incident_id} that you may act on")
        command = build_command(
            action,
            body,
            incident_id=incident_id,
            incident_key=incident.incident_key,
            issued_by=who.enterprise,
            now=datetime.now(UTC),
            new_id=(new_id := f"gw-{uuid.uuid4().hex}"),
        )
        answer = await _send_command(gw, command, resent=command.command_id != new_id)
        gw.metrics.commands.labels(action, answer.outcome).inc()
        status = {"accepted": 200, "rejected": 409, "pending": 202}[answer.outcome]
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    act.__name__ = f"{action}_incident"
    act.__doc__ = (
        f"Send `{ACTIONS[action].__name__}` and wait briefly for the incident manager's answer: "
        "200 accepted, 409 rejected (with the reason), 202 still pending."
    )
    return act


async def _send_command(gw: Gateway, command: Any, *, resent: bool) -> CommandAnswer:
    """Send the command and wait briefly for its outcome; a resent id gets its first outcome.

    The incident manager says nothing to a command id it has seen, so a resent id is looked
    up (the listener's memory, then the recorded timeline) instead of waited for.
    """
    _, listener = gw.kafka()
    outcome = await _recorded_outcome(gw, command) if resent else None
    future = listener.expect(command.command_id)  # done at once if heard since start
    try:
        if outcome is None and not future.done():
            topic = topic_name(INCIDENT_COMMANDS, gw.settings.topic_prefix)
            key = command.incident_key.encode()
            await gw.send(topic, encode(command), key=key, deadline=gw.deadline())
            await asyncio.wait({future}, timeout=gw.settings.gateway_command_wait_seconds)
            if not future.done() and resent:
                outcome = await _recorded_outcome(gw, command)  # recorded meanwhile?
        if outcome is None and future.done():
            outcome = future.result()
    finally:
        listener.forget(command.command_id, future)
    named = {"command_id": command.command_id, "incident_id": command.incident_id}
    if outcome is None:
        return CommandAnswer(**named, outcome="pending")
    return CommandAnswer(
        **named,
        outcome="accepted" if outcome.accepted else "rejected",
        events=list(outcome.event_types),
        error=outcome.error,
    )


async def _recorded_outcome(gw: Gateway, command: Any) -> Outcome | None:
    async with gw.database() as conn:
        return await store.recorded_outcome(
            conn=conn, incident_id=command.incident_id, command_id=command.command_id
        )


for _action, _command in ACTIONS.items():
    router.add_api_route(
        f"/v1/incidents/{{incident_id}}/{_action}",
        _commander(_action),
        methods=["POST"],
        response_model=CommandAnswer,
        responses={
            202: {"model": CommandAnswer},
            409: {"model": CommandAnswer},
            **errors(400, 404, 413),
        },
        tags=["incidents"],
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_command.__name__}Request"}
                    }
                },
            }
        },
    )


# --- operations -------------------------------------------------------------------------


class Health(BaseModel):
    """Whether the gateway can reach what it needs, and which parts are down."""

    status: Literal["ok", "degraded"]
    kafka: bool
    postgres: bool
    events: bool
    down: list[Literal["kafka", "postgres", "events"]] = []


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["ops"])
async def health(gw: Gw) -> JSONResponse:
    """Kafka and PostgreSQL reachable, and the events listener following the log."""
    checks = {
        "kafka": await _reachable(_events_metadata(gw)),
        "postgres": await _reachable(_select_one(gw)),
        "events": gw.listener is not None and gw.listener.healthy,
    }
    down = [part for part, up in checks.items() if not up]
    body = {"status": "degraded" if down else "ok", **checks, "down": down}
    return JSONResponse(body, status_code=503 if down else 200)


async def _select_one(gw: Gateway) -> None:
    async with gw.database() as conn:
        await conn.fetchval("SELECT 1")


async def _events_metadata(gw: Gateway) -> None:
    # One topic's metadata: a real round trip, small however many topics the broker holds.
    producer, _ = gw.kafka()
    client = producer.client
    topic = topic_name(INCIDENT_EVENTS, gw.settings.topic_prefix)
    await client.send(client.get_random_node(), MetadataRequest([topic]))


async def _reachable(probe: Any) -> bool:
    try:
        await asyncio.wait_for(probe, timeout=3)
    except Exception:  # any failure of the probe means "not reachable" to an operator
        return False
    return True


@router.get(
    "/metrics",
    response_class=Response,
    tags=["ops"],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(gw: Gw) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)


# --- the OpenAPI document -----------------------------------------------------------------


def document_bodies(app: FastAPI) -> None:
    """Put the report and command body schemas (read as raw bytes) into the OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in REPORT_MODELS.values():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            # Taken from the URL and the token when left out.
            schema["required"] = [r for r in schema["required"] if r not in ("kind", "reported_by")]
            components[model.__name__] = schema
        for command in ACTIONS.values():
            components[f"{command.__name__}Request"] = request_schema(command)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
