"""A test's own home (its own PostgreSQL, its own files) beside the shared broker."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from services.runtime.kafka import kafka_credentials
from services.runtime.settings import Settings

S = TypeVar("S", bound=Settings)


def moved_home(settings: S, home: Path, **updates: object) -> S:
    """`settings` with another home, keeping the Kafka user and password they had: those
    are read from the old home's local secrets, where the shared broker's live."""
    user, password = kafka_credentials(settings)
    return settings.model_copy(
        update={
            "home": home,
            "kafka_username": user,
            "kafka_password": SecretStr(password),
            **updates,
        }
    )
