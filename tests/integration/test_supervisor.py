"""`signalpost up` keeps the services running: a `kill -9` is restarted, a frozen consumer is
stuck, the restart limit ends in failed, and `signalpost status` tells each apart.

It runs on the session's Kafka and PostgreSQL (found running, so never stopped), with its own
supervisor directory, topic prefix, schema, consumer groups and gateway port.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import stack
from infra.process import is_alive, port_in_use
from infra.spawn import SIGNALPOST
from services.runtime.topics import LINE_FAULT_REPORTS, topic_name
from tests.support.kafka_io import publish
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@dataclass
class Up:
    """A running `signalpost up` of this test's own, and where it writes."""

    process: asyncio.subprocess.Process
    env: dict[str, str]
    log: Path
    states: Path

    def state(self, service: str) -> dict:
        path = self.states / f"{service}.json"
        return json.loads(path.read_text()) if path.exists() else {}


def _free_port() -> int:
    # Below 32768, where Linux hands out the local ports of outgoing connections.
    return next(p for p in random.sample(range(24000, 32000), 200) if not port_in_use(p))


async def _until(check: Callable[[], object], what: str, deadline_s: float = 60) -> object:
    return await eventually(check, deadline_s=deadline_s, interval_s=0.2, what=what)


async def _status(up: Up) -> tuple[int, dict]:
    proc = await asyncio.create_subprocess_exec(
        SIGNALPOST, "status", "--json", env=up.env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    body = json.loads(out)
    return proc.returncode or 0, {row["service"]: row for row in body["services"]}


async def _status_until(up: Up, check: Callable[[int, dict], bool], what: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        code, rows = await _status(up)
        if check(code, rows):
            return rows
        assert time.monotonic() < deadline, f"status never showed {what}: exit {code}, {rows}"


@pytest.fixture
async def up(settings, tmp_path, test_id) -> AsyncIterator[Up]:
    env = {
        **os.environ,
        "SIGNALPOST_HOME": str(settings.home),
        "SIGNALPOST_SUPERVISOR_DIR": str(tmp_path / "supervisor"),
        "SIGNALPOST_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALPOST_DB_SCHEMA": settings.db_schema,
        "SIGNALPOST_ROUTER_GROUP_ID": f"{test_id}-router",
        "SIGNALPOST_RECORDER_GROUP_ID": f"{test_id}-recorder",
        "SIGNALPOST_GATEWAY_PORT": str(_free_port()),
        "SIGNALPOST_SUPERVISOR_RESTART_DELAY": "0.2",
        "SIGNALPOST_SUPERVISOR_RESTART_LIMIT": "1",
        "SIGNALPOST_SUPERVISOR_SAMPLE_SECONDS": "0.5",
        # Above faust's 2.8 s commit interval, or the incident manager looks stuck between commits.
        "SIGNALPOST_SUPERVISOR_STUCK_SECONDS": "6",
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            SIGNALPOST, "up", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    running = Up(process, env, log, tmp_path / "supervisor")
    try:
        await _until(lambda: "SignalPost is up" in log.read_text(), "`up` says it is up", 180)
        yield running
    finally:
        for service in ("router", "incidents", "recorder", "gateway", "notifier"):
            pid = running.state(service).get("pid")
            if pid and is_alive(pid):
                os.kill(pid, signal.SIGCONT)  # a frozen service could not stop
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), timeout=120)
        await stack.delete_topics(settings)
        await stack.drop_schema(settings)


async def test_kill_restart_stuck_then_given_up(up, settings):
    def all_running(code: int, rows: dict) -> bool:
        states = {name: row["state"] for name, row in rows.items()}
        healthy = rows["gateway"]["detail"] == "healthz ok"
        return code == 0 and healthy and set(states.values()) == {"running"}

    rows = await _status_until(up, all_running, "every service running, the gateway healthy")
    assert set(rows) == {"router", "incidents", "recorder", "gateway", "notifier"}
    assert rows["router"]["lag"] == 0 and rows["router"]["restarts"] == 0

    # kill -9: restarted after the back-off, and said so in the log.
    first = up.state("router")["pid"]
    os.kill(first, signal.SIGKILL)
    await _until(
        lambda: up.state("router").get("restarts") == 1 and up.state("router")["pid"], "a restart"
    )
    rows = await _status_until(
        up, lambda code, rows: code == 0 and rows["router"]["state"] == "running", "restarted"
    )
    router = rows["router"]
    assert router["restarts"] == 1 and router["pid"] != first and router["last_exit_code"] == -9
    assert router["last_error"].startswith("exited with code -9 (SIGKILL)\n")
    assert "router exited with code -9 (SIGKILL); restart 1 in 0." in up.log.read_text()

    # Frozen with a report waiting: lag that does not move is stuck, and status says so.
    second = router["pid"]
    os.kill(second, signal.SIGSTOP)
    await publish(settings, topic_name(LINE_FAULT_REPORTS, settings.topic_prefix), [(b"k", b"{")])
    rows = await _status_until(
        up, lambda code, rows: rows["router"]["state"] == "stuck", "the frozen router stuck"
    )
    code, _ = await _status(up)
    assert (
        code == 1 and rows["router"]["lag"] == 1 and rows["router"]["recorded_state"] == "running"
    )
    os.kill(second, signal.SIGCONT)
    rows = await _status_until(
        up, lambda code, rows: rows["router"]["lag"] == 0, "the thawed router catching up"
    )
    assert rows["router"]["state"] == "running"

    # One restart is the limit: the next exit gives the router up.
    os.kill(second, signal.SIGKILL)
    await _until(lambda: up.state("router").get("state") == "failed", "the router given up")
    code, rows = await _status(up)
    assert code == 1
    assert (rows["router"]["state"], rows["router"]["restarts"], rows["router"]["pid"]) == (
        "failed", 1, None,
    )  # fmt: skip
    others = ("incidents", "recorder", "gateway", "notifier")
    assert all(rows[name]["state"] == "running" for name in others)
    assert "given up after 1 restart within 300s (state failed)" in up.log.read_text()

    # Ctrl-C: every service still running is stopped, and waited for, before `up` ends.
    pids = [rows[name]["pid"] for name in others]
    up.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(up.process.wait(), timeout=120) == 0
    assert not any(is_alive(pid) for pid in pids)
    assert [up.state(name)["state"] for name in others] == ["stopped"] * len(others)
    assert all(up.state(name)["last_exit_code"] is not None for name in others)
    assert up.state("router")["state"] == "failed"
