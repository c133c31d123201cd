"""A database that is away or refusing work is waited out with jittered back-off, never skipped."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from structlog.testing import capture_logs

from services.recorder.service import build
from services.recorder.settings import RecorderSettings

pytestmark = pytest.mark.unit


def failing(*errors: Exception):
    """An attempt that raises each of `errors` in turn, then returns "done"."""
    pending = list(errors)

    async def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return "done"

    return attempt


async def test_back_off_is_jittered_by_the_injected_draw_and_capped():
    draws = iter([0.0, 1.0, 0.5])
    recorder = build(RecorderSettings(recorder_retry_max_seconds=0.04), draw=lambda: next(draws))
    errors = [ConnectionRefusedError(111, "refused"), TimeoutError(), OSError("reset")]
    with capture_logs() as logs:
        assert await recorder.retrying("record", failing(*errors)) == "done"
    waits = [e["retry_in_s"] for e in logs if e["event"] == "database_unavailable_will_retry"]
    # base 0.2 s doubling, capped at 0.04 s, then drawn between half of that and all of it.
    assert waits == [0.02, 0.04, 0.03]


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.UndefinedTableError('relation "incident_events" does not exist'),
    ],
    ids=["failed over to a replica", "migrations not applied yet"],
)
async def test_a_database_error_that_is_not_about_a_record_is_retried(error):
    recorder = build(RecorderSettings(recorder_retry_max_seconds=0.01), draw=lambda: 0.0)
    with capture_logs() as logs:
        assert await recorder.retrying("record", failing(error)) == "done"
    (line,) = [e for e in logs if e["event"] == "database_unavailable_will_retry"]
    assert type(error).__name__ in line["error"] and line["during"] == "record"


class FetchFailingOnce:
    """A consumer stand-in whose first fetch fails as a broker outage does."""

    def __init__(self) -> None:
        self.calls = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        self.calls += 1
        if self.calls == 1:
            raise KafkaConnectionError("broker away")
        return {"tp": ["record"]}


async def test_a_fetch_error_backs_off_and_polls_again():
    recorder = build(
        RecorderSettings(recorder_retry_max_seconds=0.01),
        draw=lambda: 0.0,
        consumer=FetchFailingOnce(),
    )
    assert await recorder.poll() == {} and recorder.poll_failures == 1
    assert await recorder.poll() == {"tp": ["record"]} and recorder.poll_failures == 0


class BrokenOnce:
    """A pool stand-in whose first connection comes back with its protocol state broken."""

    def __init__(self) -> None:
        self.handed: list[Connection] = []

    def acquire(self):
        conn = Connection(broken=not self.handed)
        self.handed.append(conn)
        return conn


class Connection:
    def __init__(self, *, broken: bool) -> None:
        self.broken, self.terminated = broken, False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    def terminate(self) -> None:
        self.terminated = True


async def test_a_connection_left_mid_operation_is_closed_and_the_work_retried():
    # Seen after a PostgreSQL restart mid-stream: the recorder ended on
    # "cannot switch to state 15; another operation (2) is in progress".
    recorder = build(RecorderSettings(recorder_retry_max_seconds=0.01), draw=lambda: 0.0)
    recorder.pool = BrokenOnce()

    async def operation(conn: Connection) -> str:
        if conn.broken:
            raise asyncpg.InternalClientError("cannot switch to state 15")
        return "recorded"

    assert await recorder.with_conn("record", operation) == "recorded"
    first, second = recorder.pool.handed
    assert first.terminated and not second.terminated
