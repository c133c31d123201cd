"""Publishing: one route per report kind, the report recorded once and sent to its topic."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from schemas.kinds import KIND
from schemas.reports import ReportKind
from services.gateway import store
from services.gateway.deps import Caller, Gw, errors, json_body, read_body
from services.gateway.errors import ApiError, forbidden
from services.gateway.intake import KINDS, Admitted, admit_body
from services.gateway.state import Gateway
from services.runtime.topics import topic_name

router = APIRouter()
REPORT_MODELS = {kind: KIND[kind].model for kind in KINDS}


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
            admitted = admit_body(body, kind=kind, enterprise=who.enterprise, registry=gw.registry)
            fresh = await _accept(gw, admitted)
        except ApiError:
            gw.metrics.reports.labels(kind, "refused").inc()
            raise
        gw.metrics.reports.labels(kind, "accepted" if fresh else "repeated").inc()
        return JSONResponse(admitted.answer(), status_code=202)

    publish.__name__ = f"publish_{kind}"
    publish.__doc__ = (
        f"Publish a {kind.replace('_', ' ')} report in the token's enterprise's name, about its "
        "own network (the Department: any); another enterprise is a 403 `impersonation`."
    )
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
        openapi_extra=json_body(REPORT_MODELS[_kind].__name__, required=True),
    )


@router.post("/v1/reports/{kind}", status_code=202, responses=errors(404), tags=["publish"])
async def publish_unknown_kind(kind: str, request: Request, who: Caller, gw: Gw) -> JSONResponse:
    """Any other kind: `line-fault` spellings are taken; anything else is an unknown kind."""
    known = kind.replace("-", "_")
    if known in KINDS:
        return await _publisher(known)(request, who, gw)
    reason = f"unknown report kind {kind[:60]!r}; known: {', '.join(KINDS)}"
    raise ApiError(404, "unknown_kind", "kind", reason)
