"""The duty rosters' history on `rosters.activations`: read it, and announce those in force."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import structlog

from schemas.codec import decode, encode
from schemas.contracts import ROSTER_ACTIVATED
from schemas.duty import RosterActivated
from schemas.envelope import Actor, ActorKind
from schemas.errors import ContractError
from schemas.registry import Registry, RosterHistory, Rosters
from services.runtime import logrange
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from services.runtime.topics import ROSTER_ACTIVATIONS, topic_name

__all__ = ["announce_rosters", "history", "read_roster_activations"]

log = structlog.get_logger(component="rosters")
ALL_ALONG = datetime.min.replace(tzinfo=UTC)


async def read_roster_activations(settings: Settings) -> list[RosterActivated]:
    """Every readable roster activation on the log, in log order."""
    consumer = logrange.reader(settings)
    await consumer.start()
    try:
        spans = await logrange.spans(
            consumer, [topic_name(ROSTER_ACTIVATIONS, settings.topic_prefix)]
        )
        found: list[RosterActivated] = []
        async for polled in logrange.read(consumer, spans):
            for records in polled.values():
                for record in records:
                    try:
                        found.append(decode(ROSTER_ACTIVATED, record.value or b""))
                    except ContractError as exc:  # written by no SignalPost service
                        log.warning(
                            "roster_activation_unreadable", offset=record.offset, error=str(exc)
                        )
        return found
    finally:
        await consumer.stop()


def history(
    activations: list[RosterActivated], *, otherwise: Rosters | None = None
) -> RosterHistory:
    """The rosters each activation put in force, oldest first; with none, `otherwise` as in
    force all along (the incident manager built without the log takes its files so)."""
    if not activations:
        return ((ALL_ALONG, otherwise),) if otherwise is not None else ()
    ordered = sorted(activations, key=lambda a: a.activated_at)
    return tuple((a.activated_at, Rosters.model_validate(a.rosters)) for a in ordered)


async def announce_rosters(
    settings: Settings,
    rosters: Rosters,
    registry: Registry,
    *,
    source: Path,
    service: str,
    now: datetime,
) -> RosterHistory:
    """The history with `rosters` in force from `now`, announced unless already in force."""
    activations = await read_roster_activations(settings)
    latest = max(activations, key=lambda a: a.activated_at, default=None)
    if latest is None or latest.roster_version != rosters.version:
        event = RosterActivated(
            event_id=f"roster-activated:{uuid.uuid4().hex}",
            roster_version=rosters.version,
            registry_version=registry.version,
            activated_at=now,
            source=str(source)[-200:],
            actor=Actor(kind=ActorKind.SERVICE, id=service),
            rosters=rosters.model_dump(mode="json", by_alias=True),
        )
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(
                topic_name(ROSTER_ACTIVATIONS, settings.topic_prefix), encode(event), key=b"rosters"
            )
        finally:
            await producer.stop()
        activations.append(event)
        log.info("rosters_activated", version=rosters.version, source=str(source))
    return history(activations)
