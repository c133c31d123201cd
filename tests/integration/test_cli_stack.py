"""`signalpost up`, `status` and `down` driven as a user would, on a stack of their own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
# The installed console script, as a user runs it.
SIGNALPOST = [str(Path(sys.executable).with_name("signalpost"))]


@pytest.fixture
def own_stack_env(local_stack, test_id):
    """Environment for a second stack: its own home and ports, so `down` spares the session's.

    Ports stay below 32768: above it, Linux hands out the same numbers as the local ports
    of outgoing connections, and a server then fails to bind now and then.
    """
    # Under the project, not /tmp/pytest-of-root (0700): the postgres user must reach it.
    home = local_stack.home / "test-homes" / test_id
    urls = {
        # No passwords: `up` makes each role's under the stack's own home.
        f"SIGNALPOST_{role}DATABASE_URL": f"postgresql://{user}@127.0.0.1:25532/signalpost"
        for role, user in (
            ("", "signalpost"),
            ("GATEWAY_", "signalpost_gateway"),
            ("OWNER_", "signalpost_owner"),
            ("AUDITOR_", "signalpost_auditor"),
        )
    }
    env = {
        **os.environ,
        **urls,
        "SIGNALPOST_HOME": str(home),
        "SIGNALPOST_KAFKA_BOOTSTRAP": "127.0.0.1:29292",
        "SIGNALPOST_KAFKA_HEAP": "512m",
    }
    yield env
    # Whatever a failed assertion left running goes before its data does.
    subprocess.run([*SIGNALPOST, "down"], env=env, capture_output=True, timeout=180)
    shutil.rmtree(home, ignore_errors=True)


async def _signalpost(env: dict, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *SIGNALPOST, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    return proc.returncode or 0, out.decode()


async def _start_up(env: dict) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Start `signalpost up` and read its output until it says it is up."""
    up = await asyncio.create_subprocess_exec(
        *SIGNALPOST, "up", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []
    async with asyncio.timeout(240):
        while not any("SignalPost is up" in line for line in lines):
            raw = await up.stdout.readline()
            assert raw, f"`signalpost up` ended before it was up:\n{''.join(lines)}"
            lines.append(raw.decode())
    return up, lines


async def _finish(up: asyncio.subprocess.Process) -> tuple[int, str]:
    out, _ = await asyncio.wait_for(up.communicate(), timeout=120)
    return up.returncode, out.decode()


async def test_up_status_ctrl_c_then_up_and_down(own_stack_env):
    env = own_stack_env
    up, _ = await _start_up(env)
    code, out = await _signalpost(env, "status", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert status["up_pid"] == up.pid
    assert {c["component"]: c["healthy"] for c in status["components"]} == {
        "kafka (single)": True,
        "postgres": True,
    }
    code, out = await _signalpost(env, "up")
    assert code == 0 and "already up" in out, out

    up.send_signal(signal.SIGINT)
    code, out = await _finish(up)
    assert code == 0, out
    assert "stopped: kafka (single), postgres" in out
    code, out = await _signalpost(env, "status")
    assert code == 1 and "not running" in out, out

    up, _ = await _start_up(env)
    code, out = await _signalpost(env, "down")
    assert code == 0, out
    code, _ = await _finish(up)
    assert code == 0
    code, out = await _signalpost(env, "down")
    assert code == 0 and "nothing was running" in out, out


async def test_a_taken_port_gets_one_clear_line(own_stack_env):
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 29292)
    try:
        code, out = await _signalpost(own_stack_env, "kafka", "start")
    finally:
        server.close()
    assert code == 1
    assert out.strip().splitlines()[-1].startswith("signalpost: error: port 29292 for Kafka")
    assert "SIGNALPOST_KAFKA_BOOTSTRAP" in out and "Traceback" not in out


async def test_a_bad_setting_names_the_variable(own_stack_env):
    env = {**own_stack_env, "SIGNALPOST_KAFKA_BOOTSTRAP": "localhost"}
    code, out = await _signalpost(env, "status")
    assert code == 1
    assert "SIGNALPOST_KAFKA_BOOTSTRAP" in out and "Traceback" not in out
