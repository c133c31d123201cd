"""An enterprise is onboarded with one command and can do exactly what the table says, on
Kafka and HTTP alike: publish in its own name, read its own tasks, and nothing else."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.cli.onboard_commands import onboard
from services.gateway import Role
from services.runtime.kafka import client_security, make_producer
from services.runtime.topics import INCIDENT_EVENTS, enterprise_report_topic, task_feed
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.kafka_access import can_write, try_read

pytestmark = pytest.mark.integration
EVN = "evn-telecom-quang-nam"
VNPT = "vnpt-quang-nam"


@pytest.fixture
async def evn(topics, database, tmp_path):
    """EVN Telecom onboarded under this test's prefix, and a gateway to reach over HTTP."""
    done = await onboard(topics, EVN, load_registry(), (Role.PUBLISHER, Role.DISPATCHER))
    gateway = await start_gateway(topics, tmp_path / "gateway.log")
    yield topics, done, gateway
    await stop_gateway(gateway)


def evn_report(report_id: str, **overrides: str) -> dict:
    fields = {"reported_by": EVN, "operator": EVN} | overrides
    return report("line_fault", report_id, **fields)


async def test_an_onboarded_enterprise_publishes_and_reads_only_its_own(evn, test_id):
    settings, done, gateway = evn
    prefix = settings.topic_prefix
    assert done.kafka_user == prefix + EVN
    as_evn = settings.model_copy(
        update={"kafka_username": done.kafka_user, "kafka_password": SecretStr(done.kafka_password)}
    )

    producer = make_producer(as_evn)
    await producer.start()
    try:
        own = prefix + enterprise_report_topic(EVN, "line_fault")
        await producer.send_and_wait(own, encoded(evn_report(f"{test_id}-k")))
        for forbidden in ("reports.line-fault", enterprise_report_topic(VNPT, "line_fault")):
            assert not await can_write(producer, prefix + forbidden)
    finally:
        await producer.stop()

    security = client_security(as_evn)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, **security)
    await consumer.start()
    try:
        assert await try_read(consumer, prefix + task_feed(EVN), timeout_ms=500) is not None
        assert await try_read(consumer, prefix + task_feed(VNPT)) is None
        assert await try_read(consumer, prefix + INCIDENT_EVENTS) is None
    finally:
        await consumer.stop()

    publisher, dispatcher = (t.secret for t in done.tokens)
    async with gateway.client(publisher) as http:
        accepted = await http.post("/v1/reports/line_fault", json=evn_report(f"{test_id}-h"))
        assert accepted.status_code == 202, accepted.text
        about_vnpt = await http.post(
            "/v1/reports/line_fault", json=evn_report(f"{test_id}-v", operator=VNPT)
        )
        assert about_vnpt.status_code == 403
        assert about_vnpt.json()["error"] == "impersonation"
        assert (await http.get("/v1/tasks")).status_code == 403  # a publisher sees no tasks
    async with gateway.client(dispatcher) as http:
        assert (await http.get("/v1/tasks")).status_code == 200
        assert (await http.get("/v1/tasks", params={"enterprise": VNPT})).status_code == 403


async def test_a_token_role_the_enterprise_may_not_hold_is_refused_before_anything_is_made(
    topics, database
):
    with pytest.raises(Exception, match="only the Department may hold a supervisor token"):
        await onboard(topics, EVN, load_registry(), (Role.SUPERVISOR,))
