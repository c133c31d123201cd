"""A rule-set announcement the brokers refuse is retried, never the end of the router."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError
from structlog.testing import capture_logs

from services.router.service import build
from services.router.settings import RouterSettings

pytestmark = pytest.mark.unit


class RefusingTwice:
    """A producer stand-in whose first two sends fail as a broker outage does."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent: list[bytes] = []
        self.refused = asyncio.Event()

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.calls += 1
        if self.calls <= 2:
            self.refused.set()
            raise KafkaConnectionError("broker away")
        self.sent.append(value)


async def test_the_announcement_is_retried_until_the_brokers_take_it() -> None:
    router = build(RouterSettings(router_retry_max_seconds=0.05), producer=RefusingTwice())
    with capture_logs() as logs:
        await asyncio.wait_for(router.announce_rules(asyncio.Event()), timeout=10)
    assert router.producer.calls == 3 and len(router.producer.sent) == 1
    retries = [e for e in logs if e["event"] == "ruleset_announcement_failed_will_retry"]
    assert [e["failures"] for e in retries] == [1, 2] and router.failures == 0


async def test_a_stop_during_the_retries_ends_the_wait() -> None:
    router = build(RouterSettings(router_retry_max_seconds=60), producer=RefusingTwice())
    stop = asyncio.Event()
    announcing = asyncio.create_task(router.announce_rules(stop))
    await asyncio.wait_for(router.producer.refused.wait(), timeout=5)
    stop.set()  # while it waits out its first back-off
    await asyncio.wait_for(announcing, timeout=5)
    assert router.producer.sent == []
