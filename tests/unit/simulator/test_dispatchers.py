"""The simulated duty desks: they act on their plans, wait for the Department when late."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from schemas.lifecycle import IncidentEscalated, IncidentResolved
from schemas.registry import load_registry
from schemas.tasks import TaskRole
from services.simulator.dispatch import plan
from services.simulator.runner import Dispatchers
from services.simulator.tally import Tally
from tests.support.simulator_samples import NOW, RecordingPublisher, open_task

pytestmark = pytest.mark.unit

DEPARTMENT = "so-bcvt-quang-nam"
SEED = 3


def _desks() -> tuple[Dispatchers, RecordingPublisher, Tally]:
    publisher, tally = RecordingPublisher(), Tally(department=DEPARTMENT)
    return (
        Dispatchers(load_registry(), seed=SEED, publisher=publisher, tally=tally),
        publisher,
        tally,
    )


def _number(late: bool) -> int:
    return next(n for n in range(1000) if plan(open_task(n), SEED).late is late)


def _event(kind, number: int, **fields):
    base = {
        "event_id": f"e-{number}-{kind.__name__}",
        "incident_key": f"line_fault:vnpt-quang-nam:L-{number}",
        "incident_id": f"inc-{number}",
        "sequence": 5,
        "occurred_at": NOW,
        "actor": {"kind": "service", "id": "incident-manager"},
        "caused_by": {"event_id": "e-cause"},
    }
    return kind.model_validate(base | fields)


async def test_an_on_time_desk_acknowledges_then_resolves_each_once():
    desks, publisher, _ = _desks()
    number = _number(late=False)
    task = open_task(number)
    planned = plan(task, SEED)
    desks.take(task.model_dump_json().encode())
    desks.take(task.model_dump_json().encode())  # the same task again: no second plan
    await desks.act(planned.acknowledge_at - timedelta(milliseconds=1))
    assert publisher.commands == []
    await desks.act(planned.acknowledge_at)
    await desks.act(planned.acknowledge_at)
    assert [c.type for c in publisher.commands] == ["acknowledge_incident"]
    await desks.act(planned.resolve_at)
    await desks.act(planned.resolve_at + timedelta(seconds=5))
    assert [c.type for c in publisher.commands] == ["acknowledge_incident", "resolve_incident"]
    assert {c.incident_id for c in publisher.commands} == {task.incident_id}


async def test_a_late_desk_acknowledges_once_the_department_is_told():
    desks, publisher, tally = _desks()
    number = _number(late=True)
    task = open_task(number)
    desks.take(task.model_dump_json().encode())
    await desks.act(task.ack_due_at + timedelta(seconds=5))
    assert publisher.commands == []  # past its deadline, still away from the desk
    tally.add(
        _event(IncidentEscalated, number, level=2, deadline="acknowledge",
               notified=[DEPARTMENT], reason="The acknowledge deadline passed.")
    )  # fmt: skip
    await desks.act(task.ack_due_at + timedelta(seconds=6))
    assert [c.type for c in publisher.commands] == ["acknowledge_incident"]


async def test_nothing_is_sent_for_an_ended_incident_or_a_task_not_its_own():
    desks, publisher, tally = _desks()
    number = _number(late=False)
    desks.take(open_task(number).model_dump_json().encode())
    desks.take(open_task(number + 1000, TaskRole.NOTIFY).model_dump_json().encode())
    with capture_logs() as logs:
        desks.take(b"not a task")
    assert [entry["event"] for entry in logs] == ["simulator_unreadable_task"]
    tally.add(
        _event(IncidentResolved, number, task_id=f"task-{number}", enterprise="vnpt-quang-nam",
               resolution="The source cleared the alarm.")
    )  # fmt: skip
    await desks.act(NOW + timedelta(days=1))
    assert publisher.commands == [] and desks.pending == {}
