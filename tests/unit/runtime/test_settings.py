"""Settings fail at start-up with the variable's name and the reason."""

from __future__ import annotations

import pytest

from infra.settings import StackSettings
from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings, load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SIGNALPOST_KAFKA_BOOTSTRAP", "localhost", "host:port"),
        ("SIGNALPOST_KAFKA_BOOTSTRAP", "a:1,b:99999", "host:port"),
        ("SIGNALPOST_DATABASE_URL", "mysql://x@y/z", "postgresql://"),
        ("SIGNALPOST_DATABASE_URL", "postgresql://127.0.0.1/signalpost", "names no user"),
        ("SIGNALPOST_GATEWAY_DATABASE_URL", "postgresql://gw:gw@h/d", "password is its own"),
        ("SIGNALPOST_OWNER_DATABASE_URL", "postgresql://own:own@h/d", "password is its own"),
        ("SIGNALPOST_DB_SCHEMA", "Robert'); DROP", "pattern"),
        ("SIGNALPOST_TOPIC_PREFIX", "has space", "pattern"),
        ("SIGNALPOST_LOG_LEVEL", "LOUD", "DEBUG"),
        ("SIGNALPOST_TOPIC_REPLICATION_FACTOR", "zero", "integer"),
        ("SIGNALPOST_KAFKA_HEAP", "lots", "pattern"),
        ("SIGNALPOST_KAFKA_CLUSTER_BASE_PORT", "80", "greater than or equal"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, variable, value, reason):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(StackSettings)
    assert variable in str(caught.value)
    assert reason in str(caught.value)


def test_defaults_describe_a_working_local_stack(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("SIGNALPOST_"):
            monkeypatch.delenv(name)
    settings = load_settings(StackSettings)
    assert settings.kafka_bootstrap == "127.0.0.1:29092"
    assert settings.database_port == 25432
    assert settings.database_name == "signalpost"
    assert "signalpost" not in repr(settings.database_url)  # the secret is not printed


def test_settings_are_frozen():
    settings = load_settings(Settings)
    with pytest.raises(ValueError, match="frozen"):
        settings.db_schema = "other"


def test_every_field_is_described():
    for name, field in StackSettings.model_fields.items():
        assert field.description, f"{name} has no description"
