"""The incidents projection follows each lifecycle event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.recorder.projection import project_event
from services.recorder.rows import plan_events
from tests.support.recorder_messages import OPENED, decoded, story

pytestmark = pytest.mark.unit
MIN = timedelta(minutes=1)


def after(events):
    """The projection of incident inc-1 after these events."""
    return plan_events(decoded(events), {}, set()).incidents["inc-1"]


@pytest.mark.parametrize(
    ("steps", "status", "stamped"),
    [
        (1, "open", {"opened_at": OPENED, "source_occurred_at": OPENED - 2 * MIN}),
        (2, "open", {"routed_at": OPENED, "primary_enterprise": "vnpt-quang-nam"}),
        (3, "open", {"ack_due_at": OPENED + 15 * MIN, "resolve_due_at": OPENED + 120 * MIN}),
        (4, "acknowledged", {"acknowledged_at": OPENED + 4 * MIN}),
        (5, "in_progress", {"acknowledged_at": OPENED + 4 * MIN}),
        (6, "resolved", {"resolved_at": OPENED + 95 * MIN}),
        (7, "closed", {"closed_at": OPENED + 100 * MIN, "event_count": 7}),
    ],
)
def test_the_story_step_by_step(steps, status, stamped):
    state = after(story(steps=steps))
    assert state.status == status and state.last_sequence == steps
    assert type(state.status) is str  # the table's plain word, never a TaskStatus member
    for name, value in stamped.items():
        assert getattr(state, name) == value, name
    assert (state.kind, state.district, state.report_count) == ("line_fault", "tien-phuoc", 1)


def extra(base, **fields):
    """One more event after `base`, next in sequence."""
    last = base[-1]
    return {
        **{k: last[k] for k in ("incident_key", "incident_id", "actor", "occurred_at")},
        "sequence": last["sequence"] + 1,
        "event_id": f"x{last['sequence'] + 1}",
        "caused_by": {"event_id": last["event_id"]},
        **fields,
    }


def test_events_of_other_enterprises_tasks_leave_the_status_alone():
    events = story(steps=3)
    events.append(
        extra(events, type="incident_acknowledged", task_id="t", enterprise="viettel-quang-nam")
    )
    state = after(events)
    assert state.status == "open" and state.acknowledged_at is None


def test_reassignment_escalation_duplicates_and_cancellation():
    events = story(steps=3)
    task = {"task_id": "t", "enterprise": "vnpt-quang-nam"}
    events.append(
        extra(
            events,
            type="incident_escalated",
            level=2,
            deadline="acknowledge",
            notified=["so-bcvt-quang-nam"],
            reason="late",
        )
    )
    events.append(
        extra(
            events,
            type="incident_reassigned",
            to_enterprise="viettel-quang-nam",
            reason="their line",
            **task,
        )
    )
    events.append(extra(events, type="duplicate_linked", report=events[0]["report"]))
    events.append(extra(events, type="incident_cancelled", reason="false alarm"))
    state = after(events)
    assert state.escalation_level == 2 and state.primary_enterprise == "viettel-quang-nam"
    assert state.report_count == 2
    assert state.status == "cancelled" and state.closed_at == OPENED


def test_apply_keeps_the_chain_head():
    (item,) = decoded(story(steps=1))
    state = project_event(None, item.model, "h1")
    assert (state.last_sequence, state.last_hash, state.last_event_type) == (
        1,
        "h1",
        "incident_opened",
    )


def test_report_count_counts_every_distinct_report_an_event_links_not_one_per_event():
    # A storm's reports reach the incident collapsed: one opening or one update for many.
    refs = [{"reported_by": "vnpt-quang-nam", "report_id": f"r{n}"} for n in range(4)]
    events = story(steps=1)
    events[0] = {**events[0], "caused_by": {"reports": refs}}
    update = extra(events, type="duplicate_linked", report=events[0]["report"])
    events.append({**update, "caused_by": {"reports": [*refs[:1], *refs[:1]]}})  # a repeat: 1
    events.append(
        {**extra(events, type="duplicate_linked", report=events[0]["report"]),
         "caused_by": {"reports": [{"reported_by": "vnpt-quang-nam", "report_id": f"u{n}"}
                                   for n in range(3)]}}
    )  # fmt: skip
    assert after(events).report_count == 4 + 1 + 3
