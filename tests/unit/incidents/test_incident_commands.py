"""Dispatcher commands in every status, who may send them, and how each is answered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.lifecycle import CommandRejected
from services.incidents import (
    IncidentState,
    IncidentStatus,
    Policy,
    RejectAction,
    apply,
    decide,
    decide_due,
    fold,
    next_due,
)
from tests.support.incident_samples import (
    COMMAND_FIELDS,
    COMMITTEE,
    DEPARTMENT,
    KEY,
    OUTSIDER,
    POLICY,
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
_n = iter(range(1000, 10**6))


def send(state: IncidentState, kind: str, by: str = PRIMARY, **fields: object):
    """Send a command of `kind` (with the fields it needs) about the state's incident."""
    message = command(kind, next(_n), by, state.incident_id, **{**COMMAND_FIELDS[kind], **fields})
    return run(state, message)


def in_status(status: IncidentStatus) -> IncidentState:
    """KEY's incident brought to `status` through the commands and timers that lead there."""
    state = opened()
    steps = {
        S.OPENED: [],
        S.ACKNOWLEDGED: ["acknowledge_incident"],
        S.IN_PROGRESS: ["start_work"],
        S.HELD: ["acknowledge_incident", "hold_incident"],
        S.RESOLVED: ["resolve_incident"],
        S.CLOSED: ["resolve_incident"],
    }
    if status is S.CANCELLED:
        return run(IncidentState(), routed(1, severity="cleared"))[0]
    for kind in steps[status]:
        state = send(state, kind)[0]
    if status is S.CLOSED:
        state = fold(decide_due(state, T0 + POLICY.close_after, policy=POLICY), state)
    assert state.status is status
    return state


RESTS = [S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.HELD, S.RESOLVED, S.CLOSED, S.CANCELLED]
OPEN = {S.OPENED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.HELD}
HANDOVER = ["incident_routed", "deadline_set", "deadline_set"]
# Each command: the statuses it is accepted in, and the events it then gives.
ACCEPTED = {
    "acknowledge_incident": ({S.OPENED}, ["incident_acknowledged"]),
    "start_work": ({S.OPENED, S.ACKNOWLEDGED, S.HELD}, ["work_started"]),
    "hold_incident": ({S.ACKNOWLEDGED, S.IN_PROGRESS}, ["incident_held"]),
    "resolve_incident": (OPEN, ["incident_resolved"]),
    "reject_incident": (OPEN, ["incident_rejected", *HANDOVER]),
    "add_note": (OPEN | {S.RESOLVED}, ["note_added"]),
    "reassign_incident": (OPEN, ["incident_reassigned", *HANDOVER]),
}
SENDER = {"reassign_incident": DEPARTMENT}
# Restarting held work also writes where the waiting resolution deadline now stands.
ACCEPTED_IN = {("start_work", S.HELD): ["work_started", "deadline_set"]}


@pytest.mark.parametrize("status", RESTS)
@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_each_command_in_each_status(kind: str, status: IncidentStatus) -> None:
    before = in_status(status)
    after, events = send(before, kind, SENDER.get(kind, PRIMARY))
    statuses, accepted = ACCEPTED[kind]
    if status in statuses:
        assert [e.type for e in events] == ACCEPTED_IN.get((kind, status), accepted)
        assert after.sequence == before.sequence + len(events)
    else:
        [rejected] = events
        assert isinstance(rejected, CommandRejected)
        assert rejected.error.error == "invalid_transition"
        assert rejected.error.problems[0].field == "type"
        assert str(status) in rejected.error.problems[0].reason
        # A refusal is in the timeline (sequence, last event time) and changes nothing else.
        bookkeeping = {"seen_commands": (), "updated_at": None}
        assert after.model_copy(update={"sequence": before.sequence, **bookkeeping}) == (
            before.model_copy(update=bookkeeping)
        )


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        ("acknowledge_incident", {PRIMARY, DEPARTMENT}),
        ("start_work", {PRIMARY, DEPARTMENT}),
        ("resolve_incident", {PRIMARY, DEPARTMENT}),
        ("reject_incident", {PRIMARY}),
        ("add_note", {PRIMARY, DEPARTMENT, COMMITTEE, *SUPPORT}),
        ("reassign_incident", {DEPARTMENT}),
    ],
)
@pytest.mark.parametrize("sender", [PRIMARY, DEPARTMENT, COMMITTEE, SUPPORT[0], OUTSIDER])
def test_only_the_assignee_or_the_department_may_act(kind: str, allowed: set, sender: str) -> None:
    fields = {"to_enterprise": SUPPORT[1]} if kind == "reassign_incident" else {}
    _, events = send(opened(), kind, sender, **fields)
    refused = [e for e in events if isinstance(e, CommandRejected)]
    if sender in allowed:
        assert not refused
        assert all(e.actor.id == sender for e in events)
    else:
        assert [e.type for e in events] == ["command_rejected"]
        assert (refused[0].error.error, refused[0].error.problems[0].field) == (
            "forbidden",
            "issued_by",
        )


