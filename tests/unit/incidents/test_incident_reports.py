"""Routed reports: opening, duplicates, recurrence after resolution, clears, repeatable ids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.lifecycle import IncidentEscalated
from services.incidents import (
    ClearAction,
    IncidentState,
    IncidentStatus,
    Policy,
    decide,
    decide_due,
    fold,
    tasks_to_publish,
)
from tests.support.incident_samples import (
    COMMAND_FIELDS,
    COMMITTEE,
    PRIMARY,
    SUPPORT,
    T0,
    command,
    opened,
    routed,
    run,
)

pytestmark = pytest.mark.unit

S = IncidentStatus
POLICY_FOR = {
    action: Policy(department="so-bcvt-quang-nam", on_clear=action) for action in ClearAction
}


def acknowledged() -> IncidentState:
    state = opened()
    return run(state, command("acknowledge_incident", 1, PRIMARY, state.incident_id))[0]


def test_the_first_report_opens_routes_and_sets_both_deadlines() -> None:
    state, events = run(IncidentState(), routed(1))
    assert [e.type for e in events] == [
        "incident_opened",
        "incident_routed",
        "deadline_set",
        "deadline_set",
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    roles = {t.enterprise: t.role for t in events[1].tasks}
    assert roles == {
        PRIMARY: "primary",
        COMMITTEE: "notify",
        SUPPORT[0]: "support",
        SUPPORT[1]: "support",
    }
    assert [(e.deadline, e.due_at) for e in events[2:]] == [
        ("acknowledge", T0 + timedelta(minutes=15)),
        ("resolve", T0 + timedelta(hours=2)),
    ]
    assert (state.status, state.primary, state.count) == (S.OPENED, PRIMARY, 1)
    assert all(e.actor.kind == "service" and e.caused_by.reports for e in events)


def test_reprocessing_an_input_from_the_same_state_repeats_the_same_bytes() -> None:
    state = opened()
    for message in (routed(2, minutes=3), command("start_work", 5, PRIMARY, state.incident_id)):
        first = decide(state, message, T0, policy=POLICY_FOR[ClearAction.CONFIRM])
        again = decide(state, message, T0, policy=POLICY_FOR[ClearAction.CONFIRM])
        assert [e.model_dump_json() for e in first] == [e.model_dump_json() for e in again]
        assert len({e.event_id for e in first}) == len(first)


def test_a_report_on_an_open_incident_is_linked_not_opened() -> None:
    state, [linked] = run(opened(), routed(2, minutes=7, collapsed=[3, 3, 1]))
    assert linked.type == "duplicate_linked"
    # r1 was already counted; r3 twice in one storm is a retry, not news.
    assert [r.report_id for r in linked.caused_by.reports] == ["r2", "r3"]
    assert (state.count, state.first_seen, state.last_seen) == (3, T0, T0 + timedelta(minutes=7))


def test_a_report_seen_before_changes_nothing() -> None:
    state = opened()
    assert decide(state, routed(1, minutes=9), T0, policy=POLICY_FOR[ClearAction.CONFIRM]) == []


def test_a_report_after_resolution_opens_a_recurrence() -> None:
    state = opened()
    resolved, _ = run(
        state,
        command(
            "resolve_incident", 2, PRIMARY, state.incident_id, **COMMAND_FIELDS["resolve_incident"]
        ),
    )
    after, events = run(resolved, routed(2, minutes=30), T0 + timedelta(minutes=30))
    assert [(e.type, e.incident_id, e.sequence) for e in events[:2]] == [
        ("incident_closed", state.incident_id, resolved.sequence + 1),
        ("incident_opened", after.incident_id, 1),
    ]
    assert after.incident_id != state.incident_id
    assert (after.previous_incident_id, after.status, after.count) == (
        state.incident_id,
        S.OPENED,
        1,
    )
    published = tasks_to_publish(resolved, events)
    closed_old = [t for t in published if t.incident_id == state.incident_id]
    assert {t.status for t in closed_old} == {"closed"}
    assert {t.incident_id for t in published} == {state.incident_id, after.incident_id}


@pytest.mark.parametrize(
    ("action", "before", "resolved"),
    [
        (ClearAction.RESOLVE_IF_UNACKNOWLEDGED, opened, True),
        (ClearAction.RESOLVE_IF_UNACKNOWLEDGED, acknowledged, False),
        (ClearAction.RESOLVE, acknowledged, True),
        (ClearAction.CONFIRM, opened, False),
    ],
)
def test_a_clear_resolves_or_asks_the_assignee(action, before, resolved: bool) -> None:
    state = before()
    events = decide(state, routed(2, minutes=5, severity="cleared"), T0, policy=POLICY_FOR[action])
    after = fold(events, state)
    assert [e.type for e in events] == ["source_cleared"] + (
        ["incident_resolved"] if resolved else []
    )
    assert after.source_cleared
    assert (after.status is S.RESOLVED) is resolved
    if resolved:
        assert (events[1].actor.kind, events[1].enterprise) == ("service", PRIMARY)


def test_an_alarm_after_a_clear_is_live_again() -> None:
    state, _ = run(acknowledged(), routed(2, minutes=5, severity="cleared"))
    state, [linked] = run(state, routed(3, minutes=6))
    assert linked.type == "duplicate_linked"
    assert not state.source_cleared


def test_a_clear_without_an_open_incident_is_recorded_and_cancelled() -> None:
    state, events = run(IncidentState(), routed(1, severity="cleared"))
    assert [e.type for e in events] == ["incident_opened", "incident_cancelled"]
    assert (state.status, state.tasks) == (S.CANCELLED, {})


def test_a_clear_after_resolution_marks_the_resolved_incident() -> None:
    state = opened()
    state, _ = run(
        state, command("resolve_incident", 3, PRIMARY, state.incident_id, resolution="Fixed.")
    )
    after, [cleared] = run(state, routed(2, severity="cleared"))
    assert (cleared.type, cleared.incident_id) == ("source_cleared", state.incident_id)
    assert after.status is S.RESOLVED and after.source_cleared


def test_state_round_trips_through_json_and_stays_small() -> None:
    state = opened()
    for n in range(2, 400):
        state, _ = run(state, routed(n, minutes=n))
    text = state.model_dump_json()
    assert IncidentState.model_validate_json(text) == state
    assert state.count == 399
    assert len(text) < 16_000


def test_a_linked_report_keeps_the_escalation_level_reached() -> None:
    state = opened()
    fired = decide_due(state, T0 + timedelta(minutes=15), policy=POLICY_FOR[ClearAction.CONFIRM])
    state = fold(fired, state)
    assert any(isinstance(e, IncidentEscalated) for e in fired)
    state, _ = run(state, routed(2))
    assert state.escalation_level == 1
