"""Acknowledge links against the real gateway, Kafka and PostgreSQL: a genuine link's page
changes nothing, its first POST sends one AcknowledgeIncident as the person and every later
use is 410 saying when; an expired link is 410, a forged one 403; with Kafka or PostgreSQL
gone, 503. And the incident page and the report say who was told, and how it went."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr

from services.runtime import db
from services.runtime.kafka import make_consumer
from services.runtime.topics import CATALOG, INCIDENT_COMMANDS, NOTIFICATION_ATTEMPTS, topic_name
from tests.support.gateway_stack import free_port, start_gateway, stop_gateway
from tests.support.kafka_io import publish, read_until
from tests.support.notification_samples import PERSON, ack_token, attempt, encoded_attempt
from tests.support.polling import eventually
from tests.support.seeded_gateway import DEPARTMENT, OPENED, VNPT, seeded_gateway

pytestmark = pytest.mark.integration
SECRET = "ack-links-test-secret"
KEY = "line_fault:vnpt-quang-nam:L-1"
JSON = {"Accept": "application/json"}


def link(notification_id: str, *, secret: str = SECRET, expires_in_s: float = 3600) -> str:
    token = ack_token(
        secret,
        notification_id=notification_id,
        incident_id="inc-1",
        incident_key=KEY,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in_s),
    )
    return f"/v1/ack/{token}"


async def used_links(settings) -> list[dict]:
    """The ack_links rows, read as the owner (the recorder's role may not)."""
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        return [dict(r) for r in await conn.fetch("SELECT * FROM ack_links")]
    finally:
        await conn.close()


async def commands_sent(settings) -> int:
    """How many commands incidents.commands holds, to its end."""
    topic = topic_name(INCIDENT_COMMANDS, settings.topic_prefix)
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        spec = next(t for t in CATALOG if t.name == INCIDENT_COMMANDS)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


@pytest.fixture
async def gateway(topics, database, tmp_path):
    async with seeded_gateway(
        topics,
        database,
        tmp_path,
        SIGNALPOST_GATEWAY_ACK_LINK_SECRET=SECRET,
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.3",
    ) as running:
        yield running


async def test_a_link_acknowledges_once_as_its_person_and_its_page_does_nothing(gateway, topics):
    path = link("inc-1:2:nguyen-van-an:email")
    async with gateway.client() as http:
        page = await http.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Nguyễn Văn An" in page.text and '<form method="post" action="">' in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        shown = (await http.get(path, headers=JSON)).json()
        assert (shown["incident_id"], shown["person"]) == ("inc-1", PERSON["id"])
        assert await used_links(topics) == [] and await commands_sent(topics) == 0

        first = await http.post(path)
        assert first.status_code == 202 and "Acknowledgement sent" in first.text
        again = await http.post(path, headers=JSON)
        page_again = await http.get(path)

    assert again.status_code == 410 and again.json()["error"] == "link_used"
    (row,) = await used_links(topics)
    assert (row["task_id"], row["person"]) == (f"inc-1:task:{VNPT}", PERSON["id"])
    assert row["used_at"].isoformat() in again.json()["problems"][0]["reason"]
    assert page_again.status_code == 410 and "already used at" in page_again.text
    (sent,) = await read_until(
        topics,
        topic_name(INCIDENT_COMMANDS, topics.topic_prefix),
        lambda records: len(records) >= 1,
        group=f"{topics.db_schema}-commands",
    )
    command = json.loads(sent.value)
    assert command["type"] == "acknowledge_incident" and sent.key == KEY.encode()
    assert (command["issued_by"], command["dispatcher"]) == (VNPT, PERSON["name"])
    assert command["command_id"] == "ack:inc-1:2:nguyen-van-an:email"
    assert await commands_sent(topics) == 1


async def test_an_expired_link_is_gone_and_a_forged_one_refused(gateway, topics):
    async with gateway.client() as http:
        expired = await http.post(link("n-expired", expires_in_s=-1), headers=JSON)
        forged = await http.post(link("n-forged", secret="guessed"), headers=JSON)
        forged_page = await http.get(link("n-forged", secret="guessed"))
        garbled = await http.get("/v1/ack/not-a-token", headers=JSON)
    assert (expired.status_code, expired.json()["error"]) == (410, "link_expired")
    assert (forged.status_code, forged.json()["error"]) == (403, "link_refused")
    assert forged_page.status_code == 403 and "Not a valid link" in forged_page.text
    assert (garbled.status_code, garbled.json()["error"]) == (403, "link_refused")
    assert await used_links(topics) == [] and await commands_sent(topics) == 0


async def test_the_incident_page_and_the_report_say_who_was_told(gateway, topics):
    department = {"enterprise": DEPARTMENT, "id": "tran-thi-binh", "name": "Trần Thị Bình"}
    tries = [
        attempt(1, 1, OPENED, after_s=8),
        attempt(1, 1, OPENED, after_s=60, reason="escalation", person=department,
                attempt_id="inc-1:esc:binh:1", notification_id="inc-1:esc:binh"),
    ]  # fmt: skip
    await publish(
        topics,
        topic_name(NOTIFICATION_ATTEMPTS, topics.topic_prefix),
        [encoded_attempt(t) for t in tries],
    )
    supervisor = await gateway.token(DEPARTMENT, "supervisor")
    dispatcher = await gateway.token(VNPT, "dispatcher")

    async def recorded() -> bool:
        async with gateway.client(supervisor) as http:
            return len((await http.get("/v1/incidents/inc-1")).json()["notifications"]) == 2

    await eventually(recorded, deadline_s=30, interval_s=0.3)
    async with gateway.client(supervisor) as http:
        everyone = (await http.get("/v1/incidents/inc-1")).json()["notifications"]
        report = (await http.get("/v1/report")).json()
    async with gateway.client(dispatcher) as http:
        own = (await http.get("/v1/incidents/inc-1")).json()["notifications"]
    assert [(n["person"]["name"], n["delay_s"]) for n in everyone] == [
        ("Nguyễn Văn An", 8.0), ("Trần Thị Bình", 60.0)
    ]  # fmt: skip
    assert everyone[0]["channel"] == "email" and everyone[0]["outcome"] == "delivered"
    assert [n["person"]["enterprise"] for n in own] == [VNPT]  # not the Department's people
    overall = report["delivery"][0]
    assert (overall["channel"], overall["attempts"], overall["delivered"]) == ("all", 2, 2)
    assert overall["latency_p50_s"] == pytest.approx(34.0)


async def test_without_kafka_or_postgresql_a_link_is_503_naming_the_part(topics, tmp_path):
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens here
    url = SecretStr(f"postgresql://signalpost_gateway:unused@{nowhere}/signalpost")
    settings = topics.model_copy(update={"kafka_bootstrap": nowhere, "gateway_database_url": url})
    running = await start_gateway(
        settings, tmp_path / "gateway.log", healthy=False, SIGNALPOST_GATEWAY_ACK_LINK_SECRET=SECRET
    )
    try:
        async with running.client() as http:
            page = await http.get(link("n-outage"), headers=JSON)
            use = await http.post(link("n-outage"), headers=JSON)
            use_page = await http.post(link("n-outage"))
    finally:
        await stop_gateway(running)
    assert (page.status_code, page.json()["problems"][0]["field"]) == (503, "postgres")
    assert (use.status_code, use.json()["problems"][0]["field"]) == (503, "kafka")
    assert use_page.status_code == 503 and "Try again shortly" in use_page.text
