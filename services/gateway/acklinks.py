"""Acknowledge links from the notifier's e-mails: GET shows what the link would do, POST does
it, once. The signed token is the only credential.

GET never acts: mail scanners and link previewers fetch every link in a message, and an
acknowledgement must come from a person pressing the page's button. The first POST claims
the link (its `ack_links` row, in the same transaction as the send) and sends the incident
manager an `AcknowledgeIncident` as the person, with a command id derived from the
notification's, so that not even a retried POST can acknowledge twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from schemas.commands import AcknowledgeIncident
from schemas.errors import ErrorBody
from services.gateway import store
from services.gateway.ackpage import PAGE_HEADERS, confirm_page, refused_page, sent_page
from services.gateway.commands import CommandAnswer
from services.gateway.deps import Gw
from services.gateway.errors import ApiError
from services.gateway.incidents import send_command
from services.gateway.state import Gateway
from services.runtime.acklinks import AckClaim, AckLinkError, read_ack_token

router = APIRouter()
Token = Annotated[str, Path(description="The link's signed token, as the e-mail gave it.")]
ANSWER_STATUS = {"accepted": 200, "rejected": 409, "pending": 202}
# The start of AckLinkError's reason for a genuine link past its time (services/runtime/acklinks).
EXPIRED = "the link expired"
COMMAND_PREFIX = "ack:"


class AckLink(BaseModel):
    """What a genuine, unused link acknowledges: which task, as whom, until when."""

    notification_id: str
    incident_id: str
    incident_key: str
    task_id: str
    enterprise: str
    person: str
    person_name: str
    expires_at: datetime


def _documented(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description, "content": {"text/html": {}}}


def _refusals() -> dict[int | str, dict[str, Any]]:
    return {
        403: _documented(ErrorBody, "Not a genuine acknowledge link (forged or malformed)."),
        404: _documented(ErrorBody, "No such route (a token cannot hold `/`)."),
        410: _documented(ErrorBody, "The link has expired, or was used already (and when)."),
        503: _documented(ErrorBody, "Kafka or PostgreSQL is unavailable; try again."),
    }


def command_id_of(notification_id: str) -> str:
    """The acknowledgement's command id: the notification's, or its digest when too long."""
    named = COMMAND_PREFIX + notification_id
    if len(named) <= 128:
        return named
    return COMMAND_PREFIX + hashlib.sha256(notification_id.encode()).hexdigest()


def refusal(error: AckLinkError) -> ApiError:
    """A link read_ack_token refused: 410 if it was genuine but is past its time, else 403."""
    if error.reason.startswith(EXPIRED):
        return ApiError(410, "link_expired", "token", error.reason)
    return ApiError(403, "link_refused", "token", error.reason)


def used(at: datetime) -> ApiError:
    """410 for a link used once already."""
    return ApiError(410, "link_used", "token", f"the link was already used at {at.isoformat()}")


def acknowledgement(claim: AckClaim, *, now: datetime) -> AcknowledgeIncident:
    """The command a link sends: its enterprise acknowledges the incident, as its person."""
    return AcknowledgeIncident(
        command_id=command_id_of(claim.notification_id),
        incident_id=claim.incident_id,
        incident_key=claim.incident_key,
        issued_by=claim.enterprise,
        issued_at=now,
        dispatcher=claim.person_name,
        note=f"acknowledged from the link of notification {claim.notification_id}",
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _answer(request: Request, status: int, body: BaseModel, html: str) -> Response:
    if _wants_json(request):
        return JSONResponse(body.model_dump(mode="json"), status_code=status)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _refused(request: Request, error: ApiError) -> Response:
    reason = "; ".join(p.reason for p in error.problems)
    return _answer(request, error.status, error.body(), refused_page(error.status, reason))


def claim_of(token: str, *, secret: str, now: datetime) -> AckClaim:
    """The claim of a genuine, unexpired link; the refusal (403, 410) otherwise."""
    # read_ack_token's hmac.compare_digest raises TypeError on a non-ASCII text, and a
    # token is base64url: anything else is no link.
    if not token.isascii():
        raise ApiError(403, "link_refused", "token", "not an acknowledge link")
    try:
        return read_ack_token(token, secret=secret, now=now)
    except AckLinkError as error:
        raise refusal(error) from None


def _claim(token: str, gw: Gateway) -> AckClaim:
    return claim_of(token, secret=gw.ack_link_secret, now=gw.clock())


@router.get(
    "/v1/ack/{token}",
    response_model=AckLink,
    responses={200: {"content": {"text/html": {}}}, **_refusals()},
    tags=["acknowledge links"],
)
async def ack_link_page(token: Token, request: Request, gw: Gw) -> Response:
    """The link's page: which incident and task, as whom, and a button that acknowledges it.
    Fetching it changes nothing. `Accept: application/json` answers JSON."""
    try:
        claim = _claim(token, gw)
        async with gw.database() as conn:
            first = await store.link_used_at(conn=conn, notification_id=claim.notification_id)
        if first is not None:
            raise used(first)
    except ApiError as error:
        return _refused(request, error)
    return _answer(request, 200, AckLink(**claim.model_dump()), confirm_page(claim))


@router.post(
    "/v1/ack/{token}",
    response_model=CommandAnswer,
    responses={
        200: {"content": {"text/html": {}}, "description": "Acknowledged."},
        202: _documented(CommandAnswer, "Sent; the incident manager has not answered yet."),
        409: _documented(CommandAnswer, "The incident manager refused it (with its reason)."),
        **_refusals(),
    },
    tags=["acknowledge links"],
)
async def use_ack_link(token: Token, request: Request, gw: Gw) -> Response:
    """Acknowledge the link's task as its person, once: the incident manager's answer (200
    accepted, 409 refused, 202 not yet); a second use 410."""
    try:
        claim = _claim(token, gw)
        answer = await _acknowledge(gw, claim)
    except ApiError as error:
        return _refused(request, error)
    reason = None if answer.error is None else "; ".join(p.reason for p in answer.error.problems)
    page = sent_page(claim, answer.outcome, reason)
    return _answer(request, ANSWER_STATUS[answer.outcome], answer, page)


async def _acknowledge(gw: Gateway, claim: AckClaim) -> CommandAnswer:
    """Claim the link and send its command in one transaction: a send that fails leaves the
    link unused, and a concurrent second use waits for this one, then finds it used."""
    gw.kafka()  # no link is claimed for a send that cannot happen
    now = gw.clock()
    wait = gw.settings.gateway_kafka_timeout_seconds + gw.settings.gateway_command_wait_seconds
    async with gw.database(extra_s=wait) as conn, conn.transaction():
        first = await store.claim_link(
            conn=conn,
            notification_id=claim.notification_id,
            task_id=claim.task_id,
            person=claim.person,
            now=now,
        )
        if first is not None:
            raise used(first)
        return await send_command(gw, acknowledgement(claim, now=now), resent=False)
