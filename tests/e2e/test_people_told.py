"""A fault reaches a person: the task names whoever is on duty, that person's webhook and inbox
receive it (signed), every attempt is on the log and in the timeline, and the e-mail's link
acknowledges the incident once, as that person.

Router, incident manager and recorder run as an operator runs them; the notifier runs on a copy
of the reference rosters whose webhooks point at this test's inbox, and the inbox is the one
`signalpost inbox` and the demo run.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil

import httpx
import pytest

from schemas.codec import decode
from schemas.contracts import INCIDENT_EVENT, NOTIFICATION_ATTEMPTED, ROSTER_ACTIVATED, TASK
from schemas.example_reports import report
from schemas.registry import REFERENCE_REGISTRY
from services.runtime.topics import (
    INCIDENT_EVENTS,
    LINE_FAULT_REPORTS,
    NOTIFICATION_ATTEMPTS,
    ROSTER_ACTIVATIONS,
    task_feed,
    topic_name,
)
from services.simulator.inbox import running_inbox
from tests.support.gateway_stack import free_port, start_gateway, stop_gateway
from tests.support.kafka_io import publish, read_until
from tests.support.notifier_run import ACK_SECRET, notifier_settings, running_notifier
from tests.support.polling import eventually
from tests.support.service_process import SIGNALPOST

pytestmark = pytest.mark.e2e
VNPT = "vnpt-quang-nam"
LINK = re.compile(r"https?://\S+/v1/ack/[A-Za-z0-9_.-]+")


def rosters_pointing_at(tmp_path, port: int):
    """The reference registry, its rosters' webhooks sent to 127.0.0.1:`port` instead."""
    copy = tmp_path / "registry"
    shutil.copytree(REFERENCE_REGISTRY, copy)
    for file in (copy / "rosters").glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        file.write_text(text.replace("127.0.0.1:8090", f"127.0.0.1:{port}"), encoding="utf-8")
    return copy


def kept(file) -> list[dict]:
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


@pytest.fixture
async def gateway(running_system, tmp_path):
    """A gateway that honours the links the test's notifier signs."""
    topics, _, _ = running_system
    running = await start_gateway(
        topics, tmp_path / "gateway.log", SIGNALPOST_GATEWAY_ACK_LINK_SECRET=ACK_SECRET
    )
    yield running
    await stop_gateway(running)


async def test_a_fault_reaches_the_person_on_duty_who_acknowledges_from_the_mail(
    running_system, gateway, tmp_path, test_id
):
    topics, _, env = running_system
    prefix = topics.topic_prefix
    port = free_port()
    settings = notifier_settings(
        topics,
        rosters_pointing_at(tmp_path, port),
        notifier_group_id=f"{test_id}-notifier",
        notifier_smtp_port=free_port(),
        notifier_ack_base_url=gateway.url,
    )
    inbox_at = tmp_path / "inbox.jsonl"
    async with (
        running_inbox(settings, webhook_port=port, file=inbox_at),
        running_notifier(settings),
    ):
        payload = report("line_fault", f"{test_id}-told", **{"alarmed_object.id": "VNPT-TPH-0042"})
        await publish(
            topics,
            topic_name(LINE_FAULT_REPORTS, prefix),
            [(None, json.dumps(payload).encode())],
        )
        feed = await read_until(
            topics, topic_name(task_feed(VNPT), prefix), lambda rs: len(rs) >= 1,
            group=f"{test_id}-feed", deadline_s=90,
        )  # fmt: skip
        task = decode(TASK, feed[0].value)
        assert task.on_duty is not None, task
        person = task.on_duty.person

        def arrived() -> dict[str, dict]:
            mine = [
                e for e in kept(inbox_at)
                if e.get("message", {}).get("person", {}).get("id") == person.id
                or any(person.id in to for to in e.get("to", []))
            ]  # fmt: skip
            return {e["channel"]: e for e in mine} if len(mine) >= 2 else {}

        got = await eventually(arrived, deadline_s=60, what=f"{person.id}'s webhook and e-mail")

    hook = got["webhook"]["message"]
    assert hook["reason"] == "new_task" and hook["task_id"] == task.task_id
    assert hook["priority"] == task.priority and hook["summary"] == task.summary
    assert got["webhook"]["path"] == f"/hooks/{VNPT}/{person.id}"
    assert "/v1/ack/" in got["email"]["text"] and person.id in got["email"]["to"][0]

    def theirs(records) -> list:
        found = (decode(NOTIFICATION_ATTEMPTED, r.value) for r in records)
        return [a for a in found if a.person.id == person.id]

    attempts = await read_until(
        topics, topic_name(NOTIFICATION_ATTEMPTS, prefix),
        lambda rs: sum(a.outcome == "delivered" for a in theirs(rs)) >= 2,
        group=f"{test_id}-attempts", deadline_s=30,
    )  # fmt: skip
    outcomes = {(a.channel, a.outcome) for a in theirs(attempts)}
    assert outcomes >= {("webhook", "delivered"), ("email", "delivered")}, outcomes
    assert all(a.task_id == task.task_id and a.reason == "new_task" for a in theirs(attempts))

    # The roster the task was named from is the one the incident manager put in force.
    activations = await read_until(
        topics, topic_name(ROSTER_ACTIVATIONS, prefix), lambda rs: len(rs) >= 1,
        group=f"{test_id}-rosters", deadline_s=10,
    )  # fmt: skip
    assert decode(ROSTER_ACTIVATED, activations[-1].value).roster_version == (
        task.on_duty.roster_version
    )

    # The link in the e-mail: opening it changes nothing; its button acknowledges once, as
    # the person it was sent to; a second use is refused.
    link = LINK.search(got["email"]["text"])[0]
    async with httpx.AsyncClient(timeout=30) as http:
        page = await http.get(link)
        assert page.status_code == 200 and person.name in page.text
        used = await http.post(link, headers={"Accept": "application/json"})
        assert used.status_code in (200, 202), used.text
        again = await http.post(link, headers={"Accept": "application/json"})
        assert again.status_code == 410 and again.json()["error"] == "link_used", again.text
    events = await read_until(
        topics, topic_name(INCIDENT_EVENTS, prefix),
        lambda rs: any(b'"incident_acknowledged"' in r.value for r in rs),
        group=f"{test_id}-events", deadline_s=60,
    )  # fmt: skip
    acknowledged = [
        e for r in events
        if (e := decode(INCIDENT_EVENT, r.value)).type == "incident_acknowledged"
    ]  # fmt: skip
    assert [(e.incident_id, e.actor.id, e.actor.person) for e in acknowledged] == [
        (task.incident_id, VNPT, person.name)
    ]

    # The auditor's timeline says who was told, by which channel, and when.
    async def told() -> list[dict]:
        shown = await asyncio.create_subprocess_exec(
            SIGNALPOST, "timeline", task.incident_id, "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await shown.communicate()
        rows = json.loads(out)["notifications"] if shown.returncode == 0 else []
        return [r for r in rows if r["person_id"] == person.id and r["outcome"] == "delivered"]

    rows = await eventually(told, deadline_s=60, interval_s=1, what="attempts in the timeline")
    assert {r["channel"] for r in rows} >= {"webhook"}
