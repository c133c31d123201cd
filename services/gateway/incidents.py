"""Incidents: the recorded timeline, and the commands a dispatcher sends with their answers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from schemas.chain import verify_chain
from schemas.codec import encode
from schemas.envelope import ID_PATTERN
from schemas.routing import RoutingDecision
from services.gateway import store
from services.gateway.access import Principal
from services.gateway.clocks import (
    DeadlineClock,
    Escalation,
    OverallClocks,
    Told,
    deadline_clocks,
    escalations,
    first_routing,
    met_in_time,
    overall_clocks,
    told,
)
from services.gateway.commands import ACTIONS, CommandAnswer, build_command
from services.gateway.deps import Caller, Gw, errors, json_body, read_body
from services.gateway.errors import forbidden, not_found
from services.gateway.explanations import explanation_for
from services.gateway.outcomes import CommandOutcome, SeenIncident
from services.gateway.state import Gateway
from services.gateway.tasks import readable_feeds
from services.recorder import notification_attempts, timeline
from services.runtime.topics import INCIDENT_COMMANDS, topic_name

router = APIRouter()
IncidentId = Annotated[str, Path(pattern=ID_PATTERN, description="The incident's id.")]
# A filter's value: what the recorder stores there is an id or a slug, never free text.
Name = Annotated[str | None, Query(pattern=ID_PATTERN)]


class TimelineEvent(BaseModel):
    """One recorded lifecycle event, with the time it happened and the time it was recorded."""

    incident_id: str
    incident_key: str
    sequence: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    event: dict[str, Any]


class Person(BaseModel):
    """Who was told: the person of the duty roster, by enterprise, id and name."""

    enterprise: str
    id: str
    name: str


class Notification(BaseModel):
    """One attempt to tell a person of the incident (NotificationAttempted), as recorded."""

    attempt_id: str
    notification_id: str = Field(description="The same on every retry of one notification.")
    attempt: int
    reason: str = Field(description="`new_task`, `deadline_warning`, `escalation`, ...")
    incident_id: str
    task_id: str | None
    enterprise: str
    person: Person
    channel: str = Field(description="`webhook`, `email` or `sms`.")
    address: str
    priority: str
    caused_by: str = Field(description="The lifecycle event the notification tells of.")
    caused_at: datetime
    attempted_at: datetime
    delay_s: float = Field(description="Seconds from `caused_at` to `attempted_at`.")
    outcome: str = Field(description="`delivered`, `failed`, `dead_lettered` or `suppressed`.")
    detail: str | None


class Clocks(BaseModel):
    """Each task's deadlines, and the incident's time to acknowledge and to resolve."""

    deadlines: list[DeadlineClock]
    overall: OverallClocks


class Timeline(BaseModel):
    """An incident's recorded history in order, whether its hash chain holds, and what the
    incident page shows of it: clocks, escalations, who was told, how and why it was routed."""

    incident: str
    chain: str
    events: list[TimelineEvent]
    clocks: Clocks
    escalations: list[Escalation]
    told: list[Told]
    routing: RoutingDecision | None = Field(description="The first routing's decision.")
    explanation: dict[str, Any] | None = Field(
        description="`signalpost route --explain --json` of the opening report, with the "
        "router's rule set when it is the one the incident was routed with."
    )
    explanation_unavailable: str | None = Field(
        default=None, description="Why there is no explanation."
    )
    notifications: list[Notification] = Field(
        default=[],
        description="Every attempt to tell a person of it, in time order (a dispatcher's: to "
        "its own enterprise's people).",
    )


class IncidentSummary(BaseModel):
    """One recorded incident as the console's list shows it."""

    incident_id: str
    incident_key: str
    kind: str | None
    district: str | None
    primary: str | None = Field(description="The enterprise holding it.")
    priority: str | None
    status: str
    summary: str | None
    opened_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    ack_met: bool | None = Field(description="Acknowledged in time; None: no verdict yet.")
    resolve_met: bool | None = Field(description="Resolved in time; None: no verdict yet.")
    escalation_level: int
    events: int
    chain: str = Field(description="`intact`, or `broken at <event>: <reason>`.")


class IncidentList(BaseModel):
    """A page of incidents, newest first, and the cursor of the next page (None: the last)."""

    incidents: list[IncidentSummary]
    next_before: str | None = Field(description="Pass as `before` for the next page.")


