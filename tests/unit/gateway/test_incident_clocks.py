"""An incident's clocks, escalations and who was told, from its events (the incident page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.clocks import (
    deadline_clocks,
    deadline_met,
    deadline_state,
    escalations,
    first_routing,
    overall_clocks,
    told,
)

pytestmark = pytest.mark.unit
OPENED = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
DECISION = {"rule_id": "hotline", "primary": VNPT, "ruleset_version": "sha256:" + "ab" * 32}


def at(minutes: float) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def story(*steps: tuple[float, str, dict]) -> list[dict]:
    """Events in order: (minutes after opening, type, fields), numbered from 1."""
    return [
        {"type": kind, "sequence": n, "occurred_at": at(minutes).isoformat(), **fields}
        for n, (minutes, kind, fields) in enumerate(steps, 1)
    ]


def task(enterprise: str, role: str = "primary") -> dict:
    return {"task_id": f"inc-1:task:{enterprise}", "enterprise": enterprise, "role": role}


def routed(*tasks: dict) -> dict:
    return {"decision": DECISION, "tasks": list(tasks)}


def deadline(enterprise: str, kind: str, due_minutes: float) -> dict:
    return {**task(enterprise), "deadline": kind, "due_at": at(due_minutes).isoformat()}


def on(enterprise: str) -> dict:
    return {"task_id": task(enterprise)["task_id"], "enterprise": enterprise}


def states(events: list[dict], now_minutes: float = 1000) -> list[tuple[str, str, str]]:
    clocks = deadline_clocks(events, at(now_minutes))
    return [(c.enterprise, c.deadline.value, c.state) for c in clocks]


def test_an_incident_cancelled_before_routing_has_no_clocks_and_told_nobody():
    events = story((0, "incident_opened", {}), (1, "incident_cancelled", {"reason": "test"}))
    assert deadline_clocks(events, at(60)) == []
    assert told(events) == [] and escalations(events) == []
    assert first_routing(events) is None
    overall = overall_clocks(events)
    assert (overall.time_to_acknowledge_s, overall.time_to_resolve_s) == (None, None)


def test_a_reassigned_task_stops_its_clocks_and_the_new_holder_gets_its_own():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT), task(DEPARTMENT, "notify"))),
        (0, "deadline_set", deadline(VNPT, "acknowledge", 15)),
        (0, "deadline_set", deadline(VNPT, "resolve", 120)),
        (5, "incident_reassigned", on(VNPT) | {"to_enterprise": VIETTEL, "reason": "theirs"}),
        (5, "incident_routed", routed(task(VIETTEL))),
        (5, "deadline_set", deadline(VIETTEL, "acknowledge", 20)),
        (8, "incident_acknowledged", on(VIETTEL)),
    )
    assert states(events) == [
        (VNPT, "acknowledge", "stopped"),
        (VNPT, "resolve", "stopped"),
        (VIETTEL, "acknowledge", "met"),
    ]
    assert [(t.enterprise, t.role.value, t.at) for t in told(events)] == [
        (VNPT, "primary", at(0)),
        (DEPARTMENT, "notify", at(0)),
        (VIETTEL, "primary", at(5)),
    ]
    assert first_routing(events)["primary"] == VNPT  # the first decision, not the reassignment
    assert overall_clocks(events).time_to_acknowledge_s == 8 * 60


def test_an_incident_escalated_twice_missed_its_deadline_and_lists_both_levels():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT))),
        (0, "deadline_set", deadline(VNPT, "acknowledge", 15)),
        (0, "deadline_set", deadline(VNPT, "resolve", 120)),
        (20, "incident_escalated", {"level": 1, "deadline": "acknowledge", "notified": [VNPT],
                                     "reason": "not acknowledged"}),
        (35, "incident_escalated", {"level": 2, "deadline": "acknowledge",
                                     "notified": [DEPARTMENT], "reason": "still not"}),
    )  # fmt: skip
    assert states(events, now_minutes=40) == [
        (VNPT, "acknowledge", "missed"),
        (VNPT, "resolve", "running"),
    ]
    assert [(e.level, e.at, e.notified) for e in escalations(events)] == [
        (1, at(20), [VNPT]),
        (2, at(35), [DEPARTMENT]),
    ]


def test_an_escalation_misses_the_deadline_even_when_judged_before_its_due_time():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT))),
        (0, "deadline_set", deadline(VNPT, "acknowledge", 15)),
        (16, "incident_escalated", {"level": 1, "deadline": "acknowledge", "notified": [VNPT],
                                     "reason": "late"}),
    )  # fmt: skip
    assert states(events, now_minutes=10) == [(VNPT, "acknowledge", "missed")]


def test_an_acknowledgement_late_and_a_resolution_in_time():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT))),
        (0, "deadline_set", deadline(VNPT, "acknowledge", 15)),
        (0, "deadline_set", deadline(VNPT, "resolve", 120)),
        (20, "incident_acknowledged", on(VNPT)),
        (90, "incident_resolved", on(VNPT) | {"resolution": "spliced"}),
        (95, "incident_closed", {"reason": "done"}),
    )
    clocks = deadline_clocks(events, at(1000))
    assert [(c.deadline.value, c.state, c.met_at) for c in clocks] == [
        ("acknowledge", "missed", at(20)),
        ("resolve", "met", at(90)),
    ]
    overall = overall_clocks(events)
    assert (overall.time_to_acknowledge_s, overall.time_to_resolve_s) == (20 * 60, 90 * 60)


def test_a_deadline_moved_by_a_hold_is_judged_at_its_latest_due_time():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT))),
        (0, "deadline_set", deadline(VNPT, "resolve", 120)),
        (10, "deadline_set", deadline(VNPT, "resolve", 180)),
        (150, "incident_resolved", on(VNPT) | {"resolution": "spliced"}),
    )
    [clock] = deadline_clocks(events, at(1000))
    assert (clock.due_at, clock.state) == (at(180), "met")


def test_a_closing_after_the_due_time_leaves_the_deadline_missed():
    events = story(
        (0, "incident_opened", {}),
        (0, "incident_routed", routed(task(VNPT))),
        (0, "deadline_set", deadline(VNPT, "acknowledge", 15)),
        (30, "incident_closed", {"reason": "source cleared"}),
    )
    assert states(events, now_minutes=40) == [(VNPT, "acknowledge", "missed")]


@pytest.mark.parametrize(
    ("kept", "ended", "escalated", "now", "state", "met"),
    [
        (10, None, False, 60, "met", True),
        (20, None, False, 60, "missed", False),
        (None, None, True, 10, "missed", False),
        (None, 10, False, 60, "stopped", None),
        (None, 20, False, 60, "missed", False),
        (None, None, False, 10, "running", None),
        (None, None, False, 20, "missed", False),
    ],
)
def test_deadline_state(kept, ended, escalated, now, state, met):
    found = deadline_state(
        at(15),
        kept_at=None if kept is None else at(kept),
        ended_at=None if ended is None else at(ended),
        escalated=escalated,
        now=at(now),
    )
    assert (found, deadline_met(found)) == (state, met)
