"""Console sign-in over HTTP against the real gateway and PostgreSQL: the cookie's flags, the
CSRF guard, signing out, a revoked token, an expired session, and the token kept out of URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.gateway.tokens import revoke_token
from services.runtime import db
from tests.support.seeded_gateway import VNPT, seeded_gateway

pytestmark = pytest.mark.integration


async def sign_in(gateway, secret: str) -> tuple[httpx.AsyncClient, dict]:
    """A cookie-holding client signed in with `secret`, and the sign-in's answer."""
    http = gateway.client()
    answer = await http.post("/v1/session", json={"token": secret})
    assert answer.status_code == 200, answer.text
    return http, answer


async def owner(gateway):
    return await db.connect(gateway.settings, url=gateway.settings.owner_database_url)


async def test_a_console_session_from_sign_in_to_revoke(topics, database, tmp_path):
    async with seeded_gateway(topics, database, tmp_path) as gateway:
        secret = await gateway.token(VNPT, "dispatcher")
        http, answer = await sign_in(gateway, secret)
        cookie = answer.headers["set-cookie"]
        assert "signalpost_session=" in cookie and secret not in cookie
        assert all(flag in cookie.lower() for flag in ("httponly", "samesite=strict", "path=/"))
        assert "secure" not in cookie.lower()  # plain HTTP here; `auto` sets it behind TLS
        csrf = answer.json()["csrf_token"]
        assert answer.json()["enterprise"] == VNPT and len(csrf) > 20

        # Reading needs only the cookie; a change needs the page's CSRF token too.
        assert (await http.get("/v1/tasks")).status_code == 200
        forged = await http.post("/v1/incidents/inc-1/notes", json={"text": "x"})
        assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
        assert forged.json()["problems"][0]["field"] == "x-csrf-token"
        wrong = await http.post("/v1/incidents/inc-1/notes", json={"text": "x"},
                                headers={"X-CSRF-Token": "guess"})  # fmt: skip
        assert wrong.status_code == 403
        elsewhere = await http.post("/v1/incidents/inc-1/notes", json={"text": "x"},
                                    headers={"X-CSRF-Token": csrf,
                                             "Origin": "https://evil.example"})  # fmt: skip
        assert elsewhere.status_code == 403
        allowed = await http.post("/v1/incidents/inc-1/notes", json={"text": "from the console"},
                                  headers={"X-CSRF-Token": csrf})  # fmt: skip
        assert allowed.status_code in (200, 202, 409), allowed.text

        # Signing out ends this session only; the token and its other sessions go on.
        other, _ = await sign_in(gateway, secret)
        ended = await http.delete("/v1/session", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 204
        http.cookies.set("signalpost_session", cookie.split(";")[0].split("=", 1)[1])
        assert (await http.get("/v1/session")).status_code == 401
        assert (await other.get("/v1/session")).status_code == 200

        # Revoking the token stops its sessions on their next request.
        conn = await owner(gateway)
        try:
            token_id = await conn.fetchval(
                "SELECT token_id FROM console_sessions ORDER BY created_at DESC LIMIT 1"
            )
            assert await revoke_token(conn=conn, token_id=token_id)
        finally:
            await conn.close()
        assert (await other.get("/v1/tasks")).status_code == 401
        await http.aclose()
        await other.aclose()


async def test_sign_in_refuses_what_it_must(topics, database, tmp_path):
    async with seeded_gateway(topics, database, tmp_path) as gateway, gateway.client() as http:
        publisher = await gateway.token(VNPT, "publisher")
        refused = await http.post("/v1/session", json={"token": publisher})
        assert refused.status_code == 403
        assert (await http.post("/v1/session", json={"token": "sp_nope"})).status_code == 401
        as_form = await http.post("/v1/session", data={"token": publisher})
        assert as_form.status_code == 415  # a form from another site cannot sign anyone in
        assert (await http.post("/v1/session", content=b"{", headers={
            "Content-Type": "application/json"})).status_code == 400  # fmt: skip
        missing = await http.post("/v1/session", json={"tokens": "x"})
        assert missing.status_code == 422 and missing.json()["problems"][0]["field"] == "token"
        # The token is never taken from a URL.
        dispatcher = await gateway.token(VNPT, "dispatcher")
        by_url = await http.get("/v1/tasks", params={"token": dispatcher})
        assert by_url.status_code == 401


async def test_an_expired_session_is_refused_and_says_so(topics, database, tmp_path):
    async with seeded_gateway(topics, database, tmp_path) as gateway:
        http, _ = await sign_in(gateway, await gateway.token(VNPT, "dispatcher"))
        conn = await owner(gateway)
        try:  # the session is moved into the past as a whole (it must end after it began)
            await conn.execute(
                "UPDATE console_sessions SET created_at = $1, expires_at = $2",
                datetime.now(UTC) - timedelta(days=2),
                datetime.now(UTC) - timedelta(days=1),
            )
        finally:
            await conn.close()
        expired = await http.get("/v1/tasks")
        assert expired.status_code == 401 and "expired" in expired.text
        await http.aclose()
