"""The grouping window across batches: opening, holding, flushing on time, caps, clears in order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import decode
from schemas.contracts import ROUTED_REPORT
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set
from services.router.grouping import Grouping
from services.router.intake import BatchOutcome, process_batch
from services.runtime.deadletters import RawMessage

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
T0 = datetime(2007, 5, 20, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
INTERVAL = 2 * SECOND


class Stream:
    """Report messages on one partition, offsets counting up, and the routed output so far."""

    def __init__(self, grouping: Grouping) -> None:
        self.grouping, self.offset, self.sent = grouping, 0, []

    def batch(self, at: datetime, *specs: tuple[str, str, str]) -> BatchOutcome:
        """Reports (report id, line, severity) in one batch decided at `at`."""
        messages = []
        for rid, line, severity in specs:
            body = report(
                "line_fault", rid, perceived_severity=severity, **{"alarmed_object.id": line}
            )
            messages.append(
                RawMessage("reports.line-fault", 0, self.offset, 0, None, encoded(body))
            )
            self.offset += 1
        outcome = process_batch(
            messages, rules=RULES, registry=REGISTRY, now=at, grouping=self.grouping
        )
        for value in outcome.routed_values:
            decode(ROUTED_REPORT, value)  # every message is a valid contract
        self.sent += outcome.routed
        return outcome


def ids(routed) -> list[str]:
    return [routed.report.report_id, *(r.report_id for r in routed.collapsed)]


def faults(prefix: str, line: str, n: int, severity: str = "major") -> list[tuple[str, str, str]]:
    return [(f"{prefix}{i}", line, severity) for i in range(n)]


def test_the_first_reports_of_a_key_go_at_once_and_repeats_wait_for_the_window_end():
    stream = Stream(Grouping(INTERVAL))
    first = stream.batch(T0, *faults("a", "L-1", 3))
    (opening,) = first.routed
    assert sorted(ids(opening)) == ["a0", "a1", "a2"] and opening.count == 3
    assert opening.window.started_at == opening.window.ended_at == T0
    assert opening.window.interval == INTERVAL

    held = stream.batch(T0 + SECOND, *faults("b", "L-1", 4))
    assert held.routed == [] and held.settled == []  # held: nothing to commit yet
    assert stream.grouping.next_end() == T0 + INTERVAL
    # No input at all: the window still ends on time.
    flushed = stream.batch(T0 + INTERVAL)
    (update,) = flushed.routed
    assert sorted(ids(update)) == ["b0", "b1", "b2", "b3"] and update.count == 4
    assert (update.window.started_at, update.window.ended_at) == (T0, T0 + INTERVAL)
    assert update.routed_at == T0 + INTERVAL
    assert {offset for _, _, offset in flushed.settled} == {3, 4, 5, 6}


def test_a_key_storming_on_sends_one_update_per_interval_and_a_quiet_one_closes():
    stream = Stream(Grouping(INTERVAL))
    for tick in range(10):  # five intervals of repeats, one batch every 0.5 s
        stream.batch(T0 + tick * SECOND / 2, *faults(f"t{tick}-", "L-1", 5))
    stream.batch(T0 + 6 * SECOND)  # the last window ends
    assert len(stream.sent) == 4  # the opening and one update per interval
    assert sum(r.count for r in stream.sent) == 50
    for routed in stream.sent:
        assert routed.window.ended_at - routed.window.started_at <= INTERVAL
    stream.batch(T0 + 9 * SECOND)  # an interval with nothing held: the window closes
    assert stream.grouping.windows == {}
    (news,) = stream.batch(T0 + 10 * SECOND, ("late", "L-1", "major")).routed
    assert news.window.started_at == news.window.ended_at  # news again, at once


def test_a_clear_releases_the_held_alarms_of_its_key_first_and_closes_the_window():
    stream = Stream(Grouping(INTERVAL))
    stream.batch(T0, ("a", "L-1", "major"), ("x", "L-2", "major"))
    stream.batch(T0 + SECOND, ("b", "L-1", "critical"), ("y", "L-2", "minor"))
    outcome = stream.batch(T0 + SECOND, ("c", "L-1", "cleared"))
    held, clear = outcome.routed
    assert ids(held) == ["b"] and held.window.ended_at == T0 + SECOND
    assert ids(clear) == ["c"] and clear.window is None
    assert "line_fault:vnpt-quang-nam:L-1" not in stream.grouping.windows
    assert stream.grouping.held == 1  # L-2's repeat still waits


def test_the_most_severe_held_report_represents_the_update_ties_to_the_latest():
    stream = Stream(Grouping(INTERVAL))
    stream.batch(T0, ("a", "L-1", "minor"))
    stream.batch(T0 + SECOND / 2, ("b", "L-1", "critical"), ("c", "L-1", "minor"))
    stream.batch(T0 + SECOND, ("d", "L-1", "critical"), ("e", "L-1", "warning"))
    (update,) = stream.batch(T0 + INTERVAL).routed
    assert update.report.report_id == "d"
    assert sorted(ids(update)) == ["b", "c", "d", "e"]


def test_a_window_full_of_references_is_released_early_and_opens_again():
    stream = Stream(Grouping(INTERVAL, max_refs=3))
    stream.batch(T0, ("a", "L-1", "major"))
    outcome = stream.batch(T0 + SECOND / 2, *faults("b", "L-1", 7))
    assert [r.count for r in outcome.routed] == [3, 3]  # chunks of one group, two full
    assert outcome.routed[0].window.ended_at == T0 + SECOND / 2
    assert stream.grouping.held == 1
    (last,) = stream.batch(T0 + 3 * SECOND).routed
    assert last.count == 1
    assert sum(r.count for r in stream.sent) == 8


def test_a_group_too_large_for_one_message_is_split_even_when_it_opens_the_window():
    stream = Stream(Grouping(INTERVAL, max_refs=2))
    opening, full = stream.batch(T0, *faults("a", "L-1", 5)).routed
    assert opening.window.started_at == opening.window.ended_at
    assert (opening.count, full.count, stream.grouping.held) == (2, 2, 1)


def test_open_windows_and_held_reports_are_capped():
    stream = Stream(Grouping(INTERVAL, max_windows=2, max_held=3))
    stream.batch(T0, ("a", "L-1", "major"), ("b", "L-2", "major"))
    stream.batch(T0 + SECOND / 4, ("a2", "L-1", "major"))
    # A third key closes the oldest window, releasing what it held.
    released = stream.batch(T0 + SECOND / 2, ("c", "L-3", "major")).routed
    assert [ids(r) for r in released] == [["a2"], ["c"]]
    assert set(stream.grouping.windows) == {
        "line_fault:vnpt-quang-nam:L-2",
        "line_fault:vnpt-quang-nam:L-3",
    }
    outcome = stream.batch(T0 + SECOND, *faults("d", "L-2", 2), *faults("e", "L-3", 2))
    assert [sorted(ids(r)) for r in outcome.routed] == [["d0", "d1"]]  # the oldest, early
    assert stream.grouping.held == 2


def test_off_it_is_todays_per_batch_collapse_with_no_window():
    stream = Stream(Grouping(timedelta(0)))
    (first,) = stream.batch(T0, *faults("a", "L-1", 3)).routed
    (second,) = stream.batch(T0 + SECOND, *faults("b", "L-1", 2)).routed
    assert (first.count, second.count) == (3, 2)
    assert first.window is second.window is None
    assert stream.grouping.windows == {}


def accounted(sent: Iterable) -> list[str]:
    return sorted(rid for routed in sent for rid in ids(routed))


specs = st.tuples(
    st.sampled_from(["L-1", "L-2", "L-3"]), st.sampled_from(["major", "critical", "cleared"])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1500), st.lists(specs, max_size=6)), max_size=12))
def test_every_report_is_routed_once_and_no_clear_overtakes_its_keys_alarms(batches):
    stream = Stream(Grouping(INTERVAL, max_refs=4, max_windows=2, max_held=5))
    at, sent_ids, n = T0, [], 0
    for step_ms, batch in batches:
        at += timedelta(milliseconds=step_ms)
        named = []
        for line, severity in batch:
            named.append((f"r{n}", line, severity))
            n += 1
        sent_ids += [rid for rid, _, _ in named]
        stream.batch(at, *named)
    stream.batch(at + INTERVAL)
    assert accounted(stream.sent) == sorted(sent_ids)
    assert stream.grouping.held == 0
    order = {f"r{i}": i for i in range(n)}
    for key in {r.incident_key for r in stream.sent}:
        of_key = [r for r in stream.sent if r.incident_key == key]
        for i, routed in enumerate(of_key):
            if routed.report.perceived_severity == "cleared":
                # Every alarm of the key read before the clear went out before it.
                before = {rid for r in of_key[:i] for rid in ids(r)}
                earlier = {
                    rid
                    for r in of_key[i + 1 :]
                    if r.report.perceived_severity != "cleared"
                    for rid in ids(r)
                    if order[rid] < min(order[c] for c in ids(routed))
                }
                assert not earlier, (before, earlier)
        for routed in of_key:
            if routed.window is not None:
                assert routed.window.ended_at - routed.window.started_at <= INTERVAL


def test_only_a_window_holding_reports_asks_to_be_woken_up():
    stream = Stream(Grouping(INTERVAL))
    stream.batch(T0, *faults("a", "L-1", 1))
    stream.batch(T0 + SECOND / 100, *faults("b", "L-2", 1))
    # Two windows open, nothing held: nothing to send, so no reason to wake up.
    assert stream.grouping.next_end() == T0 + INTERVAL
    assert stream.grouping.next_flush() is None
    stream.batch(T0 + SECOND / 50, *faults("c", "L-2", 1))
    assert stream.grouping.next_flush() == T0 + SECOND / 100 + INTERVAL
    stream.batch(T0 + SECOND / 100 + INTERVAL)  # flushed, and open again holding nothing
    assert stream.grouping.next_flush() is None
