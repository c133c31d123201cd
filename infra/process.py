"""Detached processes with pid files: start, find, stop, and read the end of their logs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from services.runtime.errors import StackError


def read_pid(pid_file: Path, *, marker: str, search: bool = False) -> int | None:
    """The pid of the running process with `marker` in its command line, if any.

    The pid file is the fast path. With `search` (for markers unique to one process, such
    as a data directory's path), a missing or stale file falls back to the process table,
    so a process whose file was lost is still found, and can still be stopped.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        pid = None
    if pid is not None and is_alive(pid) and marker in _cmdline(pid):
        return pid
    found = find_pid(marker) if search else None
    if found is None and pid is not None and not is_alive(pid):
        pid_file.unlink(missing_ok=True)
    return found


def find_pid(marker: str) -> int | None:
    """The lowest live pid, other than ours, whose command line contains `marker`."""
    own = os.getpid()
    pids = sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return next(
        (pid for pid in pids if pid != own and marker in _cmdline(pid) and is_alive(pid)), None
    )


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state != "Z"


def start_detached(
    command: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (a terminal Ctrl-C misses it), logging to a file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            user=user,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def stop_pid(pid: int, *, timeout: float = 60.0) -> bool:
    """SIGTERM, wait up to `timeout` for a clean exit, then SIGKILL; True if it stopped cleanly."""
    return stop_pids([pid], timeout=timeout)


def stop_pids(pids: list[int], *, timeout: float = 60.0) -> bool:
    """Stop processes together (SIGTERM to all, then wait); SIGKILL what outlives `timeout`.

    Together matters for a KRaft quorum: stopped one by one, the last voters lose their
    majority and wait out their shutdown timeout. True if every process stopped cleanly.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(is_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free_port(port: int, *, what: str, variable: str) -> None:
    """Fail with what to do when a port that we are about to listen on is taken."""
    if port_in_use(port):
        raise StackError(
            f"port {port} for {what} is already in use by another program; "
            f"stop that program or choose another port with {variable}"
        )


def log_tail(log_file: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def run_checked(command: Sequence[str], *, what: str, user: str | None = None) -> str:
    """Run a short command; on failure raise StackError with its output, not a traceback."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, user=user, check=False)
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {exc.filename} is not installed") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-2000:]
        raise StackError(f"{what} failed (exit {done.returncode}): {output}")
    return done.stdout
