"""A broker error while a batch is sent holds the agent back and is sent again; never lost."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from structlog.testing import capture_logs

from services.incidents import outputs
from services.incidents.log import partition_of

pytestmark = pytest.mark.unit


class FlakyBroker:
    """A producer stand-in for two messages: the 1st attempt raises at its first send, the 2nd
    attempt's acks fail, the 3rd attempt goes through."""

    def __init__(self) -> None:
        self.calls = 0
        self.acked: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future:
        self.calls += 1
        if self.calls == 1:
            raise KafkaTimeoutError("no metadata")
        future = asyncio.get_running_loop().create_future()
        if self.calls <= 3:
            future.set_exception(NotLeaderForPartitionError())
        else:
            self.acked.append((topic, key, value))
            future.set_result(None)
        return future


async def test_a_batch_is_sent_again_until_every_message_is_acked(monkeypatch) -> None:
    monkeypatch.setattr(outputs, "RETRY_MAX_SECONDS", 0.01)
    broker = FlakyBroker()
    messages = [("events", b"k", b"e1"), ("tasks.vnpt", b"k", b"t1")]
    with capture_logs() as logs:
        await asyncio.wait_for(outputs.send_until_acked(broker, messages), timeout=5)
    assert broker.acked == messages
    retries = [e for e in logs if e["event"] == "batch_not_published_will_retry"]
    assert [e["failures"] for e in retries] == [1, 2]


class Builder:
    """aiokafka's BatchBuilder as far as the agent uses it: full at `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.values: list[bytes] = []
        self._limit = limit

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if self.values and self.size() + len(value) > self._limit:
            return None  # full; the first record always goes in
        self.values.append(value)
        return object()

    def size(self) -> int:
        return sum(len(v) for v in self.values)

    def record_count(self) -> int:
        return len(self.values)


class BatchingBroker:
    """Acknowledges each record batch at the next offsets of its partition."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: list[tuple[int, list[bytes]]] = []
        self.ends: dict[int, int] = {}

    def create_batch(self) -> Builder:
        return Builder(self.limit)

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> asyncio.Future:
        self.sent.append((partition, batch.values))
        base = self.ends.get(partition, 0)
        self.ends[partition] = base + len(batch.values)
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(partition=partition, offset=base))
        return future


async def test_a_decisions_events_go_whole_in_one_record_batch(monkeypatch) -> None:
    # A broker appends a record batch whole: a crash mid-send leaves no half decision.
    monkeypatch.setattr(outputs, "BATCH_BYTES", 1000)
    monkeypatch.setattr(outputs, "RECORD_OVERHEAD", 0)
    broker = BatchingBroker(limit=1000)
    key = b"line_fault:vnpt-quang-nam:L-1"
    partition = partition_of(key)
    decisions = [
        (key, [b"a" * 300, b"b" * 300]),
        (key, [b"c" * 300, b"d" * 300]),  # does not fit after the first: a batch of its own
        (key, [b"e" * 100]),  # fits after the second
        (key, [b"f" * 900, b"g" * 900]),  # larger than a batch alone: split, the only way
    ]
    at = await outputs.send_until_acked(broker, [], log_topic="events", decisions=decisions)
    assert [len(values) for _, values in broker.sent] == [2, 3, 1, 1]
    assert {p for p, _ in broker.sent} == {partition}
    # Where each decision's last event is: what the state rows record.
    assert at == [(partition, 1), (partition, 3), (partition, 4), (partition, 6)]
