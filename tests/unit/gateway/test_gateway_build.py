"""`build` wires the gateway from what it is given: fakes stand in for Kafka and PostgreSQL."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaConnectionError

with warnings.catch_warnings():
    # Starlette would rather have httpx2; its test client works with the httpx we have.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from services.gateway.service import build
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit


class AwayProducer:
    """A producer whose broker never answers."""

    async def start(self) -> None:
        raise KafkaConnectionError("broker away")

    async def stop(self) -> None:
        pass


class IdleListener:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class AwayPool:
    """A pool whose server is gone: every acquire fails as a dropped connection does."""

    closed = False

    async def acquire(self):
        raise OSError("connection refused")

    async def close(self) -> None:
        self.closed = True


def test_the_clients_build_is_given_are_the_ones_the_gateway_uses() -> None:
    calls: list[str] = []
    pool = AwayPool()

    def kafka(settings):
        calls.append("kafka")
        return AwayProducer(), IdleListener()

    async def database(settings):
        calls.append("database")
        return pool

    settings = GatewaySettings(gateway_kafka_timeout_seconds=0.2)
    app = build(settings, kafka=kafka, database=database)
    with TestClient(app) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert set(body["down"]) == {"kafka", "postgres", "events"}
    assert calls[:2] == ["database", "kafka"]
    assert pool.closed  # stopped with the app


def test_the_clock_build_is_given_is_the_gateways() -> None:
    moment = datetime(2007, 5, 20, 18, 30, tzinfo=UTC)
    app = build(GatewaySettings(), clock=lambda: moment)
    assert app.state.gateway.clock() == moment
