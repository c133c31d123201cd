"""Every benchmark, one after another, each in its own process; one table and one JSON file.

Each module runs in a process of its own so that its peak memory is its own and one
failure does not take the others' figures with it.

    .venv/bin/signalpost bench [--quick] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import Figure, load, table, write

# In the order the table shows them: each service alone, then the gateway, then everything.
MODULES = (
    "bench_router",
    "bench_incidents",
    "bench_recorder",
    "bench_replay",
    "bench_gateway",
    "bench_notifier",
    "bench_end_to_end",
)


def run_module(module: str, quick: bool, result: Path) -> subprocess.CompletedProcess:
    """One benchmark module in a child process; its own table goes to this stderr."""
    command = [sys.executable, "-m", f"benchmarks.{module}", "--result", str(result)]
    if quick:
        command.append("--quick")
    return subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)


def run_suite(quick: bool, json_path: Path | None) -> tuple[list[Figure], list[str]]:
    """Every module's figures, and the modules that failed."""
    figures: list[Figure] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="signalpost-bench-") as scratch:
        for module in MODULES:
            result = Path(scratch) / f"{module}.json"
            print(f"# {module} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            outcome = run_module(module, quick, result)
            took = time.monotonic() - started
            if outcome.returncode != 0 or not result.exists():
                print(f"# {module} failed (exit {outcome.returncode})", file=sys.stderr)
                failed.append(module)
                continue
            print(f"# {module} done in {took:.0f} s", file=sys.stderr, flush=True)
            figures.extend(load(result))
    if json_path is not None:
        write(figures, json_path)
    return figures, failed


def main(quick: bool, json_path: Path | None) -> int:
    """Run the suite and print its table; exit status 1 when a module failed."""
    figures, failed = run_suite(quick, json_path)
    print(table(figures))
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0
