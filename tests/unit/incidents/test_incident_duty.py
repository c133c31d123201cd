"""Tasks name the person on duty; a warning goes first, then escalation walks person → shift lead
→ the rule's chain up to the Department, each step from the rosters in force at that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.registry import REFERENCE_REGISTRY, load_registry, load_rosters
from schemas.routing import EscalationLevel
from services.incidents import IncidentState, Policy, decide, decide_due, fold
from tests.support.incident_samples import (
    ACK_WITHIN,
    COMMITTEE,
    DECISION,
    DEPARTMENT,
    PRIMARY,
    T0,
    command,
    routed,
)

pytestmark = pytest.mark.unit

REGISTRY = load_registry()
ROSTERS = load_rosters(REFERENCE_REGISTRY, REGISTRY)
ALL_ALONG = datetime.min.replace(tzinfo=UTC)
POLICY = Policy.from_registry(
    REGISTRY, rosters=((ALL_ALONG, ROSTERS),), warn_before=timedelta(minutes=10)
)


def duty(enterprise: str, at: datetime):
    found = ROSTERS.on_duty(enterprise, "tien-phuoc", at)
    assert found is not None
    return found


def opened(policy: Policy = POLICY):
    events = decide(IncidentState(), routed(1), T0, policy=policy)
    return fold(events), events


def test_each_task_names_the_team_and_person_on_duty_when_it_is_issued():
    state, events = opened()
    routed_event = next(e for e in events if e.type == "incident_routed")
    by_enterprise = {t.enterprise: t for t in routed_event.tasks}
    primary = by_enterprise[PRIMARY].on_duty
    expected = duty(PRIMARY, T0)
    assert expected.override  # 20 May: the election day's six-hour shifts
    assert (primary.person.id, primary.lead.id) == (expected.person.id, expected.lead.id)
    assert primary.team == expected.team.id and primary.roster_version == ROSTERS.version
    told = by_enterprise[COMMITTEE].on_duty
    assert told.person.id == duty(COMMITTEE, T0).person.id
    assert state.tasks[PRIMARY].on_duty == primary


def test_a_warning_goes_to_the_person_before_the_deadline_then_the_lead_then_the_department():
    state, _ = opened()
    # The acknowledgement is due 15 minutes after T0: warned at a fifth of that before.
    warned_at = T0 + ACK_WITHIN - ACK_WITHIN / 5
    assert decide_due(state, warned_at - timedelta(seconds=1), policy=POLICY) == []
    warning = decide_due(state, warned_at, policy=POLICY)
    assert [e.type for e in warning] == ["deadline_warned"]
    assert warning[0].deadline == "acknowledge" and warning[0].due_at == T0 + ACK_WITHIN
    assert [p.id for p in warning[0].told] == [duty(PRIMARY, warned_at).person.id]
    assert warning[0].priority == "p1" and warning[0].summary
    state = fold(warning, state)
    assert decide_due(state, warned_at, policy=POLICY) == []  # warned once

    breach = T0 + ACK_WITHIN
    first = [e for e in decide_due(state, breach, policy=POLICY) if e.type == "incident_escalated"]
    assert [(e.level, e.notified) for e in first] == [(1, (PRIMARY,))]
    assert [p.id for p in first[0].told] == [duty(PRIMARY, breach).lead.id]  # the shift lead
    state = fold(decide_due(state, breach, policy=POLICY), state)

    later = breach + timedelta(minutes=10)
    second = [e for e in decide_due(state, later, policy=POLICY) if e.type == "incident_escalated"]
    assert [(e.level, e.notified) for e in second] == [(2, (DEPARTMENT,))]
    assert [(p.enterprise, p.id) for p in second[0].told] == [
        (DEPARTMENT, duty(DEPARTMENT, later).person.id)
    ]
    routed_after = [
        e for e in decide_due(state, later, policy=POLICY) if e.type == "incident_routed"
    ]
    assert routed_after[0].tasks[0].on_duty.person.id == duty(DEPARTMENT, later).person.id


def test_an_acknowledged_deadline_is_never_warned():
    state, _ = opened()
    ack = command("acknowledge_incident", 1, PRIMARY, state.incident_id)
    state = fold(decide(state, ack, T0, policy=POLICY), state)
    due = decide_due(state, T0 + ACK_WITHIN, policy=POLICY)
    assert not [e for e in due if e.type == "deadline_warned" and e.deadline == "acknowledge"]


def test_the_same_inputs_and_rosters_give_the_same_people():
    assert opened()[1] == opened()[1]


def test_the_rosters_in_force_at_the_moment_decide_not_the_latest():
    # A later roster version comes into force after T0: the task issued at T0 keeps the first.
    changed = ROSTERS.model_copy(update={"rosters": ROSTERS.rosters[1:]})
    history = ((ALL_ALONG, ROSTERS), (T0 + timedelta(hours=1), changed))
    policy = Policy.from_registry(REGISTRY, rosters=history)
    state, _ = opened(policy)
    assert state.tasks[PRIMARY].on_duty.roster_version == ROSTERS.version


def test_without_rosters_tasks_name_no_one_and_escalations_tell_no_person():
    policy = Policy.from_registry(REGISTRY)
    state, events = opened(policy)
    assert all(t.on_duty is None for e in events if e.type == "incident_routed" for t in e.tasks)
    due = decide_due(state, T0 + ACK_WITHIN, policy=policy)
    assert [e.type for e in due][:1] == ["incident_escalated"]  # no warning is configured
    assert due[0].told == ()


def test_history_before_the_first_roster_activation_names_no_one():
    history = ((T0 + timedelta(minutes=1), ROSTERS),)
    state, _ = opened(Policy.from_registry(REGISTRY, rosters=history))
    assert state.tasks[PRIMARY].on_duty is None
    later = decide(IncidentState(), routed(1), T0 + timedelta(minutes=2), policy=POLICY)
    assert fold(later).tasks[PRIMARY].on_duty is not None


def test_a_deadline_the_log_set_without_a_warning_is_never_warned():
    # Written by an older incident manager: what the log says decides, not today's policy,
    # so the live manager and `verify` agree on it.
    quiet = Policy.from_registry(REGISTRY, rosters=((ALL_ALONG, ROSTERS),))
    state, events = opened(quiet)
    assert all(e.warn_at is None for e in events if e.type == "deadline_set")
    due = decide_due(state, T0 + ACK_WITHIN, policy=POLICY)
    assert not [e for e in due if e.type == "deadline_warned"]


def test_a_hold_moves_the_warning_on_with_the_deadline():
    state, events = opened()
    resolve_set = next(e for e in events if e.type == "deadline_set" and e.deadline == "resolve")
    ack = command("acknowledge_incident", 2, PRIMARY, state.incident_id)
    state = fold(decide(state, ack, T0, policy=POLICY), state)
    hold = command("hold_incident", 3, PRIMARY, state.incident_id, reason="Bridge closed.")
    state = fold(decide(state, hold, T0, policy=POLICY), state)
    start = command("start_work", 4, PRIMARY, state.incident_id)
    paused = timedelta(minutes=30)
    restarted = decide(state, start, T0 + paused, policy=POLICY)
    moved = next(e for e in restarted if e.type == "deadline_set" and e.deadline == "resolve")
    assert moved.warn_at == resolve_set.warn_at + paused


def test_a_chain_that_starts_at_the_department_still_tells_the_shift_lead_first():
    straight_up = DECISION.model_copy(
        update={"escalation": (EscalationLevel(level=1, after=timedelta(0), notify=(DEPARTMENT,)),)}
    )
    events = decide(IncidentState(), routed(1, decision=straight_up), T0, policy=POLICY)
    state = fold(events)
    breach = T0 + ACK_WITHIN
    [escalated] = [
        e for e in decide_due(state, breach, policy=POLICY) if e.type == "incident_escalated"
    ]
    assert escalated.notified == (DEPARTMENT,)
    assert [(p.enterprise, p.id) for p in escalated.told] == [
        (PRIMARY, duty(PRIMARY, breach).lead.id),
        (DEPARTMENT, duty(DEPARTMENT, breach).person.id),
    ]
