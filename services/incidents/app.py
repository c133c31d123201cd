"""The faust-streaming app: one agent owns each incident's state; a timer finds due deadlines.

Reports, commands and timer ticks arrive on three topics co-partitioned by incident key,
so one agent (concurrency 1: faust-streaming #606) sees every input of an incident in
order. For each input it sends the lifecycle events and task updates, waits until the
brokers acknowledge them, and only then writes the new state to the table: a crash before
the write replays the input from the old state, which yields the same events with the same
ids (the recorder keeps one of each); a crash after it finds the input already applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import faust
import structlog

from services.incidents.handler import Step, due_keys, handle
from services.incidents.policy import Policy
from services.incidents.settings import IncidentSettings
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    KEYED_PARTITIONS,
    ROUTED_REPORTS,
    TopicSpec,
    task_feed,
    topic_name,
)

log = structlog.get_logger(component="incidents")
Clock = Callable[[], datetime]
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def build_app(
    settings: IncidentSettings, *, policy: Policy, clock: Clock = system_clock
) -> faust.App:
    """The faust app with its table, agent and timer, wired to `settings`' topics."""
    prefix = settings.topic_prefix
    app = faust.App(
        f"{prefix}{settings.incidents_app_id}",
        broker=";".join(f"kafka://{s}" for s in settings.kafka_bootstrap.split(",")),
        store="memory://",
        web_enabled=False,
        topic_partitions=KEYED_PARTITIONS,
        topic_replication_factor=settings.topic_replication_factor,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # The table holds the state as our own JSON bytes; faust must not re-encode them.
        table_key_serializer="raw",
        table_value_serializer="raw",
    )
    names = {
        name: topic_name(name, prefix)
        for name in (ROUTED_REPORTS, INCIDENT_COMMANDS, INCIDENT_TICKS)
    }
    inputs = app.topic(*names.values(), **RAW)
    events = app.topic(topic_name(INCIDENT_EVENTS, prefix), **RAW)
    ticks = app.topic(names[INCIDENT_TICKS], **RAW)
    dead = app.topic(topic_name(DEAD_LETTERS, prefix), **RAW)
    feeds: dict[str, faust.TopicT] = {}
    state = app.Table(
        "incident-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=KEYED_PARTITIONS,
        # Changelog partition from the key itself (as every producer partitions the inputs),
        # not from whichever event of a batch happens to be current.
        use_partitioner=True,
    )
    source_of = {real: name for name, real in names.items()}

    def feed(enterprise: str) -> faust.TopicT:
        if enterprise not in feeds:
            feeds[enterprise] = app.topic(topic_name(task_feed(enterprise), prefix), **RAW)
        return feeds[enterprise]

    async def publish(key: bytes | None, step: Step) -> list[asyncio.Future]:
        sends = [await events.send(key=key, value=v, force=True) for v in step.events]
        sends += [await feed(e).send(key=key, value=v, force=True) for e, v in step.tasks]
        sends += [await dead.send(key=key, value=v, force=True) for v in step.dead_letters]
        return sends

    @app.agent(inputs, concurrency=1)
    async def manage(stream: faust.StreamT) -> None:
        """Inputs in order, a batch at a time: decide, publish, wait for acks, keep the states.

        Waiting for the brokers once per batch rather than once per input is what lets one
        agent keep up; the states of a batch are written only after all its sends are acked.
        """
        async for batch in stream.take_events(settings.incidents_batch_max, within=0.01):
            changed: dict[bytes, bytes] = {}
            sends: list[asyncio.Future] = []
            for event in batch:
                message = event.message
                key = event.key
                stored = changed.get(key) or (state.get(key) if key is not None else None)
                step = handle(
                    stored,
                    key=key,
                    source=source_of.get(message.topic, message.topic),
                    value=event.value,
                    position=(
                        message.topic,
                        message.partition,
                        message.offset,
                        int(message.timestamp * 1000),
                    ),
                    policy=policy,
                )
                sends += await publish(key, step)
                if step.state is not None and key is not None:
                    changed[key] = step.state
            await asyncio.gather(*sends)
            for key, raw in changed.items():
                state[key] = raw
            log.debug("batch_handled", inputs=len(batch), sends=len(sends))

    @app.timer(interval=settings.incidents_tick_seconds)
    async def find_due() -> None:
        """Ask the agent to look at incidents with a deadline due; it decides, in order."""
        now = clock()
        for key in due_keys(state.items(), now, policy):
            await ticks.send(key=key, value=now.isoformat().encode(), force=True)

    return app


def changelog_topics(app: faust.App) -> tuple[TopicSpec, ...]:
    """The tables' changelog topics, compacted, co-partitioned with the inputs.

    faust-streaming 0.15 against Kafka 4 did not create them itself (it logged "Ignoring
    missing topic" and its agent crashed on the first write), so the service creates them
    before the worker starts, through the same catalog code as every other topic.
    """
    return tuple(
        TopicSpec(
            table.changelog_topic.get_topic_name(),
            KEYED_PARTITIONS,
            {"cleanup.policy": "compact"},
            f"changelog of the {table.name} table",
        )
        for table in app.tables.values()
    )
