"""Every validation rule of the contracts, one table row each, each error naming its field."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.codec import decode
from schemas.contracts import COMMAND, INCIDENT_EVENT, REPORT, ROUTING_DECISION
from schemas.envelope import MAX_CLOCK_SKEW
from schemas.errors import MAX_PROBLEMS, ContractError
from tests.support.contract_samples import example

pytestmark = pytest.mark.unit

LINE = "report.line-fault-election-hotline"
CAPACITY = "report.capacity-alarm-call-blocking"
PARCEL = "report.suspicious-parcel-no-sender"
ACK = "command.acknowledge-incident"
NFD_NAME = unicodedata.normalize("NFD", "Bưu điện huyện Đông Giang")


def shifted(name: str, field: str, delta: timedelta) -> dict[str, str]:
    """A patch moving `field` of the example by `delta` from its reported_at."""
    base = datetime.fromisoformat(example(name)["reported_at"])
    return {field: (base + delta).isoformat()}


def problems(contract: Any, payload: dict[str, Any]) -> dict[str, str]:
    """field -> reason of every problem decoding the payload; empty when it is valid."""
    try:
        decode(contract, json.dumps(payload, ensure_ascii=False).encode())
    except ContractError as error:
        return {p.field: p.reason for p in error.problems}
    return {}


def with_object(name: str, **changes: Any) -> dict[str, Any]:
    """A patch changing fields of the example's alarmed_object (or item)."""
    key = "item" if "parcel" in name else "alarmed_object"
    return {key: {**example(name)[key], **changes}}


INVALID = [
    # (case, example, patch, field, words in the reason)
    ("naive occurred_at", LINE, {"occurred_at": "2007-05-20T06:42:10"}, "occurred_at", "timezone"),
    ("naive reported_at", LINE, {"reported_at": "2007-05-20T06:42:31"}, "reported_at", "timezone"),
    (
        "naive received_at",
        PARCEL,
        {"received_at": "2007-05-18T14:36:00"},
        "received_at",
        "timezone",
    ),
    ("not a time", CAPACITY, {"occurred_at": "yesterday"}, "occurred_at", "datetime"),
    (
        "occurred after reported beyond skew",
        LINE,
        shifted(LINE, "occurred_at", MAX_CLOCK_SKEW + timedelta(seconds=1)),
        "occurred_at",
        "clock skew",
    ),
    ("unknown kind", LINE, {"kind": "outage"}, "kind", "does not match"),
    ("kind missing", LINE, {"kind": None}, "kind", ""),
    ("future schema version", LINE, {"schema_version": 2}, "schema_version", "1"),
    ("version as text", LINE, {"schema_version": "1"}, "schema_version", "1"),
    ("unknown severity", LINE, {"perceived_severity": "urgent"}, "perceived_severity", "critical"),
    ("unknown cause", LINE, {"probable_cause": "ghosts"}, "probable_cause", "cable_cut"),
    (
        "unknown service class",
        LINE,
        with_object(LINE, service_class="x"),
        "alarmed_object.service_class",
        "trunk",
    ),
    ("unknown metric", CAPACITY, {"metric": "vibes"}, "metric", "utilisation_percent"),
    (
        "unknown resource type",
        CAPACITY,
        with_object(CAPACITY, type="x"),
        "alarmed_object.type",
        "cell",
    ),
    ("unknown item type", PARCEL, with_object(PARCEL, type="crate"), "item.type", "parcel"),
    ("unknown custody", PARCEL, {"custody_status": "lost"}, "custody_status", "held"),
    ("unknown indicator", PARCEL, {"indicators": ["smells"]}, "indicators[0]", "no_sender"),
    ("report id too long", LINE, {"report_id": "r" * 129}, "report_id", "pattern"),
    ("report id empty", LINE, {"report_id": ""}, "report_id", "pattern"),
    ("report id with space", LINE, {"report_id": "a b"}, "report_id", "pattern"),
    ("report id not ASCII", LINE, {"report_id": "báo-cáo"}, "report_id", "pattern"),
    ("report id a number", LINE, {"report_id": 7}, "report_id", "string"),
    ("line id with slash", LINE, with_object(LINE, id="a/b"), "alarmed_object.id", "pattern"),
    ("enterprise id upper case", LINE, {"reported_by": "VNPT"}, "reported_by", "pattern"),
    ("district id with underscore", LINE, {"district": "tam_ky"}, "district", "pattern"),
    ("description too long", LINE, {"description": "x" * 4001}, "description", "4000"),
    ("control character", LINE, {"description": "cáp\x07đứt"}, "description", "pattern"),
    ("empty parcel description", PARCEL, {"description": "   "}, "description", "at least 1"),
    ("extra field", LINE, {"colour": "red"}, "colour", "Extra inputs"),
    ("extra nested field", LINE, with_object(LINE, colour="red"), "alarmed_object.colour", "Extra"),
    ("received_at wrong type", LINE, {"received_at": 5}, "received_at", ""),
    ("bool as text", LINE, {"election_critical": "yes"}, "election_critical", "boolean"),
    ("bool as number", PARCEL, {"election_related": 1}, "election_related", "boolean"),
    ("number as text", CAPACITY, {"threshold": "5"}, "threshold", "number"),
    ("negative threshold", CAPACITY, {"threshold": -1}, "threshold", "greater than or equal"),
    ("percentage over 100", CAPACITY, {"threshold": 100.5}, "threshold", "at most 100"),
    ("no indicators", PARCEL, {"indicators": []}, "indicators", "at least 1"),
    (
        "repeated indicator",
        PARCEL,
        {"indicators": ["no_sender", "no_sender"]},
        "indicators",
        "once",
    ),
    ("missing field", PARCEL, {"item": None}, "item", ""),
]


