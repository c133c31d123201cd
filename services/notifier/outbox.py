"""Records for the brokers, kept until they are acknowledged and sent again until they are."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

__all__ = ["Outbox"]

# Waits `failures` rounds of back-off (raising to abandon, e.g. when asked to stop).
BackOff = Callable[[int, BaseException], Awaitable[None]]


@dataclass(frozen=True)
class _Sent:
    topic: str
    value: bytes
    key: bytes
    ack: asyncio.Future[Any]


class Outbox:
    """What one batch sends (attempt records, dead letters), until every one is acknowledged."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.sent: list[_Sent] = []

    async def put(self, topic: str, value: bytes, key: bytes) -> None:
        """Send now, without waiting for the brokers; a send that cannot even be queued is
        kept as failed, to be sent again by `flush`."""
        try:
            ack = await self.producer.send(topic, value, key=key)
        except KafkaError as exc:
            ack = asyncio.get_running_loop().create_future()
            ack.set_exception(exc)
        self.sent.append(_Sent(topic, value, key, ack))

    async def flush(self, back_off: BackOff) -> int:
        """Wait until the brokers acknowledged everything put, sending the refused again after
        each back-off; how many records that was. Duplicates are harmless: every record has
        its own id (attempt_id, notification_id)."""
        failures, total = 0, len(self.sent)
        while self.sent:
            results = await asyncio.gather(*(s.ack for s in self.sent), return_exceptions=True)
            answers = zip(self.sent, results, strict=True)
            refused = [s for s, r in answers if isinstance(r, Exception)]
            self.sent = []
            if not refused:
                break
            failures += 1
            first = next(r for r in results if isinstance(r, Exception))
            await back_off(failures, first)
            for record in refused:
                await self.put(record.topic, record.value, record.key)
        return total
