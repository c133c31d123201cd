"""Every Kafka client takes its security from the settings: SASL, TLS, or neither."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from services.incidents.app import faust_credentials
from services.incidents.settings import IncidentSettings
from services.runtime.errors import ConfigurationError
from services.runtime.kafka import (
    ADMIN_USER,
    client_security,
    local_secret_name,
    make_consumer,
    make_producer,
)
from services.runtime.secrets import ensure_secret
from services.runtime.settings import Settings, load_settings

pytestmark = pytest.mark.unit
SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")
SASL = {
    "kafka_security_protocol": "SASL_PLAINTEXT",
    "kafka_username": "svc-router",
    "kafka_password": "s3cret",
}


def test_plaintext_adds_nothing_but_the_protocol() -> None:
    settings = Settings(kafka_security_protocol="PLAINTEXT")
    assert client_security(settings) == {"security_protocol": "PLAINTEXT"}


def test_by_default_a_client_is_the_local_administrator_with_its_local_secret(tmp_path) -> None:
    password = ensure_secret(tmp_path, local_secret_name(ADMIN_USER))
    assert client_security(Settings(home=tmp_path)) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": ADMIN_USER,
        "sasl_plain_password": password,
    }


def test_a_named_user_without_a_password_reads_its_own_local_secret(tmp_path) -> None:
    password = ensure_secret(tmp_path, local_secret_name("svc-router"))
    settings = Settings(home=tmp_path, kafka_username="svc-router")
    assert client_security(settings)["sasl_plain_password"] == password


async def test_sasl_settings_reach_producers_and_consumers() -> None:
    settings = Settings(**SASL)
    assert client_security(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-router",
        "sasl_plain_password": "s3cret",
    }
    producer = make_producer(settings)
    consumer = make_consumer(settings, "t", group_id="g")
    try:
        for client in (producer.client, consumer._client):
            assert client._security_protocol == "SASL_PLAINTEXT"
            assert client._sasl_mechanism == "SCRAM-SHA-512"
            assert client._sasl_plain_username == "svc-router"
    finally:  # never started: closing only releases them
        await producer.stop()
        await consumer.stop()


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_with_no_password_anywhere_is_refused_naming_the_variable(
    monkeypatch, tmp_path, protocol
) -> None:
    monkeypatch.setenv("SIGNALPOST_KAFKA_SECURITY_PROTOCOL", protocol)
    monkeypatch.setenv("SIGNALPOST_KAFKA_USERNAME", "svc-router")
    monkeypatch.setenv("SIGNALPOST_HOME", str(tmp_path))
    with pytest.raises(ConfigurationError, match="'svc-router'.*SIGNALPOST_KAFKA_PASSWORD"):
        client_security(load_settings(Settings))


def test_a_user_name_that_is_not_a_plain_name_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("SIGNALPOST_KAFKA_USERNAME", "a,b=c")
    with pytest.raises(ConfigurationError, match="SIGNALPOST_KAFKA_USERNAME"):
        load_settings(Settings)


def test_the_password_is_not_shown_with_the_settings() -> None:
    assert "s3cret" not in repr(Settings(**SASL))


@pytest.mark.skipif(not SYSTEM_CAS.exists(), reason="no CA bundle on this machine")
def test_tls_checks_the_brokers_against_the_given_ca() -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ca_file=SYSTEM_CAS)
    context = client_security(settings)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] > 0


def test_the_faust_worker_gets_the_same_credentials() -> None:
    sasl = faust_credentials(IncidentSettings(**SASL))
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.username, sasl.password, sasl.mechanism.value) == (
        "svc-router",
        "s3cret",
        "SCRAM-SHA-512",
    )
    assert faust_credentials(IncidentSettings(kafka_security_protocol="PLAINTEXT")) is None


def test_postgres_tls_is_the_urls_own_sslmode() -> None:
    url = "postgresql://signalpost:pw@db.example:5432/signalpost?sslmode=verify-full"
    assert Settings(database_url=url).database_name == "signalpost"
