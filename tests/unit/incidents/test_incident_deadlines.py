"""Deadlines: when each escalation level fires, what stops it, and that each fires once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from incident_samples import (
    DECISION,
    DEPARTMENT,
    POLICY,
    PRIMARY,
    T0,
    command,
    opened,
    routed,
    run,
)

from services.incidents import IncidentState, IncidentStatus, decide_due, fold, next_due

pytestmark = pytest.mark.unit

MINUTE = timedelta(minutes=1)


def due(state: IncidentState, minutes: float) -> list:
    return decide_due(state, T0 + timedelta(minutes=minutes), policy=POLICY)


def escalations(events: list) -> list[tuple]:
    return [(e.deadline, e.level, e.notified) for e in events if e.type == "incident_escalated"]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (14.99, []),
        (15, [("acknowledge", 1, (PRIMARY,))]),
        (24.99, [("acknowledge", 1, (PRIMARY,))]),
        (25, [("acknowledge", 1, (PRIMARY,)), ("acknowledge", 2, (DEPARTMENT,))]),
        (119.99, [("acknowledge", 1, (PRIMARY,)), ("acknowledge", 2, (DEPARTMENT,))]),
        (
            130,
            [
                ("acknowledge", 1, (PRIMARY,)),
                ("acknowledge", 2, (DEPARTMENT,)),
                ("resolve", 1, (PRIMARY,)),
                ("resolve", 2, (DEPARTMENT,)),
            ],
        ),
    ],
)
def test_levels_fire_after_the_missed_deadline_by_their_delay(minutes, expected) -> None:
    # A service down since T0 that comes back at `minutes` fires each level due meanwhile.
    events = due(opened(), minutes)
    assert escalations(events) == expected
    assert due(fold(events, opened()), minutes) == []


def test_each_level_fires_once_whatever_the_tick_rate() -> None:
    state, fired = opened(), []
    for second in range(0, 3 * 3600, 20):
        events = decide_due(state, T0 + timedelta(seconds=second), policy=POLICY)
        fired += events
        state = fold(events, state)
    assert escalations(fired) == escalations(due(opened(), 180))
    assert len({e.caused_by.event_id for e in fired if e.type == "incident_escalated"}) == 4


def test_an_escalation_tells_the_next_level_and_sets_the_next_deadline() -> None:
    state = fold(due(opened(), 15), opened())
    events = due(state, 25)
    assert [e.type for e in events] == ["incident_escalated", "incident_routed"]
    department_task = events[1].tasks[0]
    assert (department_task.enterprise, department_task.role) == (DEPARTMENT, "notify")
    after = fold(events, state)
    # The assignee keeps its task; the Department gets one beside it.
    assert after.tasks[PRIMARY].role == "primary" and after.primary == PRIMARY
    first = due(opened(), 15)
    assert first[-1].type == "deadline_set"
    assert first[-1].due_at == T0 + timedelta(minutes=25)
    assert first[-1].caused_by.event_id == opened().deadlines[0].set_by


def test_acknowledging_stops_the_ack_deadline_only() -> None:
    state = opened()
    state, _ = run(
        state, command("acknowledge_incident", 1, PRIMARY, state.incident_id), T0 + 5 * MINUTE
    )
    assert [d.kind for d in state.deadlines] == ["resolve"]
    assert escalations(due(state, 60)) == []
    assert [lvl for _, lvl, _ in escalations(due(state, 120))] == [1]


def test_resolving_stops_both_and_the_incident_closes_after_a_quiet_period() -> None:
    state = opened()
    state, _ = run(
        state, command("resolve_incident", 1, PRIMARY, state.incident_id, resolution="Done.")
    )
    assert state.deadlines == ()
    assert next_due(state, POLICY) == T0 + POLICY.close_after
    assert due(state, 23 * 60) == []
    [closed] = due(state, 24 * 60)
    assert closed.type == "incident_closed"
    assert closed.caused_by.event_id == state.resolved_by
    assert fold([closed], state).status is IncidentStatus.CLOSED
    assert due(fold([closed], state), 48 * 60) == []


def test_without_a_chain_the_department_is_told() -> None:
    state = run(
        IncidentState(), routed(1, decision=DECISION.model_copy(update={"escalation": ()}))
    )[0]
    assert escalations(due(state, 15)) == [("acknowledge", 1, (DEPARTMENT,))]
    assert escalations(due(state, 600)) == [
        ("acknowledge", 1, (DEPARTMENT,)),
        ("resolve", 1, (DEPARTMENT,)),
    ]


def test_after_a_hand_over_level_one_tells_the_new_assignee() -> None:
    state = opened()
    message = command(
        "reassign_incident",
        2,
        DEPARTMENT,
        state.incident_id,
        to_enterprise="viettel-quang-nam",
        reason="Viettel's link.",
    )
    state, _ = run(state, message)
    assert escalations(due(state, 15))[0] == ("acknowledge", 1, ("viettel-quang-nam",))


def test_a_repeated_firing_from_the_same_state_repeats_the_same_ids() -> None:
    # A crash after producing but before the table saved: the same events come again.
    first = due(opened(), 30)
    again = decide_due(opened(), T0 + timedelta(minutes=31), policy=POLICY)
    assert [e.event_id for e in first] == [e.event_id for e in again]
