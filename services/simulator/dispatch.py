"""Simulated dispatchers, pure: when one acknowledges and resolves a task, and the commands."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from schemas.commands import AcknowledgeIncident, CommandBase, ResolveIncident
from schemas.tasks import Task, TaskRole, TaskStatus

__all__ = ["Plan", "acknowledge", "plan", "resolve"]

# Most duty staff answer well within the deadline; some are away from the desk long enough
# for the incident to climb to the Department, and a few repairs overrun.
LATE_ACK_SHARE = 0.15
LATE_RESOLVE_SHARE = 0.05

C = TypeVar("C", bound=CommandBase)


@dataclass(frozen=True)
class Plan:
    """What one dispatcher will do with one primary task, in wall-clock times."""

    acknowledge_at: datetime
    resolve_at: datetime
    # A late dispatcher acknowledges only once the Department has been told (or at
    # acknowledge_at, whichever comes first).
    late: bool


def plan(task: Task, seed: int) -> Plan | None:
    """The plan for a task a dispatcher should act on; None for the others (notify, support)."""
    if task.role is not TaskRole.PRIMARY or task.status is not TaskStatus.OPEN:
        return None
    if task.ack_due_at is None or task.resolve_due_at is None:
        return None
    rng = random.Random(f"dispatch:{seed}:{task.task_id}:{task.enterprise}")
    ack_window = task.ack_due_at - task.updated_at
    resolve_window = task.resolve_due_at - task.updated_at
    late = rng.random() < LATE_ACK_SHARE
    ack_after = ack_window * (rng.uniform(6, 10) if late else rng.uniform(0.1, 0.5))
    if rng.random() < LATE_RESOLVE_SHARE:
        resolve_after = resolve_window * rng.uniform(1.1, 1.4)
    else:
        resolve_after = ack_window + (resolve_window - ack_window) * rng.uniform(0.05, 0.5)
    acknowledge_at = task.updated_at + ack_after
    resolve_at = max(task.updated_at + resolve_after, acknowledge_at) + timedelta(seconds=0.2)
    return Plan(acknowledge_at=acknowledge_at, resolve_at=resolve_at, late=late)


def acknowledge(task: Task, *, seed: int, now: datetime, dispatcher: str) -> AcknowledgeIncident:
    """The acknowledgement of `task`."""
    return _command(
        AcknowledgeIncident, "ack", task, seed, now, dispatcher, note="Đã nhận, cử tổ ứng cứu."
    )


def resolve(task: Task, *, seed: int, now: datetime, dispatcher: str) -> ResolveIncident:
    """The resolution of `task`."""
    resolution = "Đã khắc phục, thông tin liên lạc bình thường."
    return _command(ResolveIncident, "resolve", task, seed, now, dispatcher, resolution=resolution)


def _command(
    type_: type[C],
    verb: str,
    task: Task,
    seed: int,
    now: datetime,
    dispatcher: str,
    **fields: Any,
) -> C:
    # The id is derived from the task, so a resend is a retry, not a second command.
    return type_(
        command_id=f"sim{seed}-{verb}-{task.task_id}"[:128],
        incident_id=task.incident_id,
        incident_key=task.incident_key,
        issued_by=task.enterprise,
        issued_at=now,
        dispatcher=dispatcher,
        **fields,
    )
