"""The gateway's routes: publish, tasks (list and live stream), incidents, commands, health."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

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
from services.gateway.errors import ApiError, forbidden, not_found, unauthorized
from services.gateway.feeds import FeedReader
from services.gateway.intake import KINDS, Admitted, admit
from services.gateway.outcomes import Outcome, SeenIncident
from services.gateway.positions import (
    TaskFilter,
    current_tasks,
    format_positions,
    parse_positions,
)
from services.gateway.tokens import principal_of
from services.recorder import store as recorder_store
from services.recorder.rows import verify_chain
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_EVENTS, topic_name

router = APIRouter()
bearer = HTTPBearer(auto_error=False, description="A token from `signalpost tokens create`.")
REPORT_MODELS = {
    "line_fault": LineFault,
    "capacity_alarm": CapacityAlarm,
    "suspicious_parcel": SuspiciousParcel,
}
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
    found = await principal_of(conn=gw.pool, secret=credentials.credentials)
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
            fresh = await store.accept_report(
                pool=gw.pool, admitted=admitted, send=lambda: _send_report(gw, admitted)
            )
        except ApiError:
            gw.metrics.reports.labels(kind, "refused").inc()
            raise
        gw.metrics.reports.labels(kind, "accepted" if fresh else "repeated").inc()
        return JSONResponse(admitted.answer(), status_code=202)

    publish.__name__ = f"publish_{kind}"
    publish.__doc__ = f"Publish a {kind.replace('_', ' ')} report in the token's enterprise's name."
    return publish


async def _send_report(gw: Gateway, admitted: Admitted) -> None:
    topic = topic_name(admitted.topic, gw.settings.topic_prefix)
    # Keyed by incident key, so an alarm and its clear stay in order on one partition.
    sent = await gw.producer.send(topic, admitted.value, key=admitted.incident_key.encode())
    await sent


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
    tasks = await FeedReader(gw.settings, feeds).snapshot()
    return {"tasks": [t for t in current_tasks(tasks) if wanted.matches(t)]}


@router.get(
    "/v1/tasks/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 404)},
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
    reader = FeedReader(gw.settings, feeds)
    await reader.open(resume, at_end=start == "end" and resume is None)
    secret = request.headers["authorization"].partition(" ")[2].strip()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _task_events(gw, reader, wanted, secret), media_type="text/event-stream", headers=headers
    )


async def _task_events(
    gw: Gateway, reader: FeedReader, wanted: TaskFilter, secret: str
) -> AsyncIterator[str]:
    sent = dict(reader.positions)
    heartbeat = gw.settings.gateway_stream_heartbeat_seconds
    next_check = time.monotonic() + heartbeat
    gw.metrics.streams.inc()
    try:
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
                # A revoked token stops its open streams too, within one heartbeat.
                if await principal_of(conn=gw.pool, secret=secret) is None:
                    yield 'event: revoked\ndata: {"error": "unauthorized"}\n\n'
                    return
                yield ": keepalive\n\n"
                next_check = time.monotonic() + heartbeat
    finally:
        gw.metrics.streams.dec()
        await reader.close()


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
    async with gw.pool.acquire() as conn:
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
    deadline = time.monotonic() + gw.settings.gateway_lookup_wait_seconds
    recorded = await store.recorded_incident(pool=gw.pool, incident_id=incident_id)
    while True:
        heard = gw.listener.incidents.get(incident_id)
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
            new_id=f"gw-{uuid.uuid4().hex}",
        )
        answer = await _send_command(gw, command)
        gw.metrics.commands.labels(action, answer.outcome).inc()
        status = {"accepted": 200, "rejected": 409, "pending": 202}[answer.outcome]
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    act.__name__ = f"{action}_incident"
    act.__doc__ = (
        f"Send `{ACTIONS[action].__name__}` and wait briefly for the incident manager's answer: "
        "200 accepted, 409 rejected (with the reason), 202 still pending."
    )
    return act


async def _send_command(gw: Gateway, command: Any) -> CommandAnswer:
    future = gw.listener.expect(command.command_id)
    try:
        topic = topic_name(INCIDENT_COMMANDS, gw.settings.topic_prefix)
        await (await gw.producer.send(topic, encode(command), key=command.incident_key.encode()))
        try:
            outcome: Outcome = await asyncio.wait_for(
                future, gw.settings.gateway_command_wait_seconds
            )
        except TimeoutError:
            return CommandAnswer(
                command_id=command.command_id, incident_id=command.incident_id, outcome="pending"
            )
    finally:
        gw.listener.forget(command.command_id)
    return CommandAnswer(
        command_id=command.command_id,
        incident_id=command.incident_id,
        outcome="accepted" if outcome.accepted else "rejected",
        events=list(outcome.event_types),
        error=outcome.error,
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
    """Whether the gateway can reach what it needs."""

    status: Literal["ok", "degraded"]
    kafka: bool
    postgres: bool
    events: bool


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["ops"])
async def health(gw: Gw) -> JSONResponse:
    """Kafka and PostgreSQL reachable, and the events listener following the log."""
    checks = {
        "kafka": await _reachable(_events_metadata(gw)),
        "postgres": await _reachable(gw.pool.fetchval("SELECT 1")),
        "events": gw.listener.healthy,
    }
    ok = all(checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)


async def _events_metadata(gw: Gateway) -> None:
    # One topic's metadata: a real round trip, small however many topics the broker holds.
    client = gw.producer.client
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
