"""Every service `signalpost run NAME` can start, and how it is started.

Each entry names a module with `settings_class` (its pydantic-settings class) and
`run(settings)`. `signalpost up` starts every entry; the Dockerfile's entrypoint is
`signalpost run NAME`, and docker-compose.yml has one container per entry.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from types import ModuleType

from services.runtime.errors import ConfigurationError
from services.runtime.settings import load_settings

SERVICES: dict[str, str] = {
    "router": "services.router.service",
    "incidents": "services.incidents.service",
    "recorder": "services.recorder.service",
    "gateway": "services.gateway.service",
    "notifier": "services.notifier.service",
}


def service_module(name: str) -> ModuleType:
    """The module of service `name`, or a clear error listing the known ones."""
    if name not in SERVICES:
        raise ConfigurationError(
            f"unknown service {name!r}; known services: {', '.join(sorted(SERVICES))}"
        )
    return importlib.import_module(SERVICES[name])


def run_service(name: str) -> None:
    """Load the service's own settings (failing with the variable's name) and run it.

    `run` is a coroutine for services that own their loop through asyncio.run, or a plain
    function for those that start their own (faust's worker does).
    """
    module = service_module(name)
    outcome = module.run(load_settings(module.settings_class))
    if inspect.isawaitable(outcome):
        asyncio.run(outcome)
