"""The lifecycle derived again from the incident manager's inputs, pure: what holds, what shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import decode, encode
from schemas.contracts import REPORT
from schemas.lifecycle import IncidentEscalated, IncidentEvent, IncidentOpened
from schemas.registry import load_registry
from services.auditor.lifecycle import Derived, Recorded, rederive
from services.auditor.reportlog import Input
from services.incidents import IncidentState, Policy, decide, fold
from services.router import REFERENCE_RULES, collapse, load_rule_set, route, routed_report
from services.runtime.deadletters import RawMessage
from services.runtime.topics import INCIDENT_EVENTS, ROUTED_REPORTS
from tests.support.audit_history import History, deployed_policy, sample_report, scenario

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
POLICY = deployed_policy(REGISTRY)
NOW = datetime.now(UTC)
GRACE = timedelta(seconds=60)


def recorded(events: list[IncidentEvent]) -> list[Recorded]:
    """Events as verify has them: rows in log order, one partition, keyed by incident key."""
    rows = [
        {"event": json.dumps(json.loads(encode(e)), indent=1), "source_topic": INCIDENT_EVENTS,
         "source_partition": 0, "source_offset": offset}
        for offset, e in enumerate(events)
    ]  # fmt: skip
    return [Recorded(e, row, e.incident_key.encode()) for e, row in zip(events, rows, strict=True)]


def inputs(history: History) -> list[Input]:
    """The history's inputs as messages of their topics, stamped when they were decided."""
    offsets: dict[str, int] = {}
    found = []
    for topic, key, value, at in history.inputs:
        offset = offsets[topic] = offsets.get(topic, -1) + 1
        stamp = int(at.timestamp() * 1000)
        found.append(Input(topic, RawMessage(topic, 0, offset, stamp, key, value)))
    return found


def derived(events: list[IncidentEvent], history: History, *, policy=POLICY, now=NOW) -> Derived:
    return rederive(recorded(events), inputs(history), policy=policy, now=now, grace=GRACE)


def commands(history: History, event: IncidentEvent) -> int:
    """The offset of the command that caused `event` on incidents.commands."""
    sent = [json.loads(v)["command_id"] for t, _, v, _ in history.inputs if t != ROUTED_REPORTS]
    return sent.index(event.caused_by.command_id)


@pytest.fixture(scope="module")
def history() -> History:
    return scenario(10, rules=RULES, registry=REGISTRY)


def test_a_history_with_escalations_is_produced_again_event_for_event(history):
    assert any(isinstance(e, IncidentEscalated) for e in history.events)  # timers fired

    result = derived(history.events, history)

    assert result.findings == []
    assert result.reproduced == len(history.events)


def test_an_event_no_input_produces_is_found_by_its_event(history):
    opened = history.events[0]
    assert isinstance(opened, IncidentOpened)
    last = [e for e in history.events if e.incident_id == opened.incident_id][-1]
    forged = last.model_copy(update={"event_id": "ev-forged", "sequence": last.sequence + 1})
    at = history.events.index(last) + 1

    result = derived([*history.events[:at], forged, *history.events[at:]], history)

    (finding,) = result.findings
    assert (finding.check, finding.incident, finding.event) == (
        "lifecycle",
        opened.incident_id,
        "ev-forged",
    )
    assert finding.reason.startswith(f"{forged.type} #{forged.sequence} of key")
    # Its cause is the last event's command: decided again, that gives the last event only.
    assert finding.reason.endswith(
        f"is not what its inputs produce: its input incidents.commands:0:{commands(history, last)}"
        f" produces {last.type} #{last.sequence} here"
    )


def test_an_event_missing_from_the_history_is_found_once(history):
    missing = history.events[1]

    result = derived([e for e in history.events if e is not missing], history)

    (finding,) = result.findings
    assert (finding.incident, finding.event) == (missing.incident_id, missing.event_id)
    assert finding.reason.endswith("produces, is not in the recorded history")
    assert finding.reason.startswith(f"{missing.type} #{missing.sequence} of key")


def test_the_rest_of_a_decision_too_young_to_be_recorded_yet_is_in_flight(history):
    opening = [e for e in history.events if e.caused_by == history.events[0].caused_by]
    unrecorded = opening[-1]  # and what its key did after it
    key, after = unrecorded.incident_key, history.events.index(unrecorded)
    recorded_so_far = [
        e for i, e in enumerate(history.events) if e.incident_key != key or i < after
    ]

    now = unrecorded.occurred_at + timedelta(seconds=10)
    sent = [i for i in history.inputs if i[1] != key.encode() or i[3] <= now]

    result = derived(recorded_so_far, History(inputs=sent), now=now)

    assert result.findings == [] and result.in_flight == 1


