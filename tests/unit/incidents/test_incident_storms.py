"""Storms: what the memory of seen reports holds, and what a resend of a storm's report does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import MAX_CLOCK_SKEW
from services.incidents import IncidentState, IncidentStatus, decide_due, fold
from services.incidents.state import MAX_SEEN_REPORTS
from tests.support.incident_samples import (
    COMMAND_FIELDS,
    POLICY,
    PRIMARY,
    T0,
    command,
    opened,
    routed,
    run,
)

pytestmark = pytest.mark.unit

BATCH = 2000  # the router's default batch: a storm reaches the incident manager this collapsed


def storm(size: int, batches: list[int] | None = None) -> IncidentState:
    """r1 opens the incident; r2..r{size} follow, collapsed a batch at a time, a minute apart."""
    state, n = opened(), 2
    for minute, length in enumerate(batches or [BATCH] * (size // BATCH + 1), start=1):
        ids = range(n, min(n + length, size + 1))
        if not ids:
            break
        at = T0 + timedelta(minutes=minute)
        state, _ = run(state, routed(ids[0], minutes=minute, collapsed=ids[1:]), at)
        n = ids[-1] + 1
    return state


def resolved(state: IncidentState, at: timedelta) -> IncidentState:
    fields = COMMAND_FIELDS["resolve_incident"]
    message = command("resolve_incident", 90, PRIMARY, state.incident_id, **fields)
    return run(state, message, T0 + at)[0]


@pytest.fixture(scope="module")
def big() -> IncidentState:
    return storm(100_000)


def test_a_storm_of_100000_is_counted_once_each_in_a_bounded_row(big) -> None:
    assert (big.count, big.incidents, big.status) == (100_000, 1, IncidentStatus.OPENED)
    assert len(big.seen_reports) == MAX_SEEN_REPORTS
    assert len(big.model_dump_json()) < 70_000


def test_the_router_resending_its_last_two_batches_changes_nothing(big) -> None:
    for first in (100_000 - 2 * BATCH + 1, 100_000 - BATCH + 1):
        again = routed(first, minutes=50, collapsed=range(first + 1, first + BATCH))
        assert run(big, again, T0 + timedelta(minutes=60))[1] == []


def test_a_resend_of_an_early_report_never_opens_an_incident(big) -> None:
    # While the incident is open, a report older than the memory is linked (and counted) again:
    # the memory holds the last MAX_SEEN_REPORTS reports, not every report of the storm.
    after, events = run(big, routed(1), T0 + timedelta(minutes=60))
    assert [e.type for e in events] == ["duplicate_linked"]
    assert (after.incident_id, after.count) == (big.incident_id, big.count + 1)
    # After resolution, a report that happened before it is late news of the same incident.
    done = resolved(big, timedelta(minutes=70))
    for early in (1, 2, 50_000):
        after, events = run(done, routed(early, minutes=50), T0 + timedelta(days=1))
        assert [(e.type, e.incident_id) for e in events] == [("duplicate_linked", big.incident_id)]
        assert (after.status, after.incidents) == (IncidentStatus.RESOLVED, 1)
    assert run(done, routed(100_000, minutes=50), T0 + timedelta(days=1))[1] == []
    # Closed since, a day later: still linked, not reopened.
    closed = fold(decide_due(done, T0 + timedelta(days=2), policy=POLICY), done)
    after, events = run(closed, routed(1), T0 + timedelta(days=3))
    assert [(e.type, e.incident_id) for e in events] == [("duplicate_linked", big.incident_id)]
    assert (after.status, after.incidents) == (IncidentStatus.CLOSED, 1)


@pytest.mark.parametrize(
    ("occurred", "opens"),
    [
        (timedelta(minutes=70) - MAX_CLOCK_SKEW - timedelta(seconds=60), False),
        (timedelta(minutes=70) - MAX_CLOCK_SKEW + timedelta(minutes=1), True),  # clocks may lag
        (timedelta(minutes=71), True),
    ],
)
def test_a_new_report_after_resolution_opens_a_recurrence_unless_it_is_old_news(
    occurred, opens
) -> None:
    done = resolved(storm(3000), timedelta(minutes=70))
    report = routed(200_000, minutes=int(occurred / timedelta(minutes=1)))
    after, _ = run(done, report, T0 + timedelta(minutes=80))
    assert (after.incidents == 2) is opens
    assert after.previous_incident_id == (done.incident_id if opens else None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.integers(1, BATCH), min_size=1, max_size=6),
    back=st.integers(0, 3 * BATCH),
)
def test_a_resend_within_the_memory_changes_nothing(batches: list[int], back: int) -> None:
    size = 1 + sum(batches)
    state = storm(size, batches)
    resent = max(1, size - back)
    events = run(state, routed(resent, minutes=0), T0 + timedelta(hours=2))[1]
    if size - resent < MAX_SEEN_REPORTS:
        assert events == []
    else:
        assert [e.type for e in events] == ["duplicate_linked"]
