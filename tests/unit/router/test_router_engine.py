"""The engine over the reference rule set: every district, kind and period; totality; why-nots."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from schemas.references import check_references
from schemas.reports import AnyReport
from services.router import REFERENCE_RULES, load_rule_set
from services.router.engine import RuleOutcome, explain, route
from tests.support.router_samples import DISTRICTS, REGISTRY, WHEN, make, reports

pytestmark = pytest.mark.unit

RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
# Loaded twice: a decision must not depend on which load of the same file made it.
RULES_AGAIN = load_rule_set(REFERENCE_RULES, REGISTRY)
DEPARTMENT, POLICE, COMMITTEE = "so-bcvt-quang-nam", "cong-an-quang-nam", "uy-ban-bau-cu-quang-nam"
PROVINCIAL_POST, VNPT = "buu-dien-quang-nam", "vnpt-quang-nam"


def decide(report: AnyReport):
    """Route with the reference rules, after the intake's reference check."""
    assert check_references(report, REGISTRY) == ()
    return route(report, RULES, REGISTRY, RULES.calendar)


def peers(district: str, primary: str) -> tuple[str, ...]:
    return tuple(e.id for e in REGISTRY.operators_in(district) if e.id != primary)


def line(at: str, district: str, service_class: str, critical: bool, **more) -> AnyReport:
    changes = {"alarmed_object.service_class": service_class, "alarmed_object.id": "VNPT-L-1"}
    return make(
        "line_fault", WHEN[at], district=district, election_critical=critical, **changes, **more
    )


LINE_CASES = [
    # (period, service class, election_critical) -> (rule, priority, ack, resolve)
    ("election_days", "election_hotline", True, "election-line-election-days", "p1", 300, 3600),
    ("election_night", "subscriber", True, "election-line-election-days", "p1", 300, 3600),
    ("inspection", "election_hotline", True, "election-line", "p2", 900, 14400),
    ("none", "subscriber", True, "election-line", "p2", 900, 14400),
    ("election_days", "trunk", False, "backbone-fault-election-days", "p1", 600, 7200),
    ("none", "transmission", False, "backbone-fault", "p2", 900, 14400),
    ("inspection", "trunk", False, "backbone-fault", "p2", 900, 14400),
    ("election_days", "subscriber", False, "line-fault-election-days", "p3", 1800, 28800),
    ("none", "subscriber", False, "line-fault", "p4", 7200, 86400),
    ("inspection", "election_hotline", False, "line-fault", "p4", 7200, 86400),
]


@pytest.mark.parametrize("district", DISTRICTS)
@pytest.mark.parametrize(
    ("at", "service_class", "critical", "rule", "priority", "ack", "fix"), LINE_CASES
)
def test_line_faults(district, at, service_class, critical, rule, priority, ack, fix) -> None:
    decision = decide(line(at, district, service_class, critical))
    assert (decision.rule_id, decision.priority.value) == (rule, priority)
    assert (decision.ack_within.total_seconds(), decision.resolve_within.total_seconds()) == (
        ack,
        fix,
    )
    assert decision.primary == VNPT
    # The example is a critical alarm, which the Department also gets during its inspection.
    told = critical or rule == "backbone-fault-election-days" or at == "inspection"
    assert (DEPARTMENT in decision.notified) == told
    assert (COMMITTEE in decision.notified) == (service_class == "election_hotline")
    assert decision.escalation[-1].notify == (DEPARTMENT,)
    assert decision.ruleset_version == RULES.version
    assert decision.registry_version == REGISTRY.version


CAPACITY_CASES = [
    ("election_night", "minor", "capacity-election-night", "p1", True),
    ("election_days", "critical", "capacity-election-days", "p2", True),
    ("inspection", "critical", "capacity-alarm", "p3", True),
    ("none", "critical", "capacity-alarm", "p3", False),
    ("none", "warning", "capacity-alarm", "p3", False),
    ("inspection", "minor", "capacity-alarm", "p3", False),
]


