"""What every route shares: the gateway, the calling token's principal, bounded bodies, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.errors import ErrorBody
from services.gateway.access import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    csrf_problem,
    is_expired,
    last_use_due,
)
from services.gateway.errors import ApiError, unauthorized
from services.gateway.sessions import Session, session_of
from services.gateway.state import Gateway
from services.gateway.tokens import Holder, principal_of, record_use

bearer = HTTPBearer(auto_error=False, description="A token from `signalpost tokens create`.")


async def gateway_of(request: Request) -> Gateway:
    """The app's shared parts (async: FastAPI would run a plain function in a thread)."""
    return request.app.state.gateway


Gw = Annotated[Gateway, Depends(gateway_of)]


@dataclass(frozen=True)
class Credential:
    """What a request showed: a bearer token, or the console's session cookie."""

    kind: Literal["token", "session"]
    secret: str
    csrf_token: str | None = None  # a session's, for the page to echo


async def caller(
    request: Request,
    gw: Gw,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The principal of the request's token or console session, read from PostgreSQL on every
    request: a revoke acts at once. A bearer header wins over a cookie.

    An unknown and a revoked secret get the same answer. An expired one is told so: only
    its holder can show it, and it has lost nothing it did not know by being told.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if credentials is not None:
        credential = Credential("token", credentials.credentials)
        found = await gw.holder(credential.secret)  # with the concurrent requests' tokens
    elif cookie:
        session = await _session(request, gw, cookie)
        credential = Credential("session", cookie, session and session.csrf_token)
        found = session and session.holder
    else:
        raise unauthorized("missing `Authorization: Bearer <token>` header or console sign-in")
    now = gw.clock()
    found = usable(found, now)
    if last_use_due(found.last_used_at, now):
        async with gw.database() as conn:
            await record_use(conn=conn, holder=found, now=now)
    request.state.credential = credential
    return found.principal


def usable(found: Holder | None, now: datetime) -> Holder:
    """The holder of a live, unexpired token, else 401 (an expired one is told so)."""
    if found is None:
        raise unauthorized()
    if found.expired(now):
        raise unauthorized("token expired; ask for a new one (`signalpost tokens create`)")
    return found


async def _session(request: Request, gw: Gateway, cookie: str) -> Session | None:
    """The live session of the cookie; a forged-looking state change is refused (403)."""
    async with gw.database() as conn:
        session = await session_of(conn=conn, secret=cookie)
    if session is None:
        return None
    if is_expired(session.expires_at, gw.clock()):
        raise unauthorized("console session expired; sign in again")
    headers = request.headers
    host = headers.get("host", "")
    forged = csrf_problem(
        request.method, headers.get(CSRF_HEADER), session.csrf_token, headers.get("origin"), host
    )
    if forged is not None:
        raise ApiError(403, "csrf_failed", CSRF_HEADER, forged)
    return session


async def still_holds(gw: Gateway, credential: Credential) -> Principal | None:
    """Whether the credential a stream was opened with still works: not revoked, ended or
    expired. Checked by open streams at every heartbeat."""
    now = gw.clock()
    async with gw.database() as conn:
        if credential.kind == "token":
            return await principal_of(conn=conn, secret=credential.secret, now=now)
        session = await session_of(conn=conn, secret=credential.secret)
    if session is None or session.expired(now):
        return None
    return session.holder.principal


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


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, all in the shared shape."""
    return {s: {"model": ErrorBody} for s in (401, 403, 422, 503, *statuses)}


def json_body(component: str, *, required: bool) -> dict[str, Any]:
    """OpenAPI for a JSON body the route reads raw: `component` is put in by document_bodies."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}