@pytest.mark.parametrize(
    ("case", "name", "patch", "field", "words"), INVALID, ids=[r[0] for r in INVALID]
)
def test_invalid_reports_name_the_field(
    case: str, name: str, patch: dict, field: str, words: str
) -> None:
    payload = {k: v for k, v in {**example(name), **patch}.items() if v is not None}
    found = problems(REPORT, payload)
    assert field in found, found
    assert words in found[field]


VALID = [
    ("occurred after reported within skew", LINE, shifted(LINE, "occurred_at", MAX_CLOCK_SKEW)),
    ("report id of 128", LINE, {"report_id": "R" * 128}),
    ("report id with punctuation", LINE, {"report_id": "nms:2007.05-20_1"}),
    ("description of 4000", LINE, {"description": "x" * 4000}),
    ("line breaks in description", LINE, {"description": "dòng 1\ndòng 2\r\n\tdòng 3"}),
    ("utilisation at 100", CAPACITY, {"metric": "utilisation_percent", "threshold": 100}),
    ("call attempts above 100", CAPACITY, {"metric": "busy_hour_call_attempts", "threshold": 5000}),
    ("integer measure", CAPACITY, {"observed_value": 12}),
    ("received_at given", LINE, {"received_at": "2007-05-20T06:42:32+07:00"}),
    ("UTC offset Z", LINE, {"occurred_at": "2007-05-19T23:42:10Z"}),
]


@pytest.mark.parametrize(("case", "name", "patch"), VALID, ids=[r[0] for r in VALID])
def test_valid_edges_are_accepted(case: str, name: str, patch: dict) -> None:
    assert problems(REPORT, {**example(name), **patch}) == {}


def test_text_is_normalised_to_nfc_before_its_length_is_counted() -> None:
    description = unicodedata.normalize("NFD", "Đứt cáp ở Tiên Phước. " * 180)
    assert len(description) > 4000
    payload = {**example(LINE), "description": description}
    report = decode(REPORT, json.dumps(payload).encode())
    assert report.description == unicodedata.normalize("NFC", description).strip()


def test_vietnamese_names_in_nfd_arrive_in_nfc() -> None:
    payload = {**example(ACK), "dispatcher": NFD_NAME}
    command = decode(COMMAND, json.dumps(payload).encode())
    assert command.dispatcher == unicodedata.normalize("NFC", NFD_NAME)
    assert command.dispatcher != NFD_NAME


COMMAND_INVALID = [
    ("unknown type", {"type": "delete_incident"}, "type", "does not match"),
    ("naive issued_at", {"issued_at": "2007-05-20T06:45:00"}, "issued_at", "timezone"),
    (
        "hold until before issue",
        {
            "type": "hold_incident",
            "reason": "x",
            "until": "2007-05-20T06:00:00+07:00",
            "note": None,
        },
        "until",
        "after issued_at",
    ),
    (
        "reassign without target",
        {"type": "reassign_incident", "reason": "x", "note": None},
        "to_enterprise",
        "required",
    ),
    ("reject without reason", {"type": "reject_incident", "note": None}, "reason", "required"),
    ("note on a note", {"type": "add_note", "note": "x", "text": "y"}, "note", "Extra"),
]


@pytest.mark.parametrize(
    ("case", "patch", "field", "words"), COMMAND_INVALID, ids=[r[0] for r in COMMAND_INVALID]
)
def test_invalid_commands_name_the_field(case: str, patch: dict, field: str, words: str) -> None:
    payload = {k: v for k, v in {**example(ACK), **patch}.items() if v is not None}
    found = problems(COMMAND, payload)
    assert field in found, found
    assert words in found[field]


def test_escalation_levels_are_numbered_in_order() -> None:
    decision = {
        "rule_id": "r",
        "ruleset_version": "sha256:" + "a" * 64,
        "registry_version": "sha256:" + "b" * 64,
        "primary": "vnpt-quang-nam",
        "priority": "p1",
        "ack_within": "PT5M",
        "resolve_within": "PT0S",
        "reasons": ["x"],
        "escalation": [{"level": 2, "after": "PT0S", "notify": ["so-bcvt-quang-nam"]}],
    }
    found = problems(ROUTING_DECISION, decision)
    assert set(found) == {"resolve_within", "escalation"}
    assert "1, 2, 3" in found["escalation"]


def test_an_event_must_name_its_cause() -> None:
    event = {
        "type": "incident_closed",
        "event_id": "e1",
        "incident_key": "k",
        "incident_id": "i",
        "sequence": 0,
        "occurred_at": "2007-05-20T06:45:00+07:00",
        "actor": {"kind": "service", "id": "incident-manager"},
        "caused_by": {},
        "reason": "x",
    }
    assert set(problems(INCIDENT_EVENT, event)) == {"sequence", "caused_by"}


def test_many_problems_are_capped_and_counted() -> None:
    payload = {**example(LINE), **{f"extra{n}": n for n in range(MAX_PROBLEMS * 3)}}
    with pytest.raises(ContractError) as caught:
        decode(REPORT, json.dumps(payload).encode())
    assert len(caught.value.problems) == MAX_PROBLEMS + 1
    assert caught.value.problems[-1].reason == f"and {MAX_PROBLEMS * 2} more"


def test_the_error_shape_is_plain_json() -> None:
    with pytest.raises(ContractError) as caught:
        decode(REPORT, json.dumps({**example(LINE), "district": "Tam Kỳ"}).encode())
    assert caught.value.to_dict() == {
        "error": "invalid_report",
        "problems": [
            {
                "field": "district",
                "reason": "String should match pattern '^[a-z0-9]+(?:-[a-z0-9]+)*$'",
            }
        ],
    }
    assert "district" in str(caught.value)
