"""A fault reaches a person: the task names whoever is on duty, that person's webhook and inbox
receive it (signed), and every attempt is on the log.

Router, incident manager and recorder run as an operator runs them; the notifier runs on a copy
of the reference rosters whose webhooks point at this test's inbox, and the inbox is the one
`signalpost inbox` and the demo run.
"""

from __future__ import annotations

import json
import shutil

import pytest

from schemas.codec import decode
from schemas.contracts import NOTIFICATION_ATTEMPTED, ROSTER_ACTIVATED, TASK
from schemas.example_reports import report
from schemas.registry import REFERENCE_REGISTRY
from services.runtime.topics import (
    LINE_FAULT_REPORTS,
    NOTIFICATION_ATTEMPTS,
    ROSTER_ACTIVATIONS,
    task_feed,
    topic_name,
)
from services.simulator.inbox import running_inbox
from tests.support.gateway_stack import free_port
from tests.support.kafka_io import publish, read_until
from tests.support.notifier_run import notifier_settings, running_notifier
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e
VNPT = "vnpt-quang-nam"


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


async def test_a_fault_reaches_the_person_on_duty_by_webhook_and_mail(
    running_system, tmp_path, test_id
):
    topics, _, _ = running_system
    prefix = topics.topic_prefix
    port = free_port()
    settings = notifier_settings(
        topics,
        rosters_pointing_at(tmp_path, port),
        notifier_group_id=f"{test_id}-notifier",
        notifier_smtp_port=free_port(),
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
