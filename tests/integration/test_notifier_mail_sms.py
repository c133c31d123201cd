"""The notifier's e-mail (a real local SMTP server) and SMS (a local fake gateway), and the
attempts it keeps from people in their quiet hours."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from schemas.notifications import DeliveryOutcome as Outcome
from services.notifier.mail import message_id
from services.notifier.sms import NOT_CONFIGURED
from services.runtime.acklinks import read_ack_token
from tests.support.notifier_receivers import http_receiver, smtp_server
from tests.support.notifier_run import (
    ACK_SECRET,
    attempts_until,
    notifier_settings,
    publish_events,
    running_notifier,
)
from tests.support.notifier_samples import (
    ZONE,
    email,
    person,
    registry_with_roster,
    routed,
    sms,
    warned,
    webhook,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
LINK = re.compile(r"http://gateway\.test/v1/ack/(\S+)")


async def test_an_email_arrives_with_a_link_that_reads_back_as_the_person_it_was_sent_to(
    topics, tmp_path
):
    with smtp_server() as (port, mailbox):
        registry = registry_with_roster(tmp_path, person("an", email("an@vnpt.example.vn")))
        settings = notifier_settings(
            topics, registry, notifier_smtp_port=port, notifier_smtp_from="trucban@signalpost.test"
        )
        now = datetime.now(ZONE)
        event = warned(1, now, now + timedelta(minutes=5), "an", priority="p1")
        async with running_notifier(settings):
            await publish_events(settings, event)
            [record] = await attempts_until(settings, lambda rs: len(rs) >= 1)
        [mail] = mailbox.messages
    assert record.outcome is Outcome.DELIVERED and record.channel == "email"
    assert mail["To"] == "an@vnpt.example.vn" and mail["From"] == "trucban@signalpost.test"
    assert mail["Message-ID"] == message_id(record.notification_id)
    assert mail["Subject"].startswith("[SignalPost P1] Deadline warning:")
    text = mail.get_payload(decode=True).decode()
    assert "Đứt cáp đường dây nóng" in text and event.due_at.isoformat() in text
    claim = read_ack_token(LINK.search(text)[1], secret=ACK_SECRET, now=datetime.now(ZONE))
    assert (claim.person, claim.person_name, claim.task_id) == ("an", "An", event.task_id)
    assert claim.notification_id == record.notification_id
    assert timedelta(hours=3, minutes=59) < claim.expires_at - now <= timedelta(hours=4, seconds=5)


async def test_an_sms_goes_to_the_gateway_with_its_token_and_without_one_is_a_dead_letter(
    topics, tmp_path
):
    with http_receiver() as gateway:
        registry = registry_with_roster(tmp_path, person("an", sms("+84900000001")))
        settings = notifier_settings(
            topics,
            registry,
            notifier_sms_url=f"{gateway.url}/sms",
            notifier_sms_token=SecretStr("sms-token"),
        )
        async with running_notifier(settings):
            await publish_events(settings, routed(1, datetime.now(ZONE), "an", priority="p1"))
            [record] = await attempts_until(settings, lambda rs: len(rs) >= 1)
        [arrival] = gateway.at("/sms")
    assert record.outcome is Outcome.DELIVERED and record.channel == "sms"
    assert arrival.headers["Authorization"] == "Bearer sms-token"
    sent = json.loads(arrival.body)
    assert sent["to"] == "+84900000001" and "Ack: http://gateway.test/v1/ack/" in sent["text"]

    unset = settings.model_copy(
        update={"notifier_sms_url": None, "notifier_group_id": f"{settings.topic_prefix}again"}
    )
    async with running_notifier(unset):
        records = await attempts_until(unset, lambda rs: len(rs) >= 2)
    assert records[1].outcome is Outcome.DEAD_LETTERED and records[1].detail == NOT_CONFIGURED


async def test_quiet_hours_give_a_suppressed_record_and_send_nothing_but_p1(topics, tmp_path):
    quiet = [{"from": "00:00", "until": "23:59"}]
    with http_receiver() as receiver:
        registry = registry_with_roster(
            tmp_path, person("an", webhook(f"{receiver.url}/an"), quiet=quiet)
        )
        settings = notifier_settings(topics, registry)
        night = datetime.now(ZONE).replace(hour=3, minute=0)
        async with running_notifier(settings):
            await publish_events(
                settings,
                routed(1, night, "an", priority="p3"),
                routed(2, night, "an", priority="p1"),
            )
            records = await attempts_until(settings, lambda rs: len(rs) >= 2)
            await eventually(lambda: receiver.at("/an"), deadline_s=10)
        arrivals = receiver.at("/an")
    by_incident = {r.incident_id: r for r in records}
    assert by_incident["inc-1"].outcome is Outcome.SUPPRESSED
    assert by_incident["inc-1"].detail == "03:00 is in an's quiet hours 00:00-23:59"
    assert by_incident["inc-2"].outcome is Outcome.DELIVERED
    assert [json.loads(a.body)["incident_id"] for a in arrivals] == ["inc-2"]
