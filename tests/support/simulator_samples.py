"""A simulated dispatcher's tasks and a publisher that records what the simulator sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.tasks import Task, TaskRole, TaskStatus
from services.simulator.scenario import ScenarioMessage

NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def open_task(number: int, role: TaskRole = TaskRole.PRIMARY) -> Task:
    """Open task `number` of one line-fault incident, due soon after NOW if it is the primary's."""
    return Task(
        task_id=f"task-{number}",
        incident_id=f"inc-{number}",
        incident_key=f"line_fault:vnpt-quang-nam:L-{number}",
        enterprise="vnpt-quang-nam",
        role=role,
        kind="line_fault",
        district="tien-phuoc",
        summary="Đứt cáp",
        priority="p1",
        ack_due_at=NOW + timedelta(seconds=10) if role is TaskRole.PRIMARY else None,
        resolve_due_at=NOW + timedelta(seconds=120) if role is TaskRole.PRIMARY else None,
        status=TaskStatus.OPEN,
        updated_at=NOW,
    )


class RecordingPublisher:
    """A publisher that keeps what it was given, for tests of what is sent and when."""

    def __init__(self) -> None:
        self.commands: list = []
        self.reports: list[ScenarioMessage] = []
        self.failures = 0
        self.refused = 0

    async def start(self) -> None:
        pass

    async def publish_report(self, message: ScenarioMessage) -> None:
        self.reports.append(message)

    async def send_command(self, command) -> None:
        self.commands.append(command)

    async def stop(self) -> None:
        pass
