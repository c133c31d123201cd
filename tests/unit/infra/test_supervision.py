"""The supervisor's decisions: back-off, the restart limit, state records, stuck or not."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.settings import StackSettings
from infra.supervision import (
    Answer,
    Position,
    RestartPolicy,
    ServiceRecord,
    exit_message,
    exited,
    next_restart,
    observe,
    settled,
    shown_state,
    started,
    stopped,
)
from infra.supervisor import Board, state_file
from services.cli.stack_commands import format_services

pytestmark = pytest.mark.unit

T0 = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
POLICY = RestartPolicy(first_delay=1.0, max_delay=30.0, jitter=0.5, limit=3, window=60.0)
policies = st.builds(
    RestartPolicy,
    first_delay=st.floats(0.01, 10),
    max_delay=st.floats(0.01, 100),
    jitter=st.floats(0, 1),
    limit=st.integers(0, 8),
    window=st.floats(1, 1000),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def running(**changes) -> ServiceRecord:
    """A router that started at T0 and settled."""
    record = settled(started(ServiceRecord("router", T0), 4242, T0), at(2))
    return ServiceRecord(**{**record.__dict__, **changes})


# --- back-off and limit --------------------------------------------------------------------


def test_the_delay_doubles_up_to_the_cap_without_jitter():
    policy = RestartPolicy(first_delay=0.5, max_delay=3.0, jitter=0.0, limit=9, window=60)
    assert [policy.delay(n, rand=0.7) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_takes_up_to_its_share_off():
    assert POLICY.delay(2, rand=0.0) == 4.0
    assert POLICY.delay(2, rand=0.5) == 3.0


@given(policies, st.integers(0, 200), st.floats(0, 1, exclude_max=True))
def test_a_delay_is_within_the_jitter_band_and_never_over_the_cap(policy, attempt, rand):
    base = min(policy.max_delay, policy.first_delay * 2 ** min(attempt, 64))
    delay = policy.delay(attempt, rand)
    assert base * (1 - policy.jitter) <= delay <= base <= policy.max_delay


@given(policies, st.lists(st.floats(0, 5000), max_size=40), st.randoms())
def test_never_more_restarts_within_a_window_than_the_limit(policy, gaps, rng):
    """Exits at arbitrary times: every restart the policy grants fits under the limit."""
    now, restarted_at = 0.0, []
    for gap in gaps:
        now += gap
        delay = next_restart(policy, restarted_at, now, rng.random())
        if delay is None:
            break
        now += delay
        restarted_at.append(now)
        in_window = [t for t in restarted_at if now - t < policy.window]
        assert len(in_window) <= policy.limit


def test_the_limit_gives_a_service_up_then_a_quiet_window_forgives():
    assert next_restart(POLICY, [], 0.0, rand=0.0) == 1.0
    assert next_restart(POLICY, [1.0], 2.0, rand=0.0) == 2.0
    assert next_restart(POLICY, [1.0, 4.0, 9.0], 10.0, rand=0.0) is None
    assert next_restart(POLICY, [1.0, 4.0, 9.0], 65.0, rand=0.0) == 2.0  # 1.0 and 4.0 aged out
    assert next_restart(POLICY, [1.0, 4.0, 9.0], 200.0, rand=0.0) == 1.0


def test_limit_zero_never_restarts():
    policy = RestartPolicy(first_delay=1, max_delay=1, jitter=0, limit=0, window=1)
    assert next_restart(policy, [], 0.0, rand=0.0) is None


def test_the_settings_make_the_policy_and_name_their_variables(monkeypatch):
    monkeypatch.setenv("SIGNALPOST_SUPERVISOR_RESTART_DELAY", "0.1")
    monkeypatch.setenv("SIGNALPOST_SUPERVISOR_RESTART_LIMIT", "2")
    policy = StackSettings().restart_policy()
    assert (policy.first_delay, policy.limit, policy.max_delay) == (0.1, 2, 30.0)
    fields = StackSettings.model_fields
    assert all(fields[name].description for name in fields if name.startswith("supervisor_"))


# --- records -------------------------------------------------------------------------------


def test_an_exit_keeps_the_code_and_the_last_lines_as_the_last_error():
    output = [f"line {n}\n" for n in range(30)] + ["  \n"]
    record = exited(running(), -9, output, at(5), restart=True)
    assert (record.state, record.pid, record.restarts, record.last_exit_code) == (
        "restarting", None, 1, -9,
    )  # fmt: skip
    lines = record.last_error.splitlines()
    assert lines[0] == "exited with code -9 (SIGKILL)"
    assert lines[1:] == [f"line {n}" for n in range(20, 30)]
    given_up = exited(record, 3, [], at(9), restart=False)
    assert (given_up.state, given_up.restarts, given_up.last_error) == (
        "failed", 1, "exited with code 3",
    )  # fmt: skip


def test_the_log_line_says_what_happened_and_what_comes_next():
    record = exited(running(), 1, ["boom: message_too_large\n"], at(5), restart=True)
    assert exit_message(record, 0.4321, POLICY) == (
        "router exited with code 1; restart 1 in 0.43s; last output: boom: message_too_large"
    )
    failed = exited(record, 1, [], at(6), restart=False)
    assert exit_message(failed, None, POLICY) == (
        "router exited with code 1; given up after 3 restarts within 60s (state failed)"
    )


def test_a_record_survives_its_json_file():
    record = observe(exited(running(), 2, ["x"], at(3), restart=True), Answer(False, "no"), at(4))
    plain = json.loads(json.dumps(record.to_json()))
    assert plain["updated_at"] == "2007-05-20T07:00:04+00:00"
    assert ServiceRecord.from_json({**plain, "from_a_newer_version": 1}) == record


def test_the_board_writes_every_change_atomically(tmp_path):
    board = Board(tmp_path / "supervisor", ["router", "gateway"])
    board.put(started(board["router"], 77, T0))
    on_disk = json.loads(state_file(tmp_path / "supervisor", "router").read_text())
    assert (on_disk["state"], on_disk["pid"]) == ("starting", 77)
    assert sorted(p.name for p in (tmp_path / "supervisor").iterdir()) == [
        "gateway.json", "router.json",
    ]  # fmt: skip


# --- lag, progress, stuck ------------------------------------------------------------------


def test_lag_is_what_is_written_and_not_committed():
    record = observe(running(), Position({"r:0": 5, "r:1": 9}, {"r:0": 8, "r:1": 9, "r:2": 2}), T0)
    assert (record.lag, record.behind) == (5, {"r:0": 5, "r:2": 0})


def test_a_partition_behind_at_the_same_offset_twice_is_no_progress():
    first = observe(running(), Position({"r:0": 5}, {"r:0": 8}), at(5))
    second = observe(first, Position({"r:0": 5, "r:1": 1}, {"r:0": 9, "r:1": 4}), at(10))
    assert (second.lag, second.progress_at) == (7, at(5))
    # r:1 was not behind at the first sample: it is no stall at the second.
    one_moved = observe(second, Position({"r:0": 6, "r:1": 1}, {"r:0": 9, "r:1": 4}), at(15))
    assert one_moved.progress_at == at(5)  # but at the third, r:1 has not moved
    both_moved = observe(one_moved, Position({"r:0": 6, "r:1": 2}, {"r:0": 9, "r:1": 4}), at(20))
    assert both_moved.progress_at == at(5)  # r:0 did not move since the third
    both_moved = observe(both_moved, Position({"r:0": 7, "r:1": 3}, {"r:0": 9, "r:1": 4}), at(25))
    assert both_moved.progress_at == at(25)


def test_caught_up_is_progress_and_unknown_is_neither():
    first = observe(running(), Position({"r:0": 5}, {"r:0": 8}), at(5))
    unknown = observe(first, "unknown: KafkaConnectionError()", at(10))
    assert (unknown.lag, unknown.progress_at, unknown.behind) == (None, at(5), {})
    caught_up = observe(first, Position({"r:0": 8}, {"r:0": 8}), at(10))
    assert (caught_up.lag, caught_up.progress_at) == (0, at(10))


def shown(record: ServiceRecord, now: datetime, alive: bool = True) -> str:
    return shown_state(record, alive=alive, now=now, stuck_after=15)


@pytest.mark.parametrize(
    ("record", "alive", "seconds", "expected"),
    [
        (running(), True, 60, "running"),
        (running(), False, 1, "down"),
        (running(lag=3, progress_at=at(10)), True, 24, "running"),
        (running(lag=3, progress_at=at(10)), True, 25, "stuck"),
        (running(lag=0, progress_at=at(10)), True, 99, "running"),
        (running(lag=None, progress_at=at(10)), True, 99, "running"),
        (running(healthy=False, progress_at=at(10)), True, 30, "unhealthy"),
        (running(healthy=False, progress_at=at(10)), True, 20, "running"),
        (running(state="starting"), False, 1, "down"),
        (running(state="restarting", pid=None), False, 1, "restarting"),
        (running(state="failed", pid=None, lag=3, progress_at=T0), False, 99, "failed"),
    ],
)
def test_what_status_shows(record, alive, seconds, expected):
    assert shown(record, at(seconds), alive) == expected


def test_a_restart_gives_the_new_process_its_own_time_to_progress():
    stalled = running(lag=3, progress_at=T0, behind={"r:0": 1})
    again = settled(started(stalled, 99, at(100)), at(102))
    assert shown(again, at(110)) == "running"
    still = observe(again, Position({"r:0": 1}, {"r:0": 4}), at(112))
    assert shown(still, at(116)) == "stuck"


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=20))
def test_a_group_that_commits_everything_each_sample_is_never_stuck(rounds):
    record, end = running(), 0
    for n, (written, _) in enumerate(rounds):
        end += written
        record = observe(record, Position({"r:0": end}, {"r:0": end}), at(20 * n))
        assert shown(record, at(20 * n + 19)) == "running"


# --- the status table ----------------------------------------------------------------------


def test_the_status_table_has_a_row_per_service():
    router = exited(running(), -9, ["a\n", "last words\n"], at(3), restart=True)
    router = observe(settled(started(router, 5150, at(4)), at(6)), Position({}, {"r:0": 2}), at(7))
    stuck = running(service="recorder", lag=1204, progress_at=T0)
    gateway = running(service="gateway", healthy=True, detail="healthz ok")
    failed = stopped(running(service="incidents"), None, at(1))
    rows = [(router, "running"), (failed, "stopped"), (stuck, "stuck"), (gateway, "running")]
    table = format_services(rows, at(31)).splitlines()
    assert table[0].split() == ["service", "state", "pid", "restarts", "lag", "last", "error"]
    assert table[1].split() == [
        "router", "running", "5150", "1", "2", "exited", "with", "code", "-9", "(SIGKILL):",
        "last", "words",
    ]  # fmt: skip
    assert table[2].split() == ["incidents", "stopped", "-", "0", "-", "-"]
    assert "1,204 (no progress for 31s)" in table[3] and table[3].startswith("recorder  ")
    assert "healthz ok" in table[4]


def test_a_long_last_line_is_cut():
    record = exited(running(), 1, ["x" * 500], at(3), restart=False)
    row = format_services([(record, "failed")], at(4)).splitlines()[1]
    assert row.endswith("…") and len(row) < 200


def test_restarts_never_exceed_the_limit_end_to_end():
    """The record as the supervisor keeps it, through exits at once after each start."""
    rng, record, restarted_at, now = random.Random(7), running(), [], 0.0
    while record.state != "failed":
        delay = next_restart(POLICY, restarted_at, now, rng.random())
        record = exited(record, 1, [], at(now), restart=delay is not None)
        if delay is not None:
            now += delay
            restarted_at.append(now)
            record = started(record, 1, at(now))
    assert record.restarts == POLICY.limit
