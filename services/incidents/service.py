"""`signalpost run incidents`: the incident manager as a faust worker; `build` wires it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import faust
from aiokafka import AIOKafkaProducer

from schemas.registry import Registry, Rosters, load_registry, load_rosters
from services.incidents.app import build_app, changelog_topics
from services.incidents.log import LogReader
from services.incidents.policy import Policy
from services.incidents.settings import IncidentSettings
from services.runtime.clock import Clock, system_clock
from services.runtime.collector import tune_for_batches
from services.runtime.rosterlog import announce_rosters, history
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
        registry, rosters = _reference(settings)
        policy = settings.policy(registry, history([], otherwise=rosters))
    return build_app(
        settings,
        policy=policy,
        clock=clock,
        output_producer=output_producer,
        log_reader=log_reader,
    )


def _reference(settings: IncidentSettings) -> tuple[Registry, Rosters]:
    registry = load_registry(settings.incidents_registry_dir)
    return registry, load_rosters(settings.incidents_registry_dir, registry)


def run(settings: IncidentSettings) -> None:
    """Run the worker until SIGINT/SIGTERM; faust owns the event loop and the signals.

    First the rosters on disk are announced (unless already in force), so that every task
    names its people by rosters the log holds and `verify` can read again.
    """
    registry, rosters = _reference(settings)
    history = asyncio.run(
        announce_rosters(
            settings,
            rosters,
            registry,
            source=settings.incidents_registry_dir,
            service="incident-manager",
            now=system_clock(),
        )
    )
    app = build(settings, policy=settings.policy(registry, history))
    asyncio.run(ensure_topics(settings, changelog_topics(app)))
    tune_for_batches()  # deciding a batch made the default collector run every few inputs
    worker = faust.Worker(app, loglevel=settings.incidents_log_level, quiet=True)
    # faust's terminal spinner puts the root logger at DEBUG so that it spins on every record:
    # then every debug call in aiokafka's send path builds a record (~6% of the worker's CPU).
    worker.spinner = None
    worker.execute_from_commandline()
