"""The faust-streaming app: one agent owns each incident's state; a timer finds due deadlines.

Reports, commands and timer ticks arrive on three topics co-partitioned by incident key,
so one agent (concurrency 1: faust-streaming #606) sees every input of an incident in
order. For each input it sends the lifecycle events and task updates, waits until the
brokers acknowledge them, and only then writes the new state to the table, with where its
key's last event is in the log.

The log wins. A crash between the acks and the writes leaves events in the log that the
table does not hold, and the inputs that caused them come again, but the order of inputs
from three topics is fixed by nothing: decided again from the old state they could make
another history at the same sequences. So before the agent decides the inputs of a
partition for the first time after an assignment, it reads that partition of the log from
the partition's mark (the end of the log as of the last batch whose states are all
written) to its end and folds into each stored state the events it does not hold. The
inputs that come again are then known as seen (their report and command ids, their
deadlines' levels) in whatever order they come.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import faust
from aiokafka import AIOKafkaProducer

from services.incidents.agent import IncidentAgent
from services.incidents.log import LogReader, kafka_log_reader, kafka_partitions_reader
from services.incidents.outputs import BATCH_BYTES
from services.incidents.policy import Policy
from services.incidents.recovery import IncidentTableManager, SnapshotConsumer
from services.incidents.settings import IncidentSettings
from services.incidents.table import BulkLoadedTable
from services.runtime.clock import Clock, system_clock
from services.runtime.kafka import client_security, make_producer
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    KEYED_PARTITIONS,
    ROUTED_REPORTS,
    TopicSpec,
    topic_name,
)

RAW = {"key_serializer": "raw", "value_serializer": "raw"}


def build_app(
    settings: IncidentSettings,
    *,
    policy: Policy,
    clock: Clock = system_clock,
    output_producer: Callable[[], AIOKafkaProducer] | None = None,
    log_reader: LogReader | None = None,
) -> faust.App:
    """The faust app with its table, agent and timer, wired to `settings`' topics.

    `output_producer` makes the producer of the agent's outputs (by default an aiokafka
    producer on `settings`), and `log_reader` reads a partition of the log back (by default
    from the broker); agent tests in faust's test context pass ones that record and replay.
    """
    prefix = settings.topic_prefix
    app = faust.App(
        settings.app_name,
        broker=";".join(f"kafka://{s}" for s in settings.kafka_bootstrap.split(",")),
        broker_credentials=faust_credentials(settings),
        store="memory://",
        web_enabled=False,
        topic_partitions=KEYED_PARTITIONS,
        topic_replication_factor=settings.topic_replication_factor,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A kill -9'd worker's partitions move (or go back to its restart) after this long;
        # faust's own default is a minute of inputs waiting.
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_session_timeout_ms / 3000,
        # A restart with the same id takes its partitions back without waiting for the
        # session of the process it replaces to time out.
        consumer_group_instance_id=settings.kafka_group_instance_id,
        # The table holds the state as our own JSON bytes; faust must not re-encode them.
        table_key_serializer="raw",
        table_value_serializer="raw",
        # faust 0.15.3 resumes the inputs before seeking them after recovery and can drop
        # what it fetched in between (see recovery.py); this manager seeks first.
        TableManager=IncidentTableManager,
    )
    # Set before anything makes the consumer (see recovery.py: faust's own can drop inputs).
    app.transport.Consumer = SnapshotConsumer
    names = {
        name: topic_name(name, prefix)
        for name in (ROUTED_REPORTS, INCIDENT_COMMANDS, INCIDENT_TICKS)
    }
    inputs = app.topic(*names.values(), **RAW)
    ticks = app.topic(names[INCIDENT_TICKS], **RAW)
    # Outputs go through a plain aiokafka producer: faust's send costs several times more
    # per message, and an input makes eight or so messages. Safe because the agent waits
    # for these acks itself before it writes any state (faust's flush-before-commit only
    # covers its own producer).
    state = app.tables.add(
        BulkLoadedTable(
            app,
            name="incident-state",
            beacon=app.tables.beacon,
            reader_for=partial(kafka_partitions_reader, settings),
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=KEYED_PARTITIONS,
            # Changelog partition from the key itself (as every producer partitions the inputs),
            # not from whichever event of a batch happens to be current.
            use_partitioner=True,
        )
    )
    agent = IncidentAgent(
        app=app,
        table=state,
        policy=policy,
        clock=clock,
        read_log=log_reader or kafka_log_reader(settings, topic_name(INCIDENT_EVENTS, prefix)),
        inputs=names,
        prefix=prefix,
        batch_max=settings.incidents_batch_max,
    )

    @app.agent(inputs, concurrency=1)
    async def manage(stream: faust.StreamT) -> None:
        """Every input, in order, through the agent; its output producer lives as long."""
        # Made here: aiokafka wants the running loop.
        producer = (
            output_producer()
            if output_producer
            else make_producer(settings, max_batch_size=BATCH_BYTES)
        )
        await producer.start()
        try:
            await agent.handle_batches(stream, producer)
        finally:
            await producer.stop()

    async def send_tick(key: bytes, now: datetime) -> None:
        await ticks.send(key=key, value=now.isoformat().encode(), force=True)

    @app.timer(interval=settings.incidents_tick_seconds)
    async def find_due() -> None:
        """Ask the agent to look at incidents with a deadline due; it decides, in order."""
        await agent.send_due_ticks(send_tick)

    return app


def faust_credentials(settings: IncidentSettings) -> faust.types.auth.CredentialsT | None:
    """The worker's credentials, from the same settings as every aiokafka client's."""
    security = client_security(settings)
    context = security.get("ssl_context")
    if settings.kafka_security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=security["sasl_plain_username"],
            password=security["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,  # with a context, faust speaks SASL_SSL
        )
    return None if context is None else faust.SSLCredentials(context)


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
