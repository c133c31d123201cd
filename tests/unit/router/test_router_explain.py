"""The dry run for rule authors: text and JSON explanations of one report file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.errors import ContractError
from services.router import REFERENCE_RULES, RuleSetError
from services.router.explain import explain_file
from tests.support.router_samples import EXAMPLES

pytestmark = pytest.mark.unit

HOTLINE = EXAMPLES / "report.line-fault-election-hotline.json"
PARCEL = EXAMPLES / "report.suspicious-parcel-no-sender.json"


def test_text_shows_the_match_every_rule_tried_and_the_decision() -> None:
    text = explain_file(PARCEL)
    # The example is express mail about the election, which the article asks to speed up.
    assert "matched: election-parcel-copy-to-committee, parcel-election-urgent-mail" in text
    assert "  -  line-fault, line " in text
    assert "       the rule is for line_fault; this is a suspicious_parcel" in text
    assert "       indicator is addressed_to_election_body, damaged_packaging, no_sender;" in text
    assert "  +  election-parcel-copy-to-committee (continue), line " in text
    assert "  => parcel-election-urgent-mail, line " in text
    assert "     suspicious-parcel, line " in text
    assert "  primary: buu-dien-quang-nam" in text
    assert "  escalation: level 1 after PT0S: buu-dien-quang-nam; level 2 after PT15M:" in text
    assert "    - rule parcel-election-urgent-mail: Urgent or express election mail," in text


def test_json_carries_each_rule_outcome_and_the_decision() -> None:
    data = json.loads(explain_file(HOTLINE, as_json=True))
    assert data["report"]["incident_key"] == "line_fault:vnpt-quang-nam:HOTLINE-BAUCU-03"
    assert data["active_periods"] == ["election_days"]
    assert data["matched"] == ["election-hotline-copy-to-committee", "election-line-election-days"]
    outcomes = {rule["id"]: rule["outcome"] for rule in data["rules"]}
    assert outcomes["inspection-copy-to-department"] == "not matched"
    assert outcomes["line-fault"] == "not tried"
    assert data["decision"]["priority"] == "p1"
    assert data["decision"]["ruleset_version"] == data["ruleset_version"]


def test_another_rule_file_can_be_tried(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        REFERENCE_RULES.read_text(encoding="utf-8").replace("ack_within: PT5M", "ack_within: PT3M"),
        encoding="utf-8",
    )
    data = json.loads(explain_file(HOTLINE, rules, as_json=True))
    assert data["decision"]["ack_within"] == "PT3M"


def test_a_bad_report_or_rule_file_raises_for_the_cli_to_print(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"kind": "line_fault"}', encoding="utf-8")
    with pytest.raises(ContractError):
        explain_file(bad)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [", encoding="utf-8")
    with pytest.raises(RuleSetError, match="line 1: YAML syntax"):
        explain_file(HOTLINE, rules)