def test_the_department_acts_on_the_assignee_s_task() -> None:
    state, [ack] = send(opened(), "acknowledge_incident", DEPARTMENT)
    assert (ack.enterprise, ack.actor.id) == (PRIMARY, DEPARTMENT)
    assert state.tasks[PRIMARY].status == "acknowledged"


def test_a_repeated_command_changes_nothing() -> None:
    message = command("acknowledge_incident", 7, PRIMARY, opened().incident_id)
    state, events = run(opened(), message)
    assert events
    assert decide(state, message, T0 + timedelta(hours=1), policy=POLICY) == []
    refused = command("hold_incident", 8, OUTSIDER, state.incident_id, reason="x")
    after, [rejection] = run(state, refused)
    assert rejection.type == "command_rejected"
    assert decide(after, refused, T0, policy=POLICY) == []


def test_a_command_for_another_incident_is_rejected_on_the_current_timeline() -> None:
    state = opened()
    after, [rejected] = run(state, command("acknowledge_incident", 9, PRIMARY, "inc-old"))
    assert rejected.error.problems[0].field == "incident_id"
    assert (rejected.incident_id, rejected.sequence) == (state.incident_id, state.sequence + 1)
    assert after.status is S.OPENED


def test_a_command_for_a_key_without_incidents_is_rejected_outside_any_timeline() -> None:
    message = command("acknowledge_incident", 10, PRIMARY, "inc-nowhere")
    [rejected] = decide(IncidentState(), message, T0, policy=POLICY)
    assert (rejected.error.error, rejected.sequence) == ("unknown_incident", 1)
    assert rejected.incident_id.startswith("stray-") and rejected.command_id == "c10"
    assert "inc-nowhere" in rejected.error.problems[0].reason
    after = apply(IncidentState(), rejected)
    assert (after.incident_id, after.sequence) == (None, 0)
    assert decide(after, message, T0, policy=POLICY) == []


def test_strays_claiming_one_incident_id_never_share_a_timeline_position() -> None:
    # Found by the fuzzer at 100,000 inputs: rejections filed under the claimed id all took
    # its sequence 1, so the recorder kept the first and set the others aside.
    claims = [command("start_work", n, PRIMARY, "2007-13-45") for n in range(20, 25)]
    rejected = [decide(IncidentState(), c, T0, policy=POLICY)[0] for c in claims]
    assert len({(r.incident_id, r.sequence) for r in rejected}) == len(claims)
    assert all(r.incident_id != "2007-13-45" for r in rejected)


@pytest.mark.parametrize(
    ("target", "reason"),
    [(PRIMARY, "already assigned"), ("no-such-enterprise", "not an enterprise")],
)
def test_reassigning_needs_a_real_new_enterprise(target: str, reason: str) -> None:
    _, [rejected] = send(opened(), "reassign_incident", DEPARTMENT, to_enterprise=target)
    assert rejected.error.error == "invalid_target"
    assert rejected.error.problems[0].field == "to_enterprise"
    assert reason in rejected.error.problems[0].reason


