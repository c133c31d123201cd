"""`signalpost bench`: every benchmark in one table, next to its raw baseline, also as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import suite
from services.runtime.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `bench` on the top-level parser."""
    bench = commands.add_parser(
        "bench", help="run every benchmark on the local stack and print one table"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    bench.add_argument(
        "--json", type=Path, default=Path("bench-results.json"), metavar="PATH",
        help="where the figures are written (default: bench-results.json)",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the suite; 1 when a benchmark failed."""
    return suite.main(args.quick, args.json)
