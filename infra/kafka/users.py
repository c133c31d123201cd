"""Kafka users on the brokers: a SCRAM credential and the ACLs of the access table, made,
listed and revoked together (`signalpost kafka users`). Run as the administrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from infra.kafka import security_admin as wire
from infra.kafka.access import (
    SERVICES,
    Groups,
    enterprise_acls,
    enterprise_user,
    service_acls,
    service_user,
)
from schemas.registry import Registry
from services.incidents.settings import IncidentSettings
from services.notifier import NotifierSettings
from services.recorder.settings import RecorderSettings
from services.router.settings import RouterSettings
from services.runtime.errors import ConfigurationError
from services.runtime.kafka import admin_client, client_security, local_secret_name
from services.runtime.secrets import ensure_secret, forget_secret
from services.runtime.settings import Settings, load_settings
from services.runtime.topic_admin import apply_catalog
from services.runtime.topics import enterprise_report_topics, task_feeds


@dataclass(frozen=True)
class KafkaUser:
    """A user the brokers know, and how many ACL bindings it holds."""

    name: str
    acls: int


def groups_of(settings: Settings) -> Groups:
    """The services' consumer groups, as their settings (and the environment) name them."""
    common = {"home": settings.home, "topic_prefix": settings.topic_prefix}
    return Groups(
        router=load_settings(RouterSettings, **common).router_group_id,
        recorder=load_settings(RecorderSettings, **common).recorder_group_id,
        incidents=load_settings(IncidentSettings, **common).app_name,
        notifier=load_settings(NotifierSettings, **common).group_id,
    )


async def create_service_users(
    settings: Settings, services: tuple[str, ...] = SERVICES
) -> list[str]:
    """Each service's user with its ACLs; its password is the local secret (made once), which
    the service reads itself when it starts, so no password travels in an environment."""
    groups, prefix = groups_of(settings), settings.topic_prefix
    passwords = {
        service_user(s, prefix): ensure_secret(
            settings.home, local_secret_name(service_user(s, prefix))
        )
        for s in services
    }
    async with admin_client(settings) as admin:
        await wire.upsert_scram_users(admin, passwords)
        await wire.create_acls(
            admin, [acl for s in services for acl in service_acls(s, groups, prefix)]
        )
    with _quiet_refusals():
        await asyncio.gather(*(wait_until_login(settings, u, p) for u, p in passwords.items()))
    return list(passwords)


async def create_enterprise_user(
    settings: Settings, enterprise_id: str, registry: Registry
) -> tuple[str, str]:
    """Onboard an enterprise onto Kafka: its report topics and task feed, its user with a new
    password, and its ACLs. The user's name and password (shown once, kept nowhere)."""
    return (await create_enterprise_users(settings, [enterprise_id], registry))[enterprise_id]


async def create_enterprise_users(
    settings: Settings, enterprise_ids: Iterable[str], registry: Registry
) -> dict[str, tuple[str, str]]:
    """`create_enterprise_user` for several enterprises in one go: each one's user name and
    new password."""
    ids = sorted(set(enterprise_ids))
    unknown = [e for e in ids if registry.enterprise(e) is None]
    if unknown:
        raise ConfigurationError(
            f"enterprise {', '.join(map(repr, unknown))} is not in the registry; add it there first"
        )
    prefix = settings.topic_prefix
    made = {e: (enterprise_user(e, prefix), secrets.token_urlsafe(32)) for e in ids}
    async with admin_client(settings) as admin:
        await apply_catalog(
            admin=admin,
            prefix=prefix,
            replication=settings.topic_replication_factor,
            catalog=tuple(t for e in ids for t in enterprise_report_topics(e)) + task_feeds(ids),
        )
        await wire.upsert_scram_users(admin, dict(made.values()))
        await wire.create_acls(admin, [acl for e in ids for acl in enterprise_acls(e, prefix)])
    with _quiet_refusals():
        await asyncio.gather(*(wait_until_login(settings, u, p) for u, p in made.values()))
    return made


@contextlib.contextmanager
def _quiet_refusals() -> Iterator[None]:
    """While a new user's first logins are expected to be refused, aiokafka need not log each."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def wait_until_login(
    settings: Settings, user: str, password: str, *, timeout: float = 15.0
) -> None:
    """Wait until the brokers let a new user log in: a credential takes effect only when the
    brokers have applied its metadata record, a moment after the controller accepted it."""
    as_user = settings.model_copy(
        update={"kafka_username": user, "kafka_password": SecretStr(password)}
    )
    deadline = time.monotonic() + timeout
    while True:
        client = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            request_timeout_ms=5000,
            **client_security(as_user),
        )
        try:
            await client.start()
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()


async def list_users(settings: Settings) -> list[KafkaUser]:
    """Every SCRAM user under the settings' topic prefix, with its ACL count."""
    async with admin_client(settings) as admin:
        names = await wire.scram_users(admin)
        held = Counter(acl.principal for acl in await wire.acls_of(admin))
    prefix = settings.topic_prefix
    return [KafkaUser(n, held[wire.principal(n)]) for n in names if n.startswith(prefix)]


async def revoke_prefixed_users(settings: Settings) -> int:
    """Revoke every user under the settings' (non-empty) prefix: the end of a test's corner;
    how many there were."""
    if not settings.topic_prefix:
        raise ValueError("refusing to revoke users without a prefix: that is every user")
    mine = [u.name for u in await list_users(settings)]
    for user in mine:
        await revoke_user(settings, user)
    return len(mine)


async def revoke_user(settings: Settings, user: str) -> int:
    """Take a user's ACLs away (at once, even on its open connections) and its credential
    (no new logins); how many ACL bindings it held."""
    async with admin_client(settings) as admin:
        if user not in await wire.scram_users(admin):
            raise ConfigurationError(f"Kafka user {user!r} does not exist")
        removed = await wire.delete_acls(admin, wire.principal(user))
        await wire.delete_scram_users(admin, [user])
    forget_secret(settings.home, local_secret_name(user))  # a service user's, if it had one
    return removed
