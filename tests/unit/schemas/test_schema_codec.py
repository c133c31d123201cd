"""The codec: round trips, only ContractError on any input, size limit, UTF-8, upcasters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import MAX_MESSAGE_BYTES, Codec, Upcasters, decode, encode
from schemas.contracts import (
    CATALOG,
    COMMAND,
    CONTRACT_OF_KIND,
    DEAD_LETTER,
    INCIDENT_EVENT,
    REPORT,
    ROUTED_REPORT,
    ROUTING_DECISION,
)
from schemas.deadletter import OriginalBytes
from schemas.envelope import ReportRef
from schemas.errors import ContractError
from schemas.reports import LineFault
from schemas.routing import RoutedReport
from tests.support.contract_samples import (
    EXAMPLES,
    commands,
    dead_letters,
    decisions,
    example,
    incident_events,
    reports,
)

pytestmark = pytest.mark.unit

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def only_contract_errors(contract: Any, data: bytes) -> None:
    """Decode, allowing success or ContractError with a well-formed body, nothing else."""
    try:
        decode(contract, data)
    except ContractError as error:
        body = error.to_dict()
        assert body["error"].startswith("invalid_")
        assert body["problems"], "an error must name at least one problem"
        json.dumps(body)


@pytest.mark.parametrize(
    ("contract", "strategy"),
    [
        (REPORT, reports),
        (COMMAND, commands()),
        (INCIDENT_EVENT, incident_events()),
        (ROUTING_DECISION, decisions()),
        (DEAD_LETTER, dead_letters()),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_encode_then_decode_is_the_identity(contract: Any, strategy: Any) -> None:
    @FAST
    @given(strategy)
    def round_trip(message: Any) -> None:
        assert decode(contract, encode(message)) == message

    round_trip()


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_contract_errors(data: bytes) -> None:
    for contract in CATALOG:
        only_contract_errors(contract, data)


@FAST
@given(json_values)
def test_arbitrary_json_raises_only_contract_errors(value: Any) -> None:
    data = json.dumps(value).encode()
    for contract in CATALOG:
        only_contract_errors(contract, data)


@FAST
@given(st.sampled_from(sorted(EXAMPLES.glob("report.*.json"))), st.data())
def test_one_field_replaced_by_any_json_raises_only_contract_errors(
    path: Path, data: st.DataObject
) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    field = data.draw(st.sampled_from(sorted(payload)))
    payload[field] = data.draw(json_values)
    only_contract_errors(REPORT, json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "EOF"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"kind": "line_fault", "description": "\xc3"}', "not UTF-8"),
        (b"[" * 100_000, "Invalid JSON"),
        (b'{"kind": "line_fault"', "Invalid JSON"),
        (b"[]", "object"),
        (b" " * (MAX_MESSAGE_BYTES + 1), f"the limit is {MAX_MESSAGE_BYTES}"),
    ],
    ids=["empty", "bom-like", "bad-utf8-in-string", "deep", "truncated", "array", "too-large"],
)
def test_unreadable_messages_explain_why(data: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode(REPORT, data)
    assert caught.value.code == "invalid_report"
    assert [p.field for p in caught.value.problems] == [""]
    assert reason in caught.value.problems[0].reason


def test_a_message_too_large_to_read_back_is_not_encoded() -> None:
    decision = decode(ROUTING_DECISION, json.dumps(_decision()).encode())
    report = decode(REPORT, json.dumps(example("report.line-fault-election-hotline")).encode())
    refs = tuple(ReportRef(reported_by="vnpt-quang-nam", report_id=f"r{n}") for n in range(8000))
    storm = RoutedReport(
        incident_key="k",
        report=report,
        decision=decision,
        routed_at=report.reported_at,
        collapsed=refs,
    )
    with pytest.raises(ContractError, match="the limit is"):
        encode(storm)
    assert decode(ROUTED_REPORT, encode(storm.model_copy(update={"collapsed": refs[:10]})))


@given(st.binary(max_size=500))
def test_original_bytes_are_kept_exactly(raw: bytes) -> None:
    assert OriginalBytes.from_bytes(raw).to_bytes() == raw


def test_original_bytes_are_readable_text_when_they_can_be() -> None:
    assert OriginalBytes.from_bytes("Tây Giang".encode()).data == "Tây Giang"
    assert OriginalBytes.from_bytes(b"\xff").encoding == "base64"


def test_stored_original_bytes_must_decode() -> None:
    with pytest.raises(ContractError) as caught:
        decode(DEAD_LETTER, json.dumps(_dead_letter({"encoding": "base64", "data": "*"})).encode())
    assert [p.field for p in caught.value.problems] == ["value"]


# Upcasters: a test-local registry with a made-up version 0 of line_fault, whose severity was
# called "severity" and whose line was a flat "line_id"; production contracts are all at 1.
def _v0_line_fault() -> dict[str, Any]:
    v1 = example("report.line-fault-election-hotline")
    v0 = {k: v for k, v in v1.items() if k not in ("perceived_severity", "alarmed_object")}
    return {
        **v0,
        "schema_version": 0,
        "severity": v1["perceived_severity"],
        "line_id": v1["alarmed_object"]["id"],
        "service_class": v1["alarmed_object"]["service_class"],
    }


def _upcasters() -> Upcasters:
    upcasters = Upcasters()

    @upcasters.register("line_fault", from_version=0)
    def nest_the_alarmed_object(raw: dict[str, Any]) -> dict[str, Any]:
        raw["perceived_severity"] = raw.pop("severity")
        raw["alarmed_object"] = {
            "id": raw.pop("line_id"),
            "service_class": raw.pop("service_class"),
        }
        return raw

    return upcasters


@pytest.mark.parametrize("contract", [REPORT, CONTRACT_OF_KIND["line_fault"]], ids=lambda c: c.name)
def test_an_upcaster_brings_an_old_version_up_to_date(contract: Any) -> None:
    data = json.dumps(_v0_line_fault()).encode()
    current = decode(REPORT, json.dumps(example("report.line-fault-election-hotline")).encode())
    assert Codec(_upcasters()).decode(contract, data) == current
    with pytest.raises(ContractError, match="schema_version"):
        decode(contract, data)


def test_upcasters_chain_from_older_versions() -> None:
    upcasters = _upcasters()

    @upcasters.register("line_fault", from_version=-1)
    def rename_the_id(raw: dict[str, Any]) -> dict[str, Any]:
        raw["report_id"] = raw.pop("id")
        return raw

    older = {**_v0_line_fault(), "schema_version": -1}
    older["id"] = older.pop("report_id")
    decoded = Codec(upcasters).decode(REPORT, json.dumps(older).encode())
    assert isinstance(decoded, LineFault)
    assert decoded.schema_version == 1


def test_a_failing_upcaster_is_a_contract_error_on_schema_version() -> None:
    broken = {k: v for k, v in _v0_line_fault().items() if k != "line_id"}
    with pytest.raises(ContractError) as caught:
        Codec(_upcasters()).decode(REPORT, json.dumps(broken).encode())
    assert [p.field for p in caught.value.problems] == ["schema_version"]
    assert "cannot upgrade from version 0" in caught.value.problems[0].reason


def test_json_true_is_not_version_one_to_upcasters() -> None:
    upcasters = Upcasters()
    upcasters.register("line_fault", from_version=1)(lambda raw: raw)
    assert upcasters.upcast("line_fault", {"schema_version": True}) is None


def test_an_upcaster_registers_once() -> None:
    upcasters = _upcasters()
    with pytest.raises(ValueError, match="already registered"):
        upcasters.register("line_fault", from_version=0)(lambda raw: raw)


def _decision() -> dict[str, Any]:
    return {
        "rule_id": "hotline-cut",
        "ruleset_version": "sha256:" + "a" * 64,
        "registry_version": "sha256:" + "b" * 64,
        "primary": "vnpt-quang-nam",
        "priority": "p1",
        "ack_within": "PT5M",
        "resolve_within": "PT2H",
        "reasons": ["election hotline"],
    }


def _dead_letter(value: dict[str, str]) -> dict[str, Any]:
    return {
        "source": {"topic": "reports.line-fault", "partition": 0, "offset": 7},
        "key": None,
        "value": value,
        "error": {"error": "invalid_report", "problems": [{"field": "", "reason": "x"}]},
        "rejected_by": "router",
        "dead_lettered_at": "2007-05-20T06:00:00+07:00",
    }
