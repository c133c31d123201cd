"""Property tests: no run of reports, commands and clock ticks breaks the incident machine."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.lifecycle import CommandRejected, DeadlineKind
from services.incidents import (
    IncidentState,
    decide,
    decide_due,
    fold,
)
from services.incidents.state import LIVE_TASK, MAX_SEEN_COMMANDS, MAX_SEEN_REPORTS, OPEN
from tests.support.incident_samples import (
    COMMAND_FIELDS,
    COMMITTEE,
    DEPARTMENT,
    OUTSIDER,
    POLICY,
    PRIMARY,
    SUPPORT,
    T0,
    command,
    routed,
)

pytestmark = pytest.mark.unit

SENDERS = (PRIMARY, DEPARTMENT, COMMITTEE, *SUPPORT, OUTSIDER)

reports = st.builds(
    lambda n, severity: ("report", n, severity),
    st.integers(1, 30),
    st.sampled_from(["critical", "major", "cleared"]),
)
commands = st.builds(
    lambda kind, n, by, stale, target, until: ("command", kind, n, by, stale, target, until),
    st.sampled_from(sorted(COMMAND_FIELDS)),
    st.integers(1, 40),
    st.sampled_from(SENDERS),
    st.booleans(),
    st.sampled_from([PRIMARY, DEPARTMENT, *SUPPORT]),
    # A hold's until, in minutes after T0: often already past when the hold arrives.
    st.one_of(st.none(), st.integers(1, 3000)),
)
ticks = st.builds(lambda minutes: ("tick", minutes), st.integers(0, 24 * 60 + 30))
steps = st.lists(st.one_of(reports, commands, ticks), max_size=40)


def invariant_problems(state: IncidentState) -> list[str]:
    """What is wrong with a state at rest, if anything."""
    problems = []
    if state.incident_id is None:
        return problems if state.sequence == 0 else ["a sequence without an incident"]
    primary = state.primary_task()
    if state.status in OPEN and (primary is None or primary.role != "primary"):
        problems.append("an open incident without a primary task")
    if state.status in OPEN and primary.status not in LIVE_TASK:
        problems.append("an open incident whose primary task is over")
    if state.status not in OPEN and state.deadlines:
        problems.append("deadlines on an incident that is not open")
    if any(d.task_id != primary.task_id for d in state.deadlines):
        problems.append("a deadline on a task other than the primary's")
    if len({d.kind for d in state.deadlines}) != len(state.deadlines):
        problems.append("two deadlines of one kind")
    if state.status != "opened" and DeadlineKind.ACKNOWLEDGE in {d.kind for d in state.deadlines}:
        problems.append("an acknowledgement deadline after acknowledgement")
    if len({t.task_id for t in state.tasks.values()}) != len(state.tasks):
        problems.append("two enterprises share a task id")
    if state.status == "rejected" or state.count < 1 or state.sequence < 1:
        problems.append(f"status {state.status}, count {state.count}, sequence {state.sequence}")
    if len(state.seen_reports) > MAX_SEEN_REPORTS or len(state.seen_commands) > MAX_SEEN_COMMANDS:
        problems.append("unbounded memory")
    return problems


def message_of(step: tuple, state: IncidentState, now: datetime) -> object:
    if step[0] == "report":
        _, n, severity = step
        return routed(n, minutes=int((now - T0).total_seconds() // 60), severity=severity)
    _, kind, n, by, stale, target, until = step
    fields = {**COMMAND_FIELDS[kind]}
    if kind == "reassign_incident":
        fields["to_enterprise"] = target
    if kind == "hold_incident" and until is not None:
        fields["until"] = T0 + timedelta(minutes=until)
    incident = "inc-stale" if stale or state.incident_id is None else state.incident_id
    return command(kind, n, by, incident, **fields)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_no_run_of_inputs_breaks_the_machine(run_steps: list[tuple]) -> None:
    state, now, log = IncidentState(), T0, []
    for step in run_steps:
        if step[0] == "tick":
            now += timedelta(minutes=step[1])
            events = decide_due(state, now, policy=POLICY)
        else:
            message = message_of(step, state, now)
            events = decide(state, message, now, policy=POLICY)
            repeat = decide(fold(events, state), message, now, policy=POLICY)
            assert repeat == [], "a repeated input must change nothing"
            if step[0] == "command" and events:
                refused = [e for e in events if isinstance(e, CommandRejected)]
                assert refused == [] or refused == events, "accepted, or one rejection"
                assert len(refused) <= 1
        state = fold(events, state)
        log += events
        assert invariant_problems(state) == []
        assert IncidentState.model_validate_json(state.model_dump_json()) == state
        # Nothing is left due at the moment the clock was last read.
        assert step[0] != "tick" or decide_due(state, now, policy=POLICY) == []

    assert fold(log) == state, "the state is exactly the fold of the events"
    timeline = [(e.incident_id, e.sequence) for e in log if e.incident_id != "inc-stale"]
    last: dict[str, int] = {}
    for incident_id, sequence in timeline:
        assert sequence == last.get(incident_id, 0) + 1, "sequences from 1 with no gaps"
        last[incident_id] = sequence
    assert len({e.event_id for e in log}) == len(log)
    firings = Counter(e.caused_by.event_id for e in log if e.type == "incident_escalated")
    assert all(count == 1 for count in firings.values()), "each deadline level fires once"
