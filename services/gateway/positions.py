"""Task-feed positions as SSE event ids, and task filters: pure helpers of the task endpoints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from schemas.tasks import Task
from services.gateway.errors import ApiError

# (enterprise, partition) -> the next offset to read on that enterprise's feed.
Positions = dict[tuple[str, int], int]
MAX_EVENT_ID_CHARS = 16_384
_PART = re.compile(r"^([a-z0-9]+(?:-[a-z0-9]+)*)/(\d{1,4}):(\d{1,19})$")


def format_positions(positions: Mapping[tuple[str, int], int]) -> str:
    """An SSE id naming every partition's next offset: `vnpt-quang-nam/0:12,vnpt-quang-nam/1:0`."""
    return ",".join(f"{e}/{p}:{o}" for (e, p), o in sorted(positions.items()))


def parse_positions(text: str, readable: Iterable[str], field: str = "Last-Event-ID") -> Positions:
    """Positions from a Last-Event-ID (or the `field` it came in); a malformed id or one
    naming another's feed is a 400."""
    if len(text) > MAX_EVENT_ID_CHARS:
        raise _bad(field, f"longer than {MAX_EVENT_ID_CHARS} characters")
    allowed = set(readable)
    positions: Positions = {}
    for part in filter(None, text.strip().split(",")):
        match = _PART.match(part.strip())
        if match is None:
            raise _bad(field, f"{part[:60]!r} is not enterprise/partition:offset")
        enterprise, partition, offset = match.group(1), int(match.group(2)), int(match.group(3))
        if enterprise not in allowed:
            raise _bad(field, f"names the feed of {enterprise}, which this token does not read")
        positions[enterprise, partition] = offset
    return positions


def _bad(field: str, reason: str) -> ApiError:
    return ApiError(400, "bad_last_event_id", field, reason)


@dataclass(frozen=True)
class TaskFilter:
    """Conditions a task must meet; None matches anything."""

    status: str | None = None
    kind: str | None = None
    role: str | None = None
    district: str | None = None
    priority: str | None = None
    incident_id: str | None = None

    def matches(self, task: Task) -> bool:
        """Whether the task meets every condition given."""
        for item in fields(self):
            wanted = getattr(self, item.name)
            if wanted is not None and str(getattr(task, item.name)) != wanted:
                return False
        return True


def current_tasks(tasks: Iterable[Task]) -> list[Task]:
    """Each task at its latest version, most recently updated first."""
    latest: dict[str, Task] = {}
    for task in tasks:
        seen = latest.get(task.task_id)
        if seen is None or task.version >= seen.version:
            latest[task.task_id] = task
    return sorted(latest.values(), key=lambda t: (t.updated_at, t.task_id), reverse=True)
