"""Hostile input of every kind at the running system: every input accounted for, nothing stops.

Router, incident manager and recorder run as an operator runs them, with a gateway in front;
the same code as `signalpost fuzz` throws a few thousand generated inputs at the report
topics, the command topic and the publish endpoint, then checks the outcomes and verify.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.cli.auditor_commands import verify_text
from services.cli.fuzz_commands import fuzz_text
from services.fuzz.runner import run_fuzz
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = pytest.mark.fuzz
COUNT = int(os.environ.get("SIGNALPOST_FUZZ_COUNT", "5000"))


async def test_every_hostile_input_is_accounted_for_and_nothing_stops(running_system, tmp_path):
    settings, _, _ = running_system
    gateway = await start_gateway(settings, tmp_path / "gateway.log")
    auditor = AuditorSettings.model_validate(settings.model_dump())
    seed = int.from_bytes(os.urandom(3))
    try:
        result = await run_fuzz(
            auditor, count=COUNT, seed=seed, gateway_url=gateway.url, drain_seconds=240
        )
        print(fuzz_text(result, seed))
        assert result.sentinel_ms is not None, "a valid report sent after the fuzz made no task"
        assert not result.tally.unaccounted, fuzz_text(result, seed)
        assert not result.tally.server_errors, fuzz_text(result, seed)
        assert sum(result.tally.http.values()) > 0 and result.tally.kafka > COUNT / 2
        checked = await verify(auditor, now=datetime.now(UTC))
        assert checked.ok, verify_text(checked)
        assert checked.reports >= result.tally.kafka * 0.5
        assert gateway.process.returncode is None, "the gateway stopped"
    finally:
        await stop_gateway(gateway)
    # running_system asserts at teardown that router, incidents and recorder are still running.
