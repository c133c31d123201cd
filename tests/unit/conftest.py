"""Unit tests never reach a broker, but the clients they build still need credentials: each
test gets a home of its own holding a local administrator's secret, never the real one."""

from __future__ import annotations

import pytest

from services.runtime.kafka import ADMIN_SECRET
from services.runtime.secrets import ensure_secret


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory, monkeypatch):
    """SIGNALPOST_HOME is a fresh directory with the local Kafka administrator's secret."""
    home = tmp_path_factory.mktemp("home")
    ensure_secret(home, ADMIN_SECRET)
    monkeypatch.setenv("SIGNALPOST_HOME", str(home))
    return home
