"""The gateway against the real Kafka and PostgreSQL: publishing, idempotency, bad input, tokens."""

from __future__ import annotations

import json

import pytest

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.example_reports import report
from services.runtime.topics import LINE_FAULT_REPORTS, topic_name
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.kafka_io import read_until

pytestmark = pytest.mark.integration
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"


@pytest.fixture
async def gateway(topics, database, tmp_path):
    """A gateway on this test's topics and schema."""
    running = await start_gateway(
        topics, tmp_path / "gateway.log", SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0.1"
    )
    yield running
    await stop_gateway(running)


async def test_a_published_report_lands_on_its_topic_in_the_tokens_name(gateway, test_id):
    secret = await gateway.token(VNPT, "publisher")
    body = report("line_fault", f"{test_id}-1")
    del body["reported_by"]  # filled from the token
    async with gateway.client(secret) as http:
        response = await http.post("/v1/reports/line_fault", json=body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["reported_by"] == VNPT
    assert answer["incident_key"] == f"line_fault:{body['operator']}:{body['alarmed_object']['id']}"
    topic = topic_name(LINE_FAULT_REPORTS, gateway.settings.topic_prefix)
    records = await read_until(gateway.settings, topic, lambda r: len(r) >= 1, group=test_id)
    published = decode(REPORT, records[0].value)
    assert published.reported_by == VNPT
    assert records[0].key == answer["incident_key"].encode()


async def test_another_operator_cannot_clear_a_vnpt_line_and_nothing_is_sent(
    gateway, audit_pool, test_id
):
    vnpt = await gateway.token(VNPT, "publisher")
    viettel = await gateway.token(VIETTEL, "publisher")
    alarm = report("line_fault", f"{test_id}-alarm")
    clear = report("line_fault", f"{test_id}-clear", perceived_severity="cleared")
    # Viettel's clears of VNPT's line: in its own name (reported_by left out), and in VNPT's.
    its_own = {k: v for k, v in clear.items() if k != "reported_by"} | {"report_id": "x-1"}
    vnpts = clear | {"report_id": "x-2"}
    async with gateway.client(vnpt) as owner, gateway.client(viettel) as other:
        raised = await owner.post("/v1/reports/line_fault", json=alarm)
        as_itself = await other.post("/v1/reports/line_fault", json=its_own)
        as_vnpt = await other.post("/v1/reports/line_fault", json=vnpts)
        metrics = await owner.get("/metrics")
    assert raised.status_code == 202, raised.text
    for refused, field in ((as_itself, "operator"), (as_vnpt, "reported_by")):
        assert refused.status_code == 403, refused.text
        answer = refused.json()
        assert answer["error"] == "impersonation"
        assert [p["field"] for p in answer["problems"]] == [field]
        assert VIETTEL in answer["problems"][0]["reason"]
    assert (
        'signalpost_gateway_reports_total{kind="line_fault",outcome="refused"} 2.0' in metrics.text
    )
    # The owner's own clear goes after them: once it is on the topic, theirs would be too.
    async with gateway.client(vnpt) as owner:
        cleared = await owner.post("/v1/reports/line_fault", json=clear)
    assert cleared.status_code == 202, cleared.text
    topic = topic_name(LINE_FAULT_REPORTS, gateway.settings.topic_prefix)
    last = clear["report_id"].encode()
    records = await read_until(
        gateway.settings, topic, lambda r: any(last in x.value for x in r), group=test_id
    )
    sent = [(r.reported_by, r.report_id) for r in (decode(REPORT, x.value) for x in records)]
    assert sent == [(VNPT, alarm["report_id"]), (VNPT, clear["report_id"])]
    rows = await audit_pool.fetch("SELECT reported_by, report_id FROM gateway_reports")
    assert sorted((r["reported_by"], r["report_id"]) for r in rows) == sorted(sent)


async def test_the_same_report_twice_is_sent_once_and_answered_the_same(gateway, test_id):
    secret = await gateway.token(VNPT, "publisher")
    body = report("line_fault", f"{test_id}-same")
    async with gateway.client(secret) as http:
        first = await http.post("/v1/reports/line_fault", json=body)
        second = await http.post("/v1/reports/line_fault", json=body)
        changed = await http.post(
            "/v1/reports/line_fault", json={**body, "description": "something else"}
        )
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert changed.status_code == 409
    assert changed.json()["problems"][0]["field"] == "report_id"
    topic = topic_name(LINE_FAULT_REPORTS, gateway.settings.topic_prefix)
    records = await read_until(gateway.settings, topic, lambda r: len(r) >= 1, group=test_id)
    assert len(records) == 1


BAD_BODIES = [
    (b"{not json", 400, "malformed_json", ""),
    (b'{"report_id": "\xff\xfe"}', 400, "bad_encoding", ""),
    (b"[1, 2, 3]", 422, "invalid_report", ""),
    (b'{"kind": "capacity_alarm"}', 422, "invalid_report", "kind"),
    (b"NaN", 400, "malformed_json", ""),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_BODIES)
async def test_bad_bodies_get_a_clear_4xx(gateway, body, status, code, field):
    secret = await gateway.token(VNPT, "publisher")
    async with gateway.client(secret) as http:
        response = await http.post(
            "/v1/reports/line_fault", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] == code
    assert error["problems"][0]["field"] == field
    assert error["problems"][0]["reason"]


async def test_wrong_types_name_their_fields(gateway, test_id):
    secret = await gateway.token(VNPT, "publisher")
    body = report("line_fault", f"{test_id}-t", election_critical="yes", district="nowhere")
    async with gateway.client(secret) as http:
        response = await http.post("/v1/reports/line_fault", json=body)
        unknown = await http.post(
            "/v1/reports/line_fault", json=report("line_fault", "x", district="nowhere")
        )
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} >= {"election_critical"}
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["field"] == "district"


