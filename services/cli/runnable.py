"""Every service `signalpost run NAME` can start, and how it is started.

Each entry maps a service name to the `module:function` of an async `main(settings)`.
Later issues add the router, incident manager, recorder, gateway; `signalpost up` starts
every entry, and the Dockerfile's entrypoint is `signalpost run NAME`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import cast

from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings

SERVICES: dict[str, str] = {}

ServiceMain = Callable[[Settings], Awaitable[None]]


def service_main(name: str) -> ServiceMain:
    """The entry coroutine of service `name`, or a clear error listing the known ones."""
    if name not in SERVICES:
        known = ", ".join(sorted(SERVICES)) or "none yet"
        raise ConfigurationError(f"unknown service {name!r}; known services: {known}")
    module_name, _, function = SERVICES[name].partition(":")
    return cast(ServiceMain, getattr(importlib.import_module(module_name), function))