@pytest.mark.parametrize("district", DISTRICTS)
@pytest.mark.parametrize(("at", "severity", "rule", "priority", "department"), CAPACITY_CASES)
def test_capacity_alarms_ask_peer_operators_to_share(
    district, at, severity, rule, priority, department
) -> None:
    report = make(
        "capacity_alarm",
        WHEN[at],
        district=district,
        operator=VNPT,
        reported_by=VNPT,
        perceived_severity=severity,
        **{"alarmed_object.id": "VNPT-NET-SW-1"},
    )
    decision = decide(report)
    assert (decision.rule_id, decision.priority.value) == (rule, priority)
    assert decision.primary == VNPT
    assert decision.support == peers(district, VNPT)
    assert (DEPARTMENT in decision.notified) == department
    assert decision.escalation[-1].notify == (DEPARTMENT,)


PARCEL_CASES = [
    ("none", ["threatening_content"], "parcel-threat", "p1"),
    ("election_days", ["no_sender"], "parcel-election-days", "p1"),
    ("inspection", ["no_sender", "damaged_packaging"], "suspicious-parcel", "p2"),
    ("none", ["other"], "suspicious-parcel", "p2"),
]


@pytest.mark.parametrize("district", DISTRICTS)
@pytest.mark.parametrize(("at", "indicators", "rule", "priority"), PARCEL_CASES)
@pytest.mark.parametrize("election_related", [True, False])
# Ordinary items: urgent and express election mail has its own rule (test_router_election_mail).
@pytest.mark.parametrize("item_type", ["letter", "parcel"])
def test_suspicious_parcels_go_to_the_provincial_post(
    district, at, indicators, rule, priority, election_related, item_type
) -> None:
    office = REGISTRY.post_office_for(district).id
    report = make(
        "suspicious_parcel",
        WHEN[at],
        district=district,
        post_office=office,
        reported_by=office,
        indicators=indicators,
        election_related=election_related,
        **{"item.type": item_type},
    )
    decision = decide(report)
    assert (decision.rule_id, decision.priority.value) == (rule, priority)
    assert decision.primary == PROVINCIAL_POST
    assert decision.support == (office,)
    assert {POLICE, DEPARTMENT} <= set(decision.notified)
    assert (COMMITTEE in decision.notified) == election_related
    assert decision.escalation[-1].notify == (DEPARTMENT, POLICE)


@pytest.mark.parametrize("kind", ["line_fault", "capacity_alarm"])
@pytest.mark.parametrize("at", ["election_days", "election_night", "none"])
def test_a_clear_is_routed_like_the_alarm_it_clears(kind: str, at: str) -> None:
    alarm = decide(make(kind, WHEN[at], perceived_severity="critical"))
    clear = decide(make(kind, WHEN[at], perceived_severity="cleared"))
    same = ("rule_id", "primary", "support", "priority", "ack_within", "resolve_within")
    assert [getattr(clear, f) for f in same] == [getattr(alarm, f) for f in same]


def test_major_alarms_during_the_inspection_are_copied_to_the_department() -> None:
    major = decide(line("inspection", "hoi-an", "subscriber", False, perceived_severity="major"))
    minor = decide(line("inspection", "hoi-an", "subscriber", False, perceived_severity="minor"))
    assert major.rule_id == minor.rule_id == "line-fault"
    assert DEPARTMENT in major.notified
    assert DEPARTMENT not in minor.notified
    assert any("inspection-copy-to-department" in r for r in major.reasons)


def test_the_seed_hotline_case_says_why_in_words() -> None:
    decision = decide(make("line_fault"))
    assert decision.reasons[:2] == (
        "rule election-line-election-days: Election-critical line fault during the election days.",
        "occurred during election_days (2007-05-19..2007-05-21 Asia/Ho_Chi_Minh)",
    )
    assert "owner of line HOTLINE-BAUCU-03 is vnpt-quang-nam per registry" in decision.reasons
    assert (decision.primary, decision.notified) == (VNPT, (DEPARTMENT, COMMITTEE))


