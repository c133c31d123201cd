"""Tasks: the caller's current tasks, and the live stream of them as server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Literal, TypeVar

import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from schemas.envelope import ID_PATTERN
from schemas.reports import ReportKind
from schemas.routing import Priority
from schemas.tasks import Task, TaskRole, TaskStatus
from services.gateway.access import Principal, visible_enterprises
from services.gateway.deps import Caller, Credential, Gw, errors, still_holds
from services.gateway.errors import ApiError, forbidden, not_found, unavailable
from services.gateway.feeds import FeedReader
from services.gateway.positions import (
    Positions,
    TaskFilter,
    current_tasks,
    format_positions,
    parse_positions,
)
from services.gateway.state import Gateway
from services.gateway.streams import ClosingStream

log = structlog.get_logger(component="gateway")
router = APIRouter()
T = TypeVar("T")


class TaskList(BaseModel):
    """The caller's current tasks: each at its latest version, newest first."""

    tasks: list[Task]


def readable_feeds(who: Principal, gw: Gateway, wanted: str | None) -> list[str]:
    """Whose feeds the caller reads, narrowed to `wanted`; refusals as 403 or 404."""
    if not who.may_read_tasks:
        raise forbidden("a publisher token reads no tasks")
    feeds = visible_enterprises(who, gw.enterprises, wanted)
    if feeds is None:
        raise forbidden("a dispatcher reads only its own enterprise's tasks")
    # Checked for every caller: a dispatcher naming its own enterprise gone from the registry too.
    if wanted is not None and wanted not in gw.enterprises:
        raise not_found("enterprise", f"no enterprise {wanted[:64]!r} in the registry")
    return feeds


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
    after: Annotated[
        str | None,
        Query(
            max_length=65536,
            description="An event's id, as Last-Event-ID (which wins): for a client that makes"
            " a new stream and cannot set the header, as a browser's EventSource.",
        ),
    ] = None,
) -> StreamingResponse:
    """Tasks live as server-sent events; each event's id resumes the stream after it."""
    feeds = readable_feeds(who, gw, enterprise)
    resume: Positions | None = None
    if last_event_id:
        resume = parse_positions(last_event_id, feeds)
    elif after:
        resume = parse_positions(after, feeds, "after")
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
    credential: Credential = request.state.credential  # what `caller` has just checked
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return ClosingStream(
        _task_events(gw, reader, wanted, credential),
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
    gw: Gateway, reader: FeedReader, wanted: TaskFilter, credential: Credential
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
            # A revoked token (or ended session) stops its open streams too, within one
            # heartbeat; one that cannot be checked ends the stream as well, and the client
            # resumes once it can.
            try:
                holder = await still_holds(gw, credential)
            except ApiError as error:
                yield f"event: unavailable\ndata: {error.body().model_dump_json()}\n\n"
                return
            if holder is None:
                yield 'event: revoked\ndata: {"error": "unauthorized"}\n\n'
                return
            yield ": keepalive\n\n"
            next_check = time.monotonic() + heartbeat
