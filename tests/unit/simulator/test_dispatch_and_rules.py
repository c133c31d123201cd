"""Simulated dispatchers' plans, the run's tally, and the rules compressed for a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from schemas.codec import decode
from schemas.contracts import COMMAND, INCIDENT_EVENT
from schemas.registry import load_registry
from schemas.tasks import TaskRole, TaskStatus
from services.router import REFERENCE_RULES, load_rule_set
from services.simulator.dispatch import acknowledge, plan, resolve
from services.simulator.rules import compress_rules
from services.simulator.tally import Tally, format_final, format_summary
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.simulator_samples import NOW, open_task

pytestmark = pytest.mark.unit

TIMEDELTA = TypeAdapter(timedelta)
PLANS = [plan(open_task(n), seed=3) for n in range(400)]


def test_a_plan_is_the_same_for_the_same_seed_and_task_and_differs_by_seed():
    assert [plan(open_task(n), seed=3) for n in range(400)] == PLANS
    assert [plan(open_task(n), seed=4) for n in range(400)] != PLANS


def test_most_dispatchers_acknowledge_in_time_and_some_are_late():
    late = [p for p in PLANS if p.late]
    on_time = [p for p in PLANS if not p.late]
    assert 0.05 < len(late) / len(PLANS) < 0.3
    assert all(NOW < p.acknowledge_at < NOW + timedelta(seconds=10) for p in on_time)
    # Late enough that even a 2-hour Department step after a 30-minute deadline has passed.
    assert all(p.acknowledge_at > NOW + timedelta(seconds=50) for p in late)


def test_resolution_comes_after_acknowledgement_mostly_within_the_deadline():
    assert all(p.resolve_at > p.acknowledge_at for p in PLANS)
    overrun = [p for p in PLANS if p.resolve_at > NOW + timedelta(seconds=120)]
    assert len(overrun) < 0.2 * len(PLANS)


def test_only_open_primary_tasks_get_a_plan():
    assert plan(open_task(1, TaskRole.NOTIFY), seed=3) is None
    assert plan(open_task(1, TaskRole.SUPPORT), seed=3) is None
    done = open_task(1).model_copy(update={"status": TaskStatus.ACKNOWLEDGED})
    assert plan(done, seed=3) is None


def test_commands_are_valid_contracts_with_ids_derived_from_the_task():
    task = open_task(7)
    for make in (acknowledge, resolve):
        command = make(task, seed=3, now=NOW, dispatcher="Trực ca")
        assert decode(COMMAND, command.model_dump_json().encode()) == command
        assert (command.issued_by, command.incident_key) == (task.enterprise, task.incident_key)
        assert make(task, seed=3, now=NOW, dispatcher="x").command_id == command.command_id


def test_the_tally_counts_incidents_responses_and_escalations():
    tally = Tally(department="so-bcvt-quang-nam")
    for number in (1, 2):
        for event in incident_story(number, datetime(2026, 11, 29, 5, tzinfo=UTC), pace=0.01):
            tally.add(decode(INCIDENT_EVENT, encoded(event)[1]))
    assert len(tally.opened) == 2 and tally.open == 0 and len(tally.resolved) == 2
    assert tally.mtta == pytest.approx(4 * 60 * 0.01)
    assert tally.mttr == pytest.approx(95 * 60 * 0.01)
    line = format_summary(tally, elapsed=3.0, simulated=datetime(2007, 5, 20, 19), speed=60)
    assert "resolved 2" in line and "MTTA 2.4s (~2 min sim)" in line
    assert "MTTR" in format_final(tally, speed=60)


def test_the_tally_leaves_out_incidents_opened_before_the_run():
    tally = Tally(department="so-bcvt-quang-nam")
    story = incident_story(1, datetime(2026, 11, 29, 5, tzinfo=UTC), pace=0.01)
    for event in story[1:]:  # its opening happened before the run started watching
        tally.add(decode(INCIDENT_EVENT, encoded(event)[1]))
    assert (tally.opened, tally.resolved, tally.ack_seconds) == ({}, set(), [])


def test_compressed_rules_divide_every_deadline_and_still_load():
    text = compress_rules(REFERENCE_RULES.read_text(encoding="utf-8"), 300)
    assert "ack_within: PT1S" in text and "after: PT0S" in text and "after: PT2S" in text


def test_compressed_rules_load_with_the_same_rules_and_shorter_deadlines(tmp_path: Path):
    registry = load_registry()
    reference = load_rule_set(REFERENCE_RULES, registry)
    path = tmp_path / "rules.yaml"
    path.write_text(compress_rules(REFERENCE_RULES.read_text(encoding="utf-8"), 7200))
    fast = load_rule_set(path, registry)
    assert [r.id for r in fast.rules] == [r.id for r in reference.rules]
    assert fast.version != reference.version
    for slow_rule, fast_rule in zip(reference.rules, fast.rules, strict=True):
        if slow_rule.ack_within is not None:
            error = fast_rule.ack_within - slow_rule.ack_within / 7200
            assert abs(error) <= timedelta(milliseconds=1)


def test_compressing_needs_a_positive_speed():
    with pytest.raises(ValueError, match="positive"):
        compress_rules("ack_within: PT5M", 0)


def test_a_duration_under_a_key_the_compressor_has_never_heard_of_is_compressed():
    text = "rules:\n  - id: r\n    then: {remind_within: PT10M, notes: [PT1H, kept as it is]}\n"
    then = yaml.safe_load(compress_rules(text, 60))["rules"][0]["then"]
    assert then == {"remind_within": "PT10S", "notes": ["PT60S", "kept as it is"]}


def leaves(node, at=()):
    """Every scalar of a parsed YAML document with the path to it."""
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, (*at, key))]
    if isinstance(node, list):
        return [leaf for i, value in enumerate(node) for leaf in leaves(value, (*at, i))]
    return [(at, node)]


def test_compressing_changes_the_durations_and_nothing_else():
    source = REFERENCE_RULES.read_text(encoding="utf-8")
    before = leaves(yaml.safe_load(source))
    after = leaves(yaml.safe_load(compress_rules(source, 4)))
    assert [path for path, _ in after] == [path for path, _ in before]
    pairs = zip(before, after, strict=True)
    changed = {path: (old, new) for (path, old), (_, new) in pairs if old != new}
    # The reference file's durations are these three keys' values, and only those change.
    durations = {
        path for path, _ in before if path[-1] in ("ack_within", "resolve_within", "after")
    }
    assert durations and set(changed) == durations
    for old, new in changed.values():
        assert TIMEDELTA.validate_python(new) * 4 == TIMEDELTA.validate_python(old)