@router.get(
    "/v1/incidents", response_model=IncidentList, responses=errors(403, 404), tags=["incidents"]
)
async def list_incidents(
    who: Caller,
    gw: Gw,
    district: Name = None,
    enterprise: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Only incidents this enterprise takes part in."),
    ] = None,
    kind: Name = None,
    status: Name = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="The previous page's `next_before`.")
    ] = None,
):
    """Recorded incidents, newest first: every one for the Department and auditors, those its
    enterprise takes part in for a dispatcher."""
    # Whose incidents: those whose task feeds the caller reads (its own, or all), refused alike.
    scope = readable_feeds(who, gw, enterprise)
    party = None if who.sees_everything and enterprise is None else scope[0]
    async with gw.database() as conn:
        found, rows = await store.recorded_incidents(
            conn=conn,
            district=district,
            kind=kind,
            status=status,
            party=party,
            before=before,
            limit=limit,
        )
    events = {i: list(group) for i, group in groupby(map(dict, rows), itemgetter("incident_id"))}
    now = gw.clock()
    items = [_summary(dict(row), events.get(row["incident_id"], []), now) for row in found]
    last = items[-1]["incident_id"] if len(items) == limit else None
    return {"incidents": items, "next_before": last}


def _summary(row: dict[str, Any], rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    heads = {row["incident_id"]: (row["last_sequence"], row["last_hash"])}
    ended = row["closed_at"]
    return {
        **{name: row[name] for name in IncidentSummary.model_fields if name in row},
        "primary": row["primary_enterprise"],
        "ack_met": met_in_time(
            row["ack_due_at"], row["acknowledged_at"] or row["resolved_at"], ended, now
        ),
        "resolve_met": met_in_time(row["resolve_due_at"], row["resolved_at"], ended, now),
        "events": row["event_count"],
        "chain": chain_status(rows, heads),
    }


@router.get(
    "/v1/incidents/{incident_id}",
    response_model=Timeline,
    responses=errors(404),
    tags=["incidents"],
)
async def incident_timeline(incident_id: IncidentId, who: Caller, gw: Gw):
    """The incident's recorded timeline (by id or key), if the caller may see it."""
    if not who.may_read_tasks:
        raise forbidden("a publisher token reads no incidents")
    async with gw.database() as conn:
        rows = [dict(r) for r in await timeline(conn=conn, incident=incident_id)]
        told = await notification_attempts(conn=conn, incident=incident_id)
    if not who.sees_everything:
        mine = {i for i, named in store.participants(rows).items() if who.enterprise in named}
        rows = [r for r in rows if r["incident_id"] in mine]
    if not rows:
        raise not_found("incident_id", f"no recorded incident {incident_id} that you may see")
    events = [{**r, "event": json.loads(r["event"])} for r in rows]
    page = incident_page(_one_incident([e["event"] for e in events], incident_id), gw)
    shown = {r["incident_id"] for r in rows}
    notifications = [
        _notification(dict(a))
        for a in told
        if a["incident_id"] in shown
        and (who.sees_everything or a["person_enterprise"] == who.enterprise)
    ]
    body = {"incident": incident_id, "chain": chain_status(rows), "events": events}
    return body | page | {"notifications": notifications}


def _notification(row: dict[str, Any]) -> dict[str, Any]:
    """A notification_attempts row in the answer's shape: the person as one object."""
    person = {n: row[f"person_{n}"] for n in Person.model_fields}
    return {n: row[n] for n in Notification.model_fields if n != "person"} | {"person": person}


def chain_status(
    rows: list[dict[str, Any]], heads: dict[str, tuple[int, str]] | None = None
) -> str:
    """`intact`, or where and why the incident_events rows' hash chain breaks."""
    broken = verify_chain(rows, heads)
    return "intact" if broken is None else f"broken at {broken.event_id}: {broken.reason}"


def _one_incident(events: list[dict[str, Any]], named: str) -> list[dict[str, Any]]:
    """The events of the incident `named` by id, or by key its latest (a key may reopen)."""
    ids = {e["incident_id"]: e["occurred_at"] for e in reversed(events)}  # each one's first
    chosen = named if named in ids else max(ids, key=lambda i: ids[i])
    return [e for e in events if e["incident_id"] == chosen]


def incident_page(events: list[dict[str, Any]], gw: Gateway) -> dict[str, Any]:
    """What the incident page shows beside the timeline, from its events in order."""
    explanation, unavailable = explanation_for(events, gw.registry)
    return {
        "clocks": {
            "deadlines": deadline_clocks(events, gw.clock()),
            "overall": overall_clocks(events),
        },
        "escalations": escalations(events),
        "told": told(events),
        "routing": first_routing(events),
        "explanation": explanation,
        "explanation_unavailable": unavailable,
    }


async def find_incident(gw: Gateway, incident_id: str, who: Principal) -> SeenIncident | None:
    """The incident as recorded or as heard on the log, if `who` may act on it; waits briefly
    for one just opened.

    An incident `who` may not see is waited for exactly like one that does not exist, so
    neither the answer nor its time tells another enterprise's incident from an unknown id.
    """
    _, listener = gw.kafka()
    deadline = time.monotonic() + gw.settings.gateway_lookup_wait_seconds
    async with gw.database() as conn:
        recorded = await store.recorded_incident(conn=conn, incident_id=incident_id)
    while True:
        heard = listener.incidents.get(incident_id)
        found = recorded or heard
        if found is not None:
            seen = SeenIncident(
                found.incident_key,
                (recorded.enterprises if recorded else set())
                | (heard.enterprises if heard else set()),
            )
            if who.sees_everything or who.enterprise in seen.enterprises:
                return seen
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.05)


