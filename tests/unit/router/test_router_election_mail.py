"""The reference rules' urgent election mail: what the seed article asks, and how it routes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.references import check_references
from schemas.reports import AnyReport
from schemas.routing import Priority
from services.router import REFERENCE_RULES, load_rule_set
from services.router.engine import explain, route
from services.router.explain import render_explanation
from tests.support.router_samples import REGISTRY, WHEN, make

pytestmark = pytest.mark.unit

RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
RULE = next(rule for rule in RULES.rules if rule.id == "parcel-election-urgent-mail")
# The seed article, kept in the repository so the rules can always be checked against it.
SEED = Path(__file__).resolve().parents[3] / "docs/quang-nam-2007-election-communications.vi.txt"
POLICE, DEPARTMENT = "cong-an-quang-nam", "so-bcvt-quang-nam"
COMMITTEE, PROVINCIAL_POST = "uy-ban-bau-cu-quang-nam", "buu-dien-quang-nam"
URGENT, ORDINARY = ("urgent_mail", "express_mail"), ("letter", "parcel")


def parcel(at: str, item_type: str, election_related: bool, **more: object) -> AnyReport:
    """A suspicious item at the Điện Bàn post office, which passes the intake's check."""
    report = make(
        "suspicious_parcel",
        WHEN[at],
        election_related=election_related,
        **{"item.type": item_type, "indicators": ["no_sender"], **more},
    )
    assert check_references(report, REGISTRY) == ()
    return report


def decide(report: AnyReport):
    return route(report, RULES, REGISTRY, RULES.calendar)


def test_the_rule_quotes_the_article_word_for_word() -> None:
    assert SEED.is_file(), f"the seed article is not at {SEED}"
    quoted = re.findall(r'"([^"]+)"', RULE.description)
    assert quoted == ["các loại thư khẩn, hỏa tốc liên quan đến cuộc bầu cử"]
    assert quoted[0] in SEED.read_text(encoding="utf-8")


@pytest.mark.parametrize("at", sorted(WHEN))
@pytest.mark.parametrize("item_type", URGENT)
def test_urgent_election_mail_is_handled_first_and_fastest(at: str, item_type: str) -> None:
    decision = decide(parcel(at, item_type, True))
    assert decision.rule_id == RULE.id
    deadlines = (decision.ack_within, decision.resolve_within)
    assert decision.priority is Priority.P1
    assert deadlines == (timedelta(minutes=5), timedelta(hours=1))
    assert (decision.primary, decision.support) == (PROVINCIAL_POST, ("buu-dien-dien-ban",))
    assert {POLICE, DEPARTMENT, COMMITTEE} <= set(decision.notified)
    assert decision.escalation[-1].notify == (DEPARTMENT, POLICE)


@pytest.mark.parametrize("at", sorted(WHEN))
@pytest.mark.parametrize("item_type", URGENT)
def test_faster_than_the_same_item_not_about_the_election(at: str, item_type: str) -> None:
    urgent = decide(parcel(at, item_type, True))
    other = decide(parcel(at, item_type, False))
    assert other.rule_id != RULE.id
    order = list(Priority)
    assert order.index(urgent.priority) <= order.index(other.priority)
    assert urgent.ack_within < other.ack_within
    assert urgent.resolve_within < other.resolve_within
    assert COMMITTEE not in other.notified


@pytest.mark.parametrize(
    ("at", "rule", "priority"),
    [
        ("none", "suspicious-parcel", Priority.P2),
        ("election_days", "parcel-election-days", Priority.P1),
    ],
)
@pytest.mark.parametrize("item_type", ORDINARY)
def test_an_ordinary_item_about_the_election_keeps_the_parcel_rules(
    at: str, rule: str, priority: Priority, item_type: str
) -> None:
    decision = decide(parcel(at, item_type, True))
    assert (decision.rule_id, decision.priority) == (rule, priority)
    assert {POLICE, DEPARTMENT, COMMITTEE} <= set(decision.notified)


def test_a_dangerous_urgent_item_is_still_a_threat_first() -> None:
    decision = decide(parcel("none", "express_mail", True, indicators=["leak_or_odour"]))
    assert decision.rule_id == "parcel-threat"


def test_explain_shows_the_rule_and_the_article_reason() -> None:
    explanation = explain(parcel("none", "urgent_mail", True), RULES, REGISTRY, RULES.calendar)
    assert [rule.id for rule in explanation.matched] == [
        "election-parcel-copy-to-committee",
        RULE.id,
    ]
    text = render_explanation(explanation)
    assert f"  => {RULE.id}, line {RULE.line}" in text
    assert f"    - rule {RULE.id}: {RULE.description}" in text


@pytest.mark.parametrize(
    ("item_type", "election_related", "why"),
    [
        ("letter", True, "item_type is letter; the rule needs express_mail, urgent_mail"),
        ("urgent_mail", False, "election_related is false; the rule needs true"),
    ],
)
def test_explain_says_why_other_items_miss_it(
    item_type: str, election_related: bool, why: str
) -> None:
    report = parcel("none", item_type, election_related)
    explanation = explain(report, RULES, REGISTRY, RULES.calendar)
    trial = next(t for t in explanation.trials if t.rule.id == RULE.id)
    assert trial.why_not(report) == (why,)
