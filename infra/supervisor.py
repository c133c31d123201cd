"""`signalpost up`: the whole system in the foreground, merged logs, services restarted when they
exit (back-off, then a limit), a state file per service for `signalpost status`; Ctrl-C stops it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from infra import stack
from infra.kafka import local as kafka
from infra.postgres import local as postgres
from infra.process import is_alive, read_pid
from infra.settings import StackSettings
from infra.spawn import as_own_kafka_user, static_membership
from infra.supervision import (
    LAST_ERROR_LINES,
    RestartPolicy,
    ServiceRecord,
    Shown,
    exit_message,
    exited,
    next_restart,
    observe,
    settled,
    shown_state,
    started,
    stopped,
)
from services.runtime.kinds import Progress

UP_MARKER = "signalpost"
SETTLE_S = 2.0  # a process still alive this long after its start is "running"
STOP_WAIT_S = 60.0  # then a service that ignores SIGTERM is killed
PROBE_WAIT_S = 10.0


def up_pid_file(settings: StackSettings) -> Path:
    """Where a running `signalpost up` writes its pid."""
    return settings.state_dir / "up.pid"


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
    ours = stack.Started(
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
        components = stack.stop_components(settings, ours)
        pid_file.unlink(missing_ok=True)
        progress(f"stopped: {', '.join(components) or 'nothing that this run started'}")
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
    board = Board(settings.state_dir, services)
    probes = {
        name: probe for name, probe in stack.service_probes(settings).items() if name in board
    }
    children = {name: await _spawn(name, board, settings) for name in services}
    on_ready()
    policy, rand = settings.restart_policy(), random.Random().random
    # A task group, not gather: when cancelled it waits until every keeper has stopped its service.
    async with asyncio.TaskGroup() as group:
        for name, child in children.items():
            group.create_task(_keep_running(name, child, board, settings, policy, rand))
        for follower in followers:
            group.create_task(follower)
        group.create_task(_watch(board, probes, every=settings.supervisor_sample_seconds))


class Board:
    """The supervisor's record of each service, written to its state file on every change."""

    def __init__(self, directory: Path, services: Iterable[str]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, ServiceRecord] = {}
        for name in services:
            self.put(ServiceRecord(name, _now()))

    def __getitem__(self, name: str) -> ServiceRecord:
        return self.records[name]

    def __contains__(self, name: object) -> bool:
        return name in self.records

    def put(self, record: ServiceRecord) -> ServiceRecord:
        """Keep `record` as its service's and write it (to a temporary file, then renamed)."""
        self.records[record.service] = record
        path = state_file(self.directory, record.service)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        temporary.replace(path)
        return record


def state_file(directory: Path, service: str) -> Path:
    """Where the state of `service` is kept."""
    return directory / f"{service}.json"


def service_states(
    settings: StackSettings, services: Iterable[str], now: datetime
) -> list[tuple[ServiceRecord, Shown]]:
    """Each service's last record and what it means now (its pid checked, stuck or not)."""
    rows = []
    for name in services:
        try:
            plain = json.loads(state_file(settings.state_dir, name).read_text())
        except FileNotFoundError:
            record = ServiceRecord(name, now, detail="no state file: not started by this `up`")
        else:
            record = ServiceRecord.from_json(plain)
        alive = record.pid is not None and is_alive(record.pid)
        stuck_after = settings.supervisor_stuck_seconds
        rows.append((record, shown_state(record, alive=alive, now=now, stuck_after=stuck_after)))
    return rows


async def _spawn(name: str, board: Board, settings: StackSettings) -> asyncio.subprocess.Process:
    # One instance of each service per host: a restart takes its partitions back at once.
    env = {**static_membership(name), **os.environ, "SIGNALPOST_LOG_FORMAT": "console"}
    env = as_own_kafka_user(env, name, settings.topic_prefix)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "run", name,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True, env=env,
    )  # fmt: skip
    board.put(started(board[name], child.pid, _now()))
    return child


async def _keep_running(
    name: str,
    child: asyncio.subprocess.Process,
    board: Board,
    settings: StackSettings,
    policy: RestartPolicy,
    rand: Callable[[], float],
) -> None:
    """Watch a service's process; restart it when it exits, per `policy`, until given up."""
    restarted_at: list[float] = []
    try:
        while True:
            code, output = await _watch_child(name, child, board)
            delay = next_restart(policy, restarted_at, time.monotonic(), rand())
            record = board.put(exited(board[name], code, output, _now(), restart=delay is not None))
            _emit("supervisor", exit_message(record, delay, policy))
            if delay is None:
                return
            await asyncio.sleep(delay)
            restarted_at.append(time.monotonic())
            child = await _spawn(name, board, settings)
    except asyncio.CancelledError:
        board.put(stopped(board[name], child.returncode, _now()))
        raise


async def _watch_child(
    name: str, child: asyncio.subprocess.Process, board: Board
) -> tuple[int, list[str]]:
    """Relay a process's output until it exits; its exit code and last lines."""
    output: deque[str] = deque(maxlen=LAST_ERROR_LINES)
    relay = asyncio.create_task(_relay(name, child, output))
    try:
        done, _ = await asyncio.wait({relay}, timeout=SETTLE_S)
        if not done:
            board.put(settled(board[name], _now()))
        await relay
        return await child.wait(), list(output)
    finally:
        if child.returncode is None:
            await _stop(child)
        await relay


async def _stop(child: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    try:
        await asyncio.wait_for(child.wait(), STOP_WAIT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


def _emit(label: str, line: str) -> None:
    print(f"{label:>16} | {line.rstrip()}", flush=True)


async def _relay(name: str, child: asyncio.subprocess.Process, output: deque[str]) -> None:
    """Print a service's output under its name, keeping its last lines."""
    assert child.stdout is not None
    async for raw in child.stdout:
        line = raw.decode(errors="replace")
        output.append(line)
        _emit(name, line)


async def _watch(board: Board, probes: dict[str, stack.Probe], *, every: float) -> None:
    """Sample every service's lag or health, now and then every `every` seconds."""
    while True:
        await asyncio.gather(*(_sample(board, name, probe) for name, probe in probes.items()))
        await asyncio.sleep(every)


async def _sample(board: Board, name: str, probe: stack.Probe) -> None:
    try:
        sample = await asyncio.wait_for(probe(), PROBE_WAIT_S)
    except stack.PROBE_ERRORS as exc:
        sample = f"unknown: {exc!r}"[:200]
    board.put(observe(board[name], sample, _now()))


def _now() -> datetime:
    return datetime.now(UTC)


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