async def test_unknown_kinds_and_huge_bodies_are_refused(gateway):
    secret = await gateway.token(VNPT, "publisher")
    huge = json.dumps({"description": "x" * 300_000}).encode()
    async with gateway.client(secret) as http:
        kind = await http.post("/v1/reports/earthquake", json={})
        large = await http.post("/v1/reports/line_fault", content=huge)
        hyphen = await http.post("/v1/reports/line-fault", json={})
    assert kind.status_code == 404
    assert kind.json()["problems"][0]["field"] == "kind"
    assert large.status_code == 413
    assert large.json()["error"] == "body_too_large"
    assert hyphen.status_code == 422  # the kind is known; the empty report is not valid


async def test_a_revoked_token_stops_working_on_the_next_request(gateway, test_id):
    from services.gateway.tokens import principal_of, revoke_token
    from services.runtime import db

    secret = await gateway.token(VNPT, "publisher")
    async with gateway.client(secret) as http:
        before = await http.post(
            "/v1/reports/line_fault", json=report("line_fault", f"{test_id}-a")
        )
        conn = await db.connect(gateway.settings, url=gateway.settings.owner_database_url)
        try:
            found = await principal_of(conn=conn, secret=secret)
            assert await revoke_token(conn=conn, token_id=found.token_id)
        finally:
            await conn.close()
        after = await http.post("/v1/reports/line_fault", json=report("line_fault", f"{test_id}-b"))
    assert before.status_code == 202
    assert after.status_code == 401
    assert after.json()["error"] == "unauthorized"


async def test_health_and_metrics(gateway):
    async with gateway.client() as http:
        health = await http.get("/healthz")
        anonymous = await http.get("/v1/tasks")
        metrics = await http.get("/metrics")
    assert health.json() == {
        "status": "ok",
        "kafka": True,
        "postgres": True,
        "events": True,
        "down": [],
    }
    assert anonymous.status_code == 401
    assert (
        'signalpost_gateway_requests_total{method="GET",route="/v1/tasks",status="401"}'
        in metrics.text
    )