def _commander(action: str):
    async def act(incident_id: IncidentId, request: Request, who: Caller, gw: Gw) -> JSONResponse:
        if not who.may_command:
            raise forbidden(f"a {who.role} token cannot act on incidents")
        if action == "reassign" and not who.may_reassign:
            raise forbidden("only the Department reassigns incidents")
        body = await read_body(request, gw.settings.gateway_max_body_bytes)
        incident = await find_incident(gw, incident_id, who)
        if incident is None:
            raise not_found("incident_id", f"no incident {incident_id} that you may act on")
        command = build_command(
            action,
            body,
            incident_id=incident_id,
            incident_key=incident.incident_key,
            issued_by=who.enterprise,
            now=gw.clock(),
            new_id=(new_id := f"gw-{uuid.uuid4().hex}"),
        )
        answer = await send_command(gw, command, resent=command.command_id != new_id)
        gw.metrics.commands.labels(action, answer.outcome).inc()
        status = {"accepted": 200, "rejected": 409, "pending": 202}[answer.outcome]
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    act.__name__ = f"{action}_incident"
    act.__doc__ = (
        f"Send `{ACTIONS[action].__name__}` and wait briefly for the incident manager's answer: "
        "200 accepted, 409 rejected (with the reason), 202 still pending."
    )
    return act


async def send_command(gw: Gateway, command: Any, *, resent: bool) -> CommandAnswer:
    """Send the command and wait briefly for its outcome; a resent id gets its first outcome.

    The incident manager says nothing to a command id it has seen, so a resent id is looked
    up (the listener's memory, then the recorded timeline) instead of waited for.
    """
    _, listener = gw.kafka()
    outcome = await _recorded_outcome(gw, command) if resent else None
    key = (command.incident_id, command.command_id)
    future = listener.expect(key)  # done at once if heard since start
    try:
        if outcome is None and not future.done():
            topic = topic_name(INCIDENT_COMMANDS, gw.settings.topic_prefix)
            key = command.incident_key.encode()
            await gw.send(topic, encode(command), key=key, deadline=gw.deadline())
            await asyncio.wait({future}, timeout=gw.settings.gateway_command_wait_seconds)
            if not future.done() and resent:
                outcome = await _recorded_outcome(gw, command)  # recorded meanwhile?
        if outcome is None and future.done():
            outcome = future.result()
    finally:
        listener.forget(key, future)
    named = {"command_id": command.command_id, "incident_id": command.incident_id}
    if outcome is None:
        return CommandAnswer(**named, outcome="pending")
    return CommandAnswer(
        **named,
        outcome="accepted" if outcome.accepted else "rejected",
        events=list(outcome.event_types),
        error=outcome.error,
    )


async def _recorded_outcome(gw: Gateway, command: Any) -> CommandOutcome | None:
    async with gw.database() as conn:
        return await store.recorded_outcome(
            conn=conn, incident_id=command.incident_id, command_id=command.command_id
        )


for _action, _command in ACTIONS.items():
    router.add_api_route(
        f"/v1/incidents/{{incident_id}}/{_action}",
        _commander(_action),
        methods=["POST"],
        response_model=CommandAnswer,
        responses={
            202: {"model": CommandAnswer},
            409: {"model": CommandAnswer},
            **errors(400, 404, 413),
        },
        tags=["incidents"],
        openapi_extra=json_body(f"{_command.__name__}Request", required=False),
    )
