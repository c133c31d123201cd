"""A short election-night run of `signalpost simulate` against the real running system.

It ends with the auditor's `verify` finding nothing wrong in the recorded history.

Router (on the reference rules with deadlines compressed like the run's time), incident
manager and recorder run as `signalpost run` subprocesses on this test's topics and schema;
the simulator publishes its reports and its dispatchers act on the task feeds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import datetime

import pytest
from kafka_io import read_until
from service_process import SIGNALPOST, start_service

from services.router.rules import REFERENCE_RULES
from services.runtime.kafka import admin_client
from services.runtime.topics import RULESET_ACTIVATIONS, topic_name
from services.simulator.election_2007 import LOCAL, scenario
from services.simulator.rules import write_compressed_rules

pytestmark = pytest.mark.e2e

SPEED = 300  # five simulated minutes a second: a 5-minute deadline is one real second
SEED = 4
DURATION = 20
START = datetime(2007, 5, 20, 18, 55, tzinfo=LOCAL)
DEPARTMENT = "so-bcvt-quang-nam"


async def _stable(settings, group: str, deadline_s: float = 90) -> None:
    """Wait until a consumer group has joined and been given its partitions."""
    async with admin_client(settings) as admin, asyncio.timeout(deadline_s):
        while True:
            (response,) = await admin.describe_consumer_groups([group])
            if response.to_object()["groups"][0]["state"] == "Stable":
                return
            await asyncio.sleep(0.5)


@pytest.fixture
async def running_system(topics, database, test_id, tmp_path):
    """The three services on compressed deadlines, ready; stopped with SIGTERM after."""
    rules = write_compressed_rules(REFERENCE_RULES, tmp_path / "rules.yaml", SPEED)
    groups = {
        "router": {
            "SIGNALPOST_ROUTER_GROUP_ID": f"{test_id}-router",
            "SIGNALPOST_ROUTER_RULES_FILE": str(rules),
        },
        "incidents": {
            "SIGNALPOST_INCIDENTS_APP_ID": f"{test_id}-incidents",
            "SIGNALPOST_INCIDENTS_TICK_SECONDS": "0.25",
        },
        "recorder": {"SIGNALPOST_RECORDER_GROUP_ID": f"{test_id}-recorder"},
    }
    processes = {
        service: await start_service(service, topics, tmp_path / f"{service}.log", **variables)
        for service, variables in groups.items()
    }
    prefix = topics.topic_prefix
    await read_until(topics, topic_name(RULESET_ACTIVATIONS, prefix), lambda r: len(r) >= 1,
                     group=f"{test_id}-rules", deadline_s=90)  # fmt: skip
    await _stable(topics, f"{prefix}{test_id}-incidents")
    await _stable(topics, f"{test_id}-recorder")
    yield topics, database, rules
    for service, process in processes.items():
        assert process.returncode is None, (tmp_path / f"{service}.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)


async def test_an_election_night_run_records_incidents_escalations_and_resolutions(
    running_system,
):
    settings, pool, rules = running_system
    planned = scenario(SEED, speed=SPEED, duration=DURATION, start=START).schedule
    invalid = sum(not item.message.valid for item in planned)
    assert len(planned) > 50 and invalid >= 1  # the window this test relies on

    env = {
        **os.environ,
        "SIGNALPOST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALPOST_LOG_FORMAT": "json",
    }
    simulate = await asyncio.create_subprocess_exec(
        SIGNALPOST, "simulate", "election-2007", "--speed", str(SPEED),
        "--duration", str(DURATION), "--seed", str(SEED), "--start", START.isoformat(),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(simulate.communicate(), timeout=DURATION + 60)
    output = out.decode()
    print(output)  # the live summary, shown with -s or when the test fails
    assert simulate.returncode == 0, output[-2000:] + err.decode()[-2000:]
    assert f"reports sent              {len(planned)} ({invalid} invalid" in output
    assert "escalations" in output and "MTTA" in output

    counts = await pool.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM incidents) AS incidents,
          (SELECT count(*) FROM incident_events WHERE type = 'incident_escalated'
             AND event->'notified' ? $1) AS to_department,
          (SELECT count(*) FROM incident_events WHERE type = 'incident_resolved'
             AND event->'actor'->>'kind' = 'enterprise') AS resolved_by_dispatchers,
          (SELECT count(*) FROM incident_events WHERE type = 'incident_acknowledged')
             AS acknowledged,
          (SELECT count(*) FROM dead_letters) AS dead_letters
        """,
        DEPARTMENT,
    )
    assert counts["incidents"] >= 20, output[-3000:]
    assert counts["acknowledged"] >= 1, output[-3000:]
    assert counts["to_department"] >= 1, output[-3000:]
    assert counts["resolved_by_dispatchers"] >= 1, output[-3000:]
    assert counts["dead_letters"] >= 1, output[-3000:]

    # The auditor's verify over the same history, with the rules that were in force: clean.
    verify = await asyncio.create_subprocess_exec(
        SIGNALPOST, "verify", "--rules", str(rules), "--json",
        env={**env, "SIGNALPOST_DB_SCHEMA": settings.db_schema},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(verify.communicate(), timeout=60)
    assert verify.returncode == 0, out.decode()[-3000:] + err.decode()[-2000:]
    checked = json.loads(out)
    assert checked["findings"] == []
    assert checked["incidents"] == counts["incidents"] and checked["decisions"] >= 20
