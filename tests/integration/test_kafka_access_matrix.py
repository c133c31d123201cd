"""Who may do what on the real broker: every principal x every topic and group x read/write.

The expected table is written out here by hand, from DESIGN section 2 and the issue, not
computed from infra/kafka/access.py: each cell is asserted allow or deny, and any allow
that the table does not list fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
)
from pydantic import SecretStr

from infra.kafka import users
from infra.kafka.access import SERVICES, service_user
from schemas.registry import load_registry
from services.runtime.kafka import admin_client, client_security, make_producer
from tests.support.kafka_access import can_write, try_read

pytestmark = pytest.mark.integration

VNPT, VIETTEL, DEPARTMENT, REVOKED = (
    "vnpt-quang-nam",
    "viettel-quang-nam",
    "so-bcvt-quang-nam",
    "sfone-quang-nam",
)
ENTERPRISES = (VNPT, VIETTEL, DEPARTMENT, REVOKED)
KINDS = ("line-fault", "capacity-alarm", "suspicious-parcel")
GATEWAY_REPORTS = tuple(f"reports.{k}" for k in KINDS)
OWN_REPORTS = {e: tuple(f"reports.{e}.{k}" for k in KINDS) for e in ENTERPRISES}
FEEDS = {e: f"tasks.{e}" for e in ENTERPRISES}
CHANGELOG = "incidents-app-incident-state-changelog"  # a faust topic of the incident manager
TOPICS = (
    *GATEWAY_REPORTS,
    "reports.routed",
    "reports.dead-letter",
    "incidents.commands",
    "incidents.events",
    "incidents.ticks",
    "rulesets.activations",
    "rosters.activations",
    "notifications.attempts",
    "notifications.dead-letter",
    *FEEDS.values(),
    *(t for own in OWN_REPORTS.values() for t in own),
    CHANGELOG,
)
GROUPS = {
    "router": "router-group",
    "recorder": "recorder-group",
    "incidents": "incidents-app",
    "notifier": "notifier-group",
    **{e: f"{e}.dispatch" for e in (VNPT, VIETTEL, DEPARTMENT)},
    "stranger": "someone-else",
}
ALL_REPORTS = (*GATEWAY_REPORTS, *(t for own in OWN_REPORTS.values() for t in own))

# What each principal may do; every cell not listed must be denied.
ALLOWED: dict[str, dict[str, set[str]]] = {
    "router": {
        "read": {*ALL_REPORTS, "reports.routed", "reports.dead-letter"},
        "write": {"reports.routed", "reports.dead-letter", "rulesets.activations"},
        "group": {GROUPS["router"]},
    },
    "incidents": {
        "read": {
            "reports.routed",
            "incidents.commands",
            "incidents.ticks",
            "incidents.events",
            "rosters.activations",
            CHANGELOG,
        },
        "write": {
            "incidents.events",
            "incidents.ticks",
            "rosters.activations",
            *FEEDS.values(),
            CHANGELOG,
        },
        "group": {GROUPS["incidents"]},
    },
    "recorder": {
        "read": {
            "incidents.events",
            "reports.dead-letter",
            "rulesets.activations",
            "notifications.attempts",
        },
        "write": set(),
        "group": {GROUPS["recorder"]},
    },
    "notifier": {
        "read": {"incidents.events", "rosters.activations"},
        "write": {"notifications.attempts", "notifications.dead-letter"},
        "group": {GROUPS["notifier"]},
    },
    "gateway": {
        "read": {"incidents.events", *FEEDS.values()},
        "write": {*GATEWAY_REPORTS, "incidents.commands"},
        "group": set(),
    },
    "auditor": {
        "read": {
            *ALL_REPORTS,
            "reports.routed",
            "reports.dead-letter",
            "incidents.commands",
            "incidents.events",
            "incidents.ticks",
            "rulesets.activations",
            "rosters.activations",
            "notifications.attempts",
            *FEEDS.values(),
        },
        "write": set(),
        "group": set(),
    },
    **{
        e: {"read": {FEEDS[e]}, "write": set(OWN_REPORTS[e]), "group": {GROUPS[e]}}
        for e in (VNPT, VIETTEL, DEPARTMENT)
    },
    "unauthenticated": {"read": set(), "write": set(), "group": set()},
    "wrong password": {"read": set(), "write": set(), "group": set()},
    "revoked": {"read": set(), "write": set(), "group": set()},
}


@dataclass(frozen=True)
class Cell:
    principal: str
    operation: str  # read, write, group
    resource: str

    def __str__(self) -> str:
        return f"{self.principal} {self.operation} {self.resource}"


@pytest.fixture
async def onboarded(topics, test_id, monkeypatch) -> AsyncIterator[tuple[object, dict]]:
    """The services' users and four enterprises onboarded under this test's prefix, the last
    one revoked again; every topic holds one record, so a permitted read returns at once."""
    prefix = topics.topic_prefix
    monkeypatch.setenv("SIGNALPOST_ROUTER_GROUP_ID", prefix + GROUPS["router"])
    monkeypatch.setenv("SIGNALPOST_RECORDER_GROUP_ID", prefix + GROUPS["recorder"])
    monkeypatch.setenv("SIGNALPOST_INCIDENTS_APP_ID", "incidents-app")
    monkeypatch.setenv("SIGNALPOST_NOTIFIER_GROUP_ID", prefix + GROUPS["notifier"])
    await users.create_service_users(topics)
    registry = load_registry()
    passwords = {
        e: (await users.create_enterprise_user(topics, e, registry))[1] for e in ENTERPRISES
    }
    async with admin_client(topics) as admin:
        await admin.create_topics([NewTopic(prefix + CHANGELOG, 1, 1)])
    producer = make_producer(topics)  # the administrator
    await producer.start()
    try:
        for topic in TOPICS:
            await producer.send_and_wait(prefix + topic, b"seed", partition=0)
    finally:
        await producer.stop()
    yield topics, passwords


def _security(settings, user: str | None, password: str | None) -> dict:
    if user is None:
        return {"security_protocol": "PLAINTEXT"}
    secret = None if password is None else SecretStr(password)
    return client_security(
        settings.model_copy(update={"kafka_username": user, "kafka_password": secret})
    )


async def _can_read(consumer: AIOKafkaConsumer, topic: str) -> bool:
    records = await try_read(consumer, topic)
    if records is None:
        return False
    assert records, f"{topic}: neither refused nor read within 10 s"
    return True


async def _can_use_group(settings, security: dict, group: str, readable: str) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **security,
    )
    await consumer.start()
    try:
        tp = TopicPartition(readable, 0)
        consumer.assign([tp])
        await consumer.commit({tp: 1})
    except GroupAuthorizationFailedError:
        return False
    finally:
        await consumer.stop()
    return True


async def _probe(settings, principal: str, security: dict) -> dict[Cell, bool]:
    """Try every cell as one principal; True where the broker allowed it."""
    prefix = settings.topic_prefix
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000, **security
    )
    try:
        await producer.start()
    except KafkaConnectionError:  # refused at the door: nothing at all is allowed
        await producer.stop()
        return {cell: False for cell in _cells(principal)}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, **security)
    await consumer.start()
    found: dict[Cell, bool] = {}
    try:
        for topic in TOPICS:
            found[Cell(principal, "write", topic)] = await can_write(producer, prefix + topic)
            found[Cell(principal, "read", topic)] = await _can_read(consumer, prefix + topic)
    finally:
        await producer.stop()
        await consumer.stop()
    readable = next((t for t in TOPICS if found[Cell(principal, "read", t)]), None)
    for group in GROUPS.values():
        cell = Cell(principal, "group", group)
        found[cell] = readable is not None and await _can_use_group(
            settings, security, prefix + group, prefix + readable
        )
    return found


def _cells(principal: str) -> list[Cell]:
    return [
        *(Cell(principal, op, t) for t in TOPICS for op in ("write", "read")),
        *(Cell(principal, "group", g) for g in GROUPS.values()),
    ]


async def test_every_principal_can_do_exactly_what_the_table_says(onboarded):
    settings, passwords = onboarded
    prefix = settings.topic_prefix
    await users.revoke_user(settings, prefix + REVOKED)
    principals = {
        **{s: _security(settings, service_user(s, prefix), None) for s in SERVICES},
        **{e: _security(settings, prefix + e, passwords[e]) for e in (VNPT, VIETTEL, DEPARTMENT)},
        "unauthenticated": _security(settings, None, None),
        "wrong password": _security(settings, prefix + VNPT, "not-the-password"),
        "revoked": _security(settings, prefix + REVOKED, passwords[REVOKED]),
    }
    found: dict[Cell, bool] = {}
    # Principals side by side: each probe is mostly waiting for the broker.
    for cells in await asyncio.gather(*(_probe(settings, p, s) for p, s in principals.items())):
        found |= cells

    expected = {cell: cell.resource in ALLOWED[cell.principal][cell.operation] for cell in found}
    wrong = sorted(
        f"{cell}: {'allowed' if found[cell] else 'denied'}, the table says "
        f"{'allow' if expected[cell] else 'deny'}"
        for cell in found
        if found[cell] != expected[cell]
    )
    allowed = sum(found.values())
    print(
        f"kafka access matrix: {len(found)} cells, {allowed} allowed, {len(found) - allowed} denied"
    )
    assert not wrong, "\n".join(wrong)
    assert len(found) == len(principals) * (2 * len(TOPICS) + len(GROUPS))
    # Every allow in the table was seen to work, so the table is no wish list.
    assert allowed == sum(len(ops[k]) for ops in ALLOWED.values() for k in ops)


async def test_a_revoked_user_loses_its_open_connection_too(onboarded):
    settings, passwords = onboarded
    prefix = settings.topic_prefix
    security = _security(settings, prefix + VIETTEL, passwords[VIETTEL])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **security)
    await producer.start()
    try:
        own = prefix + OWN_REPORTS[VIETTEL][0]
        assert await can_write(producer, own)
        removed = await users.revoke_user(settings, prefix + VIETTEL)
        assert removed == 9
        # ACLs are checked on every request, on connections open before the revocation too.
        assert not await can_write(producer, own)
    finally:
        await producer.stop()
    assert prefix + VIETTEL not in {u.name for u in await users.list_users(settings)}


async def test_onboarding_an_unknown_enterprise_is_refused(topics):
    with pytest.raises(Exception, match="not in the registry"):
        await users.create_enterprise_user(topics, "no-such-enterprise", load_registry())


def test_the_table_covers_every_principal_the_test_tries():
    assert set(ALLOWED) == {*SERVICES, VNPT, VIETTEL, DEPARTMENT, "unauthenticated",
                            "wrong password", "revoked"}  # fmt: skip
