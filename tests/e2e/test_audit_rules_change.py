"""The real pipeline under a rule-set change, then audited: every decision is reproduced with
the rules in force when it was made, and the replay equals the live tables.

Router, incident manager and recorder run as `signalpost run` subprocesses; between two
periods of reports the router's rule file is edited, and the router puts the new rules in
force without a restart, announcing them on rulesets.activations with the file's text, so
the log alone gives back rules whose file has changed since.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from schemas.example_reports import TOPIC_OF_KIND
from schemas.registry import load_registry
from services.auditor import access
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime.kafka import make_producer
from services.runtime.topics import topic_name
from tests.support.audit_history import sample_report
from tests.support.polling import eventually
from tests.support.service_process import SIGNALPOST, start_service

pytestmark = pytest.mark.e2e
REGISTRY = load_registry()
PER_PERIOD = 6
ELECTION_DAY = datetime(2007, 5, 20, 0, 30, tzinfo=UTC)
ROUTED = "SELECT count(*) FROM incidents WHERE routed_at IS NOT NULL"
DECISIONS = """
    SELECT o.event->'report'->>'report_id' AS report_id,
           e.event->'decision'->>'ruleset_version' AS version
    FROM incident_events e
    JOIN incident_events o ON o.incident_id = e.incident_id AND o.type = 'incident_opened'
    WHERE e.type = 'incident_routed'
"""


async def publish_reports(settings, tag: str) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for number in range(PER_PERIOD):
            payload = sample_report(number, ELECTION_DAY + timedelta(minutes=number), tag=tag)
            topic = topic_name(TOPIC_OF_KIND[payload["kind"]], settings.topic_prefix)
            await producer.send_and_wait(topic, json.dumps(payload).encode())
    finally:
        await producer.stop()


async def wait_for(pool, sql: str, want: int, deadline_s: float = 180) -> None:
    async def enough() -> bool:
        return await pool.fetchval(sql) >= want

    await eventually(enough, deadline_s=deadline_s, interval_s=0.5, what=f"{sql!r} >= {want}")


@pytest.fixture
async def pipeline(topics, database, test_id, tmp_path):
    """The three services on this test's topics, routing with a rule file the test may edit."""
    rules = tmp_path / "rules" / "in-force.yaml"
    rules.parent.mkdir()
    shutil.copy(REFERENCE_RULES, rules)
    variables = {
        "router": {
            "SIGNALPOST_ROUTER_GROUP_ID": f"{test_id}-router",
            "SIGNALPOST_ROUTER_RULES_FILE": str(rules),
            "SIGNALPOST_ROUTER_RELOAD_SECONDS": "0.5",
        },
        "incidents": {"SIGNALPOST_INCIDENTS_APP_ID": f"{test_id}-incidents"},
        "recorder": {"SIGNALPOST_RECORDER_GROUP_ID": f"{test_id}-recorder"},
    }
    processes = {
        name: await start_service(name, topics, tmp_path / f"{name}.log", **more)
        for name, more in variables.items()
    }
    yield rules
    for name, process in processes.items():
        assert process.returncode is None, (tmp_path / f"{name}.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)
    conn = await access.connect(topics, writable=True)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{test_id}_replay" CASCADE')
    finally:
        await conn.close()


def cli(topics, test_id: str, *args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SIGNALPOST_KAFKA_BOOTSTRAP": topics.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": topics.topic_prefix,
        "SIGNALPOST_DB_SCHEMA": topics.db_schema,
        "SIGNALPOST_AUDITOR_REPLAY_SCHEMA": f"{test_id}_replay",
        "SIGNALPOST_AUDITOR_GRACE_SECONDS": "0",
        **variables,
    }
    return subprocess.run(
        [SIGNALPOST, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


async def test_decisions_reproduce_with_the_rules_in_force_when_they_were_made(
    topics, database, pipeline, test_id, tmp_path
):
    first = load_rule_set(pipeline, REGISTRY).version
    await publish_reports(topics, "a")
    await wait_for(
        database, "SELECT count(*) FROM incidents WHERE routed_at IS NOT NULL", PER_PERIOD
    )

    changed = pipeline.read_text().replace("ack_within: PT5M", "ack_within: PT3M", 1)
    pipeline.write_text(changed)
    second = load_rule_set(pipeline, REGISTRY).version
    await wait_for(database, "SELECT count(*) FROM rule_sets", 2)
    await publish_reports(topics, "b")
    await wait_for(database, ROUTED, 2 * PER_PERIOD)
    pipeline.write_text(REFERENCE_RULES.read_text() + "\n# a third edit, routing nothing\n")

    # The file no longer holds the second rule set: only the log (or an archive) has it.
    pipeline.write_text(REFERENCE_RULES.read_text() + "\n# a later edit: the first rules again\n")
    decisions = await database.fetch(DECISIONS)
    verified = cli(topics, test_id, "verify")
    replayed = cli(topics, test_id, "replay")

    by_period = {
        tag: {d["version"] for d in decisions if d["report_id"].startswith(f"audit{tag}-")}
        for tag in "ab"
    }
    assert by_period == {"a": {first}, "b": {second}}
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{2 * PER_PERIOD} routing decisions" in verified.stdout
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replay equals live" in replayed.stdout
