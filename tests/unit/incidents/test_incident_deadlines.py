"""Deadlines: when each escalation level fires, what stops it, and that each fires once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.incidents import (
    IncidentState,
    IncidentStatus,
    decide_due,
    evictable,
    fold,
    next_due,
    retained_until,
)
from tests.support.incident_samples import (
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


# --- a hold's until ------------------------------------------------------------------------


def held(hold_at: float, until: float | None) -> IncidentState:
    """The opened incident acknowledged at minute 5 and held at `hold_at` until `until`."""
    state, _ = run(opened(), command("acknowledge_incident", 1, PRIMARY, opened().incident_id))
    fields = {"reason": "Waiting for the bridge to reopen."}
    if until is not None:
        fields["until"] = T0 + timedelta(minutes=until)
    hold = command("hold_incident", 2, PRIMARY, state.incident_id, **fields)
    return run(state, hold, T0 + timedelta(minutes=hold_at))[0]


def test_a_hold_ends_at_its_until_and_the_deadlines_move_on_by_its_length() -> None:
    state = held(30, until=90)
    [resolve] = state.deadlines
    assert next_due(state, POLICY) == T0 + timedelta(minutes=90)
    assert due(state, 89.99) == []
    events = due(state, 90)
    assert [e.type for e in events] == ["work_started", "deadline_set"]
    assert events[0].actor.kind == "service" and "until" in events[0].note
    assert events[0].caused_by.event_id == state.held_by
    assert events[1].due_at == resolve.due_at + timedelta(hours=1)
    after = fold(events, state)
    assert after.status is IncidentStatus.IN_PROGRESS and after.held_since is None
    assert after.tasks[PRIMARY].status == "in_progress"
    assert next_due(after, POLICY) == resolve.due_at + timedelta(hours=1)
    assert due(after, 90) == []  # it ends once


def test_a_hold_ended_late_still_lasted_until_its_until() -> None:
    # The service was down from before `until` to long after it: the deadlines move on by the
    # hold as asked, not by the downtime, and whatever fell due meanwhile fires in order.
    state = held(30, until=90)
    [resolve] = state.deadlines
    moved = resolve.due_at + timedelta(hours=1)
    events = decide_due(state, moved + timedelta(minutes=15), policy=POLICY)
    assert [e.type for e in events][:2] == ["work_started", "deadline_set"]
    assert events[1].due_at == moved
    assert escalations(events) == [("resolve", 1, (PRIMARY,)), ("resolve", 2, (DEPARTMENT,))]


def test_work_restarted_after_until_counts_the_hold_only_to_its_until() -> None:
    state = held(30, until=90)
    [resolve] = state.deadlines
    restart = command("start_work", 3, PRIMARY, state.incident_id)
    after, events = run(state, restart, T0 + timedelta(minutes=100))
    assert events[-1].due_at == resolve.due_at + timedelta(hours=1)
    assert next_due(after, POLICY) == resolve.due_at + timedelta(hours=1)


def test_work_restarted_before_until_ends_the_hold_and_its_timer() -> None:
    state = held(30, until=90)
    [resolve] = state.deadlines
    restart = command("start_work", 3, PRIMARY, state.incident_id)
    after, _ = run(state, restart, T0 + timedelta(minutes=40))
    assert next_due(after, POLICY) == resolve.due_at + timedelta(minutes=10)
    assert [e.type for e in due(after, 90)] == []


def test_a_hold_without_until_waits_for_work_to_restart() -> None:
    state = held(30, until=None)
    assert next_due(state, POLICY) is None
    assert due(state, 7 * 24 * 60) == []


def test_a_hold_until_a_time_already_passed_ends_at_the_next_tick() -> None:
    # The command came late: the hold is recorded, and ends at once, paused for no time.
    state = held(100, until=60)
    [resolve] = state.deadlines
    assert next_due(state, POLICY) == T0 + timedelta(minutes=60)
    events = due(state, 100)
    assert [e.type for e in events] == ["work_started", "deadline_set"]
    assert events[1].due_at == resolve.due_at


# --- retention -----------------------------------------------------------------------------


def closed_at(minutes: float) -> IncidentState:
    """The opened incident resolved at T0 and closed by its quiet period, `minutes` later."""
    state = opened()
    resolve = command("resolve_incident", 1, PRIMARY, state.incident_id, resolution="Done.")
    state, _ = run(state, resolve)
    return fold(due(state, minutes), state)


def test_a_closed_incident_leaves_the_hot_state_a_retention_after_its_last_event() -> None:
    state = closed_at(24 * 60)
    assert state.status is IncidentStatus.CLOSED
    leaves = T0 + POLICY.close_after + POLICY.retention
    assert retained_until(state, POLICY) == leaves == next_due(state, POLICY)
    assert not evictable(state, leaves - timedelta(seconds=1), policy=POLICY)
    assert evictable(state, leaves, policy=POLICY)
    assert due(state, (leaves - T0) / MINUTE) == []  # leaving is no event: the log keeps it


@pytest.mark.parametrize(
    "state",
    [opened(), held(30, until=None), fold(due(opened(), 15), opened())],
    ids=["opened", "held", "escalated"],
)
def test_an_incident_still_open_never_leaves(state) -> None:
    assert retained_until(state, POLICY) is None
    assert not evictable(state, T0 + timedelta(days=3650), policy=POLICY)


def test_a_resolved_incident_waits_for_its_closing_first() -> None:
    state = opened()
    resolve = command("resolve_incident", 1, PRIMARY, state.incident_id, resolution="Done.")
    state, _ = run(state, resolve)
    assert retained_until(state, POLICY) is None
    assert next_due(state, POLICY) == T0 + POLICY.close_after


def test_a_key_that_only_saw_stray_commands_leaves_too() -> None:
    stray = command("acknowledge_incident", 1, PRIMARY, "inc-unknown")
    state, [rejected] = run(IncidentState(), stray, T0)
    assert rejected.type == "command_rejected" and state.incident_id is None
    assert retained_until(state, POLICY) == T0 + POLICY.retention
