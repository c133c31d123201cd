"""Errors of the running services and the local stack, on the project's one base."""

from schemas.errors import SignalPostError

__all__ = [
    "ConfigurationError",
    "MigrationError",
    "SignalPostError",
    "StackError",
    "TopicDriftError",
]


class ConfigurationError(SignalPostError):
    """A setting is missing or has a bad value; the message names the variable."""


class StackError(SignalPostError):
    """A local stack component (Kafka, PostgreSQL) cannot start, stop or be reached."""


class MigrationError(SignalPostError):
    """A database migration is missing, changed after it was applied, or failed."""


class TopicDriftError(SignalPostError):
    """A Kafka topic exists but differs from the catalog in a way that cannot be fixed in place."""
