"""`signalpost run incidents`: the incident manager as a faust worker."""

from __future__ import annotations

import faust

from schemas.registry import load_registry
from services.incidents.app import build_app
from services.incidents.policy import Policy
from services.incidents.settings import IncidentSettings

settings_class = IncidentSettings


def run(settings: IncidentSettings) -> None:
    """Run the worker until SIGINT/SIGTERM; faust owns the event loop and the signals."""
    policy = Policy.from_registry(load_registry(settings.incidents_registry_dir))
    app = build_app(settings, policy=policy)
    worker = faust.Worker(app, loglevel=settings.incidents_log_level, quiet=True)
    worker.execute_from_commandline()
