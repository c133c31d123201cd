"""`signalpost run incidents`: the incident manager as a faust worker; `build` wires it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import faust
from aiokafka import AIOKafkaProducer

from schemas.registry import load_registry
from services.incidents.app import build_app, changelog_topics
from services.incidents.log import LogReader
from services.incidents.policy import Policy
from services.incidents.settings import IncidentSettings
from services.runtime.clock import Clock, system_clock
from services.runtime.collector import tune_for_batches
from services.runtime.topic_admin import ensure_topics

settings_class = IncidentSettings


def build(
    settings: IncidentSettings,
    *,
    clock: Clock = system_clock,
    policy: Policy | None = None,
    output_producer: Callable[[], AIOKafkaProducer] | None = None,
    log_reader: LogReader | None = None,
) -> faust.App:
    """The incident manager's faust app; by default its policy comes from the registry.

    `output_producer` and `log_reader` replace the broker on the agent's two other paths
    (see `app.build_app`); tests in faust's test context pass ones that record and replay.
    """
    if policy is None:
        policy = Policy.from_registry(
            load_registry(settings.incidents_registry_dir),
            retention=timedelta(seconds=settings.incidents_retention_seconds),
        )
    return build_app(
        settings,
        policy=policy,
        clock=clock,
        output_producer=output_producer,
        log_reader=log_reader,
    )


def run(settings: IncidentSettings) -> None:
    """Run the worker until SIGINT/SIGTERM; faust owns the event loop and the signals."""
    app = build(settings)
    asyncio.run(ensure_topics(settings, changelog_topics(app)))
    tune_for_batches()  # deciding a batch made the default collector run every few inputs
    worker = faust.Worker(app, loglevel=settings.incidents_log_level, quiet=True)
    # faust's terminal spinner puts the root logger at DEBUG so that it spins on every record:
    # then every debug call in aiokafka's send path builds a record (~6% of the worker's CPU).
    worker.spinner = None
    worker.execute_from_commandline()
