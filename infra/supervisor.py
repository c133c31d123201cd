"""`signalpost up`: the whole system in the foreground, merged logs, Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from infra import stack
from infra.kafka import local as kafka
from infra.postgres import local as postgres
from infra.process import read_pid
from infra.settings import StackSettings
from services.runtime.kinds import Progress

UP_MARKER = "signalpost"


def up_pid_file(settings: StackSettings) -> Path:
    """Where a running `signalpost up` writes its pid."""
    return settings.home / "up.pid"


def running_up(settings: StackSettings) -> int | None:
    """The pid of a `signalpost up` that is running now, if any."""
    return read_pid(up_pid_file(settings), marker=UP_MARKER)


async def run_up(
    settings: StackSettings,
    progress: Progress,
    *,
    services: list[str],
    on_ready: Callable[[], object],
) -> int:
    """Bring everything up, follow the logs until SIGINT/SIGTERM, then stop what it started."""
    other = running_up(settings)
    if other:
        progress(f"SignalPost is already up (pid {other}); `signalpost status` shows it")
        return 0
    pid_file = up_pid_file(settings)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    cluster = postgres.existing_cluster(settings)
    started = stack.Started(
        postgres=cluster is None or cluster.pid() is None,
        kafka=all(node.pid() is None for node in kafka.single_node(settings).nodes),
    )
    body = asyncio.create_task(_serve(settings, progress, services, on_ready))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, body.cancel)
    try:
        await body
    except asyncio.CancelledError:
        progress("stopping")
    finally:
        stopped = stack.stop_components(settings, started)
        pid_file.unlink(missing_ok=True)
        progress(f"stopped: {', '.join(stopped) or 'nothing that this run started'}")
    return 0


async def _serve(
    settings: StackSettings, progress: Progress, services: list[str], on_ready: Callable[[], object]
) -> None:
    await stack.start_components(settings, progress)
    await stack.prepare(settings, progress)
    node = kafka.single_node(settings).nodes[0]
    followers = [
        _follow(node.server_log, "kafka", lambda line: " WARN " in line or " ERROR " in line),
        _follow(settings.home / "postgres" / "postgres.log", "postgres", lambda line: True),
    ]
    children = [await _start_service(name) for name in services]
    try:
        on_ready()
        await asyncio.gather(*followers, *(_relay(name, child) for name, child in children))
    finally:
        for _, child in children:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        for _, child in children:
            await child.wait()


async def _start_service(name: str) -> tuple[str, asyncio.subprocess.Process]:
    env = {**os.environ, "SIGNALPOST_LOG_FORMAT": "console"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "run", name,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True, env=env,
    )  # fmt: skip
    return name, child


def _emit(label: str, line: str) -> None:
    print(f"{label:>16} | {line.rstrip()}", flush=True)


async def _relay(name: str, child: asyncio.subprocess.Process) -> None:
    """Print a service's output under its name; report when it exits."""
    assert child.stdout is not None
    async for raw in child.stdout:
        _emit(name, raw.decode(errors="replace"))
    _emit(name, f"exited with code {await child.wait()}")


async def _follow(path: Path, label: str, keep: Callable[[str], bool]) -> None:
    """Print the lines appended to a log file from now on (like `tail -f`)."""
    with path.open(errors="replace") as log:
        log.seek(0, os.SEEK_END)
        while True:
            line = log.readline()
            if not line:
                await asyncio.sleep(0.25)
            elif keep(line):
                _emit(label, line)
