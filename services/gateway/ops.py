"""Operations: the health probe (Kafka, PostgreSQL, the events listener) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiokafka.protocol.metadata import MetadataRequest
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from services.gateway.deps import Gw
from services.gateway.state import Gateway
from services.runtime.topics import INCIDENT_EVENTS, topic_name

router = APIRouter()


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
