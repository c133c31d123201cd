"""Database URLs without a password take the role's local secret; one that is missing is a
clear error naming the variable; a password written in the URL is used as it is."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from services.runtime.dburls import DatabaseUrl, explicit_password, role_of, written
from services.runtime.errors import ConfigurationError
from services.runtime.secrets import ensure_secret
from services.runtime.settings import Settings, load_settings

pytestmark = pytest.mark.unit
WRITTEN = "postgresql://signalpost_gateway@db.example:5432/signalpost?sslmode=require"


def test_a_missing_password_is_the_roles_local_secret(tmp_path):
    secret = ensure_secret(tmp_path, "postgres-signalpost_gateway")
    url = DatabaseUrl(WRITTEN, home=tmp_path, variable="SIGNALPOST_GATEWAY_DATABASE_URL")
    parts = urlsplit(url.get_secret_value())
    assert (parts.username, parts.password) == ("signalpost_gateway", secret)
    assert (parts.hostname, parts.port, parts.path, parts.query) == (
        "db.example", 5432, "/signalpost", "sslmode=require",
    )  # fmt: skip
    assert written(url) == WRITTEN and explicit_password(url) is None


def test_no_secret_and_no_password_names_the_variable_and_the_file(tmp_path):
    url = DatabaseUrl(WRITTEN, home=tmp_path, variable="SIGNALPOST_GATEWAY_DATABASE_URL")
    with pytest.raises(ConfigurationError) as caught:
        url.get_secret_value()
    message = str(caught.value)
    assert "SIGNALPOST_GATEWAY_DATABASE_URL" in message
    assert str(tmp_path / "secrets" / "postgres-signalpost_gateway") in message


def test_a_written_password_wins_over_any_secret(tmp_path):
    ensure_secret(tmp_path, "postgres-app")
    given = "postgresql://app:s%40fe@db.example/signalpost"
    url = DatabaseUrl(given, home=tmp_path, variable="SIGNALPOST_DATABASE_URL")
    assert url.get_secret_value() == given
    assert (role_of(url), explicit_password(url)) == ("app", "s@fe")


def test_settings_read_the_secret_of_their_home_when_the_url_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNALPOST_HOME", str(tmp_path))
    monkeypatch.setenv("SIGNALPOST_DATABASE_URL", "postgresql://rec@127.0.0.1:5999/signalpost")
    settings = load_settings(Settings)  # loads before the secret exists, as `postgres start`
    assert settings.database_port == 5999 and settings.database_name == "signalpost"
    secret = ensure_secret(tmp_path, "postgres-rec")
    assert urlsplit(settings.database_url.get_secret_value()).password == secret
    assert secret not in repr(settings)


def test_settings_made_from_others_read_the_secrets_where_the_others_did(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNALPOST_HOME", str(tmp_path / "first"))
    monkeypatch.setenv("SIGNALPOST_DATABASE_URL", "postgresql://rec@127.0.0.1:5999/signalpost")
    secret = ensure_secret(tmp_path / "first", "postgres-rec")
    moved = load_settings(Settings).model_copy(update={"home": tmp_path / "kafka-only"})
    copied = Settings.model_validate(moved.model_dump())  # as the crash loop makes its auditor's
    assert urlsplit(copied.database_url.get_secret_value()).password == secret
