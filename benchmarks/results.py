"""One shape for every benchmark's figures, one table to print them, one JSON file to keep them.

Each `bench_*` module measures, builds `Figure`s and hands them to `report`, which prints
the table and, when the suite asked for it (`--result PATH`), writes them as JSON so that
`signalpost bench` can gather every module's figures into one table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured line: a rate (or a time, by its unit), optional latency percentiles,
    memory, its raw baseline and its target."""

    component: str
    measure: str
    rate: float | None = None
    unit: str = "msgs/s"
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    peak_rss_mib: float | None = None
    baseline: str | None = None
    baseline_rate: float | None = None
    target: str | None = None  # what the figure should reach (issue 16), in words

    @property
    def ratio(self) -> float | None:
        """This rate over the raw baseline's, measured in the same run."""
        if self.rate is None or not self.baseline_rate:
            return None
        return self.rate / self.baseline_rate

    def as_json(self) -> dict:
        """The figure with its ratio, for the JSON results file."""
        return asdict(self) | {"ratio": self.ratio}


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of the latencies, as Figure keyword arguments."""
    if len(latencies_ms) < 2:
        raise ValueError(f"need at least two latencies, got {len(latencies_ms)}")
    q = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {"p50_ms": q[49], "p95_ms": q[94], "p99_ms": q[98]}


def load(path: Path) -> list[Figure]:
    """Figures written by `report` (or `write`)."""
    names = {f.name for f in fields(Figure)}
    rows = json.loads(path.read_text())
    return [Figure(**{k: v for k, v in row.items() if k in names}) for row in rows]


def write(figures: Iterable[Figure], path: Path) -> None:
    """The figures as a JSON list, ratios included."""
    path.write_text(json.dumps([f.as_json() for f in figures], indent=2) + "\n")


def _cell(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


COLUMNS = (
    ("component", 18, "<"),
    ("measure", 40, "<"),
    ("value", 16, ">"),
    ("p50 ms", 9, ">"),
    ("p95 ms", 9, ">"),
    ("p99 ms", 9, ">"),
    ("peak MiB", 9, ">"),
    ("raw baseline", 34, ">"),
    ("ratio", 7, ">"),
    ("target", 22, ">"),
)


def table(figures: Iterable[Figure]) -> str:
    """The figures as one aligned text table."""
    lines = ["".join(f"{name:{align}{width}}" for name, width, align in COLUMNS)]
    for f in figures:
        spec = ",.2f" if f.unit in ("s", "ms") else ",.0f"  # a time, not a rate
        rate = f"{_cell(f.rate, spec)} {f.unit}" if f.rate is not None else "—"
        baseline = (
            f"{f.baseline} {_cell(f.baseline_rate, ',.0f')}/s" if f.baseline is not None else "—"
        )
        cells = (
            f.component,
            f.measure,
            rate,
            _cell(f.p50_ms, ",.1f"),
            _cell(f.p95_ms, ",.1f"),
            _cell(f.p99_ms, ",.1f"),
            _cell(f.peak_rss_mib, ",.0f"),
            baseline,
            _cell(f.ratio, ".2f"),
            f.target or "—",
        )
        lines.append(
            "".join(
                f"{str(c)[: w - 1]:{a}{w}}" if a == "<" else f"{c:{a}{w}}"
                for c, (_, w, a) in zip(cells, COLUMNS, strict=True)
            )
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark module takes from the suite."""
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--result", type=Path, default=None, help="also write figures as JSON")


def report(figures: Sequence[Figure], args: argparse.Namespace) -> None:
    """Print the figures' table; write them to `--result` when given."""
    print(table(figures), flush=True)
    if args.result is not None:
        write(figures, args.result)
