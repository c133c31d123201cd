"""What verify finds: broken chains, set-aside messages, lost reports, decisions not reproduced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.chain import GENESIS_HASH, canonical_json, chain_hash
from schemas.registry import load_registry
from services.auditor.checks import (
    RoutingCase,
    chain_findings,
    recorder_findings,
    report_findings,
    routing_findings,
)
from services.auditor.reportlog import ReportSeen, identity
from services.auditor.rulebook import RuleBook
from services.router import REFERENCE_RULES, load_rule_set
from tests.support.audit_history import scenario

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def chained(incident: str, count: int) -> list[dict]:
    rows, prev = [], GENESIS_HASH
    for sequence in range(1, count + 1):
        event = {"event_id": f"{incident}:{sequence}", "incident_id": incident,
                 "sequence": sequence, "type": "note_added"}  # fmt: skip
        digest = chain_hash(prev, canonical_json(event))
        rows.append({**event, "event": canonical_json(event), "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def heads(rows: list[dict]) -> dict[str, tuple[int, str]]:
    return {r["incident_id"]: (r["sequence"], r["hash"]) for r in rows}


def test_intact_chains_give_no_finding():
    rows = chained("a", 3) + chained("b", 2)
    assert list(chain_findings(rows, heads(rows))) == []


def test_each_incident_with_a_break_gives_one_finding_naming_the_event():
    a, b, c = chained("a", 3), chained("b", 3), chained("c", 2)
    all_heads = heads(a + b + c)
    a[1] = {**a[1], "event": a[1]["event"].replace("note_added", "note_edited")}
    del b[1]

    found = list(chain_findings(a + b + c[:1], all_heads | {"d": (1, "x")}))

    by_incident = {f.incident: f for f in found}
    assert set(by_incident) == {"a", "b", "c", "d"}
    assert by_incident["a"].event == "a:2" and "column type" in by_incident["a"].reason
    assert by_incident["b"].event == "b:3" and "3 where 2 was due" in by_incident["b"].reason
    assert "head is at 2" in by_incident["c"].reason
    assert "no event of it is recorded" in by_incident["d"].reason


def test_rows_without_a_projection_row_are_found():
    rows = chained("a", 2)
    (finding,) = chain_findings(rows, {})
    assert finding.incident == "a" and "no row" in finding.reason


def test_messages_the_recorder_set_aside_are_findings():
    row = {"topic": "incidents.events", "partition": 2, "offset": 9, "key": b"k", "reason": "gap"}
    (finding,) = recorder_findings([row])
    assert finding.event == "incidents.events:2:9" and finding.reason == "not recorded: gap"


def seen(offset: int, rid: str | None, age_s: float) -> ReportSeen:
    at = NOW - timedelta(seconds=age_s)
    return ReportSeen("reports.line-fault", 0, offset, at, "vnpt" if rid else None, rid)


def test_reports_are_accounted_for_by_an_event_or_a_dead_letter_or_are_in_flight():
    reports = [seen(0, "r0", 600), seen(1, None, 600), seen(2, "r2", 600), seen(3, "r3", 5)]
    found, in_flight = report_findings(
        reports,
        {("vnpt", "r0")},
        {("reports.line-fault", 0, 1)},
        now=NOW,
        grace=timedelta(seconds=60),
    )
    assert in_flight == 1
    (lost,) = found
    assert lost.event == "reports.line-fault:0:2" and "report r2 by vnpt" in lost.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"reported_by": "a", "report_id": "b"}', ("a", "b")),
        (b"{ not json", (None, None)),
        (b"[1]", (None, None)),
        (None, (None, None)),
        (b'{"reported_by": 3}', (None, None)),
        (b"[" * 100_000, (None, None)),  # nesting deeper than the parser's recursion limit
        (b'{"report_id": "b", "x": ' + b"[" * 100_000, (None, None)),
        (b"\xff\xfe", (None, None)),
    ],
    ids=["readable", "not json", "not an object", "tombstone", "wrong type", "deep", "deep in",
         "not utf-8"],
)  # fmt: skip
def test_a_report_message_is_identified_as_far_as_it_can_be_read(value, expected):
    assert identity(value) == expected


def cases() -> list[RoutingCase]:
    history = scenario(3, rules=RULES, registry=REGISTRY)
    reports = {e.incident_id: e.report for e in history.events if e.type == "incident_opened"}
    return [
        RoutingCase(e.incident_id, e.event_id, e.occurred_at, e.decision, reports[e.incident_id])
        for e in history.events
        if e.type == "incident_routed"
    ]


ACTIVE = [(datetime(2007, 1, 1, tzinfo=UTC), RULES.version)]


def test_decisions_reproduce_with_the_rule_set_they_recorded():
    book = RuleBook(REGISTRY, [REFERENCE_RULES])
    found = routing_findings(cases(), book=book, registry=REGISTRY, activations=ACTIVE)
    assert list(found) == []


def test_a_decision_that_routing_again_does_not_give_is_found():
    case = cases()[0]
    forged = case.decision.model_copy(update={"primary": "sfone-quang-nam"})
    book = RuleBook(REGISTRY, [REFERENCE_RULES])
    (finding,) = routing_findings(
        [RoutingCase(case.incident_id, case.event_id, case.occurred_at, forged, case.report)],
        book=book,
        registry=REGISTRY,
        activations=ACTIVE,
    )
    assert finding.check == "routing" and "primary: recorded 'sfone-quang-nam'" in finding.reason


def test_unknown_rules_and_unactivated_rules_are_found(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [")
    book = RuleBook(REGISTRY, [broken])
    found = list(routing_findings(cases()[:1], book=book, registry=REGISTRY, activations=[]))
    assert {f.check for f in found} == {"ruleset", "routing"}
    assert any("not recorded in the log" in f.reason for f in found)
    assert broken in book.unreadable


def test_rules_given_as_text_from_the_log_are_found_by_version():
    text = REFERENCE_RULES.read_text().replace("ack_within: PT5M", "ack_within: PT2M", 1)
    book = RuleBook(REGISTRY, [], [text, text, "rules: ["])
    assert len(book.versions) == 1 and RULES.version not in book.versions
    assert len(book.unreadable) == 1
