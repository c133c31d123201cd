"""Publishing: one route per report kind, and one for a batch of them; each report recorded
once and sent to its topic, acknowledged by the brokers before the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from schemas.errors import Problem
from schemas.kinds import KIND
from schemas.reports import ReportKind
from services.gateway.access import Principal
from services.gateway.batch import (
    JSON,
    NDJSON,
    ItemResult,
    Outcome,
    admit_items,
    items_of,
    media_type,
    refused,
    summary,
)
from services.gateway.deps import Caller, Gw, errors, json_body, read_body
from services.gateway.errors import ApiError, forbidden
from services.gateway.intake import KINDS, Admitted, admit_body
from services.gateway.state import Gateway

router = APIRouter()
REPORT_MODELS = {kind: KIND[kind].model for kind in KINDS}
# The metrics' outcome labels (a duplicate has always been counted as "repeated").
COUNTED = {Outcome.ACCEPTED: "accepted", Outcome.DUPLICATE: "repeated", Outcome.REFUSED: "refused"}
BATCH_LIMITS = (
    "At most `SIGNALPOST_GATEWAY_BATCH_MAX_ITEMS` reports (default 1,000) in a body of at most"
    " `SIGNALPOST_GATEWAY_BATCH_MAX_BYTES` (default 4 MiB): more is a 413 saying which limit;"
    " each report is held to the single route's 256 KiB."
)


class PublishAnswer(BaseModel):
    """A report accepted: it is on its topic, on its way to the router."""

    status: Literal["accepted"]
    report_id: str
    reported_by: str
    kind: ReportKind
    incident_key: str


class BatchItemAnswer(BaseModel):
    """One report of a batch: the single route's 202 body, or its error body and status."""

    index: int
    status: Literal["accepted", "duplicate", "refused"]
    report_id: str | None = None
    reported_by: str | None = None
    kind: ReportKind | None = None
    incident_key: str | None = None
    http_status: int | None = None
    error: str | None = None
    problems: list[Problem] | None = None


class BatchAnswer(BaseModel):
    """A batch's outcome: counts, then one result per report in the batch's order."""

    accepted: int
    duplicate: int
    refused: int
    results: list[BatchItemAnswer]


def _publisher(kind: str):
    async def publish(request: Request, who: Caller, gw: Gw) -> JSONResponse:
        may_publish(who)
        body = await read_body(request, gw.settings.gateway_max_body_bytes)
        try:
            admitted = admit_body(body, kind=kind, enterprise=who.enterprise, registry=gw.registry)
            # Flushed with the concurrent publishes: one round trip, one wait for the acks.
            result = await gw.publish(admitted)
        except ApiError as error:
            result = refused(error)
        _count(gw, kind, [result])
        if result.error is not None:
            raise result.error
        return JSONResponse(admitted.answer(), status_code=202)

    publish.__name__ = f"publish_{kind}"
    publish.__doc__ = (
        f"Publish a {kind.replace('_', ' ')} report in the token's enterprise's name, about its "
        "own network (the Department: any); another enterprise is a 403 `impersonation`."
    )
    return publish


def _batch_publisher(kind: str):
    async def publish_batch(request: Request, who: Caller, gw: Gw) -> JSONResponse:
        may_publish(who)
        form = media_type(request.headers.get("content-type"))
        body = await read_body(request, gw.settings.gateway_batch_max_bytes)
        items = items_of(body, form, max_items=gw.settings.gateway_batch_max_items)
        admitted = admit_items(items, kind=kind, enterprise=who.enterprise, registry=gw.registry)
        results = await accept_admitted(gw, admitted)
        _count(gw, kind, results)
        return JSONResponse(summary(results), status_code=200)

    publish_batch.__name__ = f"publish_{kind}_batch"
    publish_batch.__doc__ = (
        f"Publish a batch of {kind.replace('_', ' ')} reports: a JSON array (`{JSON}`) or one"
        f" report a line (`{NDJSON}`). Each report is taken or refused on its own, as the single"
        " route would (an impersonation, a bad field, a reused id refuse only that report), and"
        " the answer gives one result per report, in order: `accepted`, `duplicate` or `refused`"
        " with the single route's status and error. The accepted reports are acknowledged by"
        f" the brokers, all in one wait, before the answer. {BATCH_LIMITS}"
    )
    return publish_batch


async def accept_admitted(gw: Gateway, admitted: Sequence[Admitted | ApiError]) -> list[ItemResult]:
    """The admitted reports flushed together; refused ones keep their error."""
    good = [a for a in admitted if isinstance(a, Admitted)]
    flushed = iter(await gw.accept_reports(good) if good else ())
    return [next(flushed) if isinstance(a, Admitted) else refused(a) for a in admitted]


def may_publish(who: Principal) -> None:
    """403 unless the token may publish reports."""
    if not who.may_publish:
        raise forbidden(f"a {who.role} token cannot publish; use a publisher token")


def _count(gw: Gateway, kind: str, results: Sequence[ItemResult]) -> None:
    for outcome in Outcome:
        n = sum(r.outcome is outcome for r in results)
        if n:
            gw.metrics.reports.labels(kind, COUNTED[outcome]).inc(n)


def _batch_body(kind: str) -> dict[str, Any]:
    component = {"$ref": f"#/components/schemas/{REPORT_MODELS[kind].__name__}"}
    content = {
        JSON: {"schema": {"type": "array", "items": component, "minItems": 1}},
        NDJSON: {"schema": {"type": "string", "description": "one report (JSON) a line"}},
    }
    return {"requestBody": {"required": True, "content": content}}


for _kind in KINDS:
    router.add_api_route(
        f"/v1/reports/{_kind}",
        _publisher(_kind),
        methods=["POST"],
        status_code=202,
        response_model=PublishAnswer,
        responses=errors(400, 409, 413),
        tags=["publish"],
        openapi_extra=json_body(REPORT_MODELS[_kind].__name__, required=True),
    )
    router.add_api_route(
        f"/v1/reports/{_kind}/batch",
        _batch_publisher(_kind),
        methods=["POST"],
        status_code=200,
        response_model=BatchAnswer,
        responses=errors(400, 413, 415),
        tags=["publish"],
        openapi_extra=_batch_body(_kind),
    )


@router.post("/v1/reports/{kind}", status_code=202, responses=errors(404), tags=["publish"])
async def publish_unknown_kind(kind: str, request: Request, who: Caller, gw: Gw) -> JSONResponse:
    """Any other kind: `line-fault` spellings are taken; anything else is an unknown kind."""
    return await _publisher(_known(kind))(request, who, gw)


@router.post("/v1/reports/{kind}/batch", responses=errors(404), tags=["publish"])
async def publish_unknown_kind_batch(
    kind: str, request: Request, who: Caller, gw: Gw
) -> JSONResponse:
    """A batch of any other kind: `line-fault` spellings are taken; anything else is unknown."""
    return await _batch_publisher(_known(kind))(request, who, gw)


def _known(kind: str) -> str:
    known = kind.replace("-", "_")
    if known in KINDS:
        return known
    reason = f"unknown report kind {kind[:60]!r}; known: {', '.join(KINDS)}"
    raise ApiError(404, "unknown_kind", "kind", reason)
