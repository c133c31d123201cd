"""The replay's pure parts: progress, the comparison's SQL and wording, command-line times."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from schemas.chain import canonical_json
from schemas.registry import load_registry
from services.auditor.compare import CHECKS, Difference, check_sql, differences, state_differences
from services.auditor.progress import Progress, progress_line
from services.auditor.rebuild import project
from services.cli.auditor_commands import instant
from services.recorder.rows import Decoded, plan_events
from services.router import REFERENCE_RULES, load_rule_set
from tests.support.audit_history import scenario

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)


def test_the_progress_line_shows_count_share_rate_and_eta():
    line = progress_line("replay", 2500, 10_000, 5.0)
    assert "2,500/10,000" in line and "25.0%" in line and "500/s" in line and "ETA 15s" in line


def test_a_resumed_run_counts_only_its_own_rate():
    line = progress_line("replay", 9000, 10_000, 2.0, this_run=1000)
    assert "500/s" in line and "ETA 2s" in line


def test_progress_on_a_pipe_writes_whole_lines():
    out = io.StringIO()
    bar = Progress("replay", 10, out=out)
    bar.advance(10)
    bar.finish()
    assert out.getvalue().endswith("\n") and "\r" not in out.getvalue()
    assert "10/10" in out.getvalue().splitlines()[-1]


def test_the_comparison_joins_on_the_key_and_names_differing_columns():
    events = next(c for c in CHECKS if c.table == "incident_events")
    sql = check_sql(events, live='"live"', replay='"rep"')
    assert 'FROM "live".incident_events' in sql and '"rep".replay_spans' in sql
    assert "r.event_id = l.event_id" in sql and "THEN 'hash'" in sql


def test_joined_rows_become_differences_in_words():
    rows = [
        {"key": "e1", "not_in_replay": True, "not_in_live": False, "columns": []},
        {"key": "e2", "not_in_replay": False, "not_in_live": True, "columns": []},
        {"key": "e3", "not_in_replay": False, "not_in_live": False, "columns": ["hash"]},
        {"key": "e4", "not_in_replay": False, "not_in_live": False, "columns": []},
    ]
    found = differences("incident_events", rows)
    assert [str(d) for d in found] == [
        "incident_events e1: in live, not rebuilt by the replay",
        "incident_events e2: rebuilt by the replay, missing from live",
        "incident_events e3: differs (hash)",
    ]


def test_live_rows_projected_give_the_recorders_state():
    history = scenario(2, rules=RULES, registry=REGISTRY)
    where = SimpleNamespace(topic="incidents.events", partition=0, offset=0)
    items = [Decoded(where, e, canonical_json(e.model_dump(mode="json"))) for e in history.events]
    plan = plan_events(items, {}, set())
    rows = [{"incident_id": r.incident_id, "event": r.event, "hash": r.hash} for r in plan.rows]
    assert project(rows) == plan.incidents
    state = next(iter(plan.incidents.values()))
    changed = state._replace(status="open")
    (diff,) = state_differences(changed, state)
    assert diff == Difference(
        "incidents", state.incident_id, "differs from live's rows", ("status",)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2007-05-20", datetime(2007, 5, 20, tzinfo=UTC)),
        ("2007-05-20T07:00+07:00", datetime(2007, 5, 20, 7, tzinfo=timezone(timedelta(hours=7)))),
    ],
)
def test_command_line_times_are_iso_and_utc_without_an_offset(text, expected):
    assert instant(text) == expected


def test_a_bad_command_line_time_is_a_clear_error():
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601 time"):
        instant("20 May")
