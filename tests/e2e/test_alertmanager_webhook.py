"""The real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) sends to SignalPost's
receiver: an alert pushed to it becomes a task on VNPT's feed, and its end resolves it.

Alertmanager runs as a process of this test, in a temporary directory, clustering off, with
a webhook receiver at the gateway carrying a VNPT publisher token."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.alert_payloads import ALERTMANAGER_ROUTE, LINE_DOWN, VNPT, line_key, task_on_feed
from tests.support.gateway_stack import free_port, gateway_running
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e
ALERTMANAGER = shutil.which("prometheus-alertmanager")


def config(webhook: str, token: str) -> str:
    """Alertmanager's configuration: every alert to SignalPost at once, resolved ones too
    (JSON is YAML, so no YAML writer is needed)."""
    receiver = {
        "url": webhook,
        "send_resolved": True,
        "http_config": {"authorization": {"credentials": token}},
    }
    return json.dumps(
        {
            "route": {
                "receiver": "signalpost",
                "group_by": ["alertname", "line"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "signalpost", "webhook_configs": [receiver]}],
        }
    )


@asynccontextmanager
async def alertmanager(directory: Path, webhook: str, token: str) -> AsyncIterator[str]:
    """Alertmanager serving on a free port until the test ends; its API's URL."""
    assert ALERTMANAGER is not None
    (directory / "alertmanager.yml").write_text(config(webhook, token), encoding="utf-8")
    port = free_port()
    log = (directory / "alertmanager.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        ALERTMANAGER,
        f"--config.file={directory / 'alertmanager.yml'}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # empty: no gossip port, no peers
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:

            async def ready() -> bool:
                assert process.returncode is None, (directory / "alertmanager.log").read_text()
                try:
                    return (await http.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, deadline_s=30, interval_s=0.2, what="Alertmanager ready")
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=30)
        log.close()


@pytest.fixture
async def stack(running_system, tmp_path):
    """The system, a gateway, VNPT's publisher and dispatcher tokens and Alertmanager."""
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (infra/setup.sh installs it)")
    async with gateway_running(running_system[0], tmp_path / "gateway.log") as gateway:
        publisher = await gateway.token(VNPT, "publisher")
        dispatcher = gateway.client(await gateway.token(VNPT, "dispatcher"))
        async with alertmanager(tmp_path, gateway.url + ALERTMANAGER_ROUTE, publisher) as url:
            yield url, dispatcher


async def test_an_alert_through_the_real_alertmanager_becomes_a_task_and_its_end_resolves_it(
    stack,
):
    url, dispatcher = stack
    labels = {**LINE_DOWN, "line": "VNPT-TPH-0077"}
    started = datetime.now(UTC)
    pushed = {"labels": labels, "annotations": {"summary": "Mất tín hiệu"}}
    async with httpx.AsyncClient(base_url=url, timeout=5) as alertmanager_api:
        firing = {**pushed, "startsAt": started.isoformat()}
        assert (await alertmanager_api.post("/api/v2/alerts", json=[firing])).status_code == 200
        task = await task_on_feed(dispatcher, line_key(labels), "open")
        assert (task["enterprise"], task["role"]) == (VNPT, "primary")

        # The source says the alert is over: Alertmanager sends it resolved.
        ended = {**firing, "endsAt": datetime.now(UTC).isoformat()}
        assert (await alertmanager_api.post("/api/v2/alerts", json=[ended])).status_code == 200
        resolved = await task_on_feed(dispatcher, line_key(labels), "resolved")
    assert resolved["incident_id"] == task["incident_id"]
