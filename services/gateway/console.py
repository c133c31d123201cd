"""The web console: its files (served as they are in the repository) and the sign-in session.

Signing in exchanges an API token (in the body, never a URL) for an HttpOnly, SameSite=Strict
cookie; the page reads its CSRF token from `GET /v1/session` and sends it on every change.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.staticfiles import StaticFiles

from services.auditor import CHART_STYLE
from services.gateway.access import SESSION_COOKIE, Role, session_expiry
from services.gateway.deps import Caller, Credential, Gw, errors, read_body, usable
from services.gateway.errors import ApiError, forbidden
from services.gateway.sessions import end_session, open_session
from services.gateway.state import Gateway

CONSOLE_DIR = Path(__file__).with_name("console")
# The page runs only its own files: no inline script, nothing from another origin, no frames.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; img-src 'self' data:;"
    " style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
SIGN_IN_MAX_BYTES = 4096

router = APIRouter()


class Place(BaseModel):
    """A district or an enterprise, by id and name, for the console's labels."""

    id: str
    name: str
    kind: str


class SessionInfo(BaseModel):
    """Who is signed in, the CSRF token the page echoes, and the registry's names."""

    token_id: str
    enterprise: str
    role: Role
    csrf_token: str | None
    expires_at: datetime | None
    province: str
    timezone: str
    districts: list[Place]
    enterprises: list[Place]


def static_files() -> StaticFiles:
    """The console's scripts and styles, mounted at /console/static."""
    return StaticFiles(directory=CONSOLE_DIR)


@router.get("/console", include_in_schema=False)
async def console_page() -> FileResponse:
    """The console's one page; it signs in and draws each view itself."""
    return FileResponse(CONSOLE_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/console/charts.css", include_in_schema=False)
async def chart_style() -> Response:
    """The auditor's charts' style, from the auditor itself: the report and the page agree."""
    return Response(CHART_STYLE, media_type="text/css", headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/console")


class SignIn(BaseModel):
    """The body of a sign-in: the API token to exchange for a session cookie."""

    token: str = Field(min_length=1, max_length=200)


@router.post(
    "/v1/session",
    response_model=SessionInfo,
    responses=errors(400, 413, 415),
    tags=["console"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SignIn.model_json_schema()}},
        }
    },
)
async def sign_in(request: Request, gw: Gw) -> JSONResponse:
    """Exchange an API token (`{"token": "sp_..."}`) for the console's session cookie."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        # A form from another site cannot send JSON: this refuses a forged sign-in too.
        raise ApiError(415, "unsupported_media_type", "content-type", "send application/json")
    token = _token_of(await read_body(request, SIGN_IN_MAX_BYTES))
    now = gw.clock()
    found = usable(await gw.holder(token), now)
    if found.principal.role is Role.PUBLISHER:
        raise forbidden("a publisher token publishes reports; the console is for people")
    ends = session_expiry(now, gw.settings.gateway_session_hours, found.expires_at)
    async with gw.database() as conn:
        made = await open_session(
            conn=conn, token_id=found.principal.token_id, now=now, expires_at=ends
        )
    who = found.principal
    body = _info(gw, who.token_id, who.enterprise, who.role, made.csrf_token, ends)
    answer = JSONResponse(body, headers={"Cache-Control": "no-store"})
    answer.set_cookie(
        SESSION_COOKIE,
        made.secret,
        max_age=max(1, int((ends - now).total_seconds())),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(gw, request),
    )
    return answer


@router.get("/v1/session", response_model=SessionInfo, responses=errors(), tags=["console"])
async def current_session(request: Request, who: Caller, gw: Gw) -> JSONResponse:
    """Who this cookie (or token) is, and the CSRF token its page sends with each change."""
    credential: Credential = request.state.credential
    body = _info(gw, who.token_id, who.enterprise, who.role, credential.csrf_token, None)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.delete("/v1/session", status_code=204, responses=errors(), tags=["console"])
async def sign_out(request: Request, who: Caller, gw: Gw) -> Response:
    """End this console session (the cookie stops working at once) and drop the cookie."""
    credential: Credential = request.state.credential
    if credential.kind == "session":
        async with gw.database() as conn:
            await end_session(conn=conn, secret=credential.secret, now=gw.clock())
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer


def _token_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "invalid_json", "", "the body is not JSON") from None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        raise ApiError(422, "invalid_request", "token", "an API token, as a string, is required")
    return token.strip()


def _secure(gw: Gateway, request: Request) -> bool:
    setting = gw.settings.gateway_cookie_secure
    return setting == "always" or (setting == "auto" and request.url.scheme == "https")


def _info(
    gw: Gateway,
    token_id: str,
    enterprise: str,
    role: Role,
    csrf_token: str | None,
    expires_at: datetime | None,
) -> dict[str, Any]:
    registry = gw.registry
    return SessionInfo(
        token_id=token_id,
        enterprise=enterprise,
        role=role,
        csrf_token=csrf_token,
        expires_at=expires_at,
        province=registry.province,
        timezone=registry.timezone,
        districts=[Place(id=d.id, name=d.name, kind=d.kind) for d in registry.districts],
        enterprises=[Place(id=e.id, name=e.name, kind=e.kind) for e in registry.enterprises],
    ).model_dump(mode="json")
