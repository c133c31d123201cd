"""Token lifetime at the real gateway: an expired token is refused, each use is written down
at most once a minute, and an unknown secret learns nothing from the answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.example_reports import report
from services.runtime import db
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = pytest.mark.integration
VNPT = "vnpt-quang-nam"
UNKNOWN = "missing, unknown or revoked token"


@pytest.fixture
async def gateway(topics, database, tmp_path):
    running = await start_gateway(topics, tmp_path / "gateway.log")
    yield running
    await stop_gateway(running)


async def _as_owner(gateway, statement: str, *args):
    conn = await db.connect(gateway.settings, url=gateway.settings.owner_database_url)
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


async def _reason(gateway, secret: str) -> tuple[int, str]:
    async with gateway.client(secret) as http:
        answer = await http.get("/v1/tasks")
    body = answer.json()
    return answer.status_code, body["problems"][0]["reason"] if "problems" in body else ""


async def test_an_expired_token_gets_401_and_says_so_where_an_unknown_one_does_not(gateway):
    secret = await gateway.token(VNPT, "dispatcher")
    assert (await _reason(gateway, secret))[0] == 200
    # Its lifetime moved into the past, as the owner can: the next request is refused.
    await _as_owner(
        gateway,
        "UPDATE api_tokens SET created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 day' WHERE enterprise = $1",
        VNPT,
    )
    status, reason = await _reason(gateway, secret)
    assert status == 401 and "expired" in reason
    assert await _reason(gateway, "sp_" + "x" * 43) == (401, UNKNOWN)
    await _as_owner(gateway, "UPDATE api_tokens SET revoked_at = now() WHERE enterprise = $1", VNPT)
    assert await _reason(gateway, secret) == (401, UNKNOWN)  # revoked: expiry no longer told


async def test_a_tokens_use_is_written_once_then_not_again_within_the_minute(gateway, test_id):
    secret = await gateway.token(VNPT, "publisher")
    last_use = "SELECT last_used_at FROM api_tokens"
    assert (await _as_owner(gateway, last_use))[0]["last_used_at"] is None

    async def publish(n: int) -> None:
        body = report("line_fault", f"{test_id}-{n}")
        assert (await http.post("/v1/reports/line_fault", json=body)).status_code == 202

    async with gateway.client(secret) as http:
        await publish(1)
        [first] = await _as_owner(gateway, last_use)
        assert first["last_used_at"] is not None
        await publish(2)
        await publish(3)
        assert await _as_owner(gateway, last_use) == [first]  # within the minute: no write
        # The last use a minute old: the next request writes its own.
        older = first["last_used_at"] - timedelta(seconds=61)
        await _as_owner(gateway, "UPDATE api_tokens SET last_used_at = $1", older)
        await publish(4)
    [after] = await _as_owner(gateway, last_use)
    assert after["last_used_at"] > first["last_used_at"]
