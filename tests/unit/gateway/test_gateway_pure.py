"""The gateway's pure parts: tokens and roles, report intake, commands, stream ids, SSE lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.example_reports import report
from schemas.kinds import incident_key
from schemas.registry import load_registry
from schemas.tasks import Task
from services.gateway.access import (
    Principal,
    Role,
    new_secret,
    secret_hash,
    token_problem,
    visible_enterprises,
)
from services.gateway.commands import ACTIONS, build_command, request_schema
from services.gateway.errors import ApiError
from services.gateway.intake import admit_body
from services.gateway.positions import (
    TaskFilter,
    current_tasks,
    format_positions,
    parse_positions,
)
from services.gateway.sse import EventDecoder
from services.gateway.store import participants
from tests.support.lifecycle_samples import incident_story

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
NOW = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# --- tokens and roles --------------------------------------------------------------------


def test_secrets_are_random_and_only_their_hash_is_kept():
    first, second = new_secret(), new_secret()
    assert first != second and first.startswith("sp_") and len(first) > 40
    assert len(secret_hash(first)) == 32 and secret_hash(first) != secret_hash(second)


def test_only_the_department_holds_supervisor_tokens():
    assert token_problem(REGISTRY, DEPARTMENT, Role.SUPERVISOR) is None
    assert "only the Department" in token_problem(REGISTRY, VNPT, Role.SUPERVISOR)
    assert "unknown enterprise" in token_problem(REGISTRY, "vnpt", Role.DISPATCHER)


@pytest.mark.parametrize(
    ("role", "publish", "read", "command", "reassign"),
    [
        (Role.PUBLISHER, True, False, False, False),
        (Role.DISPATCHER, False, True, True, False),
        (Role.SUPERVISOR, False, True, True, True),
        (Role.AUDITOR, False, True, False, False),
    ],
)
def test_what_each_role_may_do(role, publish, read, command, reassign):
    who = Principal("t", VNPT, role)
    assert (who.may_publish, who.may_read_tasks, who.may_command, who.may_reassign) == (
        publish, read, command, reassign,
    )  # fmt: skip


def test_a_dispatcher_sees_only_its_own_feed_and_the_department_all():
    everyone = [VNPT, VIETTEL, DEPARTMENT]
    dispatcher = Principal("t", VNPT, Role.DISPATCHER)
    department = Principal("t", DEPARTMENT, Role.SUPERVISOR)
    assert visible_enterprises(dispatcher, everyone) == [VNPT]
    assert visible_enterprises(dispatcher, everyone, VNPT) == [VNPT]
    assert visible_enterprises(dispatcher, everyone, VIETTEL) is None
    assert visible_enterprises(department, everyone) == everyone
    assert visible_enterprises(department, everyone, VIETTEL) == [VIETTEL]


# --- intake -------------------------------------------------------------------------------


def test_a_report_is_published_in_the_tokens_name_with_the_routers_key():
    payload = report("line_fault", "r1")
    del payload["reported_by"]
    admitted = admit_body(body(payload), kind="line_fault", enterprise=VNPT, registry=REGISTRY)
    assert admitted.report.reported_by == VNPT
    assert admitted.incident_key == incident_key(admitted.report)
    assert admitted.topic == "reports.line-fault"
    assert admitted.answer()["incident_key"] == admitted.incident_key


def test_kind_and_reported_by_may_be_left_out():
    payload = report("capacity_alarm", "r2")
    del payload["kind"], payload["reported_by"]
    admitted = admit_body(
        body(payload), kind="capacity_alarm", enterprise=VIETTEL, registry=REGISTRY
    )
    assert admitted.report.kind == "capacity_alarm"
    assert admitted.report.reported_by == VIETTEL


def test_the_same_report_has_the_same_digest_however_it_is_spelled():
    payload = report("line_fault", "r3")
    compact = admit_body(body(payload), kind="line_fault", enterprise=VNPT, registry=REGISTRY)
    spaced = json.dumps(payload, indent=4).encode()
    assert (
        admit_body(spaced, kind="line_fault", enterprise=VNPT, registry=REGISTRY).digest
        == compact.digest
    )
    other = report("line_fault", "r3", description="different")
    assert (
        admit_body(body(other), kind="line_fault", enterprise=VNPT, registry=REGISTRY).digest
        != compact.digest
    )


@pytest.mark.parametrize(
    ("raw", "status", "code", "field"),
    [
        (b"\xff{}", 400, "bad_encoding", ""),
        (b"{", 400, "malformed_json", ""),
        (b"Infinity", 400, "malformed_json", ""),
        (b"[" * 100_000, 400, "malformed_json", ""),
        (b'"a string"', 422, "invalid_report", ""),
        (body(report("line_fault", "r", election_critical="yes")), 422, "invalid_report",
         "election_critical"),
        (body(report("line_fault", "r", district="tamky")), 422, "unknown_reference", "district"),
        (body(report("suspicious_parcel", "r")), 422, "invalid_report", "kind"),
    ],
)  # fmt: skip
def test_bad_bodies_are_refused_with_field_and_reason(raw, status, code, field):
    with pytest.raises(ApiError) as caught:
        admit_body(raw, kind="line_fault", enterprise=VNPT, registry=REGISTRY)
    error = caught.value
    assert (error.status, error.code) == (status, code)
    assert error.problems[0].field == field
    assert error.problems[0].reason


@given(st.binary(max_size=300))
def test_no_body_crashes_intake(raw):
    try:
        admit_body(raw, kind="line_fault", enterprise=VNPT, registry=REGISTRY)
    except ApiError as error:
        assert 400 <= error.status < 500 and error.body().problems


# --- commands -----------------------------------------------------------------------------


def command(action: str, payload: dict | bytes):
    raw = payload if isinstance(payload, bytes) else body(payload)
    return build_command(action, raw, incident_id="inc-1", incident_key="line_fault:x:y",
                         issued_by=VNPT, now=NOW, new_id="gw-1")  # fmt: skip


def test_an_empty_body_acknowledges_with_the_gateways_ids_and_clock():
    ack = command("acknowledge", b"")
    assert (ack.type, ack.command_id, ack.issued_by, ack.issued_at) == (
        "acknowledge_incident", "gw-1", VNPT, NOW,
    )  # fmt: skip


def test_the_body_fills_the_commands_own_fields():
    move = command("reassign", {"to_enterprise": VIETTEL, "reason": "theirs", "command_id": "c9"})
    assert (move.to_enterprise, move.reason, move.command_id) == (VIETTEL, "theirs", "c9")


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("resolve", {}, "resolution"),
        ("hold", {"reason": "x", "until": "2007-05-20T06:00:00+00:00"}, "until"),
        ("acknowledge", {"issued_by": VIETTEL}, "issued_by"),
        ("notes", {"text": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_command_bodies_name_the_field(action, payload, field):
    with pytest.raises(ApiError) as caught:
        command(action, payload)
    assert caught.value.status == 422
    assert caught.value.problems[0].field == field


def test_request_schemas_leave_out_what_the_gateway_fills():
    for model in ACTIONS.values():
        schema = request_schema(model)
        assert not {"issued_by", "incident_id", "incident_key", "type"} & set(schema["properties"])
        assert "command_id" not in schema["required"]


# --- stream ids and task views ------------------------------------------------------------


@given(st.dictionaries(st.tuples(st.sampled_from([VNPT, VIETTEL]), st.integers(0, 2)),
                       st.integers(0, 2**62), max_size=6))  # fmt: skip
def test_stream_ids_round_trip(positions):
    assert parse_positions(format_positions(positions), [VNPT, VIETTEL]) == positions


@pytest.mark.parametrize(
    ("text", "reason"),
    [("vnpt-quang-nam/0", "is not"), ("x" * 20_000, "longer"), (f"{VIETTEL}/0:1", "does not read")],
)
def test_bad_stream_ids_are_a_400(text, reason):
    with pytest.raises(ApiError) as caught:
        parse_positions(text, [VNPT])
    assert caught.value.status == 400 and reason in caught.value.problems[0].reason


def task(task_id: str, version: int, status: str = "open", kind: str = "line_fault") -> Task:
    return Task(task_id=task_id, incident_id="inc-1", incident_key="k", enterprise=VNPT,
                role="primary", kind=kind, district="tam-ky", summary="s", priority="p1",
                status=status, version=version, updated_at=NOW)  # fmt: skip


def test_current_tasks_keep_each_tasks_latest_version_and_filters_match_it():
    tasks = current_tasks([task("a", 1), task("a", 2, "acknowledged"), task("b", 1)])
    assert {(t.task_id, t.version) for t in tasks} == {("a", 2), ("b", 1)}
    assert [t.task_id for t in tasks if TaskFilter(status="acknowledged").matches(t)] == ["a"]
    assert not TaskFilter(kind="capacity_alarm").matches(task("c", 1))
    assert TaskFilter().matches(task("c", 1))


def test_participants_come_from_routed_tasks_and_task_events():
    rows = [{"incident_id": e["incident_id"], "event": json.dumps(e)}
            for e in incident_story(1, NOW, steps=4)]  # fmt: skip
    assert participants(rows) == {"inc-1": {VNPT}}


# --- server-sent events -------------------------------------------------------------------


def test_the_decoder_reads_events_ids_and_skips_comments():
    decoder = EventDecoder()
    lines = ["retry: 1000", "id: a/0:0", "", ": keepalive", "", "id: a/0:1", "event: task",
             'data: {"x":', "data: 1}", ""]  # fmt: skip
    events = [e for e in map(decoder.feed, lines) if e is not None]
    assert len(events) == 1
    assert (events[0].event, events[0].data, events[0].id) == ("task", '{"x":\n1}', "a/0:1")
    assert decoder.last_id == "a/0:1"
