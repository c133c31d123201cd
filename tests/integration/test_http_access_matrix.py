"""Every route of the gateway × every kind of caller × own or another enterprise's resource,
against the real gateway, checked against a table written out by hand from the access rules
of DESIGN.md section 2 (never from the gateway's own access code).

Resources (tests/support/seeded_gateway.py): inc-1 and its task are VNPT's, inc-2 and its
task Viettel's; inc-404 does not exist. A report is "own" when it is VNPT's (a line or
resource of VNPT's; for parcels, the Điện Bàn post office's), sent in its owner's name;
"other" is Viettel's (the Hội An post office's) in its owner's name; "dept" is the
Department's report about the "own" resource, in the Department's name.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from schemas.example_reports import report
from services.gateway import GatewaySettings
from services.gateway.access import Role
from services.gateway.service import build
from services.gateway.sse import EventDecoder
from services.gateway.tokens import create_token, revoke_token
from services.runtime import db
from services.runtime.settings import load_settings
from tests.support.alert_payloads import LINE_DOWN, alert, notification
from tests.support.notification_samples import ack_token
from tests.support.seeded_gateway import (
    ACTION_BODIES,
    DEPARTMENT,
    VIETTEL,
    VNPT,
    seeded_gateway,
)

pytestmark = pytest.mark.integration
DIEN_BAN, HOI_AN = "buu-dien-dien-ban", "buu-dien-hoi-an"
# Every caller: (enterprise, role, token state): VNPT's publisher and dispatcher, the Điện Bàn
# post office's publisher, the Department's supervisor, auditor and publisher; no token, an
# unknown one, an expired and a revoked one (VNPT dispatchers').
CALLERS = {
    "pub": (VNPT, Role.PUBLISHER, "live"),
    "disp": (VNPT, Role.DISPATCHER, "live"),
    "post": (DIEN_BAN, Role.PUBLISHER, "live"),
    "sup": (DEPARTMENT, Role.SUPERVISOR, "live"),
    "aud": (DEPARTMENT, Role.AUDITOR, "live"),
    "dpub": (DEPARTMENT, Role.PUBLISHER, "live"),
    "none": None,
    "bad": (VNPT, Role.DISPATCHER, "unknown"),
    "exp": (VNPT, Role.DISPATCHER, "expired"),
    "rev": (VNPT, Role.DISPATCHER, "revoked"),
}
# The expected status of every cell. Columns in the order of CALLERS. "-": the route has no
# resource. Publishing is for publishers, in their own name, about their own (the Department:
# about anyone's); tasks and timelines for everyone but publishers, a dispatcher seeing only
# its enterprise's (another's: 403 when asked by name, 404 like an unknown incident); commands
# for the incident's dispatchers and the Department, reassigning for the Department only.
# A batch (`.../batch`, one report in it) is refused whole for a caller that may not publish;
# a publisher's is answered 200 with the report's own outcome, written bNNN: b202 accepted,
# b403 refused with 403 (the single route's status for the same report).
# The SLA report is the auditors' and the Department's, and a dispatcher's of its own
# enterprise's incidents. Health, metrics, the API documents and the console's files are
# public. Alertmanager's webhook is a publisher's, each alert about the line of the scope's
# operator ("own": VNPT's, "other": Viettel's), answered like a batch's report. An acknowledge
# link's signed token is its only credential: a genuine one (a new one each cell) is honoured
# whoever asks, with or without a bearer token; one signed with another key never is. Signing
# in to the console (the token in the body) is for people: not publishers; no token is a 422.
TABLE = """
method route                                scope    pub disp post sup aud dpub none bad exp rev
POST /v1/reports/line_fault                 own      202 403 403 403 403 403 401 401 401 401
POST /v1/reports/line_fault                 other    403 403 403 403 403 403 401 401 401 401
POST /v1/reports/line_fault                 dept     403 403 403 403 403 202 401 401 401 401
POST /v1/reports/capacity_alarm             own      202 403 403 403 403 403 401 401 401 401
POST /v1/reports/capacity_alarm             other    403 403 403 403 403 403 401 401 401 401
POST /v1/reports/capacity_alarm             dept     403 403 403 403 403 202 401 401 401 401
POST /v1/reports/suspicious_parcel          own      403 403 202 403 403 403 401 401 401 401
POST /v1/reports/suspicious_parcel          other    403 403 403 403 403 403 401 401 401 401
POST /v1/reports/suspicious_parcel          dept     403 403 403 403 403 202 401 401 401 401
POST /v1/reports/{kind}                     own      202 403 403 403 403 403 401 401 401 401
POST /v1/reports/{kind}                     other    403 403 403 403 403 403 401 401 401 401
POST /v1/reports/{kind}                     dept     403 403 403 403 403 202 401 401 401 401
POST /v1/reports/{kind}                     unknown  404 404 404 404 404 404 401 401 401 401
POST /v1/reports/line_fault/batch           own      b202 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/line_fault/batch           other    b403 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/line_fault/batch           dept     b403 403 b403 403 403 b202 401 401 401 401
POST /v1/reports/capacity_alarm/batch       own      b202 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/capacity_alarm/batch       other    b403 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/capacity_alarm/batch       dept     b403 403 b403 403 403 b202 401 401 401 401
POST /v1/reports/suspicious_parcel/batch    own      b403 403 b202 403 403 b403 401 401 401 401
POST /v1/reports/suspicious_parcel/batch    other    b403 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/suspicious_parcel/batch    dept     b403 403 b403 403 403 b202 401 401 401 401
POST /v1/reports/{kind}/batch               own      b202 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/{kind}/batch               other    b403 403 b403 403 403 b403 401 401 401 401
POST /v1/reports/{kind}/batch               dept     b403 403 b403 403 403 b202 401 401 401 401
POST /v1/reports/{kind}/batch               unknown  404 404 404 404 404 404 401 401 401 401
POST /v1/integrations/alertmanager          own      b202 403 b403 403 403 b202 401 401 401 401
POST /v1/integrations/alertmanager          other    b403 403 b403 403 403 b202 401 401 401 401
GET /v1/tasks                               all      403 200 403 200 200 403 401 401 401 401
GET /v1/tasks                               own      403 200 403 200 200 403 401 401 401 401
GET /v1/tasks                               other    403 403 403 200 200 403 401 401 401 401
GET /v1/tasks                               unknown  403 403 403 404 404 403 401 401 401 401
GET /v1/tasks/stream                        all      403 200 403 200 200 403 401 401 401 401
GET /v1/tasks/stream                        own      403 200 403 200 200 403 401 401 401 401
GET /v1/tasks/stream                        other    403 403 403 200 200 403 401 401 401 401
GET /v1/tasks/stream                        unknown  403 403 403 404 404 403 401 401 401 401
GET /v1/incidents                           all      403 200 403 200 200 403 401 401 401 401
GET /v1/incidents                           own      403 200 403 200 200 403 401 401 401 401
GET /v1/incidents                           other    403 403 403 200 200 403 401 401 401 401
GET /v1/incidents                           unknown  403 403 403 404 404 403 401 401 401 401
GET /v1/incidents/{incident_id}             own      403 200 403 200 200 403 401 401 401 401
GET /v1/incidents/{incident_id}             other    403 404 403 200 200 403 401 401 401 401
GET /v1/incidents/{incident_id}             unknown  403 404 403 404 404 403 401 401 401 401
POST /v1/incidents/{incident_id}/acknowledge own     403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/acknowledge other   403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/acknowledge unknown 403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/start      own      403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/start      other    403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/start      unknown  403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/hold       own      403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/hold       other    403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/hold       unknown  403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/resolve    own      403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/resolve    other    403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/resolve    unknown  403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reject     own      403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reject     other    403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reject     unknown  403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/notes      own      403 202 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/notes      other    403 404 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/notes      unknown  403 404 403 404 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reassign   own      403 403 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reassign   other    403 403 403 202 403 403 401 401 401 401
POST /v1/incidents/{incident_id}/reassign   unknown  403 403 403 404 403 403 401 401 401 401
GET /v1/report                              all      403 200 403 200 200 403 401 401 401 401
GET /v1/ack/{token}                         valid    200 200 200 200 200 200 200 200 200 200
GET /v1/ack/{token}                         forged   403 403 403 403 403 403 403 403 403 403
POST /v1/ack/{token}                        valid    202 202 202 202 202 202 202 202 202 202
POST /v1/ack/{token}                        forged   403 403 403 403 403 403 403 403 403 403
GET /healthz                                -        200 200 200 200 200 200 200 200 200 200
GET /metrics                                -        200 200 200 200 200 200 200 200 200 200
GET /openapi.json                           -        200 200 200 200 200 200 200 200 200 200
GET /docs                                   -        200 200 200 200 200 200 200 200 200 200
GET /docs/oauth2-redirect                   -        200 200 200 200 200 200 200 200 200 200
GET /                                       -        307 307 307 307 307 307 307 307 307 307
GET /console                                -        200 200 200 200 200 200 200 200 200 200
GET /console/charts.css                     -        200 200 200 200 200 200 200 200 200 200
GET /docs/static/{path}                     -        200 200 200 200 200 200 200 200 200 200
GET /console/static/{path}                  -        200 200 200 200 200 200 200 200 200 200
POST /v1/session                            -        403 200 403 200 200 403 422 401 401 401
GET /v1/session                             -        200 200 200 200 200 200 401 401 401 401
DELETE /v1/session                          -        204 204 204 204 204 204 401 401 401 401
"""
# Whose tasks (and incidents) a caller allowed to read them is shown, per scope: by hand.
EVERYONE = {VNPT, VIETTEL}
VISIBLE = {
    ("disp", "all"): {VNPT},
    ("disp", "own"): {VNPT},
    **{(who, "all"): EVERYONE for who in ("sup", "aud")},
    **{(who, "own"): {VNPT} for who in ("sup", "aud")},
    **{(who, "other"): {VIETTEL} for who in ("sup", "aud")},
}
INCIDENT_OF = {"own": "inc-1", "other": "inc-2", "unknown": "inc-404"}
ACK_SECRET = "matrix-ack-link-secret"
SIGNED_WITH = {"valid": ACK_SECRET, "forged": "not-the-gateway-s-secret"}
ENTERPRISE_OF = {"all": None, "own": VNPT, "other": VIETTEL, "unknown": "no-such-enterprise"}


@dataclass(frozen=True)
class Cell:
    """One request: which route, on which resource, by whom, and the status it must get."""

    method: str
    template: str
    scope: str
    caller: str
    status: int
    item: int | None = None  # a batch's one report: the status it is answered with


def parse_table(text: str) -> list[Cell]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert header[3:] == list(CALLERS), "the table's columns are the callers, in order"
    return [
        Cell(method, template, scope, caller, *_status(status))
        for method, template, scope, *statuses in rows
        for caller, status in zip(CALLERS, statuses, strict=True)
    ]


def _status(cell: str) -> tuple[int, int | None]:
    """`403`: the request's status; `b403`: a batch answered 200, its report 403."""
    return (200, int(cell[1:])) if cell.startswith("b") else (int(cell), None)


