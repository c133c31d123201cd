"""One batch in, routed reports and dead letters out: every message ends in exactly one place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import decode, encode
from schemas.contracts import ROUTED_REPORT
from schemas.example_reports import TOPIC_OF_KIND, encoded, report
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, decisions, load_rule_set
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime(2007, 5, 20, 8, 0, tzinfo=UTC)
RECEIVED_MS = 1179648000000  # 2007-05-20T08:00:00Z


def message(value: bytes | None, offset: int = 0, topic: str = "reports.line-fault") -> RawMessage:
    return RawMessage(topic, 0, offset, RECEIVED_MS, b"k", value)


def run(*messages: RawMessage):
    return process_batch(messages, rules=RULES, registry=REGISTRY, now=NOW)


def test_a_valid_report_is_routed_with_received_at_from_the_broker():
    outcome = run(message(encoded(report("line_fault", "a"))))
    assert not outcome.dead_letters
    (routed,) = outcome.routed
    assert routed.report.received_at == datetime(2007, 5, 20, 8, 0, tzinfo=UTC)
    assert routed.routed_at == NOW
    assert routed.decision.registry_version == REGISTRY.version
    assert routed.decision.ruleset_version == RULES.version


@pytest.mark.parametrize(
    ("value", "topic", "code", "field"),
    [
        (b"{", "reports.line-fault", "invalid_report", ""),
        (b"\xff\xfe", "reports.line-fault", "invalid_report", ""),
        (None, "reports.line-fault", "invalid_report", ""),
        (b"[]", "reports.line-fault", "invalid_report", ""),
        (encoded(report("capacity_alarm", "x")), "reports.line-fault", "invalid_report", "kind"),
        (
            encoded(report("line_fault", "x", district="ha-noi")),
            "reports.line-fault",
            "unknown_reference",
            "district",
        ),
        (
            encoded(report("suspicious_parcel", "x", reported_by="nobody")),
            "reports.suspicious-parcel",
            "unknown_reference",
            "reported_by",
        ),
    ],
)
def test_bad_input_becomes_a_dead_letter_naming_field_and_source(value, topic, code, field):
    outcome = run(message(value, offset=41, topic=topic))
    assert not outcome.routed
    (letter,) = outcome.dead_letters
    assert letter.error.error == code
    assert field in {p.field for p in letter.error.problems}
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == (topic, 0, 41)
    assert (letter.value.to_bytes() if letter.value else None) == value


def test_a_routing_failure_dead_letters_the_group_instead_of_stopping(monkeypatch):
    def broken(*args):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(decisions, "route", broken)
    outcome = run(*(message(encoded(report("line_fault", f"r{n}")), offset=n) for n in range(3)))
    assert not outcome.routed
    assert [d.source.offset for d in outcome.dead_letters] == [0, 1, 2]
    assert all("rule bug" in d.error.problems[0].reason for d in outcome.dead_letters)


def test_the_same_line_collapses_with_count_and_span():
    times = ["2007-05-20T06:00:00+07:00", "2007-05-20T06:05:00+07:00", "2007-05-20T06:01:00+07:00"]
    outcome = run(
        *(
            message(encoded(report("line_fault", f"s{n}", occurred_at=t)), offset=n)
            for n, t in enumerate(times)
        )
    )
    (routed,) = outcome.routed
    assert routed.count == 3
    assert routed.first_seen == datetime.fromisoformat(times[0])
    assert routed.last_seen == datetime.fromisoformat(times[1])
    ids = {routed.report.report_id, *(r.report_id for r in routed.collapsed)}
    assert ids == {"s0", "s1", "s2"}


kinds = st.sampled_from(sorted(TOPIC_OF_KIND))
garbage = st.one_of(st.binary(max_size=40), st.just(b"{}"), st.none())
batches = st.lists(
    st.one_of(
        st.tuples(kinds, st.integers(0, 4)).map(lambda kl: ("report", kl)),
        garbage.map(lambda g: ("garbage", g)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(batches)
def test_every_message_ends_in_exactly_one_place(batch):
    messages = []
    for offset, (what, detail) in enumerate(batch):
        if what == "report":
            kind, line = detail
            payload = report(
                kind,
                f"p{offset}",
                **({"alarmed_object.id": f"L{line}"} if kind == "line_fault" else {}),
            )
            messages.append(message(encoded(payload), offset, TOPIC_OF_KIND[kind]))
        else:
            messages.append(message(detail, offset))
    outcome = process_batch(messages, rules=RULES, registry=REGISTRY, now=NOW)
    routed_ids = [
        i for r in outcome.routed for i in (r.report.report_id, *(c.report_id for c in r.collapsed))
    ]
    dead_offsets = [d.source.offset for d in outcome.dead_letters]
    routed_offsets = [int(i[1:]) for i in routed_ids]
    assert sorted(routed_offsets + dead_offsets) == list(range(len(messages)))
    assert outcome.messages == len(messages)
    # Built without re-validation for speed: what consumers decode must be the same thing.
    for routed in outcome.routed:
        assert decode(ROUTED_REPORT, encode(routed)) == routed


@pytest.mark.parametrize(
    ("topic", "overrides", "field"),
    [
        ("reports.vnpt-quang-nam.line-fault", {"reported_by": "viettel-quang-nam"}, "reported_by"),
        ("reports.vnpt-quang-nam.line-fault", {"operator": "viettel-quang-nam"}, "operator"),
        ("reports.viettel-quang-nam.line-fault", {}, "reported_by"),
    ],
)
def test_a_report_on_an_enterprise_topic_in_another_name_is_an_impersonation(
    topic, overrides, field
):
    outcome = run(message(encoded(report("line_fault", "imp", **overrides)), topic=topic))
    assert not outcome.routed
    (letter,) = outcome.dead_letters
    assert letter.error.error == "impersonation"
    assert [p.field for p in letter.error.problems] == [field]


def test_the_publisher_is_the_topic_s_enterprise_and_the_department_may_report_on_anyone():
    own = message(encoded(report("line_fault", "own")), topic="reports.vnpt-quang-nam.line-fault")
    department = message(
        encoded(
            report(
                "line_fault", "dept", reported_by="so-bcvt-quang-nam", **{"alarmed_object.id": "L2"}
            )
        ),
        offset=1,
        topic="reports.so-bcvt-quang-nam.line-fault",
    )
    outcome = run(own, department)
    assert not outcome.dead_letters
    assert {r.report.report_id for r in outcome.routed} == {"own", "dept"}


def test_a_kind_on_an_enterprise_topic_of_another_kind_is_refused():
    wrong = message(
        encoded(report("capacity_alarm", "w")), topic="reports.viettel-quang-nam.line-fault"
    )
    (letter,) = run(wrong).dead_letters
    assert letter.error.error == "invalid_report"
    assert letter.error.problems[0].field == "kind"
