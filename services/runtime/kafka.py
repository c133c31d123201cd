"""Kafka clients made one way for every service: same bootstrap, same safety settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from services.runtime.secrets import required_secret
from services.runtime.settings import Settings, env_var_name

# The local brokers' super user, and the local secret holding its password.
ADMIN_USER = "admin"
ADMIN_SECRET = f"kafka-{ADMIN_USER}"


def local_secret_name(user: str) -> str:
    """The local secret that holds Kafka user `user`'s password."""
    return f"kafka-{user}"


def kafka_credentials(settings: Settings) -> tuple[str, str]:
    """The SASL user and password: as set, else the local stack's (the administrator when
    no user is named; a user's password from the local secret its creation wrote)."""
    user = settings.kafka_username or ADMIN_USER
    if settings.kafka_password is not None:
        return user, settings.kafka_password.get_secret_value()
    missing = (
        f"no password for Kafka user {user!r}: set "
        f"{env_var_name(type(settings), 'kafka_password')}, or make the user locally "
        f"(`signalpost kafka start` makes {ADMIN_USER!r}, `signalpost kafka users create` "
        f"the others)"
    )
    return user, required_secret(settings.home, local_secret_name(user), missing=missing)


def client_security(settings: Settings) -> dict[str, Any]:
    """The aiokafka options that authenticate and encrypt as the settings say (none for
    PLAINTEXT); every producer, consumer and admin client of SignalPost takes them."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol.startswith("SASL_"):
        user, password = kafka_credentials(settings)
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
    if settings.kafka_security_protocol.endswith("SSL"):
        cafile = None if settings.kafka_ca_file is None else str(settings.kafka_ca_file)
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    return options


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas and never duplicates on retry."""
    options: dict[str, Any] = {
        **client_security(settings),
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
    }
    return AIOKafkaProducer(**(options | overrides))


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer whose offsets move only when the service commits them after its work is done;
    with no `group_id`, one that only reads (end offsets, a tail) and commits nothing."""
    options: dict[str, Any] = {
        **client_security(settings),
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        # Notice new partitions and topics within seconds, not the default five minutes.
        "metadata_max_age_ms": 10_000,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_session_timeout_ms // 3,
    }
    return AIOKafkaConsumer(*topics, **(options | overrides))


def service_consumer(
    settings: Settings, *topics: str, group_id: str, batch_max: int
) -> AIOKafkaConsumer:
    """A service's consumer in its group, polling up to `batch_max` records, and a static
    member of the group when the settings name this instance (kafka_group_instance_id)."""
    return make_consumer(
        settings,
        *topics,
        group_id=group_id,
        max_poll_records=batch_max,
        group_instance_id=settings.kafka_group_instance_id,
    )


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client, started and closed around its use."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=15000,
        **client_security(settings),
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()
