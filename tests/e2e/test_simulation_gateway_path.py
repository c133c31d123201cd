"""The simulator's HTTP path against a real gateway: run tokens, accepted and refused messages.

A report the gateway refuses counts as refused by the path, with the gateway's reason in the
log; a command on an incident the gateway does not know is refused the same way; the tokens
made for the run are revoked when it ends.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from schemas.commands import AcknowledgeIncident
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.simulator.election_2007 import scenario
from services.simulator.gateway import GatewayPublisher
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = pytest.mark.e2e
REGISTRY = load_registry()


@pytest.fixture
async def gateway(topics, database, tmp_path):
    """A gateway on this test's topics and schema."""
    running = await start_gateway(topics, tmp_path / "gateway.log")
    yield running
    await stop_gateway(running)


async def test_accepted_and_refused_reports_and_commands_and_the_run_tokens(
    gateway, audit_pool, test_id
):
    messages = [i.message for i in scenario(5, speed=3600, registry=REGISTRY).schedule]
    good = [m for m in messages if m.valid][:40]
    spoilt = dataclasses.replace(
        good[0],
        key=f"{test_id}-bad".encode(),
        value=encoded(report("line_fault", f"{test_id}-bad", district="da-nang")),
        reported_by="vnpt-quang-nam",
        kind="line_fault",
    )
    stray = AcknowledgeIncident(
        command_id=f"{test_id}-ack", incident_id=f"{test_id}-nowhere",
        incident_key="line_fault:vnpt-quang-nam:NOWHERE", issued_by="vnpt-quang-nam",
        issued_at=datetime.now(UTC), dispatcher="Trực ban",
    )  # fmt: skip
    publisher = GatewayPublisher(gateway.settings, url=gateway.url, registry=REGISTRY,
                                 concurrency=4)  # fmt: skip
    with capture_logs() as logs:
        await publisher.start()
        for message in [*good, spoilt]:
            await publisher.publish_report(message)
        await publisher.send_command(stray)
        await publisher.stop()

    assert (publisher.reports, publisher.refused, publisher.failures) == (len(good), 2, 0)
    refused = {entry["event"]: entry for entry in logs if entry["event"].endswith("_refused")}
    assert refused["simulator_report_refused"]["status"] == 422
    assert "district" in refused["simulator_report_refused"]["reason"]
    assert refused["simulator_report_refused"]["report_id"] == f"{test_id}-bad"
    assert refused["simulator_command_refused"]["status"] == 404

    stored = await audit_pool.fetch("SELECT reported_by, report_id FROM gateway_reports")
    assert {(r["reported_by"], r["report_id"]) for r in stored} == {
        (m.reported_by, m.key.decode()) for m in good
    }
    tokens = await audit_pool.fetch("SELECT enterprise, role, revoked_at FROM api_tokens")
    assert {(t["enterprise"], t["role"]) for t in tokens} >= {
        ("vnpt-quang-nam", "publisher"), ("vnpt-quang-nam", "dispatcher"),
    }  # fmt: skip
    assert all(t["revoked_at"] is not None for t in tokens)
