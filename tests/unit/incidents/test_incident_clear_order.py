"""An alarm and its clear are decided in the order they happened, whatever order they arrive in.

A publisher that keys reports by report id (as the README's example does) puts an alarm and
its clear on different partitions, so the clear can reach the incident manager first. The
times the source gave them, not their arrival, decide what they mean.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.tasks import TaskStatus
from services.incidents import ClearAction, IncidentState, IncidentStatus, Policy, decide, fold
from services.incidents.state import seen_report
from tests.support.incident_samples import POLICY, PRIMARY, T0, command, routed

pytestmark = pytest.mark.unit
S = IncidentStatus
CONFIRM = Policy(department=POLICY.department, on_clear=ClearAction.CONFIRM)

ALARM = routed(1, minutes=0)
LATER_ALARM = routed(2, minutes=1)  # a repeat of the fault, still before the clear
CLEAR = routed(3, minutes=2, severity="cleared")


def arrive(state: IncidentState, message, now: datetime, policy: Policy = POLICY):
    events = decide(state, message, now, policy=policy)
    return fold(events, state), events


def ack_of(state: IncidentState):
    """The primary's acknowledgement of the incident it was given (the key's current one)."""
    return command("acknowledge_incident", 1, PRIMARY, state.incident_id)


def deliver(order: list[str], *, ack_after_clear: bool = True, policy: Policy = POLICY):
    """The inputs in arrival order, each stamped with its arrival; the ack is issued after
    the clear happened (or before, when not `ack_after_clear`)."""
    state, log = IncidentState(), []
    messages = {"alarm": ALARM, "later": LATER_ALARM, "clear": CLEAR}
    for n, name in enumerate(order):
        now = T0 + timedelta(minutes=10 + n)  # every input arrives after the clear happened
        if name == "ack":
            message = ack_of(state)
            now = now if ack_after_clear else T0 + timedelta(minutes=1, seconds=30)
        else:
            message = messages[name]
        state, events = arrive(state, message, now, policy)
        log += events
    return state, log


def outcome(state: IncidentState) -> tuple:
    return state.status, state.source_cleared, state.primary_task().status


ARRIVALS = st.permutations(["alarm", "later", "clear", "ack"]).filter(
    lambda order: order.index("ack") > min(order.index("alarm"), order.index("later"))
)


@given(ARRIVALS)
def test_any_arrival_order_of_an_alarm_its_clear_and_an_ack_ends_the_same(order):
    # The fault happened, repeated, cleared at the source, and then a dispatcher acknowledged.
    state, log = deliver(list(order))
    assert outcome(state) == (S.RESOLVED, True, TaskStatus.RESOLVED)
    assert [e.type for e in log].count("incident_resolved") == 1
    # Every report is accounted for, and the only incident with tasks is the resolved one.
    seen = set(state.seen_reports)
    assert {seen_report(PRIMARY, f"r{n}") for n in (1, 2, 3)} <= seen
    live = {e.incident_id for e in log if e.type == "incident_routed"}
    assert live == {state.incident_id}


def test_a_clear_before_its_alarm_is_remembered_and_ends_the_alarm_at_once():
    state, first = arrive(IncidentState(), CLEAR, T0 + timedelta(minutes=10))
    assert [e.type for e in first] == ["incident_opened", "incident_cancelled"]
    assert "happened before it" in first[1].reason
    assert state.last_clear == CLEAR.report

    state, events = arrive(state, ALARM, T0 + timedelta(minutes=11))
    assert [e.type for e in events] == [
        "incident_opened",
        "incident_routed",
        "deadline_set",
        "deadline_set",
        "source_cleared",
        "incident_resolved",
    ]
    assert events[4].report == CLEAR.report and events[4].caused_by == events[0].caused_by
    assert "before the alarm arrived" in events[5].resolution and "r3" in events[5].resolution
    assert (state.status, state.source_cleared, state.count, state.deadlines) == (
        S.RESOLVED,
        True,
        1,
        (),
    )


def test_an_alarm_after_a_remembered_clear_is_a_new_fault():
    state, _ = arrive(IncidentState(), CLEAR, T0 + timedelta(minutes=10))
    state, events = arrive(state, routed(4, minutes=3), T0 + timedelta(minutes=11))
    assert [e.type for e in events][-1] == "deadline_set"
    assert (state.status, state.source_cleared) == (S.OPENED, False)


def test_under_confirm_the_late_alarm_is_marked_cleared_and_waits_for_its_assignee():
    state, _ = arrive(IncidentState(), CLEAR, T0 + timedelta(minutes=10), CONFIRM)
    state, events = arrive(state, ALARM, T0 + timedelta(minutes=11), CONFIRM)
    assert [e.type for e in events][-1] == "source_cleared"
    assert (state.status, state.source_cleared) == (S.OPENED, True)


def test_an_ack_that_arrives_before_an_earlier_clear_does_not_keep_the_incident_open():
    state, log = deliver(["alarm", "ack", "clear"])
    resolved = log[-1]
    assert resolved.type == "incident_resolved" and "before it was taken on" in resolved.resolution
    assert state.status is S.RESOLVED


def test_a_clear_that_happened_after_the_ack_leaves_it_to_the_assignee():
    state, log = deliver(["alarm", "ack", "clear"], ack_after_clear=False)
    assert [e.type for e in log][-1] == "source_cleared"
    assert (state.status, state.source_cleared) == (S.ACKNOWLEDGED, True)


def test_an_alarm_from_before_the_clear_linked_late_does_not_make_the_fault_live_again():
    state, _ = deliver(["alarm", "ack"], ack_after_clear=False)
    state, _ = arrive(state, CLEAR, T0 + timedelta(minutes=12))
    state, [linked] = arrive(state, LATER_ALARM, T0 + timedelta(minutes=13))
    assert linked.type == "duplicate_linked" and state.source_cleared
    state, _ = arrive(state, routed(5, minutes=4), T0 + timedelta(minutes=14))
    assert not state.source_cleared  # one from after the clear does