def test_the_owner_of_the_line_handles_it_not_the_reporter() -> None:
    report = make("line_fault", operator="viettel-quang-nam", reported_by="viettel-quang-nam")
    assert decide(report).primary == VNPT


def test_an_unowned_line_falls_back_to_the_reporting_operator() -> None:
    report = make("line_fault", **{"alarmed_object.id": "NOBODY-1"})
    decision = decide(report)
    assert (decision.rule_id, decision.primary) == ("election-line-election-days", VNPT)
    assert "no owner of line NOBODY-1 in the registry" not in decision.reasons


def test_explain_says_why_each_earlier_rule_did_not_match() -> None:
    report = make("suspicious_parcel", WHEN["none"], election_related=False)
    explanation = explain(report, RULES, REGISTRY, RULES.calendar)
    outcomes = [t.outcome for t in explanation.trials]
    assert outcomes[-1] is RuleOutcome.DECIDED
    assert explanation.matched[-1].id == "suspicious-parcel"
    for trial in explanation.trials[:-1]:
        assert trial.outcome is RuleOutcome.NOT_MATCHED
        assert trial.why_not(report), trial.rule.id
    why = {t.rule.id: t.why_not(report) for t in explanation.trials}
    assert why["line-fault"] == ("the rule is for line_fault; this is a suspicious_parcel",)
    assert why["election-parcel-copy-to-committee"] == (
        "election_related is false; the rule needs true",
    )
    assert why["parcel-election-days"] == (
        "occurred_at 2007-05-25T10:00:00+07:00 falls in no period; the rule needs election_days",
    )
    assert why["parcel-threat"] == (
        "indicator is addressed_to_election_body, damaged_packaging, no_sender;"
        " the rule needs leak_or_odour, threatening_content",
    )


def test_rules_after_the_deciding_one_are_not_tried() -> None:
    explanation = explain(make("line_fault"), RULES, REGISTRY, RULES.calendar)
    decided = [t.outcome for t in explanation.trials].index(RuleOutcome.DECIDED)
    assert {t.outcome for t in explanation.trials[decided + 1 :]} == {RuleOutcome.NOT_TRIED}


def test_a_primary_nobody_owns_makes_the_rule_miss_and_a_later_one_decide(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        REFERENCE_RULES.read_text(encoding="utf-8").replace(
            "primary: [owner_of_line, operator]", "primary: owner_of_line", 1
        ),
        encoding="utf-8",
    )
    rule_set = load_rule_set(rules, REGISTRY)
    report = make("line_fault", **{"alarmed_object.id": "NOBODY-1"})
    explanation = explain(report, rule_set, REGISTRY, rule_set.calendar)
    why = {t.rule.id: t.why_not(report) for t in explanation.trials}
    assert why["election-line-election-days"] == ("no owner of line NOBODY-1 in the registry",)
    assert explanation.decision.rule_id == "election-line"
    assert explanation.decision.primary == VNPT


SLOW = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(reports())
def test_every_valid_report_gets_exactly_one_decision(report: AnyReport) -> None:
    explanation = explain(report, RULES, REGISTRY, RULES.calendar)
    outcomes = [t.outcome for t in explanation.trials]
    assert outcomes.count(RuleOutcome.DECIDED) == 1
    decided = outcomes.index(RuleOutcome.DECIDED)
    assert set(outcomes[:decided]) <= {RuleOutcome.NOT_MATCHED, RuleOutcome.ADDED}
    assert set(outcomes[decided + 1 :]) <= {RuleOutcome.NOT_TRIED}
    decision = explanation.decision
    assert decision.rule_id == explanation.trials[decided].rule.id
    assert decision.primary not in (*decision.notified, *decision.support)
    assert DEPARTMENT in decision.escalation[-1].notify


@SLOW
@given(reports())
def test_the_same_inputs_give_the_same_decision(report: AnyReport) -> None:
    first = route(report, RULES, REGISTRY, RULES.calendar)
    assert route(report, RULES_AGAIN, REGISTRY, RULES_AGAIN.calendar) == first
    assert route(report.model_copy(), RULES, REGISTRY, RULES.calendar) == first
