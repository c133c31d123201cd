"""`POST /v1/integrations/alertmanager`: Prometheus Alertmanager's webhook. Each alert is
mapped to a report (`alert_mapping`) and published in the token's enterprise's name exactly
as one report of a batch is, with one result per alert in the answer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from schemas.errors import problems_from
from schemas.registry import Registry
from services.gateway.alert_mapping import (
    Alert,
    AlertmanagerPayload,
    UnmappedAlert,
    alert_report,
    alert_report_id,
)
from services.gateway.alert_rules import AlertRules
from services.gateway.batch import ItemResult, check_count, summary
from services.gateway.deps import Caller, Gw, errors, json_body, read_body
from services.gateway.errors import ApiError
from services.gateway.intake import Admitted, admit_object, checked_object, parse_json
from services.gateway.publish import BatchItemAnswer, accept_admitted, may_publish

router = APIRouter()


class AlertAnswer(BatchItemAnswer):
    """One alert's outcome: its fingerprint and report id, then what a batch's report gets."""

    fingerprint: str
    report_id: str


class AlertmanagerAnswer(BaseModel):
    """A notification's outcome: counts, then one result per alert in the payload's order."""

    accepted: int
    duplicate: int
    refused: int
    results: list[AlertAnswer]


@router.post(
    "/v1/integrations/alertmanager",
    response_model=AlertmanagerAnswer,
    responses=errors(400, 413),
    tags=["integrations"],
    openapi_extra=json_body(AlertmanagerPayload.__name__, required=True),
)
async def alertmanager_webhook(request: Request, who: Caller, gw: Gw) -> JSONResponse:
    """Take an Alertmanager notification (webhook payload version 4, `send_resolved: true`):
    each alert becomes the line fault or capacity alarm the mapping file
    (`SIGNALPOST_GATEWAY_ALERTMANAGER_MAPPING`) makes of its labels, published in the token's
    enterprise's name (a firing alert's report id `am-<fingerprint>-<startsAt, epoch s>`, a
    resolved one's the same with `-resolved`: its clear). A resend of an alert is a
    `duplicate`; an alert no rule maps, or about another enterprise's network, is `refused`
    with the field and the reason, the others taken all the same. An alert Kafka did not take
    makes the whole answer a 503, which Alertmanager retries."""
    may_publish(who)
    body = await read_body(request, gw.settings.gateway_batch_max_bytes)
    payload = payload_of(body)
    check_count(len(payload.alerts), max_items=gw.settings.gateway_batch_max_items)
    now = gw.clock()
    admitted = [
        admit_alert(
            a, rules=gw.alert_rules, registry=gw.registry, enterprise=who.enterprise, now=now
        )
        for a in payload.alerts
    ]
    results = await accept_admitted(gw, admitted)
    unsent = first_unavailable(results)
    if unsent is not None:
        raise unsent
    answer = summary(results)
    for result, alert in zip(answer["results"], payload.alerts, strict=True):
        result.update(fingerprint=alert.fingerprint, report_id=alert_report_id(alert))
    return JSONResponse(answer, status_code=200)


def first_unavailable(results: Sequence[ItemResult]) -> ApiError | None:
    """The first alert not sent for an outage (503), if any. Alertmanager retries only on a
    5xx, so such an alert makes the whole notification a 503: on the retry the alerts taken
    now are duplicates, and the others are sent."""
    return next((r.error for r in results if r.error is not None and r.error.status == 503), None)


def payload_of(body: bytes) -> AlertmanagerPayload:
    """The notification in `body`: bad UTF-8 or JSON is a 400, anything but a payload a 422."""
    raw, escaped = parse_json(body)
    if isinstance(raw, dict):
        checked_object(raw, escaped=escaped)  # a lone surrogate could not be sent on
    try:
        return AlertmanagerPayload.model_validate(raw)
    except ValidationError as error:
        raise ApiError.from_problems(422, "invalid_payload", problems_from(error)) from None


def admit_alert(
    alert: Alert, *, rules: AlertRules, registry: Registry, enterprise: str, now: datetime
) -> Admitted | ApiError:
    """The alert's report admitted as `enterprise`'s, or the error that refuses it."""
    try:
        raw = alert_report(alert, rules, now=now)
        admitted = admit_object(raw, kind=raw["kind"], enterprise=enterprise, registry=registry)
    except UnmappedAlert as unmapped:
        return ApiError(422, "unmapped_alert", unmapped.field, unmapped.reason)
    except ApiError as error:
        return error
    # A resend carries a new reported_at, and often new annotations (a `$value`): the first
    # report of an occurrence stands, and every resend is its duplicate, not a 409.
    occurrence = hashlib.sha256(f"alertmanager:{admitted.report.report_id}".encode()).digest()
    return replace(admitted, digest=occurrence)
