"""Publishers on Kafka report only in their own name and about what they own.

Each enterprise publishes with its own credentials on its own report topics; the router,
running as its own user, dead-letters with reason `impersonation` a report that names
another publisher or another enterprise's network or office. The Department alone may
report on anyone's network, in its own name.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from infra.kafka import users
from infra.kafka.access import service_user
from schemas.codec import decode
from schemas.contracts import DEAD_LETTER, ROUTED_REPORT
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.router.service import build
from services.router.settings import RouterSettings
from services.runtime.kafka import make_producer
from services.runtime.topics import DEAD_LETTERS, ROUTED_REPORTS, enterprise_report_topic
from tests.support.kafka_io import read_until

pytestmark = pytest.mark.integration

VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
DIEN_BAN, TAM_KY = "buu-dien-dien-ban", "buu-dien-tam-ky"


@pytest.fixture
async def router_as_itself(topics, test_id, monkeypatch):
    """The router on this test's topics, as its own Kafka user with only its ACLs."""
    group = f"{topics.topic_prefix}router"
    monkeypatch.setenv("SIGNALPOST_ROUTER_GROUP_ID", group)
    await users.create_service_users(topics, ("router",))
    settings = RouterSettings.model_validate(
        topics.model_dump()
        | {
            "router_group_id": group,
            "kafka_username": service_user("router", topics.topic_prefix),
            "kafka_password": None,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(build(settings).run(stop))
    yield topics
    stop.set()
    await asyncio.wait_for(task, timeout=30)


async def publish_as(settings, enterprise: str, kind: str, payload: dict) -> None:
    """Onboard `enterprise` and publish one report on its own topic with its own password."""
    user, password = await users.create_enterprise_user(settings, enterprise, load_registry())
    own = settings.model_copy(
        update={"kafka_username": user, "kafka_password": SecretStr(password)}
    )
    producer = make_producer(own)
    await producer.start()
    try:
        topic = settings.topic_prefix + enterprise_report_topic(enterprise, kind)
        await producer.send_and_wait(topic, encoded(payload), key=payload["report_id"].encode())
    finally:
        await producer.stop()


async def test_reports_in_another_name_or_about_another_network_are_dead_lettered(
    router_as_itself, test_id
):
    settings = router_as_itself
    prefix = settings.topic_prefix
    refused = {
        "as-viettel": (VNPT, "line_fault", {"reported_by": VIETTEL}, "reported_by"),
        "viettel-line": (VNPT, "line_fault", {"operator": VIETTEL}, "operator"),
        "tam-ky-parcel": (DIEN_BAN, "suspicious_parcel", {"post_office": TAM_KY}, "post_office"),
    }
    accepted = {
        "own-line": (VNPT, "line_fault", {}),
        "department-on-vnpt": (DEPARTMENT, "line_fault", {"reported_by": DEPARTMENT}),
    }
    for rid, (enterprise, kind, overrides, _) in refused.items():
        await publish_as(settings, enterprise, kind, report(kind, rid, **overrides))
    for rid, (enterprise, kind, overrides) in accepted.items():
        await publish_as(settings, enterprise, kind, report(kind, rid, **overrides))

    dead = await read_until(
        settings, prefix + DEAD_LETTERS, lambda r: len(r) >= len(refused), group=f"{test_id}-d"
    )
    routed = await read_until(
        settings, prefix + ROUTED_REPORTS, lambda r: len(r) >= len(accepted), group=f"{test_id}-r"
    )

    letters = {d.key.to_bytes().decode(): d for d in (decode(DEAD_LETTER, r.value) for r in dead)}
    assert set(letters) == set(refused)
    for rid, (enterprise, _, _, field) in refused.items():
        letter = letters[rid]
        assert letter.error.error == "impersonation", letter
        assert [p.field for p in letter.error.problems] == [field]
        assert enterprise in letter.error.problems[0].reason
        assert letter.source.topic.startswith(f"{prefix}reports.{enterprise}.")
    assert {decode(ROUTED_REPORT, r.value).report.report_id for r in routed} == set(accepted)
