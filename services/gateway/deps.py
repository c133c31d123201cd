"""What every route shares: the gateway, the calling token's principal, bounded bodies, errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.errors import ErrorBody
from services.gateway.access import Principal, last_use_due
from services.gateway.errors import ApiError, unauthorized
from services.gateway.state import Gateway
from services.gateway.tokens import record_use

bearer = HTTPBearer(auto_error=False, description="A token from `signalpost tokens create`.")


async def gateway_of(request: Request) -> Gateway:
    """The app's shared parts (async: FastAPI would run a plain function in a thread)."""
    return request.app.state.gateway


Gw = Annotated[Gateway, Depends(gateway_of)]


async def caller(
    gw: Gw, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    """The token's principal, read from PostgreSQL on every request: a revoke acts at once.

    An unknown and a revoked secret get the same answer. An expired one is told so: only
    its holder can show it, and it has lost nothing it did not know by being told.
    """
    if credentials is None:
        raise unauthorized("missing `Authorization: Bearer <token>` header")
    now = gw.clock()
    # Looked up together with the concurrent requests' tokens: one query for them all.
    found = await gw.holder(credentials.credentials)
    if found is None:
        raise unauthorized()
    if found.expired(now):
        raise unauthorized("token expired; ask for a new one (`signalpost tokens create`)")
    if last_use_due(found.last_used_at, now):
        async with gw.database() as conn:
            await record_use(conn=conn, holder=found, now=now)
    return found.principal


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
