"""The incident page's routing explanation: the router's, only with the rule set it routed by."""

from __future__ import annotations

import json

import pytest

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.example_reports import report
from schemas.registry import load_registry
from services.gateway.explanations import explanation_for
from services.router import REFERENCE_RULES, load_rule_set, route

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
OPENING = report("line_fault", "r-1")


def events(ruleset_version: str) -> list[dict]:
    decision = route(
        decode(REPORT, json.dumps(OPENING).encode()), RULES, REGISTRY, RULES.calendar
    ).model_dump(mode="json")
    return [
        {"type": "incident_opened", "report": OPENING},
        {"type": "incident_routed", "decision": decision | {"ruleset_version": ruleset_version}},
    ]


def test_the_router_rules_explain_an_incident_they_routed(monkeypatch):
    monkeypatch.delenv("SIGNALPOST_ROUTER_RULES_FILE", raising=False)
    explanation, unavailable = explanation_for(events(RULES.version), REGISTRY)
    assert unavailable is None
    assert explanation["ruleset_version"] == RULES.version
    assert explanation["report"]["report_id"] == "r-1"
    assert explanation["decision"] == events(RULES.version)[1]["decision"]


def test_another_rule_set_version_gives_no_explanation_and_says_why(monkeypatch):
    monkeypatch.delenv("SIGNALPOST_ROUTER_RULES_FILE", raising=False)
    older = "sha256:" + "cd" * 32
    explanation, unavailable = explanation_for(events(older), REGISTRY)
    assert explanation is None
    assert older in unavailable and RULES.version in unavailable


def test_a_router_rule_file_that_is_missing_is_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNALPOST_ROUTER_RULES_FILE", str(tmp_path / "gone.yaml"))
    explanation, unavailable = explanation_for(events(RULES.version), REGISTRY)
    assert explanation is None and "gone.yaml" in unavailable


def test_an_incident_never_routed_has_no_explanation():
    explanation, unavailable = explanation_for([events(RULES.version)[0]], REGISTRY)
    assert explanation is None and "routing" in unavailable
