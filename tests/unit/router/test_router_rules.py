"""Loading rule files: every mistake fails with file, line, rule and reason; versions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from services.router import REFERENCE_RULES, RuleSetError, load_rule_set
from tests.support.router_samples import REGISTRY, REGISTRY_ZONE

pytestmark = pytest.mark.unit

HEAD = """\
timezone: Asia/Ho_Chi_Minh
periods:
  election_days: {start: 2007-05-19, end: 2007-05-21}
roles:
  department: [so-bcvt-quang-nam]
rules:
"""
CATCH_ALLS = """\
  - id: lines
    description: Every line fault.
    when: {kind: line_fault}
    then: {primary: operator, priority: p3, ack_within: PT1H, resolve_within: P1D}
  - id: capacity
    description: Every capacity alarm.
    when: {kind: capacity_alarm}
    then: {primary: operator, priority: p3, ack_within: PT1H, resolve_within: P1D}
  - id: parcels
    description: Every suspicious parcel.
    when: {kind: suspicious_parcel}
    then: {primary: buu-dien-quang-nam, priority: p2, ack_within: PT1H, resolve_within: P1D}
"""


def rule(body: str, rule_id: str = "first") -> str:
    """One rule before the catch-alls; `body` holds its when/then lines."""
    return f"  - id: {rule_id}\n    description: A rule under test.\n{body}"


GOOD_THEN = "    then: {primary: operator, priority: p1, ack_within: PT5M, resolve_within: PT1H}\n"


def load(tmp_path: Path, rules: str, head: str = HEAD):
    path = tmp_path / "rules.yaml"
    path.write_text(head + rules, encoding="utf-8")
    return load_rule_set(path, REGISTRY)


def test_a_minimal_rule_set_loads(tmp_path: Path) -> None:
    rule_set = load(tmp_path, CATCH_ALLS)
    assert [r.id for r in rule_set.rules] == ["lines", "capacity", "parcels"]
    assert rule_set.version.startswith("sha256:") and len(rule_set.version) == 71
    assert rule_set.source == tmp_path / "rules.yaml"


BAD = [
    # (rules text, line, rule id, reason fragment)
    (
        rule(
            "    when: {kind: line_fault}\n    then: {primary: vnpt, priority: p1,"
            " ack_within: PT5M, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "unknown enterprise, role or resolver 'vnpt'",
    ),
    (
        rule("    when: {kind: line_fault, district: tay-gian}\n" + GOOD_THEN),
        9,
        "first",
        "unknown district 'tay-gian' in the registry",
    ),
    (
        rule("    when: {kind: line_fault, severty: major}\n" + GOOD_THEN),
        9,
        "first",
        "unknown condition 'severty'",
    ),
    (
        rule("    when: {kind: line_fault}\n    then: {primary: operator, priorty: p1}\n"),
        10,
        "first",
        "Extra inputs are not permitted",
    ),
    (
        rule(
            "    when: {kind: line_fault}\n    then: {primary: operator, priority: p1,"
            " ack_within: 15 minutes, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "bad duration '15 minutes': write ISO 8601",
    ),
    (
        rule(
            "    when: {kind: line_fault}\n    then: {primary: operator, priority: p1,"
            " ack_within: PT0M, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "bad duration 'PT0M': must be positive",
    ),
    (
        rule(
            "    when: {kind: line_fault}\n    then: {primary: operator, priority: p1,"
            " ack_within: -PT5M, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "must be positive",
    ),
    (
        rule("    when: {kind: line_fault, period: polling_day}\n" + GOOD_THEN),
        9,
        "first",
        "unknown period 'polling_day'; periods: election_days",
    ),
    (
        # A list as a period is not hashable: a clear refusal, not a TypeError.
        rule("    when: {kind: line_fault, period: [[polling_day]]}\n" + GOOD_THEN),
        9,
        "first",
        "unknown period ['polling_day']",
    ),
    (
        rule("    when: {kind: line_fault, period: {a: 1}}\n" + GOOD_THEN),
        9,
        "first",
        "unknown period {'a': 1}",
    ),
    (
        rule(
            "    when: {kind: suspicious_parcel}\n    then: {primary: owner_of_line,"
            " priority: p1, ack_within: PT5M, resolve_within: PT1H}\n"
        ),
        9,
        "first",
        "owner_of_line does not apply to suspicious_parcel",
    ),
    (
        rule("    continue: true\n    when: {kind: line_fault}\n" + GOOD_THEN),
        11,
        "first",
        "a continuing rule may only set notify and support, not primary",
    ),
    (
        rule("    when: {kind: line_fault}\n    then: {primary: operator}\n"),
        10,
        "first",
        "a rule that does not continue must set priority",
    ),
    (
        rule(
            "    when: {kind: capacity_alarm}\n    then: {primary: peer_operators_in_district,"
            " priority: p1, ack_within: PT5M, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "may stand for several enterprises; a primary is one",
    ),
    (
        rule(
            "    when: {kind: line_fault}\n    then: {primary: operator, priority: p1,"
            " ack_within: PT2H, resolve_within: PT1H}\n"
        ),
        10,
        "first",
        "ack_within is longer than resolve_within",
    ),
    (
        rule("    when: {kind: line_fault}\n" + GOOD_THEN, rule_id="lines"),
        11,
        "lines",
        "rule id 'lines' is also used by rule #1",
    ),
]


@pytest.mark.parametrize(("text", "line", "rule_id", "reason"), BAD)
def test_mistakes_name_file_line_rule_and_reason(tmp_path, text, line, rule_id, reason) -> None:
    with pytest.raises(RuleSetError) as caught:
        load(tmp_path, text + CATCH_ALLS)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.rule) == (tmp_path / "rules.yaml", line, rule_id)
    assert reason in problem.reason
    assert f"rules.yaml, line {line}, rule {rule_id}" in str(caught.value)


def test_a_rule_an_earlier_one_always_matches_is_refused(tmp_path: Path) -> None:
    earlier = rule("    when: {kind: line_fault, election_critical: true}\n" + GOOD_THEN, "wide")
    later = rule(
        "    when: {kind: line_fault, election_critical: true, period: election_days,"
        " district: [tam-ky, hoi-an]}\n" + GOOD_THEN,
        "narrow",
    )
    with pytest.raises(RuleSetError) as caught:
        load(tmp_path, earlier + later + CATCH_ALLS)
    (problem,) = caught.value.problems
    assert (problem.rule, problem.line) == ("narrow", 11)
    assert problem.reason == "never matches: earlier rule wide (line 7) always matches first"


def test_the_catch_all_shadows_every_later_rule_of_its_kind(tmp_path: Path) -> None:
    late = rule("    when: {kind: line_fault, election_critical: true}\n" + GOOD_THEN, "late")
    with pytest.raises(
        RuleSetError,
        match=r"rule late, key rules\[3\]: never matches: earlier rule lines \(line 7\)",
    ):
        load(tmp_path, CATCH_ALLS + late)


@pytest.mark.parametrize(
    "earlier",
    [
        # Not shadowing: the earlier rule can fail to find its primary...
        "    when: {kind: line_fault}\n    then: {primary: owner_of_line, priority: p1,"
        " ack_within: PT5M, resolve_within: PT1H}\n",
        # ...only continues...
        "    continue: true\n    when: {kind: line_fault}\n    then: {notify: department}\n",
        # ...or tests something the later rule does not.
        "    when: {kind: line_fault, period: election_days}\n" + GOOD_THEN,
    ],
)
def test_rules_that_may_not_match_shadow_nothing(tmp_path: Path, earlier: str) -> None:
    assert len(load(tmp_path, rule(earlier) + CATCH_ALLS).rules) == 4


def test_a_condition_listing_every_value_constrains_nothing(tmp_path: Path) -> None:
    wide = rule("    when: {kind: line_fault, election_critical: [true, false]}\n" + GOOD_THEN)
    with pytest.raises(
        RuleSetError, match=r"rule lines, key rules\[1\]: never matches: earlier rule first"
    ):
        load(tmp_path, wide + CATCH_ALLS)


def test_a_kind_without_any_rule_is_refused(tmp_path: Path) -> None:
    without_parcels = CATCH_ALLS[: CATCH_ALLS.index("  - id: parcels")]
    with pytest.raises(RuleSetError) as caught:
        load(tmp_path, without_parcels)
    assert [p.reason for p in caught.value.problems] == [
        "no rule covers report kind suspicious_parcel"
    ]
    assert caught.value.problems[0].line == 6


def test_a_kind_whose_rules_can_all_miss_is_refused(tmp_path: Path) -> None:
    text = CATCH_ALLS.replace(
        "when: {kind: suspicious_parcel}", "when: {kind: suspicious_parcel, election_related: true}"
    )
    with pytest.raises(RuleSetError, match="no catch-all rule for suspicious_parcel"):
        load(tmp_path, text)


def test_a_primary_lookup_that_can_fail_is_no_catch_all(tmp_path: Path) -> None:
    text = CATCH_ALLS.replace(
        "{primary: operator, priority: p3", "{primary: owner_of_line, priority: p3", 1
    )
    with pytest.raises(RuleSetError, match="no catch-all rule for line_fault"):
        load(tmp_path, text)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    broken = CATCH_ALLS.replace(
        "    when: {kind: capacity_alarm}", "    when: {kind: capacity_alarm"
    )
    with pytest.raises(RuleSetError) as caught:
        load(tmp_path, broken)
    (problem,) = caught.value.problems
    assert problem.line == 14
    assert problem.reason == (
        "YAML syntax: expected ',' or '}', but got ':' (while parsing a flow mapping on line 13)"
    )


def test_a_repeated_key_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    twice = rule("    when: {kind: line_fault}\n    when: {kind: capacity_alarm}\n" + GOOD_THEN)
    with pytest.raises(
        RuleSetError, match="line 9, rule first, key rules\\[0\\].when: key repeated"
    ):
        load(tmp_path, twice + CATCH_ALLS)


@pytest.mark.parametrize(
    ("period", "reason"),
    [
        ("{start: 2007-05-21, end: 2007-05-19}", "period election_days ends before it starts"),
        ("{start: 2007-05-19, end: 2007-05-21, timezone: Mars/Olympus}", "unknown time zone"),
        ("{start: 2007-05-19T00:00+07:00, end: 2007-05-21}", "write local time without an offset"),
        ("{start: 2007-05-19, end: 2007-05-21, until: 2007-05-22}", "Extra inputs"),
    ],
)
def test_bad_periods_are_refused(tmp_path: Path, period: str, reason: str) -> None:
    head = HEAD.replace("{start: 2007-05-19, end: 2007-05-21}", period)
    with pytest.raises(RuleSetError, match=reason) as caught:
        load(tmp_path, CATCH_ALLS, head)
    assert caught.value.problems[0].line == 3


def test_periods_are_local_time_and_a_bare_end_date_includes_that_day(tmp_path: Path) -> None:
    calendar = load(tmp_path, CATCH_ALLS).calendar
    inside = datetime(2007, 5, 21, 23, 59, tzinfo=REGISTRY_ZONE)
    assert calendar.active_at(inside) == {"election_days"}
    assert calendar.active_at(datetime(2007, 5, 22, tzinfo=REGISTRY_ZONE)) == frozenset()
    # 18 May 17:00 UTC is already 19 May, midnight, in Quảng Nam.
    assert calendar.active_at(datetime.fromisoformat("2007-05-18T17:00:00+00:00")) == {
        "election_days"
    }
    assert calendar.active_at(datetime.fromisoformat("2007-05-18T16:59:59+00:00")) == frozenset()
    with pytest.raises(ValueError, match="aware"):
        calendar.active_at(datetime(2007, 5, 20))


def test_the_reference_calendar() -> None:
    calendar = load_rule_set(REFERENCE_RULES, REGISTRY).calendar
    assert [p.describe() for p in calendar.periods] == [
        "election_days (2007-05-19..2007-05-21 Asia/Ho_Chi_Minh)",
        "election_night (2007-05-20 17:00..2007-05-21 08:00 Asia/Ho_Chi_Minh)",
        "inspection (2007-05-08..2007-05-15 Asia/Ho_Chi_Minh)",
    ]


def test_version_ignores_comments_layout_and_key_order(tmp_path: Path) -> None:
    original = load(tmp_path, CATCH_ALLS).version
    reflowed = CATCH_ALLS.replace(
        "    when: {kind: line_fault}\n",
        "    # every line fault ends here\n    when:\n      kind:   line_fault\n\n",
    ).replace("{primary: operator, priority: p3,", "{priority: p3, primary: operator,", 1)
    assert load(tmp_path, reflowed, "# a comment\n" + HEAD).version == original


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("resolve_within: P1D}\n  - id: capacity", "resolve_within: P2D}\n  - id: capacity"),
        ("Every line fault.", "Every line fault, told apart."),
        ("department: [so-bcvt-quang-nam]", "department: [cong-an-quang-nam]"),
        ("end: 2007-05-21}", "end: 2007-05-22}"),
    ],
)
def test_version_changes_with_any_value(tmp_path: Path, old: str, new: str) -> None:
    original = load(tmp_path, CATCH_ALLS).version
    text = (HEAD + CATCH_ALLS).replace(old, new, 1)
    assert text != HEAD + CATCH_ALLS
    assert load(tmp_path, text, head="").version != original


def test_version_changes_with_rule_order(tmp_path: Path) -> None:
    parcels = CATCH_ALLS.index("  - id: parcels")
    swapped = CATCH_ALLS[parcels:] + CATCH_ALLS[:parcels]
    assert load(tmp_path, swapped).version != load(tmp_path, CATCH_ALLS).version


def test_an_unreadable_file_is_a_rule_set_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="cannot read"):
        load_rule_set(tmp_path / "missing.yaml", REGISTRY)