def test_an_input_sent_twice_is_a_repeat_and_one_not_yet_decided_is_in_flight(history):
    first = history.inputs[0]
    young = (ROUTED_REPORTS, b"line_fault:x:y", history.inputs[0][2], NOW)  # under its old key
    again = History(history.reports, [*history.inputs, first, young], history.events)

    result = derived(history.events, again)

    assert result.findings == [] and result.in_flight == 1


def test_a_key_whose_state_left_the_table_opens_its_first_incident_again():
    policy = Policy.from_registry(REGISTRY, retention=timedelta(hours=1))
    start = datetime(2007, 5, 19, 22, 0, tzinfo=UTC)
    clear = sample_report(0, start, tag="x") | {"perceived_severity": "cleared"}
    alarm = sample_report(0, start + timedelta(hours=2), tag="x") | {"report_id": "again"}
    history, state = History(), IncidentState()
    for payload in (clear, alarm):
        report = decode(REPORT, json.dumps(payload).encode())
        at = report.occurred_at
        routed = routed_report(
            collapse([report])[0], route(report, RULES, REGISTRY, RULES.calendar), now=at
        )
        history.decided(ROUTED_REPORTS, routed, at)
        if payload is alarm:
            state = IncidentState()  # a tick in between found it past its retention
        events = decide(state, routed, at, policy=policy)
        state = fold(events, state)
        history.events += events
    assert [e.incident_id.split("-")[1] for e in history.events if e.sequence == 1] == ["1", "1"]

    assert derived(history.events, history, policy=policy).findings == []
    kept = derived(history.events, history, policy=deployed_policy(REGISTRY))
    assert kept.findings  # with a week's retention, the state could not have left


# What an incident manager from before rosters and warnings did not write, by event type.
ADDED_SINCE = {"incident_escalated": {"told", "priority", "summary"}, "deadline_set": {"warn_at"}}


def as_older(event: dict) -> dict:
    """An event as that older incident manager wrote it: without those fields, and without
    any task's `on_duty`."""
    dropped = ADDED_SINCE.get(event["type"], set())
    kept = {k: v for k, v in event.items() if k not in dropped}
    if "tasks" in kept:
        kept["tasks"] = [{k: v for k, v in t.items() if k != "on_duty"} for t in kept["tasks"]]
    return kept


def test_events_an_older_manager_wrote_are_derived_again_under_todays_policy():
    # Written before rosters and warnings existed: no task names anyone, no field of theirs.
    older = Policy.from_registry(REGISTRY)
    old = scenario(6, rules=RULES, registry=REGISTRY, tag="old", policy=older)
    assert not any(e.type == "deadline_warned" for e in old.events)
    rows = [
        {"event": json.dumps(as_older(json.loads(encode(e)))),
         "source_topic": INCIDENT_EVENTS, "source_partition": 0, "source_offset": offset}
        for offset, e in enumerate(old.events)
    ]  # fmt: skip
    items = [
        Recorded(e, row, e.incident_key.encode()) for e, row in zip(old.events, rows, strict=True)
    ]
    # Today's policy warns and has rosters, in force only from after that history.
    after = max(e.occurred_at for e in old.events) + timedelta(days=1)
    today = deployed_policy(REGISTRY)
    today = Policy.from_registry(
        REGISTRY, rosters=((after, today.rosters[0][1]),), warn_before=today.warn_before
    )
    assert today.warn_before is not None and older.warn_before is None
    result = rederive(items, inputs(old), policy=today, now=NOW, grace=GRACE)
    assert result.findings == [], result.findings[:3]
    # A field the old event does have is still compared: an edited summary shows.
    opened = next(i for i, e in enumerate(old.events) if e.type == "incident_opened")
    edited = dict(
        rows[opened], event=rows[opened]["event"].replace('"summary": "', '"summary": "x')
    )
    items[opened] = Recorded(old.events[opened], edited, old.events[opened].incident_key.encode())
    found = rederive(items, inputs(old), policy=today, now=NOW, grace=GRACE).findings
    assert any("summary" in f.reason for f in found), found
