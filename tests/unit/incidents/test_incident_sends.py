"""A broker error while a batch is sent holds the agent back and is sent again; never lost."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from structlog.testing import capture_logs

from services.incidents import app

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
    monkeypatch.setattr(app, "RETRY_MAX_SECONDS", 0.01)
    broker = FlakyBroker()
    messages = [("events", b"k", b"e1"), ("tasks.vnpt", b"k", b"t1")]
    with capture_logs() as logs:
        await asyncio.wait_for(app.send_until_acked(broker, messages), timeout=5)
    assert broker.acked == messages
    retries = [e for e in logs if e["event"] == "batch_not_published_will_retry"]
    assert [e["failures"] for e in retries] == [1, 2]
