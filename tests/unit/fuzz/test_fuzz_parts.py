"""The fuzzer's pure parts: the same seed gives the same inputs, and the accounting is exact."""

from __future__ import annotations

import json

import pytest

from schemas.codec import MAX_MESSAGE_BYTES
from schemas.kinds import KIND
from services.fuzz.account import Outcomes, Sent, command_id, unaccounted
from services.fuzz.hostile import LARGEST, FuzzInput, hostile_inputs
from services.runtime.topics import INCIDENT_COMMANDS, LINE_FAULT_REPORTS

pytestmark = pytest.mark.unit


def test_the_same_seed_gives_the_same_inputs_and_another_seed_others() -> None:
    first, again = list(hostile_inputs(7, 300)), list(hostile_inputs(7, 300))
    assert first == again and first != list(hostile_inputs(8, 300))


def test_a_run_meets_every_kind_of_hostile_input() -> None:
    inputs = list(hostile_inputs(1, 5000, http=True))
    labels = {i.label for i in inputs}
    for wanted in ("valid", "clear first", "command for no incident", "deep array", "tombstone"):
        assert wanted in labels
    assert {i.channel for i in inputs} == {"kafka", "http"}
    sizes = [len(i.value or b"") for i in inputs]
    assert max(sizes) <= LARGEST and any(s > MAX_MESSAGE_BYTES for s in sizes)
    kafka = [i for i in inputs if i.channel == "kafka"]
    assert all(i.key is not None or i.value is not None for i in kafka)  # Kafka needs one
    paths = {i.target.split("?")[0].split("/")[2] for i in inputs if i.channel == "http"}
    assert paths == {"reports", "incidents", "tasks", "nowhere"}  # every endpoint is met
    assert {i.method for i in inputs if i.channel == "http"} == {"POST", "GET"}


def test_valid_reports_over_http_go_with_their_owners_token() -> None:
    http = [i for i in hostile_inputs(1, 5000, http=True) if i.target.startswith("/v1/reports/")]
    valid = [i for i in http if i.label in ("valid", "clear first")]
    assert valid and {i.target for i in valid} == {f"/v1/reports/{kind}" for kind in KIND}
    for item in valid:
        body = json.loads(item.value or b"")
        assert body["reported_by"] == body[KIND[body["kind"]].owner] == item.publisher


def sent(value: bytes, topic: str = LINE_FAULT_REPORTS, offset: int = 0) -> Sent:
    return Sent(FuzzInput("kafka", topic, value), (f"p.{topic}", 0, offset))


def test_an_input_is_accounted_by_its_dead_letter_its_report_or_its_command() -> None:
    dead = sent(b"garbage", offset=1)
    routed = sent(b'{"reported_by": "vnpt-quang-nam", "report_id": "r1"}', offset=2)
    lost = sent(b'{"reported_by": "vnpt-quang-nam", "report_id": "r2"}', offset=3)
    rejected = sent(b'{"command_id": "c1"}', INCIDENT_COMMANDS, offset=4)
    silent = sent(b'{"command_id": "c2"}', INCIDENT_COMMANDS, offset=5)
    outcomes = Outcomes(
        dead_letters={dead.position},
        reports={("vnpt-quang-nam", "r1")},
        commands={"c1"},
    )
    assert unaccounted([dead, routed, lost, rejected, silent], outcomes) == [lost, silent]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"command_id": "c"}', "c"),
        (b"[" * 100_000, None),
        (None, None),
        (b'{"command_id": 1}', None),
    ],
)
def test_a_command_id_is_read_as_far_as_it_can_be(value, expected) -> None:
    assert command_id(value) == expected
