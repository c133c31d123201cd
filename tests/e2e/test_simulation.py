"""A short election-night run of `signalpost simulate` against the real running system.

It ends with the auditor's `verify` finding nothing wrong in the recorded history.

Router (on the reference rules with deadlines compressed like the run's time), incident
manager, recorder and gateway run as `signalpost run` subprocesses on this test's topics and
schema; the simulator publishes its reports by both paths (`--via mixed`: Kafka and the
gateway) and its dispatchers act on the task feeds through the gateway.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from datetime import datetime

import pytest

from infra.spawn import service_environment
from services.router import REFERENCE_RULES
from services.runtime.kafka import admin_client
from services.runtime.topics import RULESET_ACTIVATIONS, topic_name
from services.simulator.election_2007 import LOCAL, scenario
from services.simulator.paths import Path, Via, report_path
from services.simulator.rules import write_compressed_rules
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.kafka_io import read_until
from tests.support.polling import eventually
from tests.support.service_process import SIGNALPOST, start_service

pytestmark = pytest.mark.e2e

SPEED = 300  # five simulated minutes a second: a 5-minute deadline is one real second
SEED = 4
DURATION = 20
START = datetime(2007, 5, 20, 18, 55, tzinfo=LOCAL)
DEPARTMENT = "so-bcvt-quang-nam"


async def _stable(settings, group: str, deadline_s: float = 90) -> None:
    """Wait until a consumer group has joined and been given its partitions."""
    async with admin_client(settings) as admin:

        async def stable() -> bool:
            (response,) = await admin.describe_consumer_groups([group])
            return response.to_object()["groups"][0]["state"] == "Stable"

        await eventually(stable, deadline_s=deadline_s, interval_s=0.5, what=f"{group} stable")


@pytest.fixture
async def running_system(topics, audit_pool, test_id, tmp_path):
    """The three services on compressed deadlines, ready; stopped with SIGTERM after. The
    pool reads as the auditor: the recorder's and the gateway's tables both."""
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
    gateway = await start_gateway(topics, tmp_path / "gateway.log")
    yield topics, audit_pool, rules, gateway
    await stop_gateway(gateway)
    for service, process in processes.items():
        assert process.returncode is None, (tmp_path / f"{service}.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)


async def test_an_election_night_run_records_incidents_escalations_and_resolutions(
    running_system,
):
    settings, pool, rules, gateway = running_system
    planned = scenario(SEED, speed=SPEED, duration=DURATION, start=START).schedule
    invalid = sum(not item.message.valid for item in planned)
    assert len(planned) > 50 and invalid >= 1  # the window this test relies on
    via_gateway = {
        item.message.key.decode()
        for item in planned
        if report_path(item.message, seed=SEED, via=Via.MIXED) is Path.GATEWAY
    }
    assert 10 <= len(via_gateway) < len(planned) - invalid  # both paths carry reports

    # The default path is `mixed`; tokens are made for the run in the test's schema.
    env = service_environment(settings, SIGNALPOST_GATEWAY_URL=gateway.url)
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
    assert "(0 refused by the gateway)" in output
    assert f"reports via the gateway   {len(via_gateway)}" in output
    sent, accepted = map(int, re.search(r"commands via the gateway  (\d+) \((\d+) accepted",
                                        output).groups())  # fmt: skip
    assert sent >= 2 and accepted >= 1

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

    # The gateway's path: every report sent that way has its row, and incidents were opened
    # from reports of both paths.
    opened = await pool.fetch(
        """
        SELECT r->>'report_id' AS report_id, g.report_id IS NOT NULL AS via_gateway
        FROM incident_events e, jsonb_array_elements(e.event->'caused_by'->'reports') r
        LEFT JOIN gateway_reports g
          ON (g.reported_by, g.report_id) = (r->>'reported_by', r->>'report_id')
        WHERE e.type = 'incident_opened'
        """
    )
    stored = {row["report_id"] for row in await pool.fetch("SELECT report_id FROM gateway_reports")}
    assert stored == via_gateway
    assert {row["via_gateway"] for row in opened} == {True, False}, output[-3000:]
    # The gateway saw the dispatchers' commands through and the incident manager took them.
    metrics = (await gateway.client().get("/metrics")).text
    taken = re.findall(r'signalpost_gateway_commands_total\{action="(\w+)",outcome="accepted"\} '
                       r"(\d+)", metrics)  # fmt: skip
    assert sum(float(n) for _, n in taken) == accepted, metrics[-2000:]
    acknowledged_via_gateway = await pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE type = 'incident_acknowledged'"
        " AND event->'caused_by'->>'command_id' LIKE $1",
        f"sim{SEED}-ack-%",
    )
    assert acknowledged_via_gateway >= 1

    # The auditor's verify over the same history, with the rules that were in force: clean.
    verify = await asyncio.create_subprocess_exec(
        SIGNALPOST, "verify", "--rules", str(rules), "--json", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(verify.communicate(), timeout=60)
    assert verify.returncode == 0, out.decode()[-3000:] + err.decode()[-2000:]
    checked = json.loads(out)
    assert checked["findings"] == []
    assert checked["incidents"] == counts["incidents"] and checked["decisions"] >= 20