CELLS = parse_table(TABLE)


def app_routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route of the application, included routers' too; HEAD, which
    Starlette answers for every GET by itself, left out."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, APIRoute | Route):
            found |= {(m, prefix + route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):  # static files: any path under it
            found.add(("GET", prefix + route.path + "/{path}"))
        else:
            context = route.include_context
            found |= app_routes(route.original_router.routes, prefix + context.prefix)
    return found


def test_the_table_lists_every_route_of_the_gateway_and_only_those():
    app = build(load_settings(GatewaySettings))
    listed = {(cell.method, cell.template) for cell in CELLS}
    assert app_routes(app.routes) == listed


# --- the requests ----------------------------------------------------------------------------

PUBLISHED = {  # kind -> scope -> the report's owner field's value, and its sender
    "line_fault": {"own": VNPT, "other": VIETTEL},
    "capacity_alarm": {"own": VNPT, "other": VIETTEL},
    "suspicious_parcel": {"own": DIEN_BAN, "other": HOI_AN},
}
OBJECTS = {  # the alarmed object (or item) of each owner's report, from its registry entry
    ("line_fault", VNPT): {"alarmed_object.id": "HOTLINE-BAUCU-03"},
    ("line_fault", VIETTEL): {"alarmed_object.id": "VTL-TK-0042"},
    ("capacity_alarm", VNPT): {"alarmed_object.id": "VNPT-NET-HOIAN-BSC1"},
    ("capacity_alarm", VIETTEL): {"alarmed_object.id": "VTL-NET-HOIAN-BSC1"},
    ("suspicious_parcel", DIEN_BAN): {"district": "dien-ban"},
    ("suspicious_parcel", HOI_AN): {"district": "hoi-an"},
}


def report_body(kind: str, scope: str, report_id: str) -> dict[str, Any]:
    """A valid report of `kind` for the scope: whose resource, in whose name."""
    about = PUBLISHED[kind]["own" if scope == "dept" else scope]
    field = "post_office" if kind == "suspicious_parcel" else "operator"
    sender = DEPARTMENT if scope == "dept" else about
    return report(kind, report_id, reported_by=sender, **{field: about}, **OBJECTS[kind, about])


def request_of(cell: Cell, number: int) -> tuple[str, dict[str, Any]]:
    """The path and the httpx options of a cell's request."""
    path = cell.template
    if path == "/v1/ack/{token}":
        token = ack_token(
            SIGNED_WITH[cell.scope],
            notification_id=f"matrix-{number}",
            incident_id="inc-1",
            incident_key="line_fault:vnpt-quang-nam:L-1",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
        return f"/v1/ack/{token}", {"headers": {"Accept": "application/json"}}
    if "{incident_id}" in path:
        path = path.replace("{incident_id}", INCIDENT_OF[cell.scope])
        action = path.rsplit("/", 1)[1]
        return path, {"json": ACTION_BODIES[action]} if action in ACTION_BODIES else {}
    if path.startswith("/v1/reports/"):
        kind, batch, _ = path.removeprefix("/v1/reports/").partition("/batch")
        if kind == "{kind}":  # another spelling of a known kind, or an unknown kind
            path = (
                "/v1/reports/no-such-kind" if cell.scope == "unknown" else "/v1/reports/line-fault"
            ) + batch
            kind = "line_fault"
        scope = "own" if cell.scope == "unknown" else cell.scope
        body = report_body(kind, scope, f"matrix-{number}")
        return path, {"json": [body] if batch else body}
    if path == "/v1/integrations/alertmanager":
        return path, {"json": alert_notification(cell.scope, number)}
    if path == "/console/static/{path}":
        return "/console/static/main.js", {}
    if path == "/docs/static/{path}":
        return "/docs/static/swagger-ui.css", {}
    if path.startswith("/v1/tasks") or path == "/v1/incidents":
        enterprise = ENTERPRISE_OF[cell.scope]
        return path, {"params": {"enterprise": enterprise} if enterprise else {}}
    return path, {}


def alert_notification(scope: str, number: int) -> dict[str, Any]:
    """An Alertmanager notification of one alert about the line of the scope's operator."""
    operator = PUBLISHED["line_fault"][scope]
    labels = {
        **LINE_DOWN,
        "operator": operator,
        "line": OBJECTS["line_fault", operator]["alarmed_object.id"],
    }
    return notification(alert(labels, fingerprint=f"{number:016x}", starts_at=datetime.now(UTC)))


async def _secret(gateway, enterprise: str, role: Role, state: str) -> str:
    """A token's secret in the state asked for, made (and spoilt) as the owner role."""
    if state == "unknown":
        return "sp_" + "x" * 43
    conn = await db.connect(gateway.settings, url=gateway.settings.owner_database_url)
    try:
        made = await create_token(conn=conn, enterprise=enterprise, role=role)
        if state == "revoked":
            assert await revoke_token(conn=conn, token_id=made.token_id)
        if state == "expired":  # the expiry must come after the creation: move both back
            await conn.execute(
                "UPDATE api_tokens SET created_at = $2, expires_at = $3 WHERE token_id = $1",
                made.token_id,
                datetime.now(UTC) - timedelta(days=2),
                datetime.now(UTC) - timedelta(days=1),
            )
    finally:
        await conn.close()
    return made.secret


async def _first_task(response: httpx.Response) -> dict[str, Any]:
    decoder = EventDecoder()
    async with asyncio.timeout(20):
        async for line in response.aiter_lines():
            event = decoder.feed(line)
            if event is not None and event.event == "task":
                found: dict[str, Any] = json.loads(event.data)
                return found
    raise AssertionError("the stream ended before a task")


async def answer(http: httpx.AsyncClient, cell: Cell, number: int) -> tuple[int, Any]:
    """The status and the decoded body of a cell's request; a stream's first task."""
    path, options = request_of(cell, number)
    if (cell.method, cell.template) == ("POST", "/v1/session"):  # the token goes in the body
        token = http.headers.pop("authorization", "").removeprefix("Bearer ")
        options = {"json": {"token": token}}
    if cell.template == "/v1/tasks/stream":
        async with http.stream(cell.method, path, **options) as response:
            if response.status_code == 200:
                return 200, await _first_task(response)
            await response.aread()
            return response.status_code, response.json()
    response = await http.request(cell.method, path, **options)
    kind = response.headers.get("content-type", "")
    return response.status_code, response.json() if kind.startswith("application/json") else None


def check_body(cell: Cell, body: Any) -> None:
    """What an answer may carry: errors only their shape, data only what the caller may see."""
    if cell.status >= 400:
        assert set(body) == {"error", "problems"}, body
    elif cell.template == "/v1/tasks":
        assert {t["enterprise"] for t in body["tasks"]} == VISIBLE[cell.caller, cell.scope]
    elif cell.template == "/v1/tasks/stream":
        assert body["enterprise"] in VISIBLE[cell.caller, cell.scope]
    elif cell.template == "/v1/session" and cell.method != "DELETE":
        assert (body["enterprise"], body["role"]) == CALLERS[cell.caller][:2], body
    elif cell.template == "/v1/report":
        rows = {r["value"] for r in body["rows"] if r["dimension"] == "enterprise"}
        assert rows == VISIBLE[cell.caller, cell.scope], body["rows"]
    elif cell.template == "/v1/incidents":
        assert {i["primary"] for i in body["incidents"]} == VISIBLE[cell.caller, cell.scope]
    elif cell.template == "/v1/ack/{token}":
        assert body["incident_id"] == "inc-1", body
        assert body.get("person") == "nguyen-van-an" or body["outcome"] == "pending", body
    elif cell.template == "/v1/incidents/{incident_id}":
        assert {e["incident_id"] for e in body["events"]} == {INCIDENT_OF[cell.scope]}
    elif cell.item is not None:
        (result,) = body["results"]
        expected = "accepted" if cell.item == 202 else "refused"
        assert (result["status"], result.get("http_status")) == (
            expected, None if cell.item == 202 else cell.item
        ), result  # fmt: skip
    elif cell.status == 202 and "/v1/incidents/" in cell.template:
        assert body["outcome"] == "pending" and body["incident_id"] == INCIDENT_OF[cell.scope]
    elif cell.status == 202:
        assert body["status"] == "accepted"


async def test_every_cell_of_the_access_matrix(topics, database, tmp_path):
    async with seeded_gateway(
        topics,
        database,
        tmp_path,
        SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0.3",
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.2",
        SIGNALPOST_GATEWAY_STREAMS_PER_TOKEN="50",
        SIGNALPOST_GATEWAY_ACK_LINK_SECRET=ACK_SECRET,
    ) as gateway:
        secrets = {
            name: await _secret(gateway, *who) if who else None for name, who in CALLERS.items()
        }
        wrong, bodies = [], {}
        for number, cell in enumerate(CELLS):
            async with gateway.client(secrets[cell.caller]) as http:
                status, body = await answer(http, cell, number)
            bodies[cell] = body
            item = (
                body["results"][0].get("http_status", 202) if cell.item and status == 200 else None
            )
            if (status, item) != (cell.status, cell.item):
                wrong.append(f"{cell.method} {cell.template} [{cell.scope}] as {cell.caller}: "
                             f"{status} {item}, expected {cell.status} {cell.item}: "
                             f"{str(body)[:200]}")  # fmt: skip
                continue
            check_body(cell, body)
    allowed = sum(cell.status < 400 and (cell.item or 0) < 400 for cell in CELLS)
    print(f"access matrix: {len(CELLS)} cells, {allowed} allowed, {len(CELLS) - allowed} denied")
    assert not wrong, "\n".join(wrong)
    # No existence oracle: another enterprise's incident is refused word for word like none.
    for cell in CELLS:
        if cell.scope == "other" and cell.status == 404:
            unknown = next(c for c in CELLS if (c.template, c.caller, c.scope) == (
                cell.template, cell.caller, "unknown"))  # fmt: skip
            assert _refusal(bodies[cell]) == _refusal(bodies[unknown]), cell


def _refusal(body: dict[str, Any]) -> tuple[str, list[str]]:
    """An error body without the id it names: what tells a refusal from another."""
    problems = [p["field"] for p in body["problems"]]
    return body["error"], problems
