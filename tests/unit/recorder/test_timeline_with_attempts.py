"""`signalpost timeline`: notification attempts among the events, in time order, saying who,
how, why, how it went and how long after the event it tells of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.cli.recorder_commands import describe_attempt, format_timeline

pytestmark = pytest.mark.unit
T0 = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)


def event(sequence: int, kind: str, minutes: float) -> dict:
    return {
        "incident_id": "inc-1", "incident_key": "line_fault:vnpt-quang-nam:L-1",
        "event_id": f"inc-1:{sequence}", "sequence": sequence, "type": kind,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "recorded_at": T0 + timedelta(minutes=minutes, seconds=1),
        "event": {"actor": {"id": "incident-manager"}},
    }  # fmt: skip


def told(attempt: int, minutes: float, outcome: str, detail: str | None = None) -> dict:
    return {
        "incident_id": "inc-1", "incident_key": "line_fault:vnpt-quang-nam:L-1",
        "attempt": attempt, "reason": "new_task", "channel": "email",
        "address": "an@vnpt.example", "person_name": "Nguyễn Văn An",
        "person_enterprise": "vnpt-quang-nam", "caused_by": "inc-1:2", "outcome": outcome,
        "detail": detail, "attempted_at": T0 + timedelta(minutes=minutes),
        "recorded_at": T0 + timedelta(minutes=minutes, seconds=2), "delay_s": minutes * 60,
    }  # fmt: skip


def test_attempts_stand_among_the_events_in_time_order():
    events = [event(1, "incident_opened", 0), event(2, "incident_routed", 0),
              event(3, "incident_acknowledged", 4)]  # fmt: skip
    attempts = [
        told(1, 0.5, "failed", "451 mailbox busy"),
        told(2, 2.5, "delivered"),
        told(3, 5, "delivered"),
    ]
    lines = format_timeline(events, attempts).splitlines()
    kinds = [line.split()[1] for line in lines[2:]]
    assert kinds == ["incident_opened", "incident_routed", "notification_attempted",
                     "notification_attempted", "incident_acknowledged",
                     "notification_attempted"]  # fmt: skip
    first = lines[4]
    assert "Nguyễn Văn An (vnpt-quang-nam)" in first and "2007-05-20 07:00:30Z" in first
    assert "email an@vnpt.example; new_task #1; failed 30.0s after #2; 451 mailbox busy" in first


def test_attempts_of_an_incident_with_no_recorded_event_still_show():
    text = format_timeline([], [told(1, 1, "suppressed", "quiet hours")])
    assert text.startswith("incident inc-1 (line_fault:vnpt-quang-nam:L-1)")
    assert "suppressed 60.0s after inc-1:2; quiet hours" in text


def test_a_long_gist_is_cut_to_the_column():
    gist = describe_attempt(told(1, 1, "failed", "x" * 300), "#2")
    assert len(gist) == 110 and gist.endswith("…")