def test_reassigning_gives_a_fresh_primary_task_and_deadlines() -> None:
    later = T0 + timedelta(minutes=5)
    message = command(
        "reassign_incident",
        11,
        DEPARTMENT,
        opened().incident_id,
        to_enterprise=SUPPORT[1],
        reason="EVN's fibre.",
    )
    state, events = run(opened(), message, later)
    assert (state.primary, state.status) == (SUPPORT[1], S.OPENED)
    assert state.tasks[PRIMARY].status == "reassigned"
    new = state.tasks[SUPPORT[1]]
    assert (new.role, new.status, new.version) == ("primary", "open", 2)
    assert new.ack_due_at == later + timedelta(minutes=15)
    assert {d.task_id for d in state.deadlines} == {new.task_id}
    assert [e.due_at for e in events if e.type == "deadline_set"] == [
        new.ack_due_at,
        new.resolve_due_at,
    ]


def test_a_hand_back_goes_down_the_supporters_then_up_to_the_department() -> None:
    state = opened()
    for holder, successor in [
        (PRIMARY, SUPPORT[0]),
        (SUPPORT[0], SUPPORT[1]),
        (SUPPORT[1], DEPARTMENT),
    ]:
        assert state.primary == holder
        state, _ = send(state, "reject_incident", holder)
        assert (state.primary, state.status) == (successor, S.OPENED)
        assert state.tasks[holder].status == "rejected"
    state, events = send(state, "reject_incident", DEPARTMENT)
    assert [e.type for e in events] == ["incident_rejected", "incident_closed"]
    assert state.status is S.CLOSED
    assert state.tasks[COMMITTEE].status == "closed"


def test_a_to_department_policy_sends_hand_backs_straight_up() -> None:
    policy = Policy(department=DEPARTMENT, on_reject=RejectAction.TO_DEPARTMENT)
    state = opened()
    message = command("reject_incident", 12, PRIMARY, state.incident_id, reason="Not ours.")
    state = fold(decide(state, message, T0, policy=policy), state)
    assert state.primary == DEPARTMENT


def test_hold_records_the_reason_and_start_resumes() -> None:
    state, [held] = send(in_status(S.ACKNOWLEDGED), "hold_incident", until=T0 + timedelta(hours=1))
    assert (held.reason, held.until) == (
        COMMAND_FIELDS["hold_incident"]["reason"],
        T0 + timedelta(hours=1),
    )
    state, _ = send(state, "start_work")
    assert state.status is S.IN_PROGRESS


def test_a_hold_pauses_the_resolution_deadline_until_work_restarts() -> None:
    def at(state: IncidentState, kind: str, minutes: float):
        message = command(kind, next(_n), PRIMARY, state.incident_id, **COMMAND_FIELDS[kind])
        return run(state, message, T0 + timedelta(minutes=minutes))

    state, _ = at(opened(), "acknowledge_incident", 5)
    [resolve], due = state.deadlines, next_due(state, POLICY)
    state, _ = at(state, "hold_incident", 30)
    # Long past the resolution deadline and every level after it: nothing fires while held.
    assert next_due(state, POLICY) is None
    assert decide_due(state, T0 + timedelta(days=2), policy=POLICY) == []
    hold = timedelta(hours=3)
    state, events = at(state, "start_work", 30 + hold / timedelta(minutes=1))
    assert [e.type for e in events] == ["work_started", "deadline_set"]
    assert events[-1].due_at == resolve.due_at + hold  # written into the log, as set
    assert next_due(state, POLICY) == due + hold
    assert decide_due(state, due + hold - timedelta(seconds=1), policy=POLICY) == []
    fired = decide_due(state, due + hold, policy=POLICY)
    assert fired and fired[0].type == "incident_escalated"


def test_commands_name_the_incident_key_they_were_sent_with() -> None:
    _, events = send(opened(), "add_note", COMMITTEE)
    assert [(e.incident_key, e.enterprise, e.text) for e in events] == [
        (KEY, COMMITTEE, COMMAND_FIELDS["add_note"]["text"])
    ]
